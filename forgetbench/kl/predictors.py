"""The predictors of forgetting a KL run measures (`core.predictors` names them): each per-token divergence
summed along every response, averaged over prompts with the headline KL's interval (`stats.bootstrap`), on
the new-task prompts and on prompts drawn from the prior suite's items; and the weight distances."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from forgetbench.core.config import KLConfig
from forgetbench.core.predictors import BY_NAME, PREDICTORS
from forgetbench.core.results import Estimate, PredictorValue, WeightDistance
from forgetbench.stats.bootstrap import mean_test


def key_of(column: str) -> str:
    """A per-token quantity's name in the scorer and in kl.parquet → its key in the predictor catalog (`full` is
    `kl_forward`; every other divergence keeps its name, so a new one needs only its catalog entry)."""
    return "kl_forward" if column == "full" else column


def value(name: str, estimate: Estimate) -> PredictorValue:
    """The catalog predictor `name` from an estimate over prompts."""
    p = BY_NAME[name]
    return PredictorValue(name, p.inputs, estimate.mean, estimate.ci_low, estimate.ci_high, p.unit)


def estimate_of(name: str, values: list[dict], clusters: np.ndarray, tokens: int, rng: np.random.Generator) -> Estimate:
    """The mean over prompts (`clusters`: each value's prompt; a prompt's samples averaged first) of the
    per-sequence values `values[i][name]`, with its 95% interval (`stats.bootstrap.mean_test`: a studentized
    bootstrap joined by the lognormal interval), and Σ value / `tokens` per token."""
    v = np.array([r[name] for r in values], dtype=np.float64)
    test = mean_test(v, clusters, rng)
    low, high = test.interval(0.95)
    return Estimate(name, test.estimate, low, high, float(v.sum() / max(1, tokens)))


def estimate(column: str, rows: list[dict], rng: np.random.Generator) -> Estimate:
    """`estimate_of` a kl.parquet-style row column, its prompts and response tokens read from the rows."""
    clusters = np.array([r["prompt_index"] for r in rows])
    return estimate_of(column, rows, clusters, sum(r["response_tokens"] for r in rows), rng)


def per_token(rows: list[dict], inputs: str, columns: Iterable[str], rng: np.random.Generator) -> list[PredictorValue]:
    """One predictor per per-token `columns` of `rows` (`full`, `tv`, ...) on `inputs` (`new` or `old`)."""
    return [value(f"{key_of(c)}_{inputs}", estimate(c, rows, rng)) for c in columns]


def weights(distance: WeightDistance) -> list[PredictorValue]:
    """The weight-space predictors (no prompts, so no interval: NaN ends)."""
    nan = float("nan")
    return [
        PredictorValue(name, "weights", v, nan, nan, BY_NAME[name].unit)
        for name, v in (("weight_frobenius", distance.relative), ("weight_spectral", distance.spectral_max))
    ]


def planned(config: KLConfig) -> set[str]:
    """The predictors a run of `config` is asked to measure (before compute; a backend may still leave one out,
    said in `KLResult.predictor_notes`)."""
    if "full" not in config.estimators:
        return set()
    names = {p.name for p in PREDICTORS if p.inputs == "new" and p.name != "kl_reverse_new"}
    if config.direction == "reverse":
        names = {"kl_reverse_new"}
    elif config.direction == "both":
        names.add("kl_reverse_new")
    if config.direction != "reverse" and config.old_task_suite is not None and config.old_task_prompts > 0:
        names |= {p.name for p in PREDICTORS if p.inputs == "old"}
    if config.weight_distance:
        names |= {p.name for p in PREDICTORS if p.inputs == "weights"}
    return names


def in_catalog_order(values: Iterable[PredictorValue]) -> tuple[PredictorValue, ...]:
    """`values` sorted as `core.predictors.PREDICTORS` lists them (one per name)."""
    order = {p.name: i for i, p in enumerate(PREDICTORS)}
    by_name = {v.name: v for v in values}
    return tuple(sorted(by_name.values(), key=lambda v: order[v.name]))
