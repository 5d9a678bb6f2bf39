"""Minimum detectable effects and the items needed, from the power of the tests that decide
(`stats.paired`), under one data model:

    each 0/1 task has a background discordance d (items that flip with nothing lost, half each way)
    and a drop of δ loses another δ of its items; a graded task's differences are normal with their
    spread, shifted by δ; the aggregate F drops by δ on every task.

The drop itself adds discordance (δ more items flip), so the variance at a drop is larger than at none:
a normal approximation with the variance of the observed or assumed data states an MDE whose power is
0.55–0.73, not 0.80. Here the power is exact for a 0/1 task (every (lost, won) outcome of the trinomial,
each decided by the continuity-corrected Tango test, up to `EXACT_ITEMS` items; beyond, a normal
approximation with the variances at the null and at the drop), exact for a graded task (noncentral t)
and, for F, simulated (`RUNS` runs of its own test; checked in benchmarks/gate_calibration.py and
tests/gate/test_power.py). Drops and margins are fractions of the
metric (callers report points). `side` is `beyond` (the fail test, H0: D ≤ margin, power where the drop
exceeds the margin) or `within` (the pass test, H0: D ≥ margin, power where it is below).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln
from scipy.stats import nct, norm
from scipy.stats import t as student_t

from forgetbench.stats.paired import (
    CORRECTION,
    BinaryDrop,
    Drop,
    Forgetting,
    GradedDrop,
    stratified_z,
    tango_p_beyond,
    tango_p_within,
    tango_parts,
)

POWER = 0.8
"""Power at which minimum detectable effects and the items needed are stated."""
EXACT_ITEMS = 2000
"""Largest task whose power is enumerated exactly; larger ones use the normal approximation."""
RUNS = 2000
"""Simulated runs behind F's power (Monte Carlo error of a power of 0.8: ±0.018, 2 s.e.)."""
ITEM_DRAWS = 1000
"""Tasks up to this many items are simulated item by item, larger ones by their binomial counts."""
SEED = 20250
"""Seed of those runs: the same numbers at every drop, so the stated MDE is reproducible."""
MAX_ITEMS = 10**8
"""Items needed beyond this are reported as this (a drop the data model can hardly ever decide)."""


def shares(background: float, drop: float) -> tuple[float, float]:
    """(lost, won) shares of a 0/1 task under the data model."""
    return background / 2 + max(drop, 0.0), background / 2 + max(-drop, 0.0)


def _window(n: int, p: float) -> np.ndarray:
    sd = math.sqrt(n * p * (1 - p))
    return np.arange(max(0, math.floor(n * p - 9 * sd - 3)), min(n, math.ceil(n * p + 9 * sd + 3)) + 1)


def binary_power(n: int, background: float, drop: float, margin: float, alpha: float, side: str) -> float:
    """Probability that a 0/1 task of `n` items is decided on `side` at `alpha` when its true drop is `drop`."""
    lost, won = shares(background, drop)
    if lost + won > 1 + 1e-12:
        raise ValueError(f"a drop of {drop} with background {background} is not a share of items")
    if n > EXACT_ITEMS:
        return _binary_power_normal(n, lost, won, margin, alpha, side)
    b, c = np.meshgrid(_window(n, lost), _window(n, won), indexing="ij")
    keep = b + c <= n
    b, c = b[keep].astype(np.float64), c[keep].astype(np.float64)
    rest = n - b - c
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(rest + 1)
                + np.where(b > 0, b * np.log(lost), 0.0) + np.where(c > 0, c * np.log(won), 0.0)
                + np.where(rest > 0, rest * np.log(max(1 - lost - won, 1e-300)), 0.0))  # fmt: skip
    p = tango_p_beyond(b, c, n, margin) if side == "beyond" else tango_p_within(b, c, n, margin)
    return float(np.exp(logp)[p <= alpha].sum())


def _binary_power_normal(n: int, lost: float, won: float, margin: float, alpha: float, side: str) -> float:
    drop = lost - won
    _, v0 = tango_parts(n * lost, n * won, n, margin)  # the test's variance, at the expected counts
    v1 = n * (lost + won - drop * drop)
    sign = 1.0 if side == "beyond" else -1.0
    gap = sign * (n * (drop - margin)) - CORRECTION - float(norm.isf(alpha)) * math.sqrt(float(v0))
    return float(norm.cdf(gap / math.sqrt(max(v1, 1e-300))))


def _counts(sizes: np.ndarray, share: list[tuple[float, float]], uniforms: bool) -> tuple[np.ndarray, np.ndarray]:
    """(lost, won) counts, `RUNS` × tasks. With `uniforms`, one common uniform per item (as
    `gate.power.paired_items` draws them), so the counts grow with the shares and the power moves
    smoothly with the drop; otherwise (or beyond `ITEM_DRAWS` items) seeded multinomial draws."""
    rng = np.random.default_rng(SEED)
    small = (sizes <= ITEM_DRAWS) & uniforms
    u = _uniforms(int(sizes[small].sum()))
    lost, won = np.zeros((RUNS, len(sizes))), np.zeros((RUNS, len(sizes)))
    start = 0
    for t, (size, (p_lost, p_won)) in enumerate(zip(sizes, share)):
        if small[t]:
            block = u[:, start : start + size]
            start += size
            lost[:, t] = (block < p_lost).sum(axis=1)
            won[:, t] = (block < p_lost + p_won).sum(axis=1) - lost[:, t]
        else:
            draws = rng.multinomial(int(size), [p_lost, p_won, max(0.0, 1.0 - p_lost - p_won)], size=RUNS)
            lost[:, t], won[:, t] = draws[:, 0], draws[:, 1]
    return lost, won


@functools.lru_cache(maxsize=4)
def _uniforms(items: int) -> np.ndarray:
    """`RUNS` × `items` uniforms, the same for every call (common random numbers; read-only)."""
    u = np.random.default_rng(SEED).random((RUNS, items), dtype=np.float32)
    u.flags.writeable = False
    return u


def _graded_power(n: int, spread: float, drop: float, margin: float, alpha: float, side: str) -> float:
    df, shift = n - 1, (drop - margin) * math.sqrt(n) / spread
    crit = float(student_t.isf(alpha, df))
    return float(nct.sf(crit, df, shift) if side == "beyond" else nct.cdf(-crit, df, shift))


def _solve_mde(power, low: float, high: float) -> float | None:
    """The drop in [low, high] at which `power` (increasing) is `POWER`; None when even `high` is short."""
    if power(high) < POWER:
        return None
    if power(low) >= POWER:
        return low
    return float(brentq(lambda d: power(d) - POWER, low, high, xtol=1e-4))


def _solve_size(power, start: int, floor: int = 2, rel: float = 0.01) -> int:
    """The fewest items (to within `rel`, ±1) at which `power(items)` reaches `POWER`: a bracket grown
    by 25% steps from a normal-approximation guess `start`, then bisection."""
    high = max(floor, start)
    if power(high) < POWER:
        low = high
        while power(high) < POWER:
            if high >= MAX_ITEMS:
                return MAX_ITEMS
            low, high = high, min(MAX_ITEMS, math.ceil(1.25 * high))
    else:
        low = high
        while low > floor and power(low) >= POWER:
            high, low = low, max(floor, math.floor(low / 1.25))
        if low == floor and power(low) >= POWER:
            return floor
    while high - low > max(1, rel * high):
        mid = (low + high) // 2
        low, high = (low, mid) if power(mid) >= POWER else (mid, high)
    return high


def _side(drop: float, margin: float) -> str | None:
    return None if drop == margin else "beyond" if drop > margin else "within"


def _z_sum(alpha: float) -> float:
    return float(norm.isf(alpha) + norm.ppf(POWER))


@dataclass(frozen=True)
class BinarySizing:
    """A 0/1 task of `n` items with background discordance `background` (a share)."""

    n: int
    background: float
    undecided: str = ""

    def power(self, drop: float, margin: float, alpha: float, side: str, n: int | None = None) -> float:
        return binary_power(n or self.n, self.background, drop, margin, alpha, side)

    def mde(self, margin: float, alpha: float) -> float | None:
        """The drop failed with 80% power at `alpha`; None when no drop is."""
        return _binary_mde(self.n, self.background, margin, alpha)

    def needed(self, drop: float, margin: float, alpha: float) -> int | None:
        """Items at which a true `drop` is decided (beyond or within `margin`) with 80% power."""
        return _binary_needed(self.background, drop, margin, alpha)


@functools.lru_cache(maxsize=4096)
def _binary_mde(n: int, background: float, margin: float, alpha: float) -> float | None:
    top = 1.0 - background  # the largest drop the items that do not flip in the background can take
    if top <= margin:  # no drop above the margin fits (a background of every item, a limit near 100 points)
        return None
    return _solve_mde(lambda d: binary_power(n, background, d, margin, alpha, "beyond"), max(margin, -top), top)


@functools.lru_cache(maxsize=4096)
def _binary_needed(background: float, drop: float, margin: float, alpha: float) -> int | None:
    side = _side(drop, margin)
    lost, won = shares(background, drop)
    if side is None or lost + won > 1 + 1e-12:  # at the limit, or a drop larger than the items left
        return None
    v0 = float(tango_parts(lost, won, 1, margin)[1])
    v1 = lost + won - drop * drop
    guess = math.ceil(((norm.isf(alpha) * math.sqrt(v0) + norm.ppf(POWER) * math.sqrt(v1)) / abs(drop - margin)) ** 2)
    return _solve_size(lambda n: binary_power(n, background, drop, margin, alpha, side), guess)


@dataclass(frozen=True)
class GradedSizing:
    """A graded task of `n` items whose differences have standard deviation `spread` (NaN: unknown)."""

    n: int
    spread: float

    @property
    def undecided(self) -> str:
        """Why the test cannot decide at all ('' when it can)."""
        if self.n < GradedDrop.MIN_ITEMS:
            return f"the paired t test needs at least {GradedDrop.MIN_ITEMS} items"
        return "" if self.spread > 0 else "its differences are all equal, so the paired t test has no spread to judge by"

    def power(self, drop: float, margin: float, alpha: float, side: str, n: int | None = None) -> float:
        return _graded_power(n or self.n, self.spread, drop, margin, alpha, side)

    def mde(self, margin: float, alpha: float) -> float | None:
        if self.undecided:
            return None
        return _solve_mde(lambda d: self.power(d, margin, alpha, "beyond"), margin, margin + 100 * self.spread)

    def needed(self, drop: float, margin: float, alpha: float) -> int | None:
        side = _side(drop, margin)
        if not self.spread > 0:  # unknown or zero spread: only the floor is known
            return GradedDrop.MIN_ITEMS if self.n < GradedDrop.MIN_ITEMS else None
        if side is None:
            return None
        guess = math.ceil((_z_sum(alpha) * self.spread / abs(drop - margin)) ** 2)
        return _solve_size(lambda n: self.power(drop, margin, alpha, side, n), guess, GradedDrop.MIN_ITEMS)


@dataclass(frozen=True)
class AggregateSizing:
    """F over tasks: each a `BinarySizing` or a `GradedSizing`."""

    parts: tuple[BinarySizing | GradedSizing, ...]

    @property
    def undecided(self) -> str:
        return "a graded task decides nothing" if any(p.undecided for p in self.parts) else ""

    def _top(self) -> float:
        """The largest drop every 0/1 task can take beside its background flips (1 without a 0/1 task)."""
        return min((1.0 - p.background for p in self.parts if isinstance(p, BinarySizing)), default=1.0)

    def _fits(self, drop: float) -> bool:
        """Whether a drop of `drop` on every task leaves each 0/1 task's (lost, won) shares a share of items."""
        return all(sum(shares(p.background, drop)) <= 1 + 1e-12 for p in self.parts if isinstance(p, BinarySizing))

    def _normal_power(self, drop: float, margin: float, alpha: float, side: str, scale: float) -> float:
        """A normal approximation of `power` (its starting guess): variances at the null and at the drop."""
        v0 = v1 = correction = 0.0
        for p in self.parts:
            n = p.n * scale
            if isinstance(p, GradedSizing):
                v0, v1 = v0 + p.spread**2 / n, v1 + p.spread**2 / n
            else:
                lost, won = shares(p.background, drop)
                v0 += float(tango_parts(lost, won, 1, margin)[1]) / n
                v1 += (lost + won - drop * drop) / n
                correction += CORRECTION / n
        k, sign = len(self.parts), 1.0 if side == "beyond" else -1.0
        gap = sign * (drop - margin) - correction / k**2 - float(norm.isf(alpha)) * math.sqrt(v0) / k
        return float(norm.cdf(gap / (math.sqrt(v1) / k)))

    def power(self, drop: float, margin: float, alpha: float, side: str, scale: float = 1.0) -> float | None:
        """Simulated power of F's test (`stats.paired.stratified_z`) in `RUNS` seeded runs, every task's
        size × `scale` (at scale 1, common uniforms per item: `_counts`); None when a drop of `drop` on
        every task does not fit some 0/1 task's items beside its background flips (`_fits`)."""
        return self._power(drop, margin, alpha, side, scale) if self._fits(drop) else None

    def _power(self, drop: float, margin: float, alpha: float, side: str, scale: float = 1.0) -> float:
        rng = np.random.default_rng(SEED + 1)
        binary = [p for p in self.parts if isinstance(p, BinarySizing)]
        graded = [p for p in self.parts if isinstance(p, GradedSizing)]
        n = np.array([math.ceil(p.n * scale) for p in binary], dtype=np.float64)
        lost, won = _counts(n.astype(int), [shares(p.background, drop) for p in binary], scale == 1.0)
        m = np.array([math.ceil(p.n * scale) for p in graded], dtype=np.float64)
        spread = np.array([p.spread for p in graded])
        means = drop + spread * rng.standard_normal((RUNS, len(graded))) / np.sqrt(m)
        variances = spread**2 * rng.chisquare(np.maximum(m - 1, 1), (RUNS, len(graded))) / np.maximum(m - 1, 1) / m
        z = stratified_z(lost, won, n, means, variances, margin, 1.0 if side == "beyond" else -1.0)
        p_values = norm.sf(z) if side == "beyond" else norm.cdf(z)
        return float(np.mean(p_values <= alpha))

    def mde(self, margin: float, alpha: float) -> float | None:
        """The drop of F failed with 80% power at `alpha`, searched up to the largest drop every 0/1 task
        can take (`_top`); None when no drop is, or none above the margin fits."""
        if self.undecided:
            return None
        top = self._top()  # beyond it some task's drop does not fit: the power is not defined there
        if top <= margin:
            return None
        low, high = max(margin, -top), top
        guess = _solve_mde(lambda d: self._normal_power(d, margin, alpha, "beyond", 1.0), low, high)
        if guess is not None:  # bracket the simulated answer near the normal one (fewer simulations)
            step = max(0.1 * (guess - margin), 1e-3)
            below = self._power(guess, margin, alpha, "beyond") < POWER
            edge = guess
            while low < edge < high:
                nxt = min(edge + step, high) if below else max(edge - step, low)
                if (self._power(nxt, margin, alpha, "beyond") < POWER) != below:
                    low, high = (edge, nxt) if below else (nxt, edge)
                    return float(brentq(lambda d: self._power(d, margin, alpha, "beyond") - POWER, low, high, xtol=5e-4))
                edge, step = nxt, 2 * step
        return _solve_mde(lambda d: self._power(d, margin, alpha, "beyond"), low, high)

    def needed(self, drop: float, margin: float, alpha: float) -> int | None:
        """Items over the whole suite (every task scaled alike) to decide a true F of `drop`, to within 3%."""
        side = _side(drop, margin)
        if side is None or self.undecided or not self._fits(drop):
            return None
        total = sum(p.n for p in self.parts)
        guess = _solve_size(lambda items: self._normal_power(drop, margin, alpha, side, items / total), total // 4 + 1)
        return _solve_size(lambda items: self._power(drop, margin, alpha, side, items / total), guess, rel=0.03)


Sizing = BinarySizing | GradedSizing | AggregateSizing


def sizing_of(stat: Drop | Forgetting) -> Sizing:
    """The data model fitted to an observed statistic: a 0/1 task's background from its smaller flip
    count (`BinaryDrop.background`), a graded task's spread, F's tasks each so."""
    if isinstance(stat, Forgetting):
        return AggregateSizing(tuple(_task_sizing(d) for d in stat.drops))
    return _task_sizing(stat)


def _task_sizing(drop: Drop) -> BinarySizing | GradedSizing:
    return BinarySizing(drop.n, drop.background()) if isinstance(drop, BinaryDrop) else GradedSizing(drop.n, drop.spread())
