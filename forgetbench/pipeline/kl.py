"""`forgetbench kl`: the KL between two models on new-task prompts, as a job.

The prompts come from a file (`kl.prompts`) or from an lm-eval task's rendered inputs
(`prior.prompts`); this job is where the two meet, so `kl` itself never touches lm-eval.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from forgetbench.backends.base import Backend
from forgetbench.backends.registry import open_backend
from forgetbench.core.config import KLConfig
from forgetbench.core.errors import UserInputError
from forgetbench.core.model import ResolvedModel
from forgetbench.core.progress import Reporter
from forgetbench.core.store import Store
from forgetbench.kl.plan import Plan, fitting, make_plan
from forgetbench.kl.prompts import Prompts, choose, read_prompt_file
from forgetbench.kl.run import KLRun, execute
from forgetbench.kl.samples import NAMESPACE
from forgetbench.models.spec import resolve
from forgetbench.pipeline.run_folder import write_kl
from forgetbench.runs import RunFolder


def load_prompts(config: KLConfig) -> Prompts:
    """The chosen prompts of a KL run: from its file, or rendered by its lm-eval task."""
    if config.prompts is not None:
        texts = read_prompt_file(Path(config.prompts), config.prompt_field)
    else:
        from forgetbench.prior.prompts import registered, task_prompts

        if not registered(str(config.task)):
            raise UserInputError(f"{config.task!r} is neither a prompts file nor a registered lm-eval task")
        texts = task_prompts(str(config.task))
    return choose(config.source, texts, config.n_prompts, config.seed)


def plan_kl(config: KLConfig, store: Store, backend: Backend, reporter: Reporter) -> Plan:
    """Every check of a KL run, before compute: store, prompts, models, shared vocabulary, tokenisation."""
    store.check_writable((NAMESPACE,))
    prompts = load_prompts(config)
    reporter.message("resolving models")
    base = resolve(config.base, trust_remote_code=config.runtime.trust_remote_code)
    ckpt = resolve(config.ckpt, config.runtime.trust_remote_code, base, config.allow_base_mismatch)
    if ckpt.adapter is not None and ckpt.adapter.warning:
        reporter.message(f"warning: {ckpt.adapter.warning}")
    plan = make_plan(config, prompts, base, ckpt, backend)
    reverse = None
    if config.direction == "both":
        reverse = make_plan(replace(config, direction="reverse", noise_floor_prompts=0), prompts, base, ckpt, backend)
    return replace(plan, reverse=reverse, old=plan_old(config, base, ckpt, backend, reporter))


def plan_old(config: KLConfig, base: ResolvedModel, ckpt: ResolvedModel, backend: Backend, reporter: Reporter) -> Plan | None:
    """The old-task plan: `old_task_prompts` prompts drawn from `old_task_suite`'s items, rendered as the suite
    is run, the base's samples, the per-token divergences only (no noise floor); None when not asked for
    (no suite, 0 prompts) or for a reverse run (the divergences are defined on the base's samples)."""
    if config.old_task_suite is None or config.old_task_prompts == 0 or config.direction == "reverse":
        return None
    from forgetbench.prior.prompts import suite_prompts

    prompts = suite_prompts(
        config.old_task_suite,
        config.old_task_prompts,
        config.seed,
        limit=config.old_task_limit,
        num_fewshot=config.old_task_num_fewshot,
        skip_non_text=True,  # a task scored per option (WinoGrande) has no one prompt: left out, said
        reporter=reporter,
    )
    old = replace(config, direction="forward", noise_floor_prompts=0, chat_template=config.old_task_chat_template)
    fit = fitting(old, prompts, base, ckpt)
    if len(fit.texts) < len(prompts.texts):
        reporter.message(
            f"old-task prompts: {len(prompts.texts) - len(fit.texts)} of {len(prompts.texts)} leave no room for "
            f"--max-new-tokens {config.max_new_tokens} in the models' context; left out"
        )
    if not fit.texts:
        return None
    return make_plan(replace(old, n_prompts=len(fit.texts)), fit, base, ckpt, backend)


def measure_kl(config: KLConfig, store: Store, reporter: Reporter | None = None) -> KLRun:
    """Measure the KL of `config` (nothing written)."""
    reporter = reporter or Reporter()
    with open_backend(config.runtime) as backend:
        return execute(plan_kl(config, store, backend, reporter), backend, store, reporter)


def run_kl(config: KLConfig, *, store: Store, out: Path | None = None, reporter: Reporter | None = None) -> tuple[Path, KLRun]:
    """Measure and write `kl.json` and `kl.parquet` into `out` (default `runs/kl-<time>/`)."""
    folder = RunFolder.at(out, "kl").prepare("kl").path
    run = measure_kl(config, store, reporter)
    return folder, KLRun(write_kl(run, folder), run.rows)
