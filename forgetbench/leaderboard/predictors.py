"""`leaderboard predictors`: which predictor predicts forgetting on a board's family (RL's Razor's Table 1 for
the user's own checkpoints). Every predictor column the board has (`core.predictors`) is ranked by the
leave-one-out R² of its best law (`stats.ranking`), on the rows of one suite (and base) whose forgetting
is finite; a row without a value of some predictor is left out of that predictor's fit only."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgetbench.core.config import DEFAULTS
from forgetbench.core.errors import DataError
from forgetbench.core.fs import check_output_path, write_figure, write_output
from forgetbench.core.predictors import BY_COLUMN, PREDICTORS
from forgetbench.core.text import md_text
from forgetbench.stats.law import fit
from forgetbench.stats.ranking import PredictorRank, rank


@dataclass(frozen=True)
class Ranking:
    """The predictors of one board's family, best first."""

    source: str
    suite_hash: str
    n_rows: int
    """Rows of the family (one suite, one base when asked) with a finite forgetting."""
    ranks: tuple[PredictorRank, ...]
    seed: int
    """Seed of the bootstrap intervals."""


def family(frame: Any, source: str, base_fingerprint: str | None = None) -> tuple[Any, dict[str, np.ndarray]]:
    """The rows ranked (one suite; DataError for several) and each predictor's values on them (NaN where a
    row lacks it; the `kl` column counts only where it is the forward KL)."""
    rows = frame if base_fingerprint is None else frame[frame["base_fingerprint"] == base_fingerprint]
    rows = rows[np.isfinite(rows["forgetting"].astype(float).to_numpy())]
    suites = sorted(set(rows["suite_hash"]))
    if len(suites) != 1:
        raise DataError(
            f"{source}: rows of {len(suites)} suites; predictors are ranked within one suite (give --base, or one board per suite)"
        )
    values = {}
    for p in PREDICTORS:
        if p.column in rows.columns:
            x = rows[p.column].astype(float).to_numpy()
            if p.column == "kl":
                x = np.where(rows["kl_direction"].to_numpy() == "forward", x, np.nan)
            if np.isfinite(x).any():
                values[p.name] = x
    if not values:
        raise DataError(f"{source}: no predictor column has a value (columns: {', '.join(sorted(BY_COLUMN))})")
    return rows, values


def ranking(
    frame: Any, source: str, base_fingerprint: str | None = None, seed: int = DEFAULTS.seed, draws: int = 1000
) -> Ranking:
    rows, values = family(frame, source, base_fingerprint)
    ranks = rank(rows["forgetting"].to_numpy(float), values, np.random.default_rng(seed), draws=draws)
    return Ranking(source, str(rows["suite_hash"].iloc[0]), len(rows), ranks, seed)


def _number(v: float, digits: int = 2) -> str:
    return "–" if not np.isfinite(v) else f"{v:.{digits}f}"


def table(r: Ranking) -> list[dict]:
    """One row per predictor, best first: name, inputs, unit, law, R², LOO R² and its interval, ρ, p, n."""
    out = []
    for p in r.ranks:
        info = next(q for q in PREDICTORS if q.name == p.name)
        loo = p.loo
        out.append({
            "predictor": p.name, "inputs": info.inputs, "unit": info.unit, "law": p.law or "", "r2": p.r2,
            "loo_r2": p.loo_r2, "loo_r2_low": loo.low if loo else np.nan, "loo_r2_high": loo.high if loo else np.nan,
            "spearman_rho": p.spearman.rho, "spearman_p": p.spearman.p_value, "n": p.n, "note": p.reason or "",
        })  # fmt: skip
    return out


def markdown(r: Ranking) -> str:
    lines = [
        f"Predictors of forgetting on {md_text(Path(r.source).name)}: {r.n_rows} checkpoints, ranked by leave-one-out R² "
        f"(95% BCa bootstrap over checkpoints, seed {r.seed}).",
        "",
        "| predictor | inputs | law | R² | LOO R² [95% CI] | Spearman ρ (p) | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in table(r):
        loo = f"{_number(t['loo_r2'])} [{_number(t['loo_r2_low'])}, {_number(t['loo_r2_high'])}]"
        rho = f"{_number(t['spearman_rho'])} ({t['spearman_p']:.2g})" if np.isfinite(t["spearman_p"]) else "–"
        law = t["law"] or md_text(t["note"])
        lines.append(f"| {t['predictor']} | {t['inputs']} | {law} | {_number(t['r2'])} | {loo} | {rho} | {t['n']} |")
    return "\n".join(lines) + "\n"


def plot(rows: Any, values: dict[str, np.ndarray], r: Ranking, out: Path) -> list[Path]:
    """A grid of forgetting against each predictor (ranking order) with its chosen law; OUT.png and OUT.svg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in r.ranks if p.name in values]
    cols = min(3, len(shown))
    nrows = -(-len(shown) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 3.0 * nrows), dpi=130, squeeze=False)
    y = rows["forgetting"].to_numpy(float)
    for ax, p in zip(axes.flat, shown):
        x = values[p.name]
        ok = np.isfinite(x)
        ax.scatter(x[ok], y[ok], s=14, color="C0")
        if p.law is not None:
            grid = np.linspace(float(x[ok].min()), float(x[ok].max()), 100)
            ax.plot(grid, fit(x[ok], y[ok], p.law).predict(grid), "k-", lw=1)
        info = next(q for q in PREDICTORS if q.name == p.name)
        ax.set_title(f"{p.name}: LOO R² {_number(p.loo_r2)}", fontsize=8)
        ax.set_xlabel(info.unit, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    axes[0][0].set_ylabel("forgetting F (points)", fontsize=7)
    fig.tight_layout()
    try:
        return write_figure(fig, out, "--out")
    finally:
        plt.close(fig)


def write(frame: Any, r: Ranking, out: Path, base_fingerprint: str | None = None) -> list[Path]:
    """OUT.csv (the table), OUT.md and the grid plot OUT.png / OUT.svg."""
    import pandas as pd

    for suffix in (".csv", ".md", ".png", ".svg"):
        check_output_path(out.with_suffix(suffix), "--out")
    buf = io.StringIO()
    pd.DataFrame(table(r)).to_csv(buf, index=False)
    write_output(out.with_suffix(".csv"), buf.getvalue().encode(), "--out")
    write_output(out.with_suffix(".md"), markdown(r).encode(), "--out")
    rows, values = family(frame, r.source, base_fingerprint)
    return [out.with_suffix(".csv"), out.with_suffix(".md"), *plot(rows, values, r, out)]
