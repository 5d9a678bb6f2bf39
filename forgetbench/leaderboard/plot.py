"""The forgetting-vs-KL plot of a leaderboard (PNG and SVG, matplotlib's Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from forgetbench.core.fs import check_output_path, write_output
from forgetbench.leaderboard.law import Law, select


def plot(frame: Any, law: Law, out: Path) -> list[Path]:
    """Scatter of forgetting vs KL with both CIs as error bars, colour by label, and both fitted
    laws; writes OUT.png and OUT.svg."""
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
    q = law.quadratic
    ax.plot(grid, q.predict(grid), "k-", lw=1.5, label=f"quadratic: R² {q.r2:.2f}, LOO R² {q.loo_r2:.2f}")
    if law.isotonic is not None:
        iso = law.isotonic
        ax.plot(grid, iso.predict(grid), "k--", lw=1, label=f"isotonic: R² {iso.r2:.2f}, LOO R² {iso.loo_r2:.2f}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("forward KL(base ‖ ckpt) on new-task prompts (nats / sequence)")
    ax.set_ylabel("forgetting F (points lost on the prior suite)")
    ax.set_title(f"forgetting vs KL, n = {law.n}" + (" (too few to trust)" if law.warning else ""))
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    try:
        for path in paths:
            buf = io.BytesIO()
            fig.savefig(buf, format=path.suffix[1:])
            write_output(path, buf.getvalue(), "--out")
    finally:
        plt.close(fig)
    return paths
