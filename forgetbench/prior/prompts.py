"""Prompts rendered by lm-eval: a task's eval docs (new-task prompts for KL), and a prior suite's own
items (old-task prompts), each as the context lm-eval itself feeds the model for that item.

`suite_prompts` draws, seeded, from the items a suite evaluates (after its lite subsampling, which
the task's dataset applies, and `--limit`): the n prompts are spread over the suite's members by
round robin in suite order, within a member over its leaf tasks (in a seeded order, so a group such
as `mmlu` does not favour its first subjects), and within a task the items are a seeded choice. Each
text is the `arguments[0]` context of the item's lm-eval request as `prior.run` builds it (few-shot
examples included, the same few-shot seed; the question without any answer option), rendered by
lm-eval's own `Task.build_all_requests` without a chat template (the KL run applies its own). No model
runs: it is lm-eval's request construction only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forgetbench.core.errors import SuiteError, UserInputError
from forgetbench.core.progress import Reporter
from forgetbench.core.prompts import Prompts
from forgetbench.data.sampling import lite_indices
from forgetbench.prior.suites import Suite, resolve_suite, task_manager


def registered(name: str) -> bool:
    """Whether lm-eval knows task `name` (forgetbench's tasks, then lm-eval's own)."""
    return name in task_manager(False).task_index or name in task_manager(True).task_index


def task_prompts(name: str) -> list[str]:
    """Rendered inputs of lm-eval task `name` (forgetbench's tasks first, then lm-eval's own)."""
    tm = task_manager(False)
    if name not in tm.task_index:
        tm = task_manager(True)
        if name not in tm.task_index:
            raise SuiteError(f"unknown lm-eval task {name!r}")
    if tm.task_index[name].kind.name not in ("TASK", "PY_TASK"):
        raise SuiteError(f"{name!r} is a group or tag; give one lm-eval task for prompts")
    task = tm.load([name])["tasks"][name]
    prompts = []
    for doc in task.eval_docs:
        text = task.doc_to_text(doc)
        if not isinstance(text, str):
            raise SuiteError(f"task {name!r} renders its input as {type(text).__name__}, not text")
        prompts.append(text)
    return prompts


@dataclass(frozen=True)
class _Leaf:
    name: str
    member: str
    task: Any
    """The built lm-eval Task, its num_fewshot and few-shot seed set as `simple_evaluate` sets them."""
    size: int
    """Items the suite evaluates on this task (its eval docs, at most `limit`)."""


def _apply_run_settings(task: Any, num_fewshot: int | None) -> int:
    """What `lm_eval.simple_evaluate` does to a task before building its requests (the `num_fewshot`
    override, which a task whose config says 0 ignores; the few-shot seed of `prior.run`); returns
    the task's number of few-shot examples."""
    from forgetbench.prior.run import SEEDS

    default = task.get_config("num_fewshot")
    if num_fewshot is not None and default != 0:
        task.set_config(key="num_fewshot", value=num_fewshot)
    elif num_fewshot is None and default is None:
        task.set_config(key="num_fewshot", value=0)
    task.set_fewshot_seed(seed=SEEDS["fewshot_random_seed"])
    return int(task.get_config("num_fewshot") or 0)


def _not_text(task: Any) -> str | None:
    """Why the task's items have no single text context (None when they have one)."""
    if task.get_config("output_type") == "loglikelihood_rolling":
        return "it scores whole documents (loglikelihood_rolling), with no prompt"
    if getattr(task, "multiple_input", False):
        return "each item renders one context per answer option (multiple_input), not one prompt"
    if task.get_config("doc_to_image") or task.get_config("doc_to_audio"):
        return "its items carry images or audio"
    return None


def _quotas(sizes: list[int], n: int) -> list[int]:
    """Round robin: one item per entry with items left, in order, until `n` are given out."""
    quotas = [0] * len(sizes)
    left = min(n, sum(sizes))
    while left:
        for i, size in enumerate(sizes):
            if left and quotas[i] < size:
                quotas[i] += 1
                left -= 1
    return quotas


def _contexts(leaf: _Leaf, chosen: list[int], fewshot: int) -> list[str]:
    """The `arguments[0]` context of lm-eval's request for each chosen item (doc index), in order.

    Zero-shot (or lm-eval's stateless `first_n` sampler), the chosen docs alone are built. With a
    random few-shot sampler each doc's examples depend on the draws for the docs before it, so the
    docs are built in order up to the last chosen one, as lm-eval builds them."""
    from lm_eval.api.samplers import FirstNSampler

    from forgetbench.backends.lm_eval_tasks import routed_progress

    task = leaf.task
    stateless = fewshot == 0 or isinstance(getattr(task, "sampler", None), FirstNSampler)
    with routed_progress(Reporter(), leaf.name):  # lm-eval's own tqdm bar, silenced
        if stateless:
            task.build_all_requests(samples=chosen)
        else:
            task.build_all_requests(limit=chosen[-1] + 1)
    first = {inst.doc_id: inst.arguments[0] for inst in task.instances if inst.idx == 0}
    docs = [first.get(k) for k in range(len(chosen))] if stateless else [first.get(d) for d in chosen]
    out = []
    for doc, ctx in zip(chosen, docs, strict=True):
        if not isinstance(ctx, str) or not ctx.strip():
            raise SuiteError(
                f"task {leaf.name!r}, doc {doc}: lm-eval renders its context as {type(ctx).__name__} "
                f"{ctx!r:.40}, not a prompt text"
            )
        out.append(ctx)
    return out


def _leaves(suite: Suite, tm: Any, limit: int | None, num_fewshot: int | None, skip_non_text: bool,
            reporter: Reporter) -> tuple[list[_Leaf], dict[str, int]]:  # fmt: skip
    built = tm.load([st.name for st in suite.tasks])["tasks"]
    leaves, fewshots = [], {}
    for st in suite.tasks:
        task = built[st.name]
        why = _not_text(task)
        if why is not None:
            if not skip_non_text:
                raise SuiteError(f"suite {suite.name!r}: task {st.name!r} has no prompt text to draw from: {why}")
            reporter.message(f"old-task prompts: task {st.name} left out ({why})")
            continue
        fewshots[st.name] = _apply_run_settings(task, num_fewshot)
        total = len(task.eval_docs)
        leaves.append(_Leaf(st.name, st.member, task, total if limit is None else min(total, limit)))
    if not leaves:
        raise SuiteError(f"suite {suite.name!r}: none of its tasks has prompt texts to draw from")
    return leaves, fewshots


def suite_prompts(
    suite: str,
    n: int,
    seed: int,
    *,
    limit: int | None = None,
    num_fewshot: int | None = None,
    skip_non_text: bool = False,
    reporter: Reporter | None = None,
) -> Prompts:
    """`n` prompts drawn by `seed` from the items suite `suite` evaluates (all of them when it has n or
    fewer), each the context lm-eval feeds the model for that item; deterministic for
    (suite, n, seed, limit, num_fewshot).

    `limit` and `num_fewshot` are the suite run's own (`EvalConfig`): the first `limit` items of each
    task, and the few-shot override lm-eval applies. `source` is `suite:<suite>`, `available` the
    items evaluated over all its tasks (those left out by `skip_non_text` not counted), `indices`
    index their concatenation in suite order, `tasks` name each prompt's lm-eval task. A task whose items have no single text context (per-option contexts,
    whole-document scoring, images) is a SuiteError (exit 2), or, with `skip_non_text`, left out with
    a message on `reporter`. An unknown suite is a SuiteError; n < 1 or seed < 0 a UserInputError.
    """
    import numpy as np

    if n < 1:
        raise UserInputError(f"old-task prompts: the number of prompts must be at least 1, not {n}")
    if seed < 0:
        raise UserInputError(f"old-task prompts: the seed must be a non-negative integer, not {seed}")
    reporter = reporter or Reporter()
    resolved, tm = resolve_suite(suite)
    leaves, fewshots = _leaves(resolved, tm, limit, num_fewshot, skip_non_text, reporter)
    streams = np.random.SeedSequence(seed).spawn(len(leaves) + len(resolved.members))
    member_of = [resolved.members.index(leaf.member) for leaf in leaves]
    member_quota = _quotas(
        [sum(leaf.size for leaf, m in zip(leaves, member_of, strict=True) if m == j) for j in range(len(resolved.members))],
        n,
    )
    quota = [0] * len(leaves)
    for j, q in enumerate(member_quota):
        own = [i for i, m in enumerate(member_of) if m == j]
        order = [own[k] for k in np.random.default_rng(streams[len(leaves) + j]).permutation(len(own))]
        for i, qi in zip(order, _quotas([leaves[i].size for i in order], q), strict=True):
            quota[i] = qi
    indices: list[int] = []
    texts: list[str] = []
    tasks: list[str] = []
    offset = 0
    for i, leaf in enumerate(leaves):
        if quota[i]:
            chosen = lite_indices(leaf.size, quota[i], int(streams[i].generate_state(1)[0]))
            texts += _contexts(leaf, chosen, fewshots[leaf.name])
            indices += [offset + d for d in chosen]
            tasks += [leaf.name] * len(chosen)
        offset += leaf.size
    return Prompts(f"suite:{suite}", offset, tuple(indices), tuple(texts), tuple(tasks))
