"""Inline SVG plots for the HTML reports, drawn from numbers alone (no plotting library, no fonts or
images fetched): a histogram, an interval bar for a table row, and a scatter with error bars whose points
may link somewhere. Labels go through `page.esc`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from forgetbench.report.page import esc

MARGIN = (46, 12, 14, 38)
"""Left, right, top, bottom margins of a plot, in pixels."""


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 × 10^k)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else [0.0]
    raw = (high - low) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:.3g}" if v != 0 else "0"


@dataclass(frozen=True)
class Frame:
    """A plot area mapping data (x, y) to pixels."""

    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, v: float) -> float:
        left, right = MARGIN[0], self.width - MARGIN[1]
        return left + (v - self.x0) / ((self.x1 - self.x0) or 1.0) * (right - left)

    def y(self, v: float) -> float:
        top, bottom = MARGIN[2], self.height - MARGIN[3]
        return bottom - (v - self.y0) / ((self.y1 - self.y0) or 1.0) * (bottom - top)

    def axes(self, xlabel: str, ylabel: str) -> str:
        """Tick lines and labels on both axes, and the axis titles."""
        out = []
        bottom, left = self.height - MARGIN[3], MARGIN[0]
        for t in nice_ticks(self.x0, self.x1):
            px = self.x(t)
            out.append(f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#5b6673"/>'
                       f'<text x="{px:.1f}" y="{bottom + 15}" text-anchor="middle">{_label(t)}</text>')  # fmt: skip
        for t in nice_ticks(self.y0, self.y1):
            py = self.y(t)
            out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{self.width - MARGIN[1]}" y2="{py:.1f}" stroke="#eceff2"/>'
                       f'<text x="{left - 5}" y="{py + 4:.1f}" text-anchor="end">{_label(t)}</text>')  # fmt: skip
        out.append(f'<line x1="{left}" y1="{bottom}" x2="{self.width - MARGIN[1]}" y2="{bottom}" stroke="#5b6673"/>')
        out.append(
            f'<text x="{(left + self.width - MARGIN[1]) / 2:.0f}" y="{self.height - 4}" text-anchor="middle">{esc(xlabel)}</text>'
        )
        out.append(f'<text transform="translate(12 {(self.height - MARGIN[3] + MARGIN[2]) / 2:.0f}) rotate(-90)" '
                   f'text-anchor="middle">{esc(ylabel)}</text>')  # fmt: skip
        return "".join(out)


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(label)}">{body}</svg>')  # fmt: skip


def histogram(values: Sequence[float], xlabel: str, marks: Sequence[tuple[float, str]] = (), bins: int = 24) -> str:
    """Counts of `values` in equal bins from 0 (or the minimum, when negative) to the maximum, with vertical
    lines at `marks` (value, label)."""
    finite = [v for v in values if math.isfinite(v)]
    width, height = 640, 220
    if not finite:
        return _svg(width, 40, '<text x="8" y="24">no values</text>', "empty histogram")
    low, high = min(0.0, min(finite)), max(finite)
    high = high if high > low else low + 1.0
    step = (high - low) / bins
    counts = [0] * bins
    for v in finite:
        counts[min(bins - 1, int((v - low) / step))] += 1
    f = Frame(width, height, low, high, 0, max(counts) * 1.08)
    bars = []
    for i, c in enumerate(counts):
        if c:
            x0, x1 = f.x(low + i * step), f.x(low + (i + 1) * step)
            bars.append(f'<rect x="{x0 + 0.5:.1f}" y="{f.y(c):.1f}" width="{max(0.5, x1 - x0 - 1):.1f}" height="{f.y(0) - f.y(c):.1f}" '
                        f'fill="#7fa5ea"><title>{c} in [{_label(low + i * step)}, {_label(low + (i + 1) * step)})</title></rect>')  # fmt: skip
    for value, name in marks:
        if math.isfinite(value) and low <= value <= high:
            px = f.x(value)
            bars.append(f'<line x1="{px:.1f}" y1="{MARGIN[2]}" x2="{px:.1f}" y2="{f.y(0):.1f}" stroke="#b42318" stroke-dasharray="4 3"/>'
                        f'<text x="{px + 4:.1f}" y="{MARGIN[2] + 10}" fill="#b42318">{esc(name)}</text>')  # fmt: skip
    return _svg(width, height, f.axes(xlabel, "prompts") + "".join(bars), f"histogram of {xlabel}")


def interval_bar(estimate: float, low: float, high: float, span: float, significant: bool) -> str:
    """A one-row forest plot: the interval [low, high] and the estimate on a symmetric axis ±`span`, zero marked."""
    width, height, pad = 120, 16, 4
    scale = (width - 2 * pad) / (2 * span or 1.0)
    x = lambda v: pad + (max(-span, min(span, v)) + span) * scale  # noqa: E731
    colour = ("#b42318" if estimate < 0 else "#137333") if significant else "#5b6673"
    body = (f'<line x1="{x(0):.1f}" y1="1" x2="{x(0):.1f}" y2="{height - 1}" stroke="#c2c9d1"/>'
            f'<line x1="{x(low):.1f}" y1="{height / 2}" x2="{x(high):.1f}" y2="{height / 2}" stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{x(estimate):.1f}" cy="{height / 2}" r="3.2" fill="{colour}"/>')  # fmt: skip
    return _svg(width, height, body, f"{estimate:+.1f} [{low:+.1f}, {high:+.1f}]")


@dataclass(frozen=True)
class Point:
    """A scatter point with its error bars (NaN: none) and, optionally, a link and a label."""

    x: float
    y: float
    x_low: float = math.nan
    x_high: float = math.nan
    y_low: float = math.nan
    y_high: float = math.nan
    label: str = ""
    href: str | None = None


def scatter(points: Sequence[Point], xlabel: str, ylabel: str, line: bool = False, colour: str = "#2757c7") -> str:
    """Points with their error bars (joined in order when `line`), each a link when it has `href`, a zero line
    when zero is in range."""
    width, height = 540, 300
    xs = [v for p in points for v in (p.x, p.x_low, p.x_high) if math.isfinite(v)]
    ys = [v for p in points for v in (p.y, p.y_low, p.y_high) if math.isfinite(v)]
    if not xs or not ys:
        return _svg(width, 40, '<text x="8" y="24">no points</text>', "empty plot")
    pad = lambda lo, hi: ((lo - 0.06 * (hi - lo or 1)), (hi + 0.06 * (hi - lo or 1)))  # noqa: E731
    f = Frame(width, height, *pad(min(xs), max(xs)), *pad(min(ys), max(ys)))
    out = [f.axes(xlabel, ylabel)]
    if f.y0 < 0 < f.y1:
        out.append(f'<line x1="{MARGIN[0]}" y1="{f.y(0):.1f}" x2="{width - MARGIN[1]}" y2="{f.y(0):.1f}" stroke="#9aa4af"/>')
    shown = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    if line and len(shown) > 1:
        path = " ".join(f"{f.x(p.x):.1f},{f.y(p.y):.1f}" for p in shown)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-opacity=".5"/>')
    for p in shown:
        mark = []
        if math.isfinite(p.y_low) and math.isfinite(p.y_high):
            mark.append(
                f'<line x1="{f.x(p.x):.1f}" y1="{f.y(p.y_low):.1f}" x2="{f.x(p.x):.1f}" y2="{f.y(p.y_high):.1f}" stroke="{colour}"/>'
            )
        if math.isfinite(p.x_low) and math.isfinite(p.x_high):
            mark.append(
                f'<line x1="{f.x(p.x_low):.1f}" y1="{f.y(p.y):.1f}" x2="{f.x(p.x_high):.1f}" y2="{f.y(p.y):.1f}" stroke="{colour}"/>'
            )
        mark.append(f'<circle cx="{f.x(p.x):.1f}" cy="{f.y(p.y):.1f}" r="4" fill="{colour}"><title>{esc(p.label)}: '
                    f"{_label(p.x)}, {_label(p.y)}</title></circle>")  # fmt: skip
        if p.label:
            mark.append(f'<text x="{f.x(p.x) + 5:.1f}" y="{f.y(p.y) - 5:.1f}">{esc(p.label)}</text>')
        body = "".join(mark)
        out.append(f'<a href="{esc(p.href)}">{body}</a>' if p.href else body)
    return _svg(width, height, "".join(out), f"{ylabel} against {xlabel}")
