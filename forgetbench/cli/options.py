"""Every command-line option, defined once (help, type, default from `core.config.DEFAULTS`), in groups
that commands compose with `command(...)`; and the builders that turn parsed options into configs.

A command's Python function receives one namespace of its parsed options, so it stays a few lines:
build a config, call one library function, render, exit. Choices are the config's `Literal` types,
so Typer refuses a bad value (exit 2) before anything runs. The backends' own flags are built from
their options dataclasses (`backend_flags`), for every registered backend, plugins included.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Optional

import typer

from forgetbench.cli.backend_flags import BackendFlags
from forgetbench.core.config import DEFAULTS, Device, Direction, DType, Executor

EMPTY = inspect.Parameter.empty
BACKENDS = BackendFlags.build()
"""Every registered backend's flags (plugins that cannot be used are kept aside, with why)."""
RUN, DECIDE, LOOK = "Run models", "Decide and publish (no model loaded)", "Look up"


@dataclass(frozen=True)
class Opt:
    """One parameter of a command: its Python name, `Annotated` type (with its typer.Option/Argument) and default."""

    name: str
    annotation: Any
    default: Any = EMPTY


def arg(name: str, help_: str) -> Opt:
    return Opt(name, Annotated[str, typer.Argument(help=help_, metavar=name.upper(), show_default=False)])


MODEL = (arg("model", "Embedded name, HF folder, GGUF file or hub id org/name[@rev]."),)
PAIR = (arg("base", "Base model π₀ (embedded name, folder, GGUF or hub id)."), arg("ckpt", "Fine-tuned checkpoint π."))

SUITE = (
    Opt(
        "suite",
        Annotated[str, typer.Option("--suite", "-s", help="Prior-capability suite (see `forgetbench suites`).")],
        DEFAULTS.suite,
    ),
    Opt("limit", Annotated[Optional[int], typer.Option(help="Evaluate only the first N items of each task.")], None),
    Opt(
        "allow_code_execution",
        Annotated[bool, typer.Option(help="Allow tasks that run model-generated code (in a limited subprocess).")],
        False,
    ),
)
EVAL_ONLY = (
    Opt("num_fewshot", Annotated[Optional[int], typer.Option(help="Override every task's few-shot count.")], None),
    Opt(
        "chat_template",
        Annotated[bool, typer.Option(help="Render prompts with the model's chat template.")],
        DEFAULTS.eval_chat_template,
    ),
)
PROMPTS = (
    Opt("prompts", Annotated[Optional[str], typer.Option(help="JSONL/CSV/Parquet file of new-task prompts.")], None),
    Opt("task", Annotated[Optional[str], typer.Option(help="lm-eval task whose rendered inputs are the prompts.")], None),
)
NEW_TASK = (
    Opt(
        "new_task",
        Annotated[
            str, typer.Option(help="New task: a prompts file (JSONL/CSV/Parquet) or an lm-eval task name.", show_default=False)
        ],
    ),
)
KL = (
    Opt(
        "prompt_field", Annotated[str, typer.Option(help="Column with the prompt text in a prompts file.")], DEFAULTS.prompt_field
    ),
    Opt(
        "n_prompts",
        Annotated[int, typer.Option(help="KL prompts used (seeded subsample when there are more).")],
        DEFAULTS.n_prompts,
    ),
    Opt("samples_per_prompt", Annotated[int, typer.Option(help="Responses sampled per prompt.")], DEFAULTS.samples_per_prompt),
    Opt(
        "max_new_tokens",
        Annotated[int, typer.Option(help="Longest sampled response (stops earlier at EOS).")],
        DEFAULTS.max_new_tokens,
    ),
    Opt(
        "estimators",
        Annotated[str, typer.Option(help="Comma-separated KL estimators: full, k1, k3 (the headline is full when listed).")],
        ",".join(DEFAULTS.estimators),
    ),
    Opt("seed", Annotated[int, typer.Option(help="Seed for prompt choice, sampling and bootstraps.")], DEFAULTS.seed),
    Opt(
        "chat_template",
        Annotated[bool, typer.Option(help="Render KL prompts with the chat template when there is one.")],
        DEFAULTS.kl_chat_template,
    ),
    Opt(
        "noise_floor_prompts",
        Annotated[int, typer.Option(help="Prompts for the KL noise floor (0 skips it).")],
        DEFAULTS.noise_floor_prompts,
    ),
    Opt(
        "old_task_prompts",
        Annotated[
            int,
            typer.Option(
                help="Prompts drawn from the prior suite's items for the _old predictors (responses from the base; 0 skips them)."
            ),
        ],
        DEFAULTS.old_task_prompts,
    ),
    Opt(
        "weight_distance",
        Annotated[bool, typer.Option(help="Compute the weight-space predictors (‖ΔW‖/‖W‖, largest σ₁(ΔW)).")],
        DEFAULTS.weight_distance,
    ),
    Opt(
        "allow_template_mismatch",
        Annotated[
            bool,
            typer.Option(help="Measure even when the models' chat templates or stop tokens differ (recorded in the report)."),
        ],
        DEFAULTS.allow_template_mismatch,
    ),
    Opt(
        "allow_base_mismatch",
        Annotated[
            bool,
            typer.Option(
                help="Apply an adapter CKPT even when the base it declares is found here with other weights (recorded in the report)."
            ),
        ],
        DEFAULTS.allow_base_mismatch,
    ),
    *(Opt(*flag) for flag in BACKENDS.opts(kl=True)),
)
OLD_SUITE = (
    Opt(
        "old_task_suite",
        Annotated[
            Optional[str],
            typer.Option(help="Prior suite whose items give the old-task prompts of the _old predictors (score: its --suite)."),
        ],
        None,
    ),
)
DIRECTION = (
    Opt(
        "direction",
        Annotated[
            Direction,
            typer.Option(
                help="forward: KL(base‖ckpt) on base samples; reverse: KL(ckpt‖base); both: the forward headline plus kl_reverse_new on the checkpoint's own samples (each model samples once)."
            ),
        ],
        DEFAULTS.direction,
    ),
)
RUNTIME = (
    Opt(
        "backend",
        Annotated[BACKENDS.choice(), typer.Option(help=BACKENDS.help())],
        DEFAULTS.backend,
    ),
    Opt("device", Annotated[Device, typer.Option(help="cpu, cuda, or auto.")], DEFAULTS.device),
    Opt(
        "dtype",
        Annotated[DType, typer.Option(help="float32, bfloat16, float16 (KL adds a precision floor), auto (GPU bf16, CPU fp32).")],
        DEFAULTS.dtype,
    ),
    Opt("batch_size", Annotated[int, typer.Option(help="Batch size (KL scoring uses half).")], DEFAULTS.batch_size),
    Opt("trust_remote_code", Annotated[bool, typer.Option(help="Allow a model's own Python code to run.")], False),
    *(Opt(*flag) for flag in BACKENDS.opts(kl=False)),
)
STORE = (
    Opt(
        "store", Annotated[Optional[Path], typer.Option(help="Results store folder \\[default: $FORGETBENCH_HOME/store].")], None
    ),
)
JSON = (Opt("as_json", Annotated[bool, typer.Option("--json", help="Print only machine-readable JSON on stdout.")], False),)
OUT = (Opt("out", Annotated[Optional[Path], typer.Option(help="Run folder \\[default: runs/<command>-<UTC time>].")], None),)
JUNIT = (
    Opt(
        "junit",
        Annotated[Optional[Path], typer.Option(help="Also write the verdict as JUnit XML (one test case per rule).")],
        None,
    ),
)
GATE = (
    Opt(
        "gate",
        Annotated[
            Optional[Path],
            typer.Option(help="Release policy (TOML): decide at the end; exit 0 pass, 1 fail. A KL-only policy skips the suite."),
        ],
        None,
    ),
    Opt(
        "law",
        Annotated[
            Optional[Path], typer.Option(help="Leaderboard CSV: also print the forgetting its fitted law predicts at this KL.")
        ],
        None,
    ),
    *JUNIT,
)


EXECUTOR = (
    Opt(
        "executor",
        Annotated[
            Executor, typer.Option(help="local (this process) or ray (jobs on a Ray cluster; pip install 'forgetbench[ray]').")
        ],
        "local",
    ),
    Opt(
        "ray_address",
        Annotated[
            Optional[str], typer.Option(help="Ray cluster for --executor ray \\[default: $RAY_ADDRESS, else a local one].")
        ],
        None,
    ),
)


def executor_of(a: SimpleNamespace) -> dict[str, Any]:
    """`executor` and `ray_address` keywords of `score` / `sweep` (a --ray-address without ray is refused)."""
    from forgetbench.core.errors import UserInputError

    if a.ray_address and a.executor != "ray":
        raise UserInputError("--ray-address needs --executor ray")
    return {"executor": a.executor, "ray_address": a.ray_address}


def command(
    app: typer.Typer, name: str, *groups: tuple[Opt, ...], panel: str | None = None
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register `body(args)` as command `name` of `app` (listed under `panel` in --help), with the options
    of `groups` (in order); `args` is a namespace of the parsed values, and `args.given` the names of those
    given on the command line."""
    opts = [o for group in groups for o in group]
    clashing = BACKENDS.refuse_clashes({o.name: flags_of(o) for o in opts})
    opts = [o for o in opts if o.name not in clashing]

    def register(body: Callable[[Any], None]) -> Callable[[Any], None]:
        def cmd(ctx: typer.Context, **values: Any) -> None:
            given = {k for k in values if (s := ctx.get_parameter_source(k)) is not None and s.name == "COMMANDLINE"}
            body(SimpleNamespace(**values, given=frozenset(given)))

        context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        cmd.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [context]
            + [
                inspect.Parameter(o.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=o.default, annotation=o.annotation)
                for o in opts
            ]
        )
        cmd.__annotations__ = {"ctx": typer.Context, **{o.name: o.annotation for o in opts}}
        cmd.__doc__, cmd.__name__ = body.__doc__, body.__name__
        app.command(name, rich_help_panel=panel)(cmd)
        return body

    return register


def flags_of(opt: Opt) -> set[str]:
    """What a user types for `opt` (`--json`, `--enforce-eager`, `--no-enforce-eager`); none for an argument."""
    info = opt.annotation.__metadata__[0]
    if isinstance(info, typer.models.ArgumentInfo):
        return set()
    decls = [d for decl in (info.param_decls or ()) for d in decl.split("/")]
    return {d for d in decls if d.startswith("--")} or {"--" + opt.name.replace("_", "-")}


def split_list(text: str) -> tuple[str, ...]:
    """ "full, k1" -> ("full", "k1")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def runtime(a: SimpleNamespace) -> Any:
    """The Runtime of parsed options, with the chosen backend's own options (`BackendFlags.options`)."""
    from forgetbench.core.config import Runtime

    return Runtime(a.backend, a.device, a.dtype, a.batch_size, a.trust_remote_code, BACKENDS.options(a))


def kl_options(a: SimpleNamespace) -> dict[str, Any]:
    """KLConfig fields (besides models, prompts source and runtime) from parsed options."""
    return {
        "prompt_field": a.prompt_field,
        "n_prompts": a.n_prompts,
        "samples_per_prompt": a.samples_per_prompt,
        "max_new_tokens": a.max_new_tokens,
        "estimators": split_list(a.estimators),
        "seed": a.seed,
        "chat_template": a.chat_template,
        "noise_floor_prompts": a.noise_floor_prompts,
        "old_task_prompts": a.old_task_prompts,
        "weight_distance": a.weight_distance,
        **({"old_task_suite": a.old_task_suite} if getattr(a, "old_task_suite", None) else {}),
        "allow_template_mismatch": a.allow_template_mismatch,
        "allow_base_mismatch": a.allow_base_mismatch,
        "direction": getattr(a, "direction", DEFAULTS.direction),
    }


def store_of(a: SimpleNamespace) -> Any:
    """The results store of parsed options."""
    from forgetbench.core.home import default_store_dir
    from forgetbench.core.store import Store

    return Store(a.store or default_store_dir())
