"""The forgetting-vs-KL plot of a leaderboard (PNG and SVG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from forgetbench.core.fs import check_output_path, write_figure
from forgetbench.leaderboard.law import Law, select


def plot(frame: Any, law: Law, out: Path) -> list[Path]:
    """Scatter of forgetting vs KL with both CIs as error bars, colour by label, and the three fitted
    laws (the headline solid); writes OUT.png and OUT.svg."""
    for path in (out.with_suffix(".png"), out.with_suffix(".svg")):
        check_output_path(path, "--out")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = select(frame, suite_hash=law.suite_hash)
    rows = rows[rows["base_fingerprint"].isin(law.base_fingerprints)]
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=150)
    labels = rows["label"].fillna("").replace("", "unlabelled")
    for i, lab in enumerate(sorted(set(labels))):
        part = rows[labels == lab]
        x, y = part["kl"].to_numpy(float), part["forgetting"].to_numpy(float)
        xerr = np.abs(np.stack([x - part["kl_low"].to_numpy(float), part["kl_high"].to_numpy(float) - x]))
        yerr = np.abs(np.stack([y - part["forgetting_low"].to_numpy(float), part["forgetting_high"].to_numpy(float) - y]))
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", capsize=3, color=f"C{i}", label=lab, alpha=0.85)
    grid = np.linspace(0, float(rows["kl_high"].max()) * 1.05, 200)
    for f, style in zip(law.fits, (":", "-.", "--")):
        best = f.kind == law.headline
        label = f"{f.kind}: R² {f.r2:.2f}, LOO R² {f.loo_r2:.2f}" + (" (headline)" if best else "")
        ax.plot(grid, f.predict(grid), "k-" if best else "k" + style, lw=1.8 if best else 1, label=label)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("forward KL(base ‖ ckpt) on new-task prompts (nats / sequence)")
    ax.set_ylabel("forgetting F (points lost on the prior suite)")
    rho = law.spearman
    title = f"forgetting vs KL, n = {law.n}, Spearman ρ {rho.rho:.2f} (p = {rho.p_value:.2g})"
    ax.set_title(title + (", weighted by 1/se²" if law.weighted else "") + (" (too few to trust)" if law.warning else ""))
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    try:
        return write_figure(fig, out, "--out")
    finally:
        plt.close(fig)
