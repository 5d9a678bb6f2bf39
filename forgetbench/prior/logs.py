"""Read what `lm_eval --output_path DIR --log_samples` wrote, so `forgetbench compare` pairs the items of
two existing lm-eval runs (no model is loaded).

Layouts (lm-eval 0.4.x; the first is what every release since 0.4.3 writes):

- `DIR/<model>/results_<date>.json` with `samples_<task>_<date>.jsonl` beside it (one JSON object per
  line); `<date>` is `datetime.now().isoformat()` with `:` → `-`, shared by a run's files. DIR may be
  given, or the model's folder, or the results file itself (how one run is picked among several).
- `--output_path x.json` (0.4.9+): `x_<date>.json` and the samples files beside it (give the file).
- lm-eval ≤ 0.4.2: `DIR/results.json` and `DIR/<model_args with / and = as __>_<task>.jsonl`, each one
  JSON array; those samples carry no `doc_hash`, so it is recomputed from `doc` the way lm-eval does.

Fields relied on. Results file: `configs[task]` (`metric_list[0].metric` is the primary metric unless
overridden; `output_type`; the whole config, minus `metadata` other than `version`, is compared between
the two runs as the installed lm-eval would log it: `prior.hashing.with_defaults`), `versions[task]`,
`n-shot[task]`, `results[task]["<metric>,<filter>"]` (lm-eval's aggregate), `config.model` /
`config.model_args` / `config.limit` / `config.device` / `config.batch_size` / `config.model_dtype` /
`config.{random,numpy,torch,fewshot}_seed` (the later ones where present), `chat_template`,
`group_subtasks`; and, reported where the two runs differ: `lm_eval_version` (0.4.9+), `git_hash`,
`transformers_version` and `task_hashes` (0.4.3+: lm-eval's own hash of each task's samples). Sample lines:
`doc_id`, `doc_hash` (0.4.3+; else `doc`), `filter` (0.4.7+; without it a task must have one filter),
`arguments` (how many requests: the options of a multiple-choice item), and the metric's per-item
value (a number, a bool, or — lm-eval < 0.4.13 writes numpy floats so — a numeric string).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgetbench.backends.base import SampleRecord, TaskOutput
from forgetbench.backends.lm_eval_samples import evidence, item_value
from forgetbench.core.errors import DataError, UserInputError
from forgetbench.core.hashing import digest
from forgetbench.core.results import EvalSettings, LogSource, ModelInfo, TaskResult
from forgetbench.prior.hashing import content_config, content_hash, doc_hash, with_defaults
from forgetbench.prior.run import extract, filter_of, metric_key
from forgetbench.prior.suites import SuiteTask

DATE = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?"
RESULTS = re.compile(rf"^(?:results|.+)_({DATE})\.json$")
LEGACY = "results.json"  # lm-eval ≤ 0.4.2
NAME_KEYS = ("pretrained", "model", "path", "engine")
"""model_args keys that name the model (lm-eval's own `model_name` looks at these, and at `peft`/`delta`)."""
ADAPTER_KEYS = ("peft", "lora_local_path", "delta")
LFS_POINTER = "version https://git-lfs.github.com/spec/v1"
"""How a Git LFS pointer file starts (what a clone without `git lfs pull` holds instead of the file)."""
SOFTWARE = {"lm_eval_version": "lm-eval", "git_hash": "git commit (of the folder lm_eval ran in)",
            "transformers_version": "transformers"}  # fmt: skip
"""What a results file records of the software that wrote it (`lm_eval_version` since 0.4.9; `git_hash` is
the commit of the folder lm_eval ran in: lm-eval's own when run from its checkout)."""
SEED_KEYS = {"random_seed": "random_seed", "numpy_random_seed": "numpy_seed", "torch_random_seed": "torch_seed",
             "fewshot_random_seed": "fewshot_seed"}  # fmt: skip
"""forgetbench's seed names → lm-eval's `config` keys (0.4.3+)."""


@dataclass(frozen=True)
class LoggedTask:
    """One task of a logged run, from its results file."""

    name: str
    config: dict[str, Any]
    version: Any
    n_shot: Any
    output_type: str
    results: dict[str, float]
    """lm-eval's numeric aggregates, keyed `metric,filter`."""
    group: str
    """The top-level group the task ran under (itself when none)."""


@dataclass(frozen=True)
class LoggedRun:
    """One lm-eval run: its results file, run id, model and tasks."""

    results_file: Path
    run_id: str
    """The `<date>` of its file names (empty for lm-eval ≤ 0.4.2, which wrote `results.json`)."""
    data: dict[str, Any]
    model: str
    """lm-eval's `--model` (`hf`, `vllm`, `openai-completions`, ...)."""
    model_args: dict[str, str]
    tasks: dict[str, LoggedTask]

    @property
    def name(self) -> str:
        """The model as model_args name it (`pretrained=…`, or `model=…` for API models)."""
        return next((self.model_args[k] for k in NAME_KEYS if self.model_args.get(k)), None) or str(
            self.data.get("model_name") or self.model
        )

    @property
    def adapter(self) -> str | None:
        """The adapter applied on top (`peft=`, `lora_local_path=`, `delta=`), if any."""
        return next((self.model_args[k] for k in ADAPTER_KEYS if self.model_args.get(k)), None)


def parse_model_args(value: Any) -> dict[str, str]:
    """`k=v,k=v` (or a dict, lm-eval 0.4.10+) as a dict of strings."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    out = {}
    for part in str(value or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _run_id(path: Path) -> str:
    m = RESULTS.match(path.name)
    return m.group(1) if m else ""


def _candidates(folder: Path) -> list[Path]:
    found = []
    for level in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        found += [p for p in level.glob("*.json") if RESULTS.match(p.name) or p.name == LEGACY]
    return found


def find_runs(arg: Path) -> list[Path]:
    """The results files of the runs `arg` names, oldest first: the file itself, or those in a folder or one
    level down (the model's folder lm-eval made); a folder with runs of several models is refused."""
    arg = Path(arg)
    if arg.is_file():  # any name: lm-eval ≤ 0.4.2 wrote `--output_path x.json` as given (read_run checks it)
        if arg.suffix != ".json":
            raise UserInputError(f"{arg}: not an lm-eval results file (results_<date>.json)")
        return [arg]
    if not arg.is_dir():
        raise UserInputError(f"{arg}: no such lm-eval output folder")
    found = _candidates(arg)
    if not found:
        samples = any(arg.rglob("samples_*.jsonl"))
        raise UserInputError(
            f"{arg}: no lm-eval results file (results_<date>.json) here or one level down"
            + (" (samples without results: was the run cut short?)" if samples else "")
        )
    folders = sorted({str(p.parent) for p in found})
    if len(folders) > 1:
        raise UserInputError(f"{arg} holds lm-eval runs of several models ({', '.join(folders)}); give one model's folder")
    prefixes = sorted({p.name.removesuffix(".json").removesuffix(_run_id(p)) for p in found})
    if len(prefixes) > 1:  # `--output_path a.json` and `b.json` (0.4.9+) put two models' runs in one folder
        raise UserInputError(
            f"{arg} holds results files of several runs ({', '.join(p + '…' for p in prefixes)}); give the results file"
        )
    return sorted(found, key=lambda p: (_run_id(p), p.stat().st_mtime))


def pick_run(found: list[Path], run: str | None) -> Path:
    """The run whose `<date>` starts with `run` when there is one, else the newest."""
    matching = [p for p in found if run and _run_id(p).startswith(run)]
    if len(matching) > 1:
        raise UserInputError(
            f"--run {run!r} matches several runs ({', '.join(_run_id(p) for p in matching)}); give more of the date"
        )
    return matching[0] if matching else found[-1]


def has_run(found: list[Path], run: str) -> bool:
    return any(_run_id(p).startswith(run) for p in found)


def _text(path: Path) -> str:
    """A log file's text; a Git LFS pointer in its place is named as one."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if text.startswith(LFS_POINTER):
        raise DataError(f"{path} is a Git LFS pointer, not the file: run `git lfs pull` in its repository")
    return text


def _json(path: Path) -> Any:
    text = _text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _numeric(results: dict[str, Any]) -> dict[str, float]:
    """A task's `metric,filter` aggregates that are numbers (lm-eval < 0.4.13 may have written them as text;
    `N/A` stderrs are left out)."""
    values = {k: item_value(v) for k, v in results.items() if "," in k}
    return {k: v for k, v in values.items() if v is not None}


def _groups(data: dict[str, Any]) -> dict[str, str]:
    """Task → its top-level group (`group_subtasks`, lm-eval 0.4.2+)."""
    subtasks = data.get("group_subtasks") or {}
    parent = {child: group for group, children in subtasks.items() if isinstance(children, list) for child in children}

    def top(name: str) -> str:
        seen = set()
        while name in parent and name not in seen:
            seen.add(name)
            name = parent[name]
        return name

    return {t: top(t) for t in parent}


def read_run(results_file: Path) -> LoggedRun:
    """Parse a results file (the samples are read per task by `task_output`)."""
    data = _json(results_file)
    if not isinstance(data, dict):
        raise DataError(f"{results_file}: not an lm-eval results file (a JSON {type(data).__name__}, not an object)")
    missing = [f"`{k}`" for k in ("configs", "results") if data.get(k) is None]
    if missing:
        raise DataError(
            f"{results_file}: no {' nor '.join(missing)} in it; compare needs the task configurations and results lm-eval writes"
        )
    for key in ("configs", "results"):
        if not isinstance(data[key], dict):
            raise DataError(f"{results_file}: `{key}` is not an object; not an lm-eval results file")
    for key in ("config", "versions", "n-shot", "group_subtasks"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise DataError(f"{results_file}: `{key}` is not an object; not an lm-eval results file")
        data[key] = data.get(key) or {}
    config = data["config"]
    groups = _groups(data)
    tasks = {}
    for name, cfg in data["configs"].items():
        check_task_name(name, results_file)
        results = data["results"].get(name, {})  # none: refused if the task is compared (`task_result`)
        if not isinstance(cfg, dict) or not isinstance(results, dict):
            raise DataError(f"{results_file}: task {name}'s config or results is not an object; not an lm-eval results file")
        tasks[name] = LoggedTask(
            name,
            cfg,
            data["versions"].get(name),
            data["n-shot"].get(name),
            str(cfg.get("output_type") or ""),
            _numeric(results),
            groups.get(name, name),
        )
    return LoggedRun(
        results_file,
        _run_id(results_file),
        data,
        str(config.get("model") or ""),
        parse_model_args(config.get("model_args")),
        tasks,
    )


def _is_file_name(name: str) -> bool:
    """Whether `name` is one plain file name: no path separator, no NUL or other control character."""
    return bool(name) and not any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in name)


def check_task_name(name: str, results_file: Path) -> None:
    """Refuse a task name that would not name a file of the run folder: lm-eval writes a task's samples as
    `samples_<task>_<date>.jsonl` beside the results file, so a name with a path separator or a control
    character (`../../x`, `/etc/x`, a NUL) is never one lm-eval wrote, and is never made into a path."""
    if not _is_file_name(name):
        raise DataError(
            f"{results_file}: task name {name!r} holds a path separator or a control character; not a task lm-eval "
            "writes samples of, refusing to read"
        )


def samples_file(run: LoggedRun, task: str) -> Path:
    """Where lm-eval put `task`'s samples for this run: always a file beside the results file (a name that
    would lead elsewhere is refused)."""
    folder = run.results_file.parent
    check_task_name(task, run.results_file)
    if run.run_id:
        return folder / f"samples_{task}_{run.run_id}.jsonl"
    raw = str(run.data["config"].get("model_args") or "")
    name = f"{re.sub('/|=', '__', raw)}_{task}.jsonl"
    if not _is_file_name(name):
        raise DataError(f"{run.results_file}: the model_args {raw!r} cannot name the samples file of lm-eval ≤ 0.4.2")
    return folder / name


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The sample records of one task: JSON Lines (0.4.3+) or one JSON array (≤ 0.4.2); a broken line is
    named."""
    text = _text(path)
    if text.lstrip().startswith("["):
        records = _json(path)
        where = [f"record {i}" for i in range(len(records))] if isinstance(records, list) else []
    else:
        records, where = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path} line {number}: not valid JSON ({exc.msg}); the file is damaged or was cut short — re-run lm_eval for this task"
                ) from None
            where.append(f"line {number}")
    if not isinstance(records, list):
        raise DataError(f"{path}: not a list of lm-eval samples")
    for record, at in zip(records, where):
        if not isinstance(record, dict) or not isinstance(record.get("doc_id"), int):
            raise DataError(f"{path} {at}: not an lm-eval sample (no integer doc_id)")
    return records


def metric_of(task: LoggedTask, override: str | None) -> str:
    """The task's primary metric: the override, else the first of the config's metric_list, else the first
    metric lm-eval reported."""
    if override:
        return override
    listed = task.config.get("metric_list")
    if isinstance(listed, list) and listed and isinstance(listed[0], dict) and isinstance(listed[0].get("metric"), str):
        return listed[0]["metric"]
    reported = [k.split(",")[0] for k in task.results if not k.split(",")[0].endswith("_stderr")]
    if not reported:
        raise DataError(f"task {task.name!r} declares no metric_list and reported no metric")
    return reported[0]


def task_output(run: LoggedRun, task: str, metric: str, filt: str) -> TaskOutput:
    """The task's samples reduced to what pairing needs (the primary metric's per-item value), as a
    backend's `TaskOutput`, so `prior.run.extract` treats them as it treats a live run."""
    path = samples_file(run, task)
    if not path.is_file():
        if not any(samples_file(run, t).is_file() for t in run.tasks):
            raise UserInputError(f"{run.results_file.parent}: no per-item samples; re-run lm_eval with --log_samples")
        raise UserInputError(f"{run.results_file.parent}: no samples of task {task} ({path.name} is missing)")
    records = read_samples(path)
    if not records:
        raise DataError(f"{path}: no samples (the run was cut short?); re-run lm_eval for task {task}")
    if not any("filter" in r for r in records):  # lm-eval < 0.4.7 does not name the filter
        ids = [r["doc_id"] for r in records]
        if len(set(ids)) != len(ids):
            raise DataError(
                f"{path}: doc ids repeat (several filters) and this lm-eval version does not name them; re-run with lm-eval ≥ 0.4.7"
            )
        records = [{**r, "filter": filt} for r in records]
    output_type = run.tasks[task].output_type
    delimiter = str(run.tasks[task].config.get("target_delimiter", " "))
    out = []
    for r in records:
        if r.get("filter") != filt:
            continue
        metrics = {}
        if metric in r:
            value = item_value(r[metric])
            if value is None:
                raise DataError(
                    f"task {task}: metric {metric!r} has no per-item value in the samples (lm-eval logs "
                    f"corpus-level metrics as (reference, prediction) pairs); pick another with --metric {task}=NAME"
                )
            if not math.isfinite(value):
                raise DataError(f"{path}: doc {r['doc_id']} has {metric} = {value}")
            metrics[metric] = value
        hashed = r.get("doc_hash") or (doc_hash(r["doc"]) if isinstance(r.get("doc"), dict) else None)
        if not hashed:
            raise DataError(f"{path}: doc {r['doc_id']} has neither doc_hash nor doc")
        args = r.get("arguments") or ()
        out.append(SampleRecord(r["doc_id"], str(hashed), filt, metrics, len(args), evidence(r, output_type, metric, delimiter)))
    if not out:
        raise DataError(f"{path}: no samples under filter {filt!r} (the filter lm-eval reported {metric} under)")
    ids = [r.doc_id for r in out]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: doc {next(i for i in ids if ids.count(i) > 1)} is logged twice under filter {filt!r}")
    return TaskOutput(task, output_type, run.tasks[task].results, tuple(out))


def task_config(run: LoggedRun, task: str, *, defaults: bool = True) -> dict[str, Any]:
    """The task's logged config without what lm-eval adds to it per run (0.4.9+ merges the model_args into
    `metadata`, 0.4.12+ the YAML's path), and (`defaults`) as the installed lm-eval would log it
    (`prior.hashing.with_defaults`: a field a later lm-eval added, logged with its default, is no
    difference): what two runs of the same task must agree on."""
    config = run.tasks[task].config
    return content_config(with_defaults(config) if defaults else config, tuple(run.model_args))


def software(run: LoggedRun) -> dict[str, str | None]:
    """What the results file records of the software that wrote it (`SOFTWARE`; None: not recorded)."""
    return {k: str(run.data[k]) if run.data.get(k) not in (None, "") else None for k in SOFTWARE}


def lm_eval_task_hash(run: LoggedRun, task: str) -> str | None:
    """lm-eval's own hash of the task's logged samples (0.4.3+: sha256 over each sample's doc, prompt and
    target hashes), when the results file carries one."""
    hashes = run.data.get("task_hashes")
    value = hashes.get(task) if isinstance(hashes, dict) else None
    return value if isinstance(value, str) and value else None


def task_result(run: LoggedRun, task: str, override: str | None) -> TaskResult:
    """One task's result, with its per-item outcomes, as `score` would have stored it; its `task_hash`
    is `prior.hashing.task_hash`'s formula (config and doc hashes), so a task evaluated from forgetbench's
    own `tasks/` by the same lm-eval hashes as it does under `score`."""
    logged = run.tasks[task]
    if task not in run.data["results"]:
        raise DataError(f"{run.results_file}: task {task} has a config in `configs` and no entry in `results`")
    metric = metric_of(logged, override)
    output = task_output(run, task, metric, filter_of(metric_key(logged.results, metric, task)))
    score, items, chance = extract(output, SuiteTask(task, logged.group, metric))
    thash = content_hash(with_defaults(logged.config), [i.doc_hash for i in items], drop_metadata=tuple(run.model_args))
    return TaskResult(task, logged.group, metric, score, len(items), chance, thash, "", True, tuple(items))


def settings(run: LoggedRun) -> EvalSettings:
    """What the run records of how it was made (what it does not record reads `unknown`)."""
    config = run.data.get("config") or {}
    dtype = str(config.get("model_dtype") or run.model_args.get("dtype") or "unknown").removeprefix("torch.")
    limit = config.get("limit")
    batch = config.get("batch_size")
    seeds = {name: int(config[key]) for name, key in SEED_KEYS.items() if isinstance(config.get(key), int)}
    return EvalSettings(
        backend=run.model,
        dtype=dtype,
        device=str(config.get("device") or "unknown"),
        limit=int(limit) if isinstance(limit, (int, float)) and float(limit).is_integer() and limit >= 1 else None,
        num_fewshot=None,
        chat_template=bool(run.data.get("chat_template")),
        batch_size=int(batch) if isinstance(batch, int) or (isinstance(batch, str) and batch.isdigit()) else 0,
        seeds=seeds,
        lm_eval_version=str(run.data.get("lm_eval_version") or "unknown (< 0.4.9)"),
    )


def model_info(run: LoggedRun) -> ModelInfo:
    """The model as the logs name it. No weights are read: its `fingerprint` is the sha256 of the logged
    identity (lm-eval model type, name, adapter, revision, the model's hub sha when logged)."""
    config = run.data.get("config") or {}
    adapter = run.adapter
    local = Path(run.name).expanduser()
    identity = {"lm_eval_model": run.model, "name": run.name, "adapter": adapter,
                "revision": run.model_args.get("revision"), "model_sha": config.get("model_sha")}  # fmt: skip
    return ModelInfo(
        spec=run.name + (f" + {adapter}" if adapter else ""),
        kind="lm-eval",
        path=str(local) if local.is_dir() else "",
        fingerprint=digest(identity),
        tokenizer_digest="",
    )


def source(run: LoggedRun, tasks: list[str]) -> LogSource:
    """What a report records of the logs it read."""
    raw = (run.data.get("config") or {}).get("model_args")
    return LogSource(
        str(run.results_file),
        run.run_id,
        run.model,
        raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True),
        str(run.data.get("lm_eval_version") or "") or None,
        {t: samples_file(run, t).name for t in tasks},
    )


def _local(value: str) -> str:
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value


def same_model(run: LoggedRun, info: ModelInfo) -> bool:
    """Whether the logged model is `info` (a forgetbench-resolved model): by spec or local folder, and for
    an adapter checkpoint, the adapter's too (no weights are read)."""
    names = {_local(x) for x in (info.spec, info.path) if x}
    if info.adapter is None:
        return run.adapter is None and _local(run.name) in names
    adapters = {_local(info.adapter.path), _local(info.spec)}
    bases = {_local(info.path), _local(info.adapter.declared_base)}
    return run.adapter is not None and _local(run.adapter) in adapters and _local(run.name) in bases
