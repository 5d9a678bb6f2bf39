"""The shell every HTML report shares: escaping, one stylesheet, tables, and a page that asks for nothing
over the network.

Every text that reaches a page goes through `esc` (model outputs, prompts, task and model names are
untrusted). The page carries a Content-Security-Policy of `default-src 'none'` with inline styles
allowed: no script runs, nothing is fetched, even if a text escaped escaping.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from forgetbench.core.text import visible

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
:root{--fg:#1d232a;--muted:#5b6673;--line:#d9dee4;--bg:#fff;--soft:#f4f6f8;--bad:#b42318;--good:#137333;--accent:#2757c7}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:16px}
h1{font-size:1.45em;margin:.2em 0 .4em;overflow-wrap:anywhere}
h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1.02em;margin:1.1em 0 .4em}
.verdict{font-size:1.08em;background:var(--soft);border-left:4px solid var(--accent);padding:.6em .8em;margin:.5em 0}
.warn{background:#fff8e1;border-left:4px solid #c88a04;padding:.4em .8em;margin:.4em 0}
.muted{color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;margin:.4em 0;font-variant-numeric:tabular-nums}
th,td{padding:.25em .6em;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
.drop{color:var(--bad);font-weight:600}
.gain{color:var(--good);font-weight:600}
.badge{display:inline-block;padding:.05em .5em;border-radius:1em;font-size:.85em;font-weight:600;border:1px solid currentColor}
.pass{color:var(--good)}.fail{color:var(--bad)}.inconclusive{color:#8a5a00}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--soft);padding:.5em .7em;margin:.3em 0;border-radius:4px;max-height:22em;overflow-y:auto}
details{border:1px solid var(--line);border-radius:6px;margin:.5em 0;padding:.2em .8em}
details>summary{cursor:pointer;font-weight:600;padding:.3em 0}
.item{border-top:1px solid var(--line);padding:.6em 0}
.item:first-of-type{border-top:0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.6em}
.pick{font-weight:700}
.chip{display:inline-block;font-size:.78em;padding:0 .4em;border-radius:3px;margin-left:.3em;background:var(--soft);border:1px solid var(--line)}
.chip.gold{background:#e6f4ea;border-color:#8cc59a}
.tokens{white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.7;background:var(--soft);padding:.5em .7em;border-radius:4px}
.k0{background:transparent}.k1{background:#fde7df}.k2{background:#fbcdbd}.k3{background:#f7ae96}.k4{background:#f28b6d}
.k5{background:#e8623f;color:#fff}.k6{background:#c93d1a;color:#fff}.k7{background:#8f2208;color:#fff}
.n1{background:#e3ecfb}.n2{background:#b9cff5}.n3{background:#7fa5ea;color:#fff}
svg{max-width:100%;height:auto}
td svg{max-width:none}
svg text{font:11px system-ui,sans-serif;fill:var(--fg)}
a{color:var(--accent)}
footer{margin-top:2em;font-size:.85em;color:var(--muted);overflow-wrap:anywhere}
@media (max-width:700px){body{font-size:14px}main{padding:10px}.pair{grid-template-columns:1fr}th,td{padding:.2em .35em}}
"""


def esc(value: object) -> str:
    """Text (untrusted: a model's output, a prompt, a name) as HTML text or an attribute value, its control and
    bidirectional characters shown visibly (`core.text.visible`: NUL → ␀, ESC → ␛, RLO → `<U+202E>`)."""
    return html.escape(visible(value), quote=True)


def num(value: float | None, spec: str = ".1f") -> str:
    """A number to `spec`, `–` when missing."""
    return "–" if value is None else format(value, spec)


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: Iterable[int] = ()) -> str:
    """A table of already-escaped cells (`numeric`: the column positions to right-align)."""
    right = set(numeric)
    cls = lambda i: ' class="num"' if i in right else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def page(title: str, body: str, footer: str = "") -> str:
    """A whole, self-contained HTML document (`title` is escaped; `body` and `footer` are markup)."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main>{body}<footer>{footer}</footer></main></body></html>\n"
    )
