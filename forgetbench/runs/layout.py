"""The names of the files forgetbench writes into folders, spelled here and nowhere else in `forgetbench/`:
a run folder's (`RunFolder` reads and writes them), a sweep folder's, and a prior-suite store entry's
(`prior.run` writes and reads those; the names are on disk, so they never change: entries and runs written
by earlier versions stay readable)."""

from __future__ import annotations

REPORT = "report.json"
"""A `score` or `compare` run's typed report (`ScoreReport`), sealed with its rows' hashes."""
KL = "kl.json"
"""A KL-only run's typed result (`KLResult`: `kl`, or `score --gate` with a KL-only policy), sealed."""
ITEMS = "items.parquet"
"""One row per paired benchmark item: task, doc_id, doc_hash, base and ckpt scores, evidence of changed items."""
KL_ROWS = "kl.parquet"
"""One row per prompt × sample: every estimator's and per-token divergence's value (per sequence), prompt,
tokens, and each divergence per token (`token_kl`, `token_tv`, ...)."""
KL_OLD_ROWS = "kl_old.parquet"
"""The same rows on prompts drawn from the prior suite's items (`--old-task-prompts`): the `_old` predictors."""
KL_REVERSE_ROWS = "kl_reverse.parquet"
"""`--direction both`: the rows of the checkpoint's own samples (`full` = KL(ckpt‖base)): `kl_reverse_new`."""
SIDE_ROWS = (KL_OLD_ROWS, KL_REVERSE_ROWS)
"""The rows beside kl.parquet a run may hold (sealed with it when present)."""
MARKDOWN = "report.md"
"""The report as a human table."""
PAGE = "report.html"
"""The drill-down page (a sweep folder's links each checkpoint's own)."""
LEADERBOARD_ROW = "leaderboard_row.csv"
"""The run's leaderboard row (`leaderboard.table.row`)."""

RUN_FILES = (ITEMS, KL_ROWS, KL_OLD_ROWS, KL_REVERSE_ROWS, LEADERBOARD_ROW, MARKDOWN, REPORT, KL, PAGE)
"""The files a run folder holds: a rerun into the same folder replaces them all (one it does not write is
removed, so no older run's rows stay beside the new report); other files there are kept."""

SWEEP = "sweep.json"
"""A sweep folder's record: base, settings digest, the checkpoint list (`SWEEP_VERSION`)."""
TRAJECTORY = "trajectory"
"""The stem of a sweep folder's trajectory files (`TRAJECTORY_FILES`)."""
TRAJECTORY_FILES = tuple(f"{TRAJECTORY}.{suffix}" for suffix in ("csv", "md", "png", "svg"))
"""The trajectory as CSV, Markdown, and the plot as PNG and SVG."""

ENTRY_RESULT = "result.json"
"""A prior store entry's task result (score, metric, hashes; `prior.run`)."""
ENTRY_ITEMS = ITEMS
"""A prior store entry's per-item outcomes of one model (the same name as a run folder's `ITEMS`; on disk in
every cached entry, so it stays)."""
