"""`forgetbench compare` on **real lm-eval logs**: lm-eval's own CLI (`lm_eval --model hf ... --log_samples`)
run on the tiny memorised models for the two tasks of the `score_runs` fixture's suite, then compared:
the same per-task Δ, CIs, flips, p-values, F and task hashes as `score` on the same items; the older
lm-eval layouts read the same; every refusal one line, exit 2, nothing written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forgetbench.prior.suites import tasks_dir
from forgetbench.runs import load_report
from tests.cli.test_cli import _assert_one_line_error
from tests.command import fb
from tests.memorised import LIMIT, TASKS


def lm_eval(model: Path, out: Path, *extra: str) -> Path:
    """lm-eval's own command line on `model` (what a user already ran)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
         "--tasks", ",".join(TASKS), "--include_path", str(tasks_dir() / "offline"), "--limit", str(LIMIT),
         "--batch_size", "16", "--device", "cpu", "--log_samples", "--output_path", str(out), *extra],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def logs(memorised_models, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lm-eval-logs")
    return {name: lm_eval(memorised_models[name], root / name) for name in ("base", "damaged")}


def compare(*args: str) -> dict:
    proc = fb("compare", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_compare_on_real_lm_eval_logs_equals_score_on_the_same_items(logs, score_runs, tmp_path):
    got = compare(str(logs["base"]), str(logs["damaged"]), "--out", str(tmp_path / "run"))
    want = load_report(score_runs["damaged"])
    assert got["source"] == "lm-eval logs" and got["kl"] is None
    tasks = {t["task"]: t for t in got["retention"]["tasks"]}
    assert set(tasks) == set(TASKS)
    for t in want.retention.tasks:
        g = tasks[t.task]
        assert (g["n_items"], g["forgotten"], g["gained"]) == (t.n_items, t.forgotten, t.gained)
        for name in ("base", "ckpt", "delta", "delta_low", "delta_high", "p_value", "p_adjusted"):
            assert g[name] == pytest.approx(getattr(t, name), rel=1e-12, abs=1e-12), (t.task, name)
        assert g["task_hash"] == t.task_hash  # the same tasks hash as under `score`
    assert sum(t.forgotten or 0 for t in want.retention.tasks) > 10  # the damaged model forgot: not vacuous
    ret = got["retention"]
    assert (ret["forgetting"], ret["forgetting_low"], ret["forgetting_high"]) == pytest.approx(
        (want.retention.forgetting, want.retention.forgetting_low, want.retention.forgetting_high), rel=1e-12
    )
    assert got["suite_hash"] == want.suite_hash
    folder = tmp_path / "run"
    assert sorted(p.name for p in folder.iterdir()) == [
        "items.parquet",
        "leaderboard_row.csv",
        "report.html",
        "report.json",
        "report.md",
    ]
    assert got["base_logs"]["results_file"].startswith(str(logs["base"])) and got["base_logs"]["lm_eval_model"] == "hf"
    page = (folder / "report.html").read_text()  # the page of a comparison of logs: no KL, the logs named
    assert "Not measured: a comparison of lm-eval logs" in page and str(logs["base"]) in page
    # The evidence read from lm-eval's logged lines is what the live run kept: same items, prompts, options, gold,
    # log-likelihoods and picks.
    mine, theirs = _evidence(folder), _evidence(score_runs["damaged"])
    assert mine.keys() == theirs.keys() and len(mine) > 10
    for key, (a, b) in ((k, (mine[k], theirs[k])) for k in mine):
        assert (a.context, a.choices, a.target, a.gold, a.pick) == (b.context, b.choices, b.target, b.gold, b.pick), key
        assert a.loglikelihoods == pytest.approx(b.loglikelihoods, rel=1e-5), key  # float32 sums batched differently


def _evidence(run: Path) -> dict:
    """(task, doc, model) → the evidence a run folder's items.parquet keeps."""
    import pandas as pd

    from forgetbench.core.rows import evidence_of

    out = {}
    for row in pd.read_parquet(run / "items.parquet").to_dict("records"):
        for who in ("base", "ckpt"):
            if (ev := evidence_of(row, who)) is not None:
                out[(row["task"], row["doc_id"], who)] = ev
    return out


def test_kl_of_the_same_pair_joins_and_the_gate_decides(logs, score_runs, tmp_path):
    """`--kl` takes the KL (and the real fingerprints) of a run of the same pair; the gate then decides
    task and KL rules on the compare folder."""
    policy = tmp_path / "policy.toml"
    policy.write_text("max_task_drop = 5.0\nmax_kl = 1000.0\n")
    proc = fb("compare", str(logs["base"]), str(logs["damaged"]), "--kl", str(score_runs["damaged"]), "--out",
              str(tmp_path / "run"), "--gate", str(policy), "--json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the damaged model's drops fail the gate
    verdict = json.loads(proc.stdout)
    assert {r["rule"] for r in verdict["rules"]} >= {"kl", "task:fb_piqa_lite"} and verdict["status"] == "fail"
    report, score = load_report(tmp_path / "run"), load_report(score_runs["damaged"])
    assert report.kl is not None and score.kl is not None
    assert report.kl.headline_estimate == score.kl.headline_estimate
    assert (report.base.fingerprint, report.ckpt.fingerprint) == (score.base.fingerprint, score.ckpt.fingerprint)
    assert (tmp_path / "run" / "kl.parquet").is_file()


def _copy(src: Path, dst: Path) -> tuple[Path, dict]:
    """A writable copy of a logged run: its results file and parsed results."""
    shutil.copytree(src, dst)
    results = next(dst.rglob("results_*.json"))
    return results, json.loads(results.read_text())


def _samples(results: Path, task: str) -> Path:
    return next(results.parent.glob(f"samples_{task}_*.jsonl"))


def _rewrite(path: Path, change) -> None:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(i, r)) + "\n" for i, r in enumerate(lines)))


def _set(results: Path, data: dict) -> None:
    results.write_text(json.dumps(data))


def _one_side_only(results, data):
    data["configs"].pop("fb_piqa_lite")


def _version(results, data):
    data["versions"]["fb_piqa_lite"] = 2.0


def _config(results, data):
    data["configs"]["fb_piqa_lite"]["doc_to_text"] = "Q: {{question}}\nA:"


def _fewshot(results, data):
    data["n-shot"]["fb_piqa_lite"] = 5


def _doc_hash(results, data):
    _rewrite(_samples(results, "fb_piqa_lite"), lambda i, r: {**r, "doc_hash": "0" * 64} if i == 3 else r)


def _broken_line(results, data):
    path = _samples(results, "fb_piqa_lite")
    lines = path.read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]
    path.write_text("\n".join(lines) + "\n")


def _no_samples(results, data):
    for p in results.parent.glob("samples_*.jsonl"):
        p.unlink()


def _empty_samples(results, data):
    _samples(results, "fb_piqa_lite").write_text("")


def _infinite_value(results, data):
    _rewrite(_samples(results, "fb_piqa_lite"), lambda i, r: {**r, "acc": "inf"} if i == 0 else r)


def _no_configs(results, data):
    data.pop("configs")


def _no_results(results, data):
    data.pop("results")


def _task_without_results(results, data):
    data["results"].pop("fb_piqa_lite")


def _new_key_not_default(results, data):
    """A key a later lm-eval writes (`unsafe_code`), set to other than its default: a difference."""
    data["configs"]["fb_piqa_lite"]["unsafe_code"] = True


def _lfs_samples(results, data):
    _samples(results, "fb_piqa_lite").write_text(LFS)


LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 48213\n"
"""What a clone without `git lfs pull` holds in place of a file tracked by Git LFS."""


def _corpus_metric(results, data):
    """What a corpus-level metric looks like in the logs (applied to both runs; compared with --metric)."""
    data["results"]["fb_piqa_lite"]["bleu,none"] = 0.1
    _rewrite(_samples(results, "fb_piqa_lite"), lambda i, r: {**r, "bleu": ["the gold", "the prediction"]})


REFUSALS = {
    "task on one side only": (_one_side_only, "fb_piqa_lite is in the base logs only; pass --tasks"),
    "task version": (_version, "task fb_piqa_lite: version 1.0 in the base logs, 2.0 in the checkpoint's"),
    "task configuration": (_config, "its configuration differs between the two logs (doc_to_text)"),
    "few-shot": (_fewshot, "task fb_piqa_lite: 0-shot in the base logs, 5-shot"),
    "doc hash": (_doc_hash, "doc 3 differs between base and checkpoint (doc_hash mismatch)"),
    "broken sample line": (_broken_line, "line 3: not valid JSON"),
    "no samples": (_no_samples, "no per-item samples; re-run lm_eval with --log_samples"),
    "empty samples file": (_empty_samples, "no samples (the run was cut short?)"),
    "infinite value": (_infinite_value, "doc 0 has acc = inf"),
    "corpus-level metric": (_corpus_metric, "metric 'bleu' has no per-item value"),
    "results file without configs": (_no_configs, "no `configs` in it"),
    "results file without results": (_no_results, "no `results` in it"),
    "task without results": (_task_without_results, "task fb_piqa_lite has a config in `configs` and no entry in `results`"),
    "new config key, not its default": (_new_key_not_default, "its configuration differs between the two logs (unsafe_code)"),
    "samples file an LFS pointer": (_lfs_samples, "is a Git LFS pointer, not the file: run `git lfs pull`"),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_each_refusal_is_one_line_exit_2_and_nothing_written(logs, tmp_path, case):
    change, needle = REFUSALS[case]
    both = case == "corpus-level metric"
    for name in ("base", "damaged") if both else ("damaged",):
        results, data = _copy(logs[name], tmp_path / name)
        change(results, data)
        _set(results, data)
    base = tmp_path / "base" if both else logs["base"]
    extra = ["--metric", "fb_piqa_lite=bleu"] if both else []
    proc = fb("compare", str(base), str(tmp_path / "damaged"), *extra, "--out", str(tmp_path / "run"))
    _assert_one_line_error(proc, 2, needle)
    assert not (tmp_path / "run").exists()


def test_tasks_narrows_a_comparison_to_the_tasks_both_runs_have(logs, tmp_path):
    results, data = _copy(logs["damaged"], tmp_path / "ckpt")
    _one_side_only(results, data)
    _set(results, data)
    got = compare(str(logs["base"]), str(tmp_path / "ckpt"), "--tasks", "fb_openbookqa_lite", "--out", str(tmp_path / "run"))
    assert [t["task"] for t in got["retention"]["tasks"]] == ["fb_openbookqa_lite"]


def test_a_graded_metric_falls_back_to_the_paired_t_test_and_says_so(logs, tmp_path):
    """A metric that is not 0/1 per item (here: a graded `score` added to both runs' samples, 0.1–0.15 lower
    under the checkpoint) is compared with the continuous-metric method, and the report says so."""
    for name, drop in (("base", lambda i: 0.0), ("damaged", lambda i: 0.1 + 0.05 * (i % 2))):
        results, data = _copy(logs[name], tmp_path / name)
        data["results"]["fb_piqa_lite"]["score,none"] = 0.5
        _set(results, data)
        _rewrite(_samples(results, "fb_piqa_lite"), lambda i, r, drop=drop: {**r, "score": 0.3 + (i % 7) / 10 - drop(i)})
    got = compare(
        str(tmp_path / "base"), str(tmp_path / "damaged"), "--metric", "fb_piqa_lite=score", "--out", str(tmp_path / "run")
    )
    piqa = next(t for t in got["retention"]["tasks"] if t["task"] == "fb_piqa_lite")
    assert piqa["metric"] == "score" and piqa["p_value"] is None and piqa["forgotten"] is None
    assert piqa["delta"] == pytest.approx(-12.5) and piqa["p_adjusted"] < 0.05  # 30 items, 15 of them 0.05 lower
    assert any("paired t test (the continuous-metric method)" in w for w in got["warnings"])


def _legacy(src: Path, dst: Path, version: str) -> Path:
    """The same run as lm-eval 0.4.0–0.4.2 wrote it (`results.json`, each task's samples one JSON array
    named after the model_args, no doc/prompt/target hashes, raw `arguments`, no filter or metric names),
    or as 0.4.3–0.4.6 did (today's layout without `filter` and `metrics` on the samples)."""
    results, data = _copy(src, dst / "copy")
    args = ",".join(f"{k}={v}" for k, v in data["config"]["model_args"].items())
    data["config"]["model_args"] = args
    for key in ("lm_eval_version", "task_hashes", "chat_template"):
        data.pop(key, None)
    out = dst / "run"
    out.mkdir()
    for task in TASKS:
        records = [json.loads(x) for x in _samples(results, task).read_text().splitlines()]
        for r in records:
            r.pop("filter"), r.pop("metrics")
            if version == "0.4.2":
                for key in ("doc_hash", "prompt_hash", "target_hash"):
                    r.pop(key)
                r["arguments"] = [list(a.values()) for a in r["arguments"].values()]
        if version == "0.4.2":
            (out / f"{re.sub('/|=', '__', args)}_{task}.jsonl").write_text(json.dumps(records, indent=2))
        else:
            (out / _samples(results, task).name).write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / ("results.json" if version == "0.4.2" else results.name)).write_text(json.dumps(data, indent=2))
    shutil.rmtree(dst / "copy")
    return out


@pytest.mark.parametrize("version", ["0.4.2", "0.4.6"])
def test_older_lm_eval_layouts_give_the_same_comparison(logs, tmp_path, version):
    now = compare(str(logs["base"]), str(logs["damaged"]), "--out", str(tmp_path / "now"))
    old = compare(
        str(_legacy(logs["base"], tmp_path / "b", version)),
        str(_legacy(logs["damaged"], tmp_path / "c", version)),
        "--out",
        str(tmp_path / "old"),
    )
    assert old["retention"] == now["retention"] and old["task_hashes"] == now["task_hashes"]


def test_the_newest_run_is_read_unless_run_names_one(logs, tmp_path):
    """A checkpoint folder holding two runs (the damaged model's, then a later one that is the base's):
    the newest is read by default; `--run` picks the other by the start of its date."""
    results, _ = _copy(logs["damaged"], tmp_path / "ckpt")
    stamp = results.name.removeprefix("results_").removesuffix(".json")
    base_results = next(logs["base"].rglob("results_*.json"))
    base_stamp = base_results.name.removeprefix("results_").removesuffix(".json")
    for p in base_results.parent.iterdir():
        shutil.copy(p, results.parent / p.name.replace(base_stamp, "2999-01-01T00-00-00"))
    latest = compare(str(logs["base"]), str(tmp_path / "ckpt"), "--out", str(tmp_path / "a"))
    assert latest["retention"]["forgetting"] == 0.0 and latest["ckpt_logs"]["run_id"] == "2999-01-01T00-00-00"
    picked = compare(str(logs["base"]), str(tmp_path / "ckpt"), "--run", stamp[:19], "--out", str(tmp_path / "b"))
    assert picked["retention"]["forgetting"] > 10 and picked["ckpt_logs"]["run_id"] == stamp
    proc = fb("compare", str(logs["base"]), str(tmp_path / "ckpt"), "--run", "1999-01", "--out", str(tmp_path / "c"))
    _assert_one_line_error(proc, 2, "no lm-eval run of that date")


def test_a_folder_with_runs_of_two_models_is_refused(logs, tmp_path):
    both = tmp_path / "both"
    for name in ("base", "damaged"):
        for sub in logs[name].iterdir():
            shutil.copytree(sub, both / sub.name)
    proc = fb("compare", str(both), str(logs["damaged"]), "--out", str(tmp_path / "run"))
    _assert_one_line_error(proc, 2, "holds lm-eval runs of several models")
    assert not (tmp_path / "run").exists()


def test_a_kl_run_of_another_pair_and_a_kl_rule_without_kl_are_refused(logs, score_runs, tmp_path):
    proc = fb("compare", str(logs["base"]), str(logs["damaged"]), "--kl", str(score_runs["barely"]), "--out", str(tmp_path / "a"))
    _assert_one_line_error(proc, 2, "give the KL run of the same pair")
    policy = tmp_path / "policy.toml"
    policy.write_text("max_kl = 1.0\n")
    proc = fb("compare", str(logs["base"]), str(logs["damaged"]), "--gate", str(policy), "--out", str(tmp_path / "b"))
    _assert_one_line_error(proc, 2, "pass --kl")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_both_sides_reading_one_run_is_refused(logs, tmp_path):
    proc = fb("compare", str(logs["base"]), str(logs["base"]), "--out", str(tmp_path / "run"))
    _assert_one_line_error(proc, 2, "both sides read the same lm-eval run")


def test_json_output_paths_are_read_by_their_file(logs, tmp_path):
    """`--output_path out/NAME.json` (lm-eval 0.4.9+): `out/NAME_<date>.json` beside `samples_<task>_<date>.jsonl`,
    both models' runs in one folder — refused as a folder, read by file; lm-eval ≤ 0.4.2 wrote `NAME.json` as given."""
    want = compare(str(logs["base"]), str(logs["damaged"]), "--out", str(tmp_path / "want"))
    out = tmp_path / "out"
    out.mkdir()
    files = {}
    for name in ("base", "damaged"):
        results = next(logs[name].rglob("results_*.json"))
        for p in results.parent.iterdir():
            shutil.copy(p, out / p.name.replace("results_", f"{name}_"))
        files[name] = out / results.name.replace("results_", f"{name}_")
    proc = fb("compare", str(out), str(out), "--out", str(tmp_path / "refused"))
    _assert_one_line_error(proc, 2, "holds results files of several runs")
    got = compare(str(files["base"]), str(files["damaged"]), "--out", str(tmp_path / "got"))
    assert got["retention"] == want["retention"]
    legacy = {name: _legacy(logs[name], tmp_path / f"legacy-{name}", "0.4.2") for name in ("base", "damaged")}
    for name, folder in legacy.items():
        (folder / "results.json").rename(folder / f"{name}.json")
    old = compare(str(legacy["base"] / "base.json"), str(legacy["damaged"] / "damaged.json"), "--out", str(tmp_path / "old"))
    assert old["retention"] == want["retention"]


def test_numbers_written_as_text_read_the_same(logs, tmp_path):
    """lm-eval < 0.4.13 wrote numpy scalars as text (`"1.0"`, `"True"`), aggregates included."""
    want = compare(str(logs["base"]), str(logs["damaged"]), "--out", str(tmp_path / "want"))
    results, data = _copy(logs["damaged"], tmp_path / "ckpt")
    for task in TASKS:
        data["results"][task] = {k: str(v) if isinstance(v, float) else v for k, v in data["results"][task].items()}
        _rewrite(_samples(results, task), lambda i, r: {**r, "acc": str(r["acc"] == 1.0) if i % 2 else str(r["acc"])})
    _set(results, data)
    got = compare(str(logs["base"]), str(tmp_path / "ckpt"), "--out", str(tmp_path / "got"))
    assert got["retention"] == want["retention"]


def _older_lm_eval(results, data, version: str = "0.4.7"):
    """The run as an earlier lm-eval logs it: no `unsafe_code` (lm-eval ≥ 0.4.8 writes its default, false) nor
    `fewshot_config` (≥ 0.4.11 writes it in full, from the task's fields), another version and transformers."""
    for config in data["configs"].values():
        config.pop("unsafe_code"), config.pop("fewshot_config")
    data["lm_eval_version"], data["transformers_version"] = version, "4.44.2"


@pytest.mark.parametrize("side", ["checkpoint", "base"])
def test_logs_of_another_lm_eval_version_are_compared_with_a_warning(logs, tmp_path, side):
    """Config keys a later lm-eval writes with their default value are no difference: the same comparison
    (numbers and task hashes) as of the two runs as written, with a warning naming the versions, the keys
    filled in and that lm-eval's own task hashes agree: in report.json, report.html and the terminal."""
    want = compare(str(logs["base"]), str(logs["damaged"]), "--out", str(tmp_path / "want"))
    assert not any("software" in w for w in want["warnings"])
    name = "damaged" if side == "checkpoint" else "base"
    results, data = _copy(logs[name], tmp_path / "old")
    _older_lm_eval(results, data)
    _set(results, data)
    sides = [str(logs["base"]), str(tmp_path / "old")] if side == "checkpoint" else [str(tmp_path / "old"), str(logs["damaged"])]
    proc = fb("compare", *sides, "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "run" / "report.json").read_text())
    assert got["retention"] == want["retention"] and got["task_hashes"] == want["task_hashes"]
    now = json.loads(next(logs["base"].rglob("results_*.json")).read_text())
    pairs = [(now["lm_eval_version"], "0.4.7"), (now["transformers_version"], "4.44.2")]
    a, b = zip(*pairs) if side == "checkpoint" else zip(*[(y, x) for x, y in pairs])
    versions = f"lm-eval {a[0]} (base) vs {b[0]} (checkpoint)"
    warning = next(w for w in got["warnings"] if "different software" in w)
    assert versions in warning and f"transformers {a[1]} (base) vs {b[1]} (checkpoint)" in warning
    assert "(fewshot_config, unsafe_code)" in warning and "lm-eval's own task hashes agree for all 2 tasks" in warning
    assert versions in " ".join(proc.stdout.split())  # the terminal (rich may wrap the line)
    assert versions in (tmp_path / "run" / "report.html").read_text()


def test_without_the_defaults_the_older_logs_were_refused(logs, tmp_path):
    """What the filling-in changes: the raw configs differ in exactly the keys the warning names."""
    from forgetbench.prior import logs as logs_module

    results, data = _copy(logs["damaged"], tmp_path / "old")
    _older_lm_eval(results, data)
    _set(results, data)
    old, new = logs_module.read_run(results), logs_module.read_run(next(logs["base"].rglob("results_*.json")))
    for task in TASKS:
        raw = [logs_module.task_config(r, task, defaults=False) for r in (old, new)]
        assert {k for k in raw[0].keys() | raw[1].keys() if raw[0].get(k) != raw[1].get(k)} == {"unsafe_code", "fewshot_config"}
        assert logs_module.task_config(old, task) == logs_module.task_config(new, task)


def test_lm_eval_task_hashes_that_differ_are_said(logs, tmp_path):
    """Same software, same configs, but lm-eval's own hash of a task's samples (doc, prompt, target) differs:
    compared, with a warning naming the task."""
    results, data = _copy(logs["damaged"], tmp_path / "ckpt")
    data["task_hashes"]["fb_piqa_lite"] = "0" * 64
    _set(results, data)
    got = compare(str(logs["base"]), str(tmp_path / "ckpt"), "--out", str(tmp_path / "run"))
    assert any("lm-eval's own task hashes differ for fb_piqa_lite although" in w for w in got["warnings"])


def test_a_results_file_that_is_a_git_lfs_pointer_is_named_as_one(logs, tmp_path):
    results, _ = _copy(logs["damaged"], tmp_path / "ckpt")
    results.write_text(LFS)
    proc = fb("compare", str(logs["base"]), str(tmp_path / "ckpt"), "--out", str(tmp_path / "run"))
    _assert_one_line_error(proc, 2, f"{results} is a Git LFS pointer, not the file: run `git lfs pull`")
    assert not (tmp_path / "run").exists()


PATHISH = ["../../x", "../../../outside", "/tmp/abs", "a/b", "x\x00y", "..\\..\\x", "new\nline"]


@pytest.mark.parametrize("name", PATHISH, ids=["dotdot", "dotdot-out", "absolute", "slash", "nul", "backslash", "newline"])
def test_a_task_name_that_is_a_path_is_refused_before_any_samples_path(logs, tmp_path, name):
    """A task named `../../x` would make `samples_../../x_<date>.jsonl` a path out of the run folder: the
    results file is refused (exit 2, one line naming the task) before a samples path is made. The samples the
    path would reach are put there, so reading them would have compared."""
    for side in ("base", "damaged"):
        results, data = _copy(logs[side], tmp_path / side)
        for key in ("configs", "results", "versions", "n-shot", "higher_is_better", "n-samples", "task_hashes"):
            data[key][name] = data[key].pop("fb_piqa_lite")
        _set(results, data)
        stamp = results.name.removeprefix("results_").removesuffix(".json")
        if "\x00" not in name:
            target = results.parent / f"samples_{name}_{stamp}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(_samples(results, "fb_piqa_lite"), target)
    proc = fb("compare", str(tmp_path / "base"), str(tmp_path / "damaged"), "--out", str(tmp_path / "run"))
    _assert_one_line_error(proc, 2, f"task name {name!r} holds a path separator or a control character")
    assert not (tmp_path / "run").exists()


def test_numbers_equal_lm_eval_accuracies_and_a_pairing_by_doc_id(logs, tmp_path):
    """Independent of forgetbench's reader: each task's accuracies are lm-eval's own aggregates, and Δ, lost
    and won items are those of the samples files joined by doc_id here."""
    got = compare(str(logs["base"]), str(logs["damaged"]), "--out", str(tmp_path / "run"))
    runs = {name: next(logs[name].rglob("results_*.json")) for name in ("base", "damaged")}
    for t in got["retention"]["tasks"]:
        acc = {n: json.loads(r.read_text())["results"][t["task"]]["acc,none"] for n, r in runs.items()}
        assert (t["base"], t["ckpt"]) == pytest.approx((100 * acc["base"], 100 * acc["damaged"]), abs=1e-9)
        by_id = {
            n: {json.loads(x)["doc_id"]: json.loads(x)["acc"] for x in _samples(r, t["task"]).read_text().splitlines()}
            for n, r in runs.items()
        }
        assert by_id["base"].keys() == by_id["damaged"].keys() and len(by_id["base"]) == t["n_items"] == LIMIT
        ids = by_id["base"]
        delta = sum(by_id["damaged"][i] - by_id["base"][i] for i in ids) / len(ids)
        assert t["delta"] == pytest.approx(100 * delta, abs=1e-9)
        assert t["forgotten"] == sum(by_id["base"][i] > by_id["damaged"][i] for i in ids)
        assert t["gained"] == sum(by_id["base"][i] < by_id["damaged"][i] for i in ids)
