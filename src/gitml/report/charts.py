"""Charts without image hosting: Mermaid `xychart-beta` for Markdown, inline SVG for HTML. Pure."""

from __future__ import annotations

from html import escape

from gitml.report.core import LinePlot

BASE_COLOR = "#8c8c8c"
HEAD_COLOR = "#1f6feb"


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "0"


def mermaid(plot: LinePlot, points: int = 11) -> str:
    """A Mermaid `xychart-beta` block body: base (grey) and head (blue) on one sampled x grid."""
    grid, base, head = plot.sampled(points)
    ys = [y for y in base + head if y is not None]
    lo = min([0.0, *ys])
    hi = max([1.0, *ys])
    lines = [
        '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "'
        + (f"{BASE_COLOR}, {HEAD_COLOR}" if plot.base else HEAD_COLOR)
        + '"}}}}%%',
        "xychart-beta",
        f'    title "{plot.title}"',
        f'    x-axis "{plot.x}" [{", ".join(_num(x) for x in grid)}]',
        f'    y-axis "{plot.y}" {_num(lo)} --> {_num(hi)}',
    ]
    for series in (base, head):
        if series and all(y is not None for y in series):
            lines.append(f"    line [{', '.join(_num(y) for y in series if y is not None)}]")
    return "\n".join(lines)


def svg_line_chart(
    plot: LinePlot, base_label: str, head_label: str, width: int = 360, height: int = 260
) -> str:
    """An inline SVG line chart (no xmlns, scripts or external references)."""
    left, right, top, bottom = 44, 12, 28, 40
    pts = plot.base + plot.head
    xs = [p[0] for p in pts] or [0.0, 1.0]
    ys = [p[1] for p in pts] or [0.0, 1.0]
    x0, x1 = min(0.0, *xs), max(1.0, *xs)
    y0, y1 = min(0.0, *ys), max(1.0, *ys)
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0 or 1.0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0 or 1.0) * ph

    def path(points: list[tuple[float, float]]) -> str:
        return " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)

    out = [
        f'<svg role="img" aria-label="{escape(plot.title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="chart">',
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" class="title">'
        f"{escape(plot.title)}</text>",
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#d0d7de"/>',
    ]
    for i in range(5):
        fx = x0 + (x1 - x0) * i / 4
        fy = y0 + (y1 - y0) * i / 4
        out.append(
            f'<text x="{sx(fx):.1f}" y="{top + ph + 14}" text-anchor="middle" class="tick">'
            f"{_num(fx)}</text>"
        )
        out.append(
            f'<text x="{left - 4}" y="{sy(fy) + 4:.1f}" text-anchor="end" class="tick">'
            f"{_num(fy)}</text>"
        )
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 8}" text-anchor="middle" class="axis">'
        f"{escape(plot.x)}</text>"
    )
    out.append(
        f'<text x="12" y="{top + ph / 2:.0f}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 12 {top + ph / 2:.0f})">{escape(plot.y)}</text>'
    )
    if plot.base:
        out.append(
            f'<polyline points="{path(plot.base)}" fill="none" stroke="{BASE_COLOR}" '
            'stroke-width="2" stroke-dasharray="5 3"/>'
        )
    if plot.head:
        out.append(
            f'<polyline points="{path(plot.head)}" fill="none" stroke="{HEAD_COLOR}" '
            'stroke-width="2"/>'
        )
    lx = left + 8
    if plot.base:
        out.append(
            f'<line x1="{lx}" y1="{top + 10}" x2="{lx + 16}" y2="{top + 10}" stroke="{BASE_COLOR}" '
            'stroke-width="2" stroke-dasharray="5 3"/>'
        )
        out.append(f'<text x="{lx + 20}" y="{top + 14}" class="tick">{escape(base_label)}</text>')
    out.append(
        f'<line x1="{lx}" y1="{top + 24}" x2="{lx + 16}" y2="{top + 24}" stroke="{HEAD_COLOR}" '
        'stroke-width="2"/>'
    )
    out.append(f'<text x="{lx + 20}" y="{top + 28}" class="tick">{escape(head_label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
