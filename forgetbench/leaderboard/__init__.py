"""Leaderboards, consumers of saved reports: `table` (rows, the locked atomic upsert, reading),
`law` (the forgetting-vs-KL law over a board), `plot` and `render` (PNG/SVG, Markdown/HTML)."""
