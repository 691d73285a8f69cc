"""Render a monitoring result as JSON (a DVC metric), Markdown or self-contained HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from gitml.errors import GitmlError
from gitml.fileio import dumps_json

FORMATS = ("json", "md", "html")
TEMPLATES = {"md": "monitor.md.j2", "html": "monitor.html.j2"}


def template_dir() -> Path:
    """The monitor templates shipped inside the gitml package (gitml/templates/)."""
    candidate = Path(__file__).resolve().parents[1] / "templates"
    if (candidate / TEMPLATES["md"]).is_file():
        return candidate
    raise GitmlError(
        f"The monitor templates (monitor.*.j2) are missing from {candidate}.",
        "Reinstall gitml, or use --format json.",
    )


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    value = float(value)
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.2e}"
    return f"{value:.4f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def verdict(result: dict[str, Any]) -> str:
    """One line: what the run found."""
    parts = []
    if result["dataset_drift"]:
        parts.append("dataset drift")
    elif result["n_drifted"]:
        parts.append(f"{result['n_drifted']} column(s) drifted, below the dataset threshold")
    if result["prediction_drift"]:
        parts.append("prediction drift")
    if result["decay"]:
        parts.append("decay")
    if not result["quality_passed"]:
        parts.append("quality issues")
    return ", ".join(parts) if parts else "no drift"


def render(result: dict[str, Any], fmt: str, reference: str = "", current: str = "") -> str:
    """The report text in `fmt` (json, md or html)."""
    if fmt == "json":
        return dumps_json(result)
    if fmt not in TEMPLATES:
        raise GitmlError(f"Unknown format '{fmt}'.", f"Use one of: {', '.join(FORMATS)}.")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=fmt == "html",
        keep_trailing_newline=True,
    )
    env.globals.update(num=_num, pct=_pct, yes=lambda b: "yes" if b else "no")
    text = env.get_template(TEMPLATES[fmt]).render(
        r=result, verdict=verdict(result), reference=reference, current=current
    )
    return text if text.endswith("\n") else text + "\n"
