"""The commands that run models: `eval`, `kl`, `score`, `demo`."""

from __future__ import annotations

from types import SimpleNamespace

from forgetbench.cli import console as c
from forgetbench.cli import options as o
from forgetbench.cli.app import app
from forgetbench.core.errors import EXIT_GATE_FAILED


@o.command(app, "eval", o.MODEL, o.SUITE, o.EVAL_ONLY, o.RUNTIME, o.STORE, o.JSON, panel=o.RUN)
def eval_cmd(a: SimpleNamespace) -> None:
    """Run a prior-capability suite on one model (cached in the store)."""
    c.quiet_libraries()
    from forgetbench.cli.render import eval_table
    from forgetbench.core.config import EvalConfig
    from forgetbench.prior.run import evaluate

    config = EvalConfig(a.model, a.suite, a.limit, a.num_fewshot, a.chat_template, a.allow_code_execution, o.runtime(a))
    result = evaluate(config, o.store_of(a), c.reporter())
    c.print_json(result.to_dict()) if a.as_json else c.console().print(eval_table(result))


@o.command(app, "kl", o.PAIR, o.PROMPTS, o.KL, o.OLD_SUITE, o.DIRECTION, o.RUNTIME, o.OUT, o.STORE, o.JSON, panel=o.RUN)
def kl_cmd(a: SimpleNamespace) -> None:
    """KL between base and checkpoint on new-task prompts (the predictor of forgetting)."""
    c.quiet_libraries()
    from forgetbench.cli.render import kl_table, predictor_table
    from forgetbench.core.config import KLConfig
    from forgetbench.pipeline.kl import run_kl
    from forgetbench.runs import layout

    config = KLConfig(a.base, a.ckpt, a.prompts, a.task, runtime=o.runtime(a), **o.kl_options(a))
    folder, run = run_kl(config, store=o.store_of(a), out=a.out, reporter=c.reporter())
    if a.as_json:
        c.print_json(run.result.to_dict())
    else:
        c.console().print(kl_table(run.result))
        if (predictors := predictor_table(run.result)) is not None:
            c.console().print(predictors)
        side = [name for name in layout.SIDE_ROWS if (folder / name).is_file()]
        c.console(stderr=True).print(f"wrote {folder}/{', '.join([layout.KL, layout.KL_ROWS, *side])} and {layout.PAGE}")


@o.command(
    app,
    "score",
    o.PAIR,
    o.NEW_TASK,
    o.SUITE,
    o.KL,
    o.DIRECTION,
    o.RUNTIME,
    o.EXECUTOR,
    o.OUT,
    o.GATE,
    o.STORE,
    o.JSON,
    panel=o.RUN,
)
def score_cmd(a: SimpleNamespace) -> None:
    """Retention on the prior suite against KL on the new task, with paired statistics and a report."""
    c.quiet_libraries()
    from forgetbench.core.config import ScoreConfig
    from forgetbench.pipeline.score import score

    config = ScoreConfig.build(
        a.base,
        a.ckpt,
        a.new_task,
        suite=a.suite,
        limit=a.limit,
        allow_code_execution=a.allow_code_execution,
        law=str(a.law) if a.law else None,
        runtime=o.runtime(a),
        **o.kl_options(a),
    )
    outcome = score(config, store=o.store_of(a), out=a.out, gate=a.gate, junit=a.junit, reporter=c.reporter(), **o.executor_of(a))
    show_outcome(outcome, a.as_json)


@o.command(app, "demo", o.OUT, o.STORE, o.JSON, panel=o.RUN)
def demo_cmd(a: SimpleNamespace) -> None:
    """The main job on the embedded default: SmolLM2-135M vs a short ASDiv fine-tune of it (CPU, offline)."""
    c.quiet_libraries()
    from forgetbench.pipeline.demo import run_demo

    show_outcome(run_demo(o.store_of(a), a.out, c.reporter()), a.as_json)


def show_outcome(outcome, as_json: bool) -> None:
    """A score outcome on the terminal (or as JSON: the verdict when gated, else the report); exit 1 when the gate failed."""
    from forgetbench.cli.render import gate_table, kl_table, score_summary

    if as_json:
        c.print_json((outcome.gate or outcome.report or outcome.kl).to_dict())
    else:
        c.console().print(score_summary(outcome.report) if outcome.report else kl_table(outcome.kl))
        files = ", ".join(sorted(p.name for p in outcome.folder.iterdir() if not p.name.startswith(".")))
        c.console(stderr=True).print(f"wrote {outcome.folder}/ ({files})")
        if outcome.gate is not None:
            c.console().print(gate_table(outcome.gate))
    c.exit_with(EXIT_GATE_FAILED if outcome.gate is not None and not outcome.gate.passed else 0)
