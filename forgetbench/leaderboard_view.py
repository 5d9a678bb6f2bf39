"""Reading a leaderboard: fit the forgetting-vs-KL law, plot it, render tables. Nothing here writes
the CSV; every function reads it (or a frame of it)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgetbench.errors import DataError, UserInputError
from forgetbench.stats.law import MIN_TRUSTED_N, Fit, fit


@dataclass(frozen=True)
class Law:
    """Forgetting (points) against forward KL (nats/sequence) over a leaderboard's rows."""

    source: str
    """The leaderboard file."""
    n: int
    """Checkpoints fitted."""
    quadratic: Fit
    """The paper's F = a + b·KL + c·KL²."""
    isotonic: Fit | None
    """The monotone alternative (None when n < 3)."""
    warning: str | None
    """Set when n is too small to trust the fit."""
    base_fingerprints: tuple[str, ...]
    """Bases whose rows were fitted."""
    suite_hash: str
    """The (single) suite of the rows."""


def select(frame, base_fingerprint: str | None = None, suite_hash: str | None = None):
    """Rows usable for the law: forward KL, finite KL and forgetting, optionally one base / suite."""
    rows = frame[frame["kl_direction"] == "forward"]
    if base_fingerprint is not None:
        rows = rows[rows["base_fingerprint"] == base_fingerprint]
    if suite_hash is not None:
        rows = rows[rows["suite_hash"] == suite_hash]
    return rows[np.isfinite(rows["kl"].astype(float)) & np.isfinite(rows["forgetting"].astype(float))]


def fit_law(frame, source: str, base_fingerprint: str | None = None, suite_hash: str | None = None) -> Law:
    """Fit both laws to the selected rows (DataError when fewer than 3 rows or several suites)."""
    rows = select(frame, base_fingerprint, suite_hash)
    suites = sorted(set(rows["suite_hash"]))
    if len(suites) > 1:
        raise DataError(f"{source}: rows of {len(suites)} suites; a law is fitted within one suite")
    if len(rows) < 3:
        raise DataError(f"{source}: {len(rows)} usable row(s); fitting a law needs at least 3 checkpoints")
    x, y = rows["kl"].to_numpy(float), rows["forgetting"].to_numpy(float)
    n = len(rows)
    warning = (f"only {n} checkpoints: R² from fewer than {MIN_TRUSTED_N} points is not to be trusted; "
               "leave-one-out R² says more") if n < MIN_TRUSTED_N else None
    return Law(source, n, fit(x, y, "quadratic"), fit(x, y, "isotonic"), warning,
               tuple(sorted(set(rows["base_fingerprint"]))), suites[0])


def plot(frame, law: Law, out: Path) -> list[Path]:
    """Scatter of forgetting vs KL with both CIs as error bars, colour by label, and both fitted
    laws; writes OUT.png and OUT.svg."""
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
    ax.plot(grid, q.predict(grid), "k-", lw=1.5,
            label=f"quadratic: R² {q.r2:.2f}, LOO R² {q.loo_r2:.2f}")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths


RENDER_COLUMNS = ("label", "ckpt", "new_task_gain", "forgetting", "forgetting_low", "forgetting_high",
                  "retention_ratio", "kl", "kl_low", "kl_high", "kl_per_token", "backend", "date")


def _sorted(frame, by: str, descending: bool):
    if by not in frame.columns:
        raise UserInputError(f"no column {by!r} to sort by (columns: {', '.join(RENDER_COLUMNS)}, ...)")
    return frame.sort_values(by, ascending=not descending, kind="stable", na_position="last")


def _cell(v) -> str:
    if isinstance(v, float):
        return "–" if not np.isfinite(v) else f"{round(v, 2) + 0.0:.2f}"  # a float-noise zero prints 0.00, not -0.00
    return str(v)


def render(frame, by: str, descending: bool, title: str) -> tuple[str, str]:
    """(Markdown, HTML) tables of the main columns, sorted by `by`."""
    rows = _sorted(frame, by, descending)
    cols = list(RENDER_COLUMNS)
    md = [f"# {title}", "", f"Sorted by `{by}` ({'descending' if descending else 'ascending'}); {len(rows)} rows.", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    body = []
    for _, r in rows.iterrows():
        cells = [_cell(r[c]) for c in cols]
        md.append("| " + " | ".join(cells) + " |")
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    page = (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Sorted by {html.escape(by)}; {len(rows)} rows.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")
    return "\n".join(md) + "\n", page
