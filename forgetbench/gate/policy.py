"""Release policies: the TOML file a release pipeline commits, parsed and checked strictly (an unknown
key, a wrong type, a non-finite or out-of-range number is one line naming the key, exit 2, before
anything is computed).

Besides the task, aggregate and forward-KL rules, a `[predictors]` table limits any other predictor of
forgetting the run reports (`core.predictors`): `max_<name> = limit`, in the predictor's own unit, e.g.
`max_tv_new = 0.3`. The forward KL on the new task keeps its one rule, `max_kl`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

import tomllib

from forgetbench.core.errors import UserInputError
from forgetbench.core.predictors import BY_NAME, PREDICTORS

OnInconclusive = Literal["pass", "fail"]
Correction = Literal["holm", "bonferroni", "none"]
ON_INCONCLUSIVE: tuple[str, ...] = get_args(OnInconclusive)
LEGACY_MODES = {"non-inferiority": "fail", "significant-drop": "pass"}
"""Version-1 policies' `mode`, read as the `on_inconclusive` it amounts to."""
CORRECTIONS: tuple[str, ...] = get_args(Correction)
HEADLINE_PREDICTOR = "kl_forward_new"
"""The predictor `max_kl` limits; a `[predictors]` rule on it is refused (one quantity, one rule)."""
MAX_N_BOOT = 100_000
"""The most bootstrap replicates a policy may ask for: the KL rule's p-value and interval are settled to
well under 0.001 by then, and each replicate holds the run's prompts in memory (10¹¹ ran out of it)."""


@dataclass(frozen=True)
class GatePolicy:
    """A release policy (a TOML file; `load_policy`). Drops are base − ckpt in points."""

    max_task_drop: float | None = None
    """Largest allowed drop on any one task."""
    task_drop: dict[str, float] = field(default_factory=dict)
    """Per-task limits overriding `max_task_drop` ({task name: points})."""
    max_aggregate_drop: float | None = None
    """Largest allowed forgetting F (mean drop over the suite's tasks)."""
    max_kl: float | None = None
    """Largest allowed forward KL on the new task, nats per sequence (the report's headline estimator)."""
    predictors: dict[str, float] = field(default_factory=dict)
    """Largest allowed value of other predictors of forgetting ({catalog name: limit in its unit}; the
    policy file's `[predictors]` table, `max_tv_new = 0.3` read as `tv_new: 0.3`)."""
    on_inconclusive: OnInconclusive = "pass"
    """What a rule that is neither shown within its limit nor beyond it means for the exit code.
    `pass` (default): only a drop shown beyond its limit fails the gate, so noise never does; inconclusive
    rules are printed, marked in JUnit (`<skipped>`) and the GitHub summary, and counted. `fail` (strict):
    a rule must be shown within its limit; a run too small to show it fails."""
    alpha: float = 0.05
    """Significance level."""
    correction: Correction = "holm"
    """Across the task rules: `holm`, `bonferroni` or `none`."""
    n_boot: int = 10000
    """Bootstrap replicates of the KL rule's studentized bootstrap."""
    seed: int = 0
    """Seed of the bootstraps."""

    def __post_init__(self) -> None:
        if isinstance(self.n_boot, bool) or not isinstance(self.n_boot, int) or not 1 <= self.n_boot <= MAX_N_BOOT:
            raise PolicyError(f"n_boot must be an integer from 1 to {MAX_N_BOOT} (got {self.n_boot!r})")
        for name in self.predictors:
            if name not in BY_NAME or name == HEADLINE_PREDICTOR:
                raise PolicyError(f"predictors: {name!r} is not a predictor rule (max_kl limits {HEADLINE_PREDICTOR})")

    def fail_alpha(self, rules: int) -> float:
        """The level a lone drop must clear to fail among `rules` rules: Holm's (and Bonferroni's) first
        step α / rules, or α uncorrected; what minimum detectable effects are stated at."""
        return self.alpha / max(1, rules) if self.correction != "none" else self.alpha

    @property
    def kl_only(self) -> bool:
        """Only the KL rule and predictor rules: `score --gate` can skip the benchmark runs."""
        return (self.max_kl is not None or bool(self.predictors)) and not self.wants_tasks

    @property
    def wants_tasks(self) -> bool:
        """Whether any rule needs the suite's items."""
        return self.max_task_drop is not None or bool(self.task_drop) or self.max_aggregate_drop is not None


class PolicyError(UserInputError):
    """A policy file that cannot be used (exit 2)."""


def load_policy(path: Path) -> GatePolicy:
    """Parse and check a policy TOML; every problem is one line naming the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"no policy file at {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML ({exc})") from None
    known = {f.name for f in fields(GatePolicy)} | {"mode"}
    predictors = _predictor_limits(path, data.pop("predictors", {}))
    for key in data:
        if key not in known:
            raise PolicyError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(known))})")

    def number(key: str, low: float, high: float | None = None, integer: bool = False):
        if key not in data:
            return
        value = data[key]
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not math.isfinite(value) or value < low or (high is not None and value > high):
            kind = "an integer" if integer else "a number"
            raise PolicyError(f"{path}: {key} must be {kind} ≥ {low}{'' if high is None else f' and ≤ {high}'} (got {value!r})")

    for key in ("max_task_drop", "max_aggregate_drop"):
        number(key, -100.0, 100.0)
    number("max_kl", 0.0)
    number("alpha", 1e-6, 0.5)
    number("n_boot", 200, MAX_N_BOOT, integer=True)
    number("seed", 0, integer=True)
    data = _legacy_mode(path, data)
    for key, allowed in (("on_inconclusive", ON_INCONCLUSIVE), ("correction", CORRECTIONS)):
        if key in data and data[key] not in allowed:
            raise PolicyError(f"{path}: {key} must be one of {', '.join(allowed)} (got {data[key]!r})")
    task_drop = data.get("task_drop", {})
    if not isinstance(task_drop, dict):
        raise PolicyError(f"{path}: task_drop must be a table of task = points")
    for task, value in task_drop.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not -100 <= value <= 100:
            raise PolicyError(f"{path}: task_drop.{task} must be a finite number of points in [-100, 100] (got {value!r})")
    policy = GatePolicy(**{**data, "task_drop": {k: float(v) for k, v in task_drop.items()}, "predictors": predictors})
    if not policy.wants_tasks and policy.max_kl is None and not policy.predictors:
        raise PolicyError(
            f"{path}: no rule (set at least one of max_task_drop, task_drop, max_aggregate_drop, max_kl, [predictors])"
        )
    return policy


def _predictor_limits(path: Path, table: object) -> dict[str, float]:
    """The `[predictors]` table as {catalog name: limit}: every key `max_<name>` of a predictor other than
    the forward KL on the new task (that is `max_kl`), every limit a finite number ≥ 0 (every predictor is ≥ 0)."""
    if not isinstance(table, dict):
        raise PolicyError(f"{path}: predictors must be a table of max_<predictor> = limit (e.g. [predictors] max_tv_new = 0.3)")
    out = {}
    names = ", ".join(f"max_{p.name}" for p in PREDICTORS if p.name != HEADLINE_PREDICTOR)
    for key, value in table.items():
        name = key.removeprefix("max_")
        if name == HEADLINE_PREDICTOR:
            raise PolicyError(f"{path}: predictors.{key} is the forward KL on the new task: write it as the top-level max_kl")
        if not key.startswith("max_") or name not in BY_NAME:
            raise PolicyError(f"{path}: predictors.{key} is not a predictor rule (known: {names})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            unit = BY_NAME[name].unit
            raise PolicyError(f"{path}: predictors.{key} must be a finite number ≥ 0 ({unit}) (got {value!r})")
        out[name] = float(value)
    return out


def _legacy_mode(path: Path, data: dict) -> dict:
    """`mode` (policies written before three-valued rules) as the `on_inconclusive` it amounts to:
    `non-inferiority` passed only what was shown within the limit (`fail`), `significant-drop` failed only
    what was shown beyond it (`pass`)."""
    if "mode" not in data:
        return data
    mode = data["mode"]
    if mode not in LEGACY_MODES:
        raise PolicyError(f"{path}: mode must be one of {', '.join(LEGACY_MODES)} (got {mode!r}); write on_inconclusive instead")
    implied = LEGACY_MODES[mode]
    if data.get("on_inconclusive", implied) != implied:
        raise PolicyError(
            f"{path}: mode = {mode!r} means on_inconclusive = {implied!r}, but the file sets {data['on_inconclusive']!r}"
        )
    return {**{k: v for k, v in data.items() if k != "mode"}, "on_inconclusive": implied}
