"""Inline SVG charts (no JavaScript, no external files): grouped bars and line charts.

Every function returns an ``<svg>`` element as a string, ready to paste into an
HTML page; all text is escaped. Sizes are in CSS pixels; the charts scale with the
page through their ``viewBox``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# Tableau 10: distinct, colour-blind friendly series colours (run i -> colour i mod 10).
SERIES_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_CHAR_W = 6.6  # rough width of one 12 px character, for layout only
_GRID = "#e3e6ea"
_AXIS = "#9aa1a9"
_TEXT = "#3c4148"


def series_colour(i: int) -> str:
    """Colour of the i-th series (runs keep their colour across every chart)."""
    return SERIES_COLOURS[i % len(SERIES_COLOURS)]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi].

    The first tick is <= lo and the last >= hi; about `count` ticks in all.
    Equal ends are widened so that the range is never empty.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = round((last - first) / step)
    return [_clean(first + k * step) for k in range(n + 1)]


def _clean(value: float) -> float:
    """Drop floating-point noise from a tick value (0.30000000000000004 -> 0.3)."""
    return float(f"{value:.12g}")


def _decimals(step: float) -> int:
    """Fewest decimals (up to 12) that write `step` exactly: 0.25 -> 2, 500 -> 0."""
    return next((d for d in range(13) if abs(round(step, d) - step) <= 1e-9 * step), 12)


def format_tick(value: float, ticks: Sequence[float]) -> str:
    """Label of a tick, consistent across the axis: "0.45", "1500", or "2.5e-5" style
    when the ticks are tiny or huge (0 is always "0")."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
    if value == 0:
        return "0"
    largest = max(abs(t) for t in ticks) if ticks else abs(value)
    if largest >= 1e5 or largest < 1e-3:
        exponent = math.floor(math.log10(largest))
        digits = _decimals(step / 10.0**exponent)
        return f"{value / 10.0**exponent:.{digits}f}e{exponent}"
    return f"{value:.{_decimals(step)}f}"


def _text(x: float, y: float, label: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(label)}</text>'


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    """Coloured squares and names in one row starting at (x, y)."""
    parts = []
    for i, name in enumerate(names):
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" '
            f'fill="{series_colour(i)}" rx="2"/>'
        )
        parts.append(_text(x + 14, y, name))
        x += 14 + len(name) * _CHAR_W + 18
    return parts


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    max_value: float | None = None,
    width: int = 760,
    bar_height: int = 14,
    title: str = "",
    value_format: str = "{:.1f}",
) -> str:
    """Horizontal grouped bars: one group per category, one bar per series.

    Args:
        categories: group labels (e.g. sequence names), drawn top to bottom.
        series: (name, values) pairs; values[i] belongs to categories[i]; None or NaN
            draws no bar and the label "n/a".
        max_value: value at the right end of the axis (default: a round number
            above the largest value).
        width: total width in pixels.
        bar_height: height of one bar in pixels.
        title: heading drawn above the legend.
        value_format: format of the number printed after each bar.

    Returns:
        An ``<svg class="chart bar-chart">`` string with one ``<rect class="bar">``
        per drawn bar.
    """
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(categories)}")
    finite = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
    top = max_value if max_value is not None else nice_ticks(0.0, max(finite, default=1.0))[-1]
    ticks = [t for t in nice_ticks(0.0, top, 6) if t <= top + 1e-9]
    label_w = min(240.0, 12 + _CHAR_W * max((len(c) for c in categories), default=4))
    left, right = label_w, width - 46.0
    head = (24 if title else 0) + 22 + 18  # title, legend, tick labels
    group_h = bar_height * len(series) + 8
    height = head + group_h * len(categories) + 6

    def x_of(v: float) -> float:
        return left + (right - left) * max(0.0, min(v, top)) / top

    parts = [
        f'<svg class="chart bar-chart" viewBox="0 0 {width} {height:.0f}" width="{width}" '
        f'height="{height:.0f}" role="img" aria-label="{escape(title or "bar chart")}">'
    ]
    if title:
        parts.append(_text(0, 16, title, extra=' class="chart-title"'))
    parts += _legend([name for name, _ in series], left, head - 26)
    for t in ticks:
        parts.append(
            f'<line x1="{x_of(t):.1f}" y1="{head - 6}" x2="{x_of(t):.1f}" '
            f'y2="{height - 4:.0f}" stroke="{_GRID}"/>'
        )
        parts.append(_text(x_of(t), head - 9, format_tick(t, ticks), "middle", ' class="tick"'))
    for i, category in enumerate(categories):
        y0 = head + i * group_h
        parts.append(_text(left - 8, y0 + group_h / 2 + 1, category, "end"))
        for j, (name, values) in enumerate(series):
            value = values[i]
            value = value if value is not None and math.isfinite(value) else None
            label = "n/a" if value is None else value_format.format(value)
            end = left if value is None else x_of(value)
            y = y0 + j * bar_height
            if value is not None:
                tip = escape(f"{name} / {category}: {label}")
                parts.append(
                    f'<rect class="bar" x="{left:.1f}" y="{y:.1f}" width="{end - left:.2f}" '
                    f'height="{bar_height - 2}" fill="{series_colour(j)}">'
                    f"<title>{tip}</title></rect>"
                )
            parts.append(_text(end + 4, y + bar_height - 4, label, extra=' class="value"'))
    parts.append(
        f'<line x1="{left:.1f}" y1="{head - 6}" x2="{left:.1f}" y2="{height - 4:.0f}" '
        f'stroke="{_AXIS}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    x_label: str = "",
    width: int = 360,
    height: int = 220,
) -> str:
    """Line chart of one or more (name, xs, ys) series on shared linear axes.

    Non-finite points are skipped. Series with up to 40 points also get a dot per
    point; a legend is drawn when there is more than one series.

    Returns:
        An ``<svg class="chart line-chart">`` string with one ``<polyline class="series">``
        per series.

    Raises:
        ValueError: no finite point at all.
    """
    clean = [
        (name, [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if _finite(x, y)])
        for name, xs, ys in series
    ]
    points = [p for _, pts in clean for p in pts]
    if not points:
        raise ValueError("line_chart needs at least one finite point")
    x_ticks = nice_ticks(min(p[0] for p in points), max(p[0] for p in points))
    y_ticks = nice_ticks(min(p[1] for p in points), max(p[1] for p in points), 5)
    left, right = 56.0, width - 14.0
    top, bottom = (28.0 if title else 10.0) + (16 if len(clean) > 1 else 0), height - 38.0

    def px(x: float) -> float:
        return left + (right - left) * (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0])

    def py(y: float) -> float:
        return bottom - (bottom - top) * (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0])

    parts = [
        f'<svg class="chart line-chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title or "line chart")}">'
    ]
    if title:
        parts.append(_text(left, 17, title, extra=' class="chart-title"'))
    if len(clean) > 1:
        parts += _legend([name for name, _ in clean], left, top - 8)
    for t in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{right}" y2="{py(t):.1f}" stroke="{_GRID}"/>'
        )
        parts.append(_text(left - 6, py(t) + 4, format_tick(t, y_ticks), "end", ' class="tick"'))
    for t in x_ticks:
        parts.append(_text(px(t), bottom + 15, format_tick(t, x_ticks), "middle", ' class="tick"'))
    parts.append(
        f'<polyline points="{left},{top} {left},{bottom} {right},{bottom}" fill="none" '
        f'stroke="{_AXIS}"/>'
    )
    if x_label:
        parts.append(_text((left + right) / 2, height - 6, x_label, "middle", ' class="axis"'))
    for i, (name, pts) in enumerate(clean):
        colour = series_colour(i)
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{colour}" '
            f'stroke-width="2" stroke-linejoin="round"><title>{escape(name)}</title></polyline>'
        )
        if len(pts) <= 40:
            parts += [
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>'
                for x, y in pts
            ]
    parts.append("</svg>")
    return "".join(parts)


def _finite(x: float, y: float) -> bool:
    return math.isfinite(x) and math.isfinite(y)
