"""The forgetting-vs-KL law over a leaderboard's rows (RL's Razor): which rows qualify, the three fits
(`stats.law`), the headline one, Spearman's ρ and a bootstrap interval of the headline's R². The law may be
fitted against any other predictor column the board has instead of the forward KL (`predictor`, a
`core.predictors` name: `leaderboard fit --predictor tv_new`). Reads a frame of the CSV; never writes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgetbench.core.config import DEFAULTS
from forgetbench.core.errors import DataError, UserInputError
from forgetbench.core.predictors import BY_NAME
from forgetbench.stats.law import MIN_TRUSTED_N, Correlation, Fit, LawKind, R2Interval, fit_all, headline, r2_interval, spearman

Z95 = 1.959963984540054  # the normal quantile of forgetting_low / forgetting_high (95% CI)
HEADLINE = "kl_forward_new"
"""The predictor a law is fitted against by default: the forward KL on the new task (the `kl` column)."""


@dataclass(frozen=True)
class Law:
    """Forgetting (points) against forward KL (nats/sequence) over a leaderboard's rows."""

    source: str
    """The leaderboard file."""
    n: int
    """Checkpoints fitted."""
    linear: Fit
    """F = a + b·KL."""
    quadratic: Fit
    """The paper's F = a + b·KL + c·KL²."""
    isotonic: Fit
    """The monotone alternative: a non-decreasing step fit (ties in KL pooled)."""
    headline: LawKind
    """The law with the best leave-one-out R² (a tie goes to the simpler: linear, quadratic, isotonic)."""
    spearman: Correlation
    """Spearman's ρ of F with KL and its p-value (unweighted)."""
    r2_interval: R2Interval | None
    """Bootstrap-over-checkpoints interval of the headline law's R² (None when not asked for)."""
    weighted: bool
    """Fits weighted by 1/se² of each row's F, se = (forgetting_high − forgetting_low) / (2·1.96)."""
    seed: int
    """Seed of the R² bootstrap."""
    warning: str | None
    """Set when n is too small to trust the fit."""
    base_fingerprints: tuple[str, ...]
    """Bases whose rows were fitted."""
    suite_hash: str
    """The (single) suite of the rows."""
    left_out: tuple[str, ...] = ()
    """Rows of this base and suite not fitted, and why (`row 4 (ckpt-b): no KL`): a reverse KL, a missing or
    infinite KL or forgetting."""
    predictor: str = HEADLINE
    """The predictor fitted against (`core.predictors` name; its unit is the x axis's)."""

    @property
    def fits(self) -> tuple[Fit, Fit, Fit]:
        """The three fits, simplest first."""
        return self.linear, self.quadratic, self.isotonic

    @property
    def best(self) -> Fit:
        """The headline fit."""
        return next(f for f in self.fits if f.kind == self.headline)


def _why(direction: object, kl: float, forgetting: float, predictor: str = HEADLINE) -> str | None:
    """Why a row cannot be fitted against `predictor` (value `kl`) (None: it can)."""
    label = "KL" if predictor == HEADLINE else predictor
    if predictor == HEADLINE and direction != "forward":
        return "no KL" if kl != kl else f"{direction} KL, the law is of forward KL"
    for name, value in ((label, kl), ("forgetting", forgetting)):
        if not np.isfinite(value):
            return f"no {name}" if value != value else f"infinite {name}"
    return None


def column(frame, predictor: str, source: str) -> str:
    """The board column of `predictor` (`core.predictors`); UserInputError (exit 2) for a name not in the
    catalog, DataError when the board has no such column or no value in it."""
    if predictor not in BY_NAME:
        raise UserInputError(f"--predictor {predictor!r} is not a predictor (choose from {', '.join(BY_NAME)})")
    col = BY_NAME[predictor].column
    if col not in frame.columns:
        raise DataError(f"{source}: no {col} column (the board's runs did not measure {predictor})")
    if not np.isfinite(frame[col].astype(float).to_numpy()).any():
        raise DataError(f"{source}: the {col} column has no value (the board's runs did not measure {predictor})")
    return col


def select(
    frame,
    base_fingerprint: str | None = None,
    suite_hash: str | None = None,
    source: str = "leaderboard",
    predictor: str = HEADLINE,
):
    """Rows usable for the law: forward KL (or a value of `predictor`), finite and with a finite forgetting,
    optionally one base / suite (`left_out` names the others). DataError naming the row when a value is
    negative: a KL (or any predictor: a divergence, a distance) is never below 0, so such a row is damaged,
    not data."""
    rows = frame
    if base_fingerprint is not None:
        rows = rows[rows["base_fingerprint"] == base_fingerprint]
    if suite_hash is not None:
        rows = rows[rows["suite_hash"] == suite_hash]
    p = BY_NAME[predictor]
    kl = rows[p.column].astype(float)
    if (kl < 0).any():
        i = int(np.argmax((kl < 0).to_numpy()))
        what = "KL" if predictor == HEADLINE else predictor
        raise DataError(
            f"{source}: {_name(rows, i)} has a negative {what} ({kl.iloc[i]:g} {p.unit}); it is never below 0, so the row "
            "is damaged: fix or remove it"
        )
    keep = [_why(d, k, f, predictor) is None for d, k, f in zip(rows["kl_direction"], kl, rows["forgetting"].astype(float))]
    return rows[np.array(keep, dtype=bool)]


def _name(rows, i: int) -> str:
    """The i-th row of `rows` as `row N (checkpoint)`, N counting the file's data rows from 1."""
    return f"row {int(rows.index[i]) + 1} ({rows['ckpt'].iloc[i]})"


def left_out(
    frame, base_fingerprint: str | None = None, suite_hash: str | None = None, predictor: str = HEADLINE
) -> tuple[str, ...]:
    """The rows of this base / suite that `select` does not fit, each as `row N (checkpoint): why`."""
    rows = frame
    if base_fingerprint is not None:
        rows = rows[rows["base_fingerprint"] == base_fingerprint]
    if suite_hash is not None:
        rows = rows[rows["suite_hash"] == suite_hash]
    out = []
    values = rows[BY_NAME[predictor].column].astype(float)
    for i, (d, k, f) in enumerate(zip(rows["kl_direction"], values, rows["forgetting"].astype(float))):
        why = _why(d, k, f, predictor)
        if why is not None:
            out.append(f"{_name(rows, i)}: {why}")
    return tuple(out)


def weights(rows, source: str) -> np.ndarray:
    """1/se² of each row's F from its 95% CI, se = (forgetting_high − forgetting_low) / (2·1.96);
    DataError when a row has no finite, positive-width CI."""
    se = (rows["forgetting_high"].to_numpy(float) - rows["forgetting_low"].to_numpy(float)) / (2 * Z95)
    bad = ~(np.isfinite(se) & (se > 0))
    if bad.any():
        ckpt = rows["ckpt"].iloc[int(np.argmax(bad))]
        raise DataError(f"{source}: {int(bad.sum())} row(s) (e.g. {ckpt}) lack a forgetting CI of positive width to weight by")
    return 1 / se**2


def fit_law(
    frame,
    source: str,
    base_fingerprint: str | None = None,
    suite_hash: str | None = None,
    weighted: bool = False,
    seed: int = DEFAULTS.seed,
    draws: int = 2000,
    predictor: str = HEADLINE,
) -> Law:
    """Fit the three laws to the selected rows, pick the headline, and (when `draws` > 0) bootstrap
    its R² over checkpoints with `numpy.random.default_rng(seed)`. `predictor`: the x axis (default the
    forward KL; `column` checks the name and that the board has values of it). DataError when fewer than
    3 rows, fewer than 3 distinct values, or several suites."""
    col = column(frame, predictor, source)
    rows = select(frame, base_fingerprint, suite_hash, source, predictor)
    suites = sorted(set(rows["suite_hash"]))
    if len(suites) > 1:
        raise DataError(f"{source}: rows of {len(suites)} suites; a law is fitted within one suite")
    x, y = rows[col].to_numpy(float), rows["forgetting"].to_numpy(float)
    what = "KL" if predictor == HEADLINE else predictor
    if len(rows) < 3 or len(np.unique(x)) < 3:
        raise DataError(
            f"{source}: {len(rows)} usable row(s) at {len(np.unique(x))} distinct {what}(s); fitting a law needs at least 3 "
            f"checkpoints at 3 values of {what}"
        )
    w = weights(rows, source) if weighted else None
    n = len(rows)
    warning = (
        (f"only {n} checkpoints: R² from fewer than {MIN_TRUSTED_N} points is not to be trusted; leave-one-out R² says more")
        if n < MIN_TRUSTED_N
        else None
    )
    linear, quadratic, isotonic = fit_all(x, y, w)
    kind = headline((linear, quadratic, isotonic)).kind
    interval = r2_interval(x, y, kind, np.random.default_rng(seed), w, draws) if draws > 0 else None
    bases = tuple(sorted(set(rows["base_fingerprint"])))
    dropped = left_out(frame, base_fingerprint, suite_hash, predictor)
    return Law(source, n, linear, quadratic, isotonic, kind, spearman(x, y), interval, weighted, seed, warning, bases,
               suites[0], dropped, predictor)  # fmt: skip


def law_for(
    file: Path, base: str | None = None, weighted: bool = False, seed: int = DEFAULTS.seed, predictor: str = HEADLINE
) -> tuple[Any, Law]:
    """The leaderboard `file` and the law fitted on its rows, optionally only those of `base` (a spec
    as published in the `base` column, or a base fingerprint), optionally weighted by 1/se² of F, against
    `predictor` (default the forward KL)."""
    from forgetbench.leaderboard.table import read

    frame = read(file)
    if predictor not in BY_NAME:  # before the board is read any further: a typo is a usage error
        column(frame, predictor, str(file))
    fingerprint = base_fingerprint(frame, file, base)
    return frame, fit_law(frame, str(file), base_fingerprint=fingerprint, weighted=weighted, seed=seed, predictor=predictor)


def base_fingerprint(frame: Any, file: Path, base: str | None) -> str | None:
    """The fingerprint of `base` (a spec as published in the `base` column, or a fingerprint) on the board;
    None for no `base`. DataError when no row has it."""
    if base is None:
        return None
    match = frame[(frame["base"] == base) | (frame["base_fingerprint"] == base)]
    if match.empty:
        raise DataError(f"{file}: no rows with base {base!r}")
    return str(match["base_fingerprint"].iloc[0])
