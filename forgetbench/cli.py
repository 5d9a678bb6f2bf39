"""The `forgetbench` command: thin commands over the library (parse, call one function, render, exit).

Heavy libraries (torch, transformers, lm-eval) are imported inside the commands that need them, so
`forgetbench --help` is instant. Every forgetbench error prints one line and exits with its code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from forgetbench.errors import EXIT_RUNTIME, ForgetbenchError, Interrupted

app = typer.Typer(
    help="What did this fine-tune cost the model? Retention on prior benchmarks vs KL on the new task.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Embedded real models that ship on PyPI.", no_args_is_help=True)
app.add_typer(models_app, name="models")
board_app = typer.Typer(help="Leaderboard CSVs: add runs, fit the forgetting-vs-KL law, plot, render.", no_args_is_help=True)
app.add_typer(board_app, name="leaderboard")

StoreOpt = Annotated[
    Optional[Path], typer.Option("--store", help="Results store folder \\[default: $FORGETBENCH_HOME/store].")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only machine-readable JSON on stdout.")]
# Options shared by several commands, defined once.
SuiteOpt = Annotated[str, typer.Option("--suite", "-s", help="Prior-capability suite (see `forgetbench suites`).")]
LimitOpt = Annotated[Optional[int], typer.Option(help="Evaluate only the first N items of each task.")]
DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda, or auto.")]
DtypeOpt = Annotated[str, typer.Option(help="auto (fp32 on CPU, bf16 on GPU), float32, bfloat16, float16.")]
BatchOpt = Annotated[int, typer.Option(help="Batch size (KL scoring uses half).")]
CodeOpt = Annotated[bool, typer.Option(help="Allow tasks that run model-generated code (in a limited subprocess).")]
RemoteOpt = Annotated[bool, typer.Option(help="Allow a model's own Python code to run.")]
PromptFieldOpt = Annotated[str, typer.Option(help="Column with the prompt text in a prompts file.")]
NPromptsOpt = Annotated[int, typer.Option(help="KL prompts used (seeded subsample when there are more).")]
SamplesOpt = Annotated[int, typer.Option(help="Responses sampled per prompt.")]
MaxNewOpt = Annotated[int, typer.Option(help="Longest sampled response (stops earlier at EOS).")]
EstimatorsOpt = Annotated[str, typer.Option(help="Comma-separated KL estimators: full, k1, k3 (first is the headline).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for prompt choice, sampling and bootstraps.")]
ChatOpt = Annotated[bool, typer.Option(help="Render KL prompts with the chat template when there is one.")]
NoiseOpt = Annotated[int, typer.Option(help="Prompts for the KL noise floor (0 skips it).")]
JunitOpt = Annotated[Optional[Path], typer.Option(help="Also write the verdict as JUnit XML (one test case per rule).")]
BackendOpt = Annotated[str, typer.Option(help="hf (transformers) or vllm (needs vLLM installed; see README).")]
FullScorerOpt = Annotated[str, typer.Option(help="With --backend vllm: who computes `full`, hf (fast) or vllm (full-vocab prompt log-probs).")]
TPOpt = Annotated[int, typer.Option(help="vLLM: GPUs per engine.", rich_help_panel="vLLM engine")]
GpuMemOpt = Annotated[Optional[float], typer.Option(help="vLLM: memory fraction an engine may reserve \\[default: vLLM's on GPU, 4 GiB's worth on CPU].", rich_help_panel="vLLM engine")]
MaxLenOpt = Annotated[Optional[int], typer.Option(help="vLLM: longest sequence \\[default: what the job needs / the model's limit].", rich_help_panel="vLLM engine")]
EagerOpt = Annotated[Optional[bool], typer.Option("--enforce-eager/--no-enforce-eager", help="vLLM: skip CUDA graphs and compilation \\[default: on for CPU, off for GPU].", rich_help_panel="vLLM engine", show_default=False)]


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)  # lines stay whole when piped or logged


def _quiet_libraries() -> None:
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("lm_eval", "lm-eval", "transformers", "datasets", "httpx", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def _split_list(text: str) -> tuple[str, ...]:
    """"full, k1" -> ("full", "k1")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _vllm_options(tensor_parallel_size: int, gpu_memory_utilization: Optional[float], max_model_len: Optional[int], enforce_eager: Optional[bool]):
    from forgetbench.config import VLLMOptions

    return VLLMOptions(tensor_parallel_size, gpu_memory_utilization, max_model_len, enforce_eager)


def _store(path: Optional[Path]):
    from forgetbench.home import default_store_dir
    from forgetbench.store import Store

    return Store(path or default_store_dir())


@app.command("eval")
def eval_cmd(
    model: Annotated[str, typer.Argument(help="Embedded name, HF folder, GGUF file or hub id org/name[@rev].")],
    suite: SuiteOpt = "offline-lite",
    limit: LimitOpt = None,
    backend: BackendOpt = "hf",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    batch_size: BatchOpt = 16,
    tensor_parallel_size: TPOpt = 1,
    gpu_memory_utilization: GpuMemOpt = None,
    max_model_len: MaxLenOpt = None,
    enforce_eager: EagerOpt = None,
    num_fewshot: Annotated[Optional[int], typer.Option(help="Override every task's few-shot count.")] = None,
    chat_template: Annotated[bool, typer.Option(help="Render prompts with the model's chat template.")] = False,
    allow_code_execution: CodeOpt = False,
    trust_remote_code: RemoteOpt = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a prior-capability suite on one model (cached in the store)."""
    _quiet_libraries()
    from forgetbench.config import EvalConfig
    from forgetbench.prior.run import evaluate
    from forgetbench.render import RichReporter, eval_table

    config = EvalConfig(
        model=model, suite=suite, limit=limit, backend=backend, device=device, dtype=dtype, batch_size=batch_size,
        num_fewshot=num_fewshot, chat_template=chat_template, allow_code_execution=allow_code_execution,
        trust_remote_code=trust_remote_code,
        vllm=_vllm_options(tensor_parallel_size, gpu_memory_utilization, max_model_len, enforce_eager),
    )
    result = evaluate(config, _store(store), RichReporter(_console(stderr=True)))
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _console().print(eval_table(result))


@app.command("score")
def score_cmd(
    base: Annotated[str, typer.Argument(help="Base model π₀.")],
    ckpt: Annotated[str, typer.Argument(help="Fine-tuned checkpoint π.")],
    new_task: Annotated[str, typer.Option(help="New task: a prompts file (JSONL/CSV/Parquet) or an lm-eval task name.")],
    suite: SuiteOpt = "offline-lite",
    limit: LimitOpt = None,
    prompt_field: PromptFieldOpt = "prompt",
    n_prompts: NPromptsOpt = 256,
    samples_per_prompt: SamplesOpt = 1,
    max_new_tokens: MaxNewOpt = 256,
    estimators: EstimatorsOpt = "full,k1,k3",
    seed: SeedOpt = 0,
    chat_template: ChatOpt = True,
    noise_floor_prompts: NoiseOpt = 32,
    backend: BackendOpt = "hf",
    full_scorer: FullScorerOpt = "hf",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    batch_size: BatchOpt = 16,
    tensor_parallel_size: TPOpt = 1,
    gpu_memory_utilization: GpuMemOpt = None,
    max_model_len: MaxLenOpt = None,
    enforce_eager: EagerOpt = None,
    allow_code_execution: CodeOpt = False,
    trust_remote_code: RemoteOpt = False,
    out: Annotated[Optional[Path], typer.Option(help="Run folder \\[default: runs/score-<time>].")] = None,
    gate: Annotated[Optional[Path], typer.Option(help="Release policy (TOML): decide at the end; exit 0 pass, 1 fail. A KL-only policy skips the suite.")] = None,
    law: Annotated[Optional[Path], typer.Option(help="Leaderboard CSV: also print the forgetting its fitted law predicts at this KL.")] = None,
    junit: JunitOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Retention on the prior suite against KL on the new task, with paired statistics and a report."""
    _quiet_libraries()
    from forgetbench.config import ScoreConfig
    from forgetbench.render import RichReporter
    from forgetbench.score import score

    config = ScoreConfig(
        base=base, ckpt=ckpt, new_task=new_task, suite=suite, limit=limit, prompt_field=prompt_field,
        n_prompts=n_prompts, samples_per_prompt=samples_per_prompt, max_new_tokens=max_new_tokens,
        estimators=_split_list(estimators), seed=seed,
        chat_template=chat_template, noise_floor_prompts=noise_floor_prompts, device=device, dtype=dtype,
        batch_size=batch_size, allow_code_execution=allow_code_execution, trust_remote_code=trust_remote_code,
        backend=backend, full_scorer=full_scorer,
        vllm=_vllm_options(tensor_parallel_size, gpu_memory_utilization, max_model_len, enforce_eager),
        law=str(law) if law else None,
    )
    policy = None
    if gate is not None:
        from forgetbench.gate import load_policy

        policy = load_policy(gate)  # a bad policy stops here, before any compute
    folder = out or _run_folder("score")
    if policy is not None and policy.kl_only:
        from forgetbench.kl.run import write_outputs
        from forgetbench.score import kl_only

        run = kl_only(config, _store(store), RichReporter(_console(stderr=True)))
        write_outputs(run, folder)
        if not as_json:
            from forgetbench.render import kl_table

            _console().print(kl_table(run.result))
    else:
        run = score(config, _store(store), RichReporter(_console(stderr=True)))
        if as_json and policy is not None:  # stdout carries only the verdict's JSON
            from forgetbench.report import write_run

            write_run(run, folder)
        else:
            _finish_score(run, folder, as_json)
    if policy is not None:
        _gate(folder, policy, gate, junit, as_json)


@app.command("demo")
def demo_cmd(
    out: Annotated[Optional[Path], typer.Option(help="Run folder \\[default: runs/score-<time>].")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The main job on the embedded default: SmolLM2-135M vs a short ASDiv fine-tune of it (CPU, offline)."""
    _quiet_libraries()
    from forgetbench.demo import run_demo
    from forgetbench.render import RichReporter

    run = run_demo(_store(store), RichReporter(_console(stderr=True)))
    _finish_score(run, out, as_json)


def _run_folder(kind: str) -> Path:
    import time

    return Path("runs") / time.strftime(f"{kind}-%Y%m%d-%H%M%S", time.gmtime())


def _finish_score(run, out: Optional[Path], as_json: bool) -> None:
    from forgetbench.render import score_summary
    from forgetbench.report import write_run

    folder = out or _run_folder("score")
    write_run(run, folder)
    if as_json:
        print(json.dumps(run.report.to_dict(), indent=2))
    else:
        _console().print(score_summary(run.report))
        _console(stderr=True).print(f"wrote {folder}/ (report.json, report.md, items.parquet, kl.parquet, leaderboard_row.csv)")


def _gate(run: Path, policy, policy_path: Path, junit: Optional[Path], as_json: bool) -> None:
    """Decide, show, write the JUnit file and the GitHub step summary, and exit 0 (pass) or 1 (fail)."""
    from forgetbench.errors import EXIT_GATE_FAILED, EXIT_OK
    from forgetbench.gate import decide, load_inputs
    from forgetbench.gate_report import junit_xml, markdown
    from forgetbench.render import gate_table
    from forgetbench.store import atomic_write_bytes

    verdict = decide(load_inputs(run), policy, policy_path)
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(junit, junit_xml(verdict))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown(verdict))
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        _console().print(gate_table(verdict))
    raise typer.Exit(EXIT_OK if verdict.passed else EXIT_GATE_FAILED)


@app.command("gate")
def gate_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder written by `score` (or `score --gate` with a KL-only policy), or its report.json.")],
    policy: Annotated[Path, typer.Option(help="Release policy (TOML).")],
    junit: JunitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide a release from a saved run and a policy, with no model loaded: exit 0 pass, 1 fail."""
    from forgetbench.gate import load_policy

    _gate(run, load_policy(policy), policy, junit, as_json)


@app.command("kl")
def kl_cmd(
    base: Annotated[str, typer.Argument(help="Base model π₀ (embedded name, folder, GGUF or hub id).")],
    ckpt: Annotated[str, typer.Argument(help="Fine-tuned checkpoint π.")],
    prompts: Annotated[Optional[str], typer.Option(help="JSONL/CSV/Parquet file of new-task prompts.")] = None,
    task: Annotated[Optional[str], typer.Option(help="lm-eval task whose rendered inputs are the prompts.")] = None,
    prompt_field: PromptFieldOpt = "prompt",
    n_prompts: NPromptsOpt = 256,
    samples_per_prompt: SamplesOpt = 1,
    max_new_tokens: MaxNewOpt = 256,
    estimators: EstimatorsOpt = "full,k1,k3",
    direction: Annotated[str, typer.Option(help="forward: KL(base‖ckpt) on base samples; reverse: KL(ckpt‖base).")] = "forward",
    seed: SeedOpt = 0,
    chat_template: ChatOpt = True,
    noise_floor_prompts: NoiseOpt = 32,
    backend: BackendOpt = "hf",
    full_scorer: FullScorerOpt = "hf",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    batch_size: BatchOpt = 16,
    tensor_parallel_size: TPOpt = 1,
    gpu_memory_utilization: GpuMemOpt = None,
    max_model_len: MaxLenOpt = None,
    enforce_eager: EagerOpt = None,
    trust_remote_code: RemoteOpt = False,
    out: Annotated[Optional[Path], typer.Option(help="Folder for kl.json and kl.parquet \\[default: runs/kl-<time>].")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """KL between base and checkpoint on new-task prompts (the predictor of forgetting)."""
    _quiet_libraries()
    import time

    from forgetbench.config import KLConfig
    from forgetbench.kl.run import measure_kl, write_outputs
    from forgetbench.render import RichReporter, kl_table

    config = KLConfig(
        base=base, ckpt=ckpt, prompts=prompts, task=task, prompt_field=prompt_field, n_prompts=n_prompts,
        samples_per_prompt=samples_per_prompt, max_new_tokens=max_new_tokens,
        estimators=_split_list(estimators), direction=direction, seed=seed,
        chat_template=chat_template, noise_floor_prompts=noise_floor_prompts, device=device, dtype=dtype,
        batch_size=batch_size, trust_remote_code=trust_remote_code, backend=backend, full_scorer=full_scorer,
        vllm=_vllm_options(tensor_parallel_size, gpu_memory_utilization, max_model_len, enforce_eager),
    )
    run = measure_kl(config, _store(store), RichReporter(_console(stderr=True)))
    folder = out or Path("runs") / time.strftime("kl-%Y%m%d-%H%M%S", time.gmtime())
    write_outputs(run, folder)
    if as_json:
        print(json.dumps(run.result.to_dict(), indent=2))
    else:
        _console().print(kl_table(run.result))
        _console(stderr=True).print(f"wrote {folder}/kl.json and kl.parquet")


@app.command("suites")
def suites_cmd(
    counts: Annotated[bool, typer.Option(help="Load each task's data to count its items (offline data only).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """List suites, their tasks and item counts."""
    _quiet_libraries()
    from dataclasses import asdict

    from forgetbench.prior.catalog import data_report, describe_suites
    from forgetbench.render import data_table, suites_table

    infos = describe_suites(counts=counts)
    data = data_report()
    if as_json:
        print(json.dumps({"suites": [i.to_dict() for i in infos], "data": [asdict(d) for d in data]}, indent=2))
        return
    out = _console()
    out.print(suites_table(infos))
    for info in infos:
        out.print(f"[bold]{info.name}[/bold]: {info.description}")
    out.print(data_table(data))


@board_app.command("add")
def board_add(
    reports: Annotated[list[Path], typer.Argument(help="Run folders written by `score` (or their report.json).")],
    to: Annotated[Path, typer.Option("--to", help="Leaderboard CSV to create or update.")],
    label: Annotated[Optional[str], typer.Option(help="Label for these rows (e.g. the training method).")] = None,
    allow_suite_change: Annotated[bool, typer.Option(help="Accept rows whose suite hash differs from the file's.")] = False,
    ckpt_name: Annotated[Optional[str], typer.Option(help="Published name for the checkpoint instead of its local path (one report).")] = None,
) -> None:
    """Upsert rows (keyed by base, checkpoint, suite hash, new-task hash) atomically under a lock."""
    from forgetbench import leaderboard

    result = leaderboard.add(reports, to, allow_suite_change, label, ckpt_name)
    _console(stderr=True).print(f"{to}: {result.added} added, {result.updated} updated, {result.total} rows")


def _law(file: Path, base: Optional[str]):
    from forgetbench import leaderboard
    from forgetbench.leaderboard_view import fit_law

    frame = leaderboard.read(file)
    if base is not None:
        match = frame[(frame["base"] == base) | (frame["base_fingerprint"] == base)]
        if match.empty:
            from forgetbench.errors import DataError

            raise DataError(f"{file}: no rows with base {base!r}")
        base = str(match["base_fingerprint"].iloc[0])
    return frame, fit_law(frame, str(file), base_fingerprint=base)


BaseOpt = Annotated[Optional[str], typer.Option(help="Only rows of this base (spec or fingerprint).")]


@board_app.command("fit")
def board_fit(
    file: Annotated[Path, typer.Argument(help="Leaderboard CSV.")],
    base: BaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit forgetting against KL: the paper's quadratic and a monotone (isotonic) alternative."""
    from dataclasses import asdict

    _, law = _law(file, base)
    if as_json:
        print(json.dumps(asdict(law), indent=2))
        return
    out = _console()
    q, iso = law.quadratic, law.isotonic
    a, b, c = q.coefficients
    out.print(f"{file}: n = {law.n} checkpoints (one suite, {len(law.base_fingerprints)} base(s))")
    out.print(f"quadratic  F = {a:.3f} {_term(b)}·KL {_term(c)}·KL²   R² {q.r2:.3f}   leave-one-out R² {q.loo_r2:.3f}")
    if iso is not None:
        out.print(f"isotonic   non-decreasing step fit over {len(iso.knots)} points   R² {iso.r2:.3f}   leave-one-out R² {iso.loo_r2:.3f}")
    out.print("(RL's Razor reports R² 0.71 for its quadratic across LLM fine-tunes)")
    if law.warning:
        _console(stderr=True).print(f"[yellow]warning:[/yellow] {law.warning}")


def _term(coefficient: float) -> str:
    """`+ 0.0151` or `− 6.2e-06`: the sign as an operator, three significant digits."""
    return f"{'−' if coefficient < 0 else '+'} {abs(coefficient):.3g}"


@board_app.command("plot")
def board_plot(
    file: Annotated[Path, typer.Argument(help="Leaderboard CSV.")],
    out: Annotated[Path, typer.Option(help="Output path without suffix: writes OUT.png and OUT.svg.")],
    base: BaseOpt = None,
) -> None:
    """Scatter of forgetting vs KL with error bars and both fitted laws (PNG and SVG)."""
    from forgetbench.leaderboard_view import plot

    frame, law = _law(file, base)
    paths = plot(frame, law, out)
    _console(stderr=True).print("wrote " + ", ".join(str(p) for p in paths))


@board_app.command("render")
def board_render(
    file: Annotated[Path, typer.Argument(help="Leaderboard CSV.")],
    out: Annotated[Path, typer.Option(help="Output path without suffix: writes OUT.md and OUT.html.")],
    sort: Annotated[str, typer.Option(help="Column to sort by.")] = "forgetting",
    descending: Annotated[bool, typer.Option(help="Largest first.")] = False,
) -> None:
    """Markdown and HTML tables of a leaderboard, sorted by a chosen column."""
    from forgetbench import leaderboard
    from forgetbench.leaderboard_view import render
    from forgetbench.store import atomic_write_bytes

    md, page = render(leaderboard.read(file), sort, descending, f"forgetbench leaderboard: {file.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out.with_suffix(".md"), md.encode())
    atomic_write_bytes(out.with_suffix(".html"), page.encode())
    _console(stderr=True).print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.html')}")


@models_app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """Show the embedded models and whether they are materialised."""
    from forgetbench import embedded

    rows = [
        {"name": m.name, "present": embedded.is_present(m.name), "path": str(embedded.folder(m.name)),
         "description": m.description, "license": m.license, "install": embedded.install_hint(m)}
        for m in embedded.MODELS.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="embedded models")
    for col in ("name", "present", "path", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], "yes" if r["present"] else "no", r["path"], r["description"])
    _console().print(table)


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="Embedded model short name.")]) -> None:
    """Materialise an embedded model into an HF folder (once; later calls return at once)."""
    _quiet_libraries()
    from forgetbench import embedded
    from forgetbench.errors import ModelSpecError
    from forgetbench.fingerprint import fingerprint

    if name not in embedded.MODELS:
        raise ModelSpecError(f"unknown embedded model {name!r}; known: {', '.join(embedded.MODELS)}")
    err = _console(stderr=True)
    with err.status(f"materialising {name} (once: converting GGUF to an fp32 folder)"):
        path = embedded.ensure(name)
        fp = fingerprint(path)
    _console().print(f"{name}: {path} (fingerprint {fp.short})")


def _interrupt(signum, frame) -> None:
    # A plain exception, not KeyboardInterrupt: the CLI framework would turn that into exit 1.
    raise Interrupted("interrupted; finished tasks are kept in the store")


def main() -> None:
    """Console entry point: maps errors to one line and DESIGN.md §5 exit codes."""
    import signal

    signal.signal(signal.SIGINT, _interrupt)
    try:
        app()
    except ForgetbenchError as exc:
        print(f"forgetbench: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected library failure: runtime error, exit 3
        if os.environ.get("FORGETBENCH_DEBUG"):
            raise
        print(f"forgetbench: error: {type(exc).__name__}: {exc} (set FORGETBENCH_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(EXIT_RUNTIME)


if __name__ == "__main__":
    main()
