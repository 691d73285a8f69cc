"""Render reports through the Jinja2 templates shipped in `gitml/templates/` (StrictUndefined).

Markdown is for pull-request comments: it starts with the marker line from conf/gitml.yaml and is
kept under `report.max_markdown_chars` by dropping whole sections from the end (plots first),
then shortening tables, then cutting at a line, always with a note saying what was left out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from markupsafe import Markup

from gitml.errors import GitmlError
from gitml.report import charts
from gitml.report.core import Comparison, Report, Snapshot, fmt, fmt_delta, fmt_pct

#: The package's own templates (absolute, so `root / TEMPLATE_DIR` is this directory too).
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
#: Sections dropped, in this order, when the Markdown is over the limit.
DROP_ORDER = ("plots", "importance", "slices", "data", "params")
#: Table row caps tried after every optional section is gone.
ROW_CAPS = (200, 50, 10)
STATUS_ICONS = {
    "improved": "🟢 improved",
    "regressed": "🔴 regressed",
    "unchanged": "⚪ unchanged",
    "within_tolerance": "🟡 within tolerance",
    "added": "🆕 new",
    "removed": "⚠️ removed",
    "invalid": "⚠️ not a number",
    "unjudged": "· no rule",
    "no significant change": "⚪ no significant change",
    "not comparable": "⚠️ not comparable",
    "not_comparable": "⚠️ not comparable",
}


def fmt_ci(interval: Any) -> str:
    """An interval of a change as '[low, high]' (signed), '—' when there is none."""
    if interval is None:
        return "—"
    ci = f"[{fmt_delta(interval.low)}, {fmt_delta(interval.high)}]"
    if getattr(interval, "seeds", None):
        return f"{ci} around Δ̄ {fmt_delta(interval.delta)} (seed means)"
    return ci


def fmt_delong(interval: Any) -> str:
    """DeLong's cross-check of a ROC AUC change, '' when there is none."""
    d = getattr(interval, "delong", None)
    if not d:
        return ""
    return (
        f"DeLong: Δ {fmt_delta(d['delta'])}, [{fmt_delta(d['low'])}, {fmt_delta(d['high'])}], "
        f"p = {d['p_value']:.3g}"
    )


def fmt_seeds(interval: Any) -> dict[str, str]:
    """The cells of a change judged on estimator-seed means (base, head, Δ̄, df)."""
    (nb, nh), (mb, mh), (sb, sh) = interval.seeds, interval.seed_means, interval.seed_sd
    df = "∞" if interval.df is None or math.isinf(interval.df) else f"{interval.df:.1f}"
    return {
        "base": f"{fmt(mb)} ± {fmt(sb)} ({nb})",
        "head": f"{fmt(mh)} ± {fmt(sh)} ({nh})",
        "delta": fmt_delta(interval.delta),
        "df": df,
    }


def fmt_param(value: Any) -> str:
    """A param value as written in params.yaml: `1.0` and `0.001`, not a metric's `1.0000`."""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return fmt(value)


def md_cell(value: Any) -> str:
    """Text safe inside a GFM table cell: no pipes, newlines or raw HTML."""
    text = value if isinstance(value, str) else fmt(value)
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def environment(template_dir: Path) -> Environment:
    """A Jinja2 environment over `template_dir`: StrictUndefined, HTML autoescaped."""
    env = Environment(
        loader=FileSystemLoader(str(template_dir)),
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=fmt,
        delta=fmt_delta,
        pct=fmt_pct,
        md=md_cell,
        status=lambda s: STATUS_ICONS.get(s, s),
        short=lambda h: (h or "—")[:8],
        ci=fmt_ci,
        delong=fmt_delong,
        seeds=fmt_seeds,
        param=fmt_param,
    )
    env.globals.update(
        mermaid=charts.mermaid,
        svg=lambda plot, b, h: Markup(charts.svg_line_chart(plot, b, h)),
    )
    return env


def _template(env: Environment, name: str) -> Any:
    try:
        return env.get_template(name)
    except TemplateNotFound:
        searched = getattr(env.loader, "searchpath", ["?"])
        raise GitmlError(
            f"The report template '{name}' is missing from {', '.join(searched)}.",
            "Reinstall gitml: its templates ship inside the package (gitml/templates/).",
        ) from None


def fit_markdown(render: Callable[[Sequence[str], int | None], str], limit: int) -> str:
    """Render with ever fewer sections/rows until the text fits `limit` characters.

    Args:
        render: called with (omitted section names, row cap or None) and returns Markdown.
    """
    text = render((), None)
    if len(text) <= limit:
        return text
    omitted: list[str] = []
    for section in DROP_ORDER:
        omitted.append(section)
        text = render(tuple(omitted), None)
        if len(text) <= limit:
            return text
    for cap in ROW_CAPS:
        text = render(tuple(omitted), cap)
        if len(text) <= limit:
            return text
    note = (
        f"\n\n> ✂️ **Truncated:** the report was cut at {limit:,} characters to fit a GitHub "
        "comment. Run `gitml report --format html` for the full report.\n"
    )
    cut = text[: max(0, limit - len(note) - 8)]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    if cut.count("```") % 2:
        cut += "\n```"
    return cut + note


def _labels(report: Report) -> tuple[str, str]:
    base = report.base.label if report.base is not None else "none"
    return base, report.head.label


def render_markdown(report: Report, template_dir: Path, *, marker: str, limit: int) -> str:
    """The PR-comment Markdown for a two-revision report, at most `limit` characters."""
    template = _template(environment(template_dir), "report.md.j2")
    base_label, head_label = _labels(report)

    def render(omit: Sequence[str], cap: int | None) -> str:
        return str(
            template.render(
                r=report,
                marker=marker,
                omit=list(omit),
                cap=cap,
                limit=limit,
                base_label=base_label,
                head_label=head_label,
            )
        )

    return fit_markdown(render, limit)


def render_html(report: Report, template_dir: Path) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts or external URLs."""
    template = _template(environment(template_dir), "report.html.j2")
    base_label, head_label = _labels(report)
    return str(template.render(r=report, base_label=base_label, head_label=head_label))


def render_compare_markdown(
    comparison: Comparison, template_dir: Path, *, marker: str, limit: int
) -> str:
    """The multi-experiment table as Markdown, at most `limit` characters."""
    template = _template(environment(template_dir), "compare.md.j2")

    def render(omit: Sequence[str], cap: int | None) -> str:
        return str(template.render(c=comparison, marker=marker, cap=cap, limit=limit))

    return fit_markdown(render, limit)


def render_compare_html(comparison: Comparison, template_dir: Path) -> str:
    """The multi-experiment table as one self-contained HTML page."""
    template = _template(environment(template_dir), "compare.html.j2")
    return str(template.render(c=comparison))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Snapshot):  # the raw inputs stay out: label and revision only
        return {"label": value.label, "rev": value.rev}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Comparison) and value.problem is None:  # one problem: as before
            out.pop("problem", None)
            out.pop("others", None)
        for name in ("headline", "passed"):
            if hasattr(value, name) and name not in out:
                out[name] = _jsonable(getattr(value, name))
        return out
    if isinstance(value, dict):
        return {
            ("/".join(map(str, k)) if isinstance(k, tuple) else str(k)): _jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def render_json(obj: Report | Comparison) -> str:
    """Stable JSON of a report or comparison; NaN and Infinity as the strings "NaN"/"Infinity"."""
    return json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n"
