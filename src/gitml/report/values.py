"""Values as the report shows and compares them: finite numbers, display formats, deltas, keys."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

#: A key absent on one side of a diff (None is a value).
MISSING = object()


def number(value: Any) -> float | None:
    """`value` as a finite float, or None (bools, text, NaN and Infinity are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fmt(value: Any, digits: int = 4) -> str:
    """A value for display: fixed digits for floats, NaN/±Infinity spelled out, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def fmt_delta(value: float | None, digits: int = 4) -> str:
    """A signed change, '—' when there is none (integers stay integers)."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:+d}"
    return f"{value:+.{digits}f}"


def fmt_pct(value: float | None) -> str:
    """A signed percentage, '—' when undefined (no base, or a base of zero)."""
    if value is None:
        return "—"
    return f"{value:+.2f}%"


def delta(base: Any, head: Any) -> tuple[float | None, float | None]:
    """(head - base, the change in % of |base|), each None when it cannot be computed."""
    base_number, head_number = number(base), number(head)
    if base_number is None or head_number is None:
        return None, None
    change: float = head_number - base_number
    if isinstance(base, int) and isinstance(head, int):
        change = int(head - base)
    return change, (change / abs(base_number) * 100.0 if base_number != 0 else None)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys, as `dvc params diff` and `dvc metrics diff` spell them."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
