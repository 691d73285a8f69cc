"""Server-side SVG line charts for the site (metric history, drift). Pure.

The report's `charts.svg_line_chart` draws two series (base and head) over a numeric x; the site
needs any number of series over an index (commits, versions, monitoring runs), with one marked
point per value so readers (and tests) can count them. Every chart sits next to a table of the
same numbers, which is its text alternative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

#: A palette readable on white and by most colour-blind readers (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    x_label: str,
    y_label: str,
    table_id: str,
    width: int = 720,
    height: int = 280,
) -> str:
    """An inline SVG chart: one polyline per series over the x positions of `labels`.

    Gaps (None) break a line. The chart names its data table (`aria-describedby`).
    """
    left, right, top, bottom = 52, 150, 28, 42
    values = [v for vs in series.values() for v in vs if v is not None]
    y0, y1 = (min(values), max(values)) if values else (0.0, 1.0)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = width - left - right, height - top - bottom
    n = max(len(labels), 1)

    def sx(i: int) -> float:
        return left + (i / (n - 1) * pw if n > 1 else pw / 2)

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [
        f'<svg role="img" aria-label="{escape(title)}" aria-describedby="{escape(table_id)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">',
        f'<text x="{left + pw / 2:.0f}" y="16" text-anchor="middle" class="title">'
        f"{escape(title)}</text>",
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>',
    ]
    for i in range(5):
        fy = y0 + (y1 - y0) * i / 4
        out.append(
            f'<text x="{left - 4}" y="{sy(fy) + 4:.1f}" text-anchor="end" class="tick">'
            f"{_num(fy)}</text>"
        )
    ticks = sorted({0, n - 1, *(round(i * (n - 1) / 4) for i in range(5))}) if n > 1 else [0]
    for i in ticks:
        if i < len(labels):
            out.append(
                f'<text x="{sx(i):.1f}" y="{top + ph + 14}" text-anchor="middle" class="tick">'
                f"{escape(labels[i][:12])}</text>"
            )
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 6}" text-anchor="middle" class="axis">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text x="12" y="{top + ph / 2:.0f}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 12 {top + ph / 2:.0f})">{escape(y_label)}</text>'
    )
    dots = n <= 120  # beyond that the markers only add weight
    for k, (name, vs) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        out.append(f'<g class="series" data-series="{escape(name)}">')
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(vs):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{sx(i):.1f},{sy(v):.1f}")
        if segment:
            segments.append(segment)
        for seg in segments:
            out.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" '
                'stroke-width="2"/>'
            )
        for i, v in enumerate(vs):
            if v is not None and (dots or len(vs) == 1):
                label = escape(labels[i]) if i < len(labels) else str(i)
                out.append(
                    f'<circle class="point" cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="3" '
                    f'fill="{color}"><title>{escape(name)} @ {label}: {_num(v)}</title></circle>'
                )
        out.append("</g>")
        ly = top + 10 + 16 * k
        out.append(
            f'<line x1="{left + pw + 10}" y1="{ly}" x2="{left + pw + 26}" y2="{ly}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        out.append(
            f'<text x="{left + pw + 30}" y="{ly + 4}" class="tick">{escape(name[:20])}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
