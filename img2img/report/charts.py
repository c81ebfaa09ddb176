"""Line charts as inline SVG: no plotting library, no script, nothing fetched."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

#: line colours, one per series (colour-blind safe, Okabe-Ito)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

Point = tuple[float, float]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values covering ``[low, high]`` (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    title: str,
    x_label: str = "step",
    width: int = 420,
    height: int = 220,
) -> str:
    """An SVG line chart of ``series`` (name -> ``(x, y)`` points); non-finite y are gaps."""
    left, right, top, bottom = 56, 12, 26, 34
    points = [(x, y) for pts in series.values() for x, y in pts if math.isfinite(y)]
    svg = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="{width / 2}" y="16" text-anchor="middle" class="title">{escape(title)}'
           "</text>"]
    if not points:
        svg.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
        return "".join(svg) + "</svg>"
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    svg.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    for tick in nice_ticks(y0, y1):
        y = sy(tick)
        svg.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                   'class="grid"/>')
        svg.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_label(tick)}'
                   "</text>")
    for tick in nice_ticks(x0, x1):
        x = sx(tick)
        svg.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                   f"{_label(tick)}</text>")
    svg.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
               f"{escape(x_label)}</text>")
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        for run in _finite_runs(pts):
            if len(run) == 1:  # a lone point would draw nothing as a line
                x, y = run[0]
                svg.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"/>')
                continue
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)
            svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       'stroke-width="1.5"/>')
        if len(series) > 1:
            svg.append(f'<text x="{left + 6}" y="{top + 14 + 13 * i}" fill="{colour}">'
                       f"{escape(name)}</text>")
    return "".join(svg) + "</svg>"


def _finite_runs(points: Sequence[Point]) -> list[list[Point]]:
    runs: list[list[Point]] = [[]]
    for x, y in points:
        if math.isfinite(y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]
