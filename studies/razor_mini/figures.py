"""The study's own figures and comparisons, read from its leaderboard and run folders (no model loaded).

- `pareto`: new-task accuracy against forgetting F, SFT and GRPO marked (the paper's Figure 1, in miniature);
- `matched`: every SFT/GRPO pair of checkpoints within `tolerance` points of new-task accuracy, with both F and
  KL (95% CIs) and GRPO's F minus SFT's, paired over the prior-suite items (`report.difference`).
The forgetting-vs-KL plot and the predictor ranking are forgetbench's own (`leaderboard plot`, `predictors`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgetbench.leaderboard.table import read
from forgetbench.report.difference import forgetting_difference

MARKERS = {"SFT": ("o", "C0"), "GRPO": ("s", "C3")}


def pareto(board: Path, out: Path) -> list[Path]:
    """OUT.png and OUT.svg: each checkpoint's held-out new-task accuracy (x) against its F (y), with F's CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = read(board)
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=150)
    for label, (marker, colour) in MARKERS.items():
        part = rows[rows["label"] == label]
        x, y = part["new_task_ckpt"].to_numpy(float), part["forgetting"].to_numpy(float)
        yerr = np.abs(np.stack([y - part["forgetting_low"].to_numpy(float), part["forgetting_high"].to_numpy(float) - y]))
        ax.errorbar(x, y, yerr=yerr, fmt=marker, color=colour, capsize=3, alpha=0.85, label=label)
    if len(rows):
        ax.plot([float(rows["new_task_base"].iloc[0])], [0.0], "k*", ms=12, label="base")
    ax.axhline(0, color="grey", lw=0.5)
    labels = ("new-task accuracy, held-out (%)", "forgetting F on the prior suite (points)")
    return _finish(fig, ax, out, labels, "RL's Razor in miniature: accuracy gained vs capability lost")


def trajectories(runs: dict[str, tuple[str, Path]], out: Path) -> list[Path]:
    """OUT.png and OUT.svg: each training run's forward KL from the base against its step, with its 95% CI, as
    `ForgettingCallback` logged it while the run trained (`runs`: name → (method, its study_run.json))."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=150)
    styles = ("-", "--", ":", "-.")
    for i, (name, (method, record)) in enumerate(sorted(runs.items())):
        points = json.loads(record.read_text())["kl_trajectory"] if record.is_file() else []
        if not points:
            continue
        steps = [p["step"] for p in points]
        _, colour = MARKERS[method]
        ax.plot(
            steps,
            [p["kl_forward"] for p in points],
            styles[i % len(styles)],
            color=colour,
            marker=MARKERS[method][0],
            ms=3,
            label=name,
        )
        ax.fill_between(
            steps, [p["kl_forward_low"] for p in points], [p["kl_forward_high"] for p in points], color=colour, alpha=0.1
        )
    labels = ("training step", "forward KL(base ‖ model) on new-task prompts (nats / sequence)")
    return _finish(fig, ax, out, labels, "KL from the base while training (forgetbench's ForgettingCallback)")


def _finish(fig: Any, ax: Any, out: Path, labels: tuple[str, str], title: str) -> list[Path]:
    """Label the axes, title and legend, write OUT.png and OUT.svg, close the figure."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    files = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for f in files:
        fig.savefig(f)
    plt.close(fig)
    return files


def matched(board: Path, runs: dict[str, Path], tolerance: float = 5.0) -> list[dict[str, Any]]:
    """Every (SFT, GRPO) pair of rows within `tolerance` points of new-task accuracy; `runs` maps a row's
    `ckpt` name to its run folder."""
    rows = read(board)
    sft, grpo = rows[rows["label"] == "SFT"], rows[rows["label"] == "GRPO"]
    pairs = []
    for _, s in sft.iterrows():
        for _, g in grpo.iterrows():
            if abs(float(s["new_task_ckpt"]) - float(g["new_task_ckpt"])) > tolerance:
                continue
            d = forgetting_difference(runs[s["ckpt"]], runs[g["ckpt"]])  # F_grpo − F_sft
            pairs.append({
                "sft": s["ckpt"], "grpo": g["ckpt"], "acc_sft": float(s["new_task_ckpt"]), "acc_grpo": float(g["new_task_ckpt"]),
                "f_sft": [float(s["forgetting"]), float(s["forgetting_low"]), float(s["forgetting_high"])],
                "f_grpo": [float(g["forgetting"]), float(g["forgetting_low"]), float(g["forgetting_high"])],
                "kl_sft": [float(s["kl"]), float(s["kl_low"]), float(s["kl_high"])],
                "kl_grpo": [float(g["kl"]), float(g["kl_low"]), float(g["kl_high"])],
                "f_grpo_minus_sft": [d.estimate, d.low, d.high],
            })  # fmt: skip
    return pairs


def matched_markdown(pairs: list[dict[str, Any]]) -> str:
    """The matched pairs as a Markdown table (F and KL with 95% CIs)."""

    def ci(v: list[float], digits: int = 1) -> str:
        return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"

    lines = [
        "| SFT | GRPO | accuracy SFT / GRPO | F SFT | F GRPO | F GRPO − F SFT | KL SFT | KL GRPO |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in pairs:
        lines.append(
            f"| {p['sft']} | {p['grpo']} | {p['acc_sft']:.1f} / {p['acc_grpo']:.1f} | {ci(p['f_sft'])} | {ci(p['f_grpo'])} "
            f"| {ci(p['f_grpo_minus_sft'])} | {ci(p['kl_sft'], 2)} | {ci(p['kl_grpo'], 2)} |"
        )
    return "\n".join(lines) + "\n"
