"""Untrusted text (task and model names, labels, prompts, a model's output) made safe to show: control and
bidirectional-override characters made visible (`visible`), and the one Markdown escape every `.md` the
tool writes uses (`md_text`). HTML escaping is `report.page.esc`, which starts from `visible`."""

from __future__ import annotations

import html
import re

KEPT = "\t\n"
"""Layout characters shown as themselves (a model's output keeps its lines and indents)."""
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional marks, embeddings, overrides and isolates: they reorder what is shown after them (an RLO
makes `gpj.exe` read `exe.jpg`), so they are named, never applied."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _show(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␀ … ␟ (ESC is ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>" if ch in BIDI else f"\\x{code:02x}"  # C1 controls as \x9b


def visible(text: object) -> str:
    """`text` with every control character except tab and newline shown as a visible symbol (NUL → ␀, ESC → ␛,
    CR → ␍, DEL → ␡, C1 controls → `\\x9b`) and every bidirectional control named (RLO → `<U+202E>`), so
    nothing invisible changes what a reader sees. Call before any escaping (HTML escapes the `<`)."""
    return _CONTROL.sub(_show, str(text))


_MD_SPECIAL = re.compile(r"([\\`*~|]|\](?=[(\[:])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|^[-+#](?=\s)|^#+)")
"""What Markdown would act on: backslash, backtick, `*`, `~`, `|`; a `]` that could close a link or an image
(`](`, `][`, `]:`); `_` only where it could open or close emphasis (`fb_piqa_lite` stays as is); a leading
`-`, `+` or `#` (a list item, a heading). Plain brackets (`[0.1, 0.2]`) stay as they are."""


def md_text(text: object) -> str:
    """Untrusted text as literal Markdown text, safe in a paragraph, a heading or a table cell: controls made
    `visible`, HTML not interpreted (`&`, `<`, `>` and quotes as entities), Markdown's active punctuation
    backslash-escaped where Markdown would act on it (`_MD_SPECIAL`: no emphasis, link, code span,
    heading or table pipe), newlines as spaces."""
    plain = visible(text).replace("\t", " ").replace("\n", " ")
    return html.escape(_MD_SPECIAL.sub(r"\\\1", plain), quote=True)  # Markdown first: its backslashes precede entities
