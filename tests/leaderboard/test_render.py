"""`leaderboard render`: checkpoint names and labels from the CSV are literal text in the .md (no raw HTML,
no extra column) and shown with visible control characters in the .html."""

from __future__ import annotations

import re

from forgetbench.leaderboard import table as leaderboard
from forgetbench.runs import load_report
from tests.command import fb

MARKUP = "<script>alert(1)</script>|x\x1b\u202e"


def test_markup_in_labels_and_names_is_escaped_in_both_tables(score_runs, tmp_path):
    row = dict(leaderboard.row(load_report(score_runs["barely"])), ckpt=MARKUP, label=MARKUP)
    board = tmp_path / "board.csv"
    leaderboard.add_rows([row], board)
    proc = fb("leaderboard", "render", str(board), "--out", str(tmp_path / "t"))
    assert proc.returncode == 0, proc.stderr
    md, page = (tmp_path / "t.md").read_text(), (tmp_path / "t.html").read_text()
    for text in (md, page):
        assert "<script>" not in text and "\x1b" not in text and "\u202e" not in text
    lines = md.splitlines()
    header, body = lines[4], lines[6]
    assert len(re.findall(r"(?<!\\)\|", body)) == len(re.findall(r"(?<!\\)\|", header))
    assert body.startswith("| &lt;script&gt;alert(1)&lt;/script&gt;\\|x␛&lt;U+202E&gt; |")
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;|x␛&lt;U+202E&gt;</td>" in page
