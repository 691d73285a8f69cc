"""Slice statistics (fairness gaps, per-group rates) and feature importance, base against head."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitml.report.values import delta, number
from gitml.tasks import FAIRNESS_STATS, GROUP_STATS

#: Slice statistics of every task (gitml.tasks) and their direction (True: higher is better,
#: None: neutral); the gaps are lower-is-better.
SLICE_GROUP_STATS: dict[str, bool | None] = GROUP_STATS
SLICE_GAPS = FAIRNESS_STATS


@dataclass(frozen=True)
class SliceRow:
    """One slice statistic (a fairness gap, or one group's rate), base against head."""

    attribute: str
    group: str  # "" for an attribute-level gap
    stat: str
    base: Any
    head: Any
    delta: float | None
    change: str  # better | worse | same | changed | new | gone


def _direction(change: float | None, higher_is_better: bool | None, base: Any, head: Any) -> str:
    """How a statistic moved: better, worse, same, changed (no direction), new or gone."""
    if base is None:
        return "new"
    if head is None:
        return "gone"
    if change is None:
        return "same" if base == head else "changed"
    if abs(change) < 1e-12:
        return "same"
    if higher_is_better is None:
        return "changed"
    return "better" if (change > 0) == higher_is_better else "worse"


def diff_slices(base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> list[SliceRow]:
    """Fairness gaps (lower is better) and per-group rates for each sensitive attribute."""
    rows: list[SliceRow] = []
    old, new = base or {}, head or {}
    for attribute in sorted(set(old) | set(new)):
        a_old: Mapping[str, Any] = old.get(attribute) or {}
        a_new: Mapping[str, Any] = new.get(attribute) or {}
        if not isinstance(a_old, Mapping) or not isinstance(a_new, Mapping):
            continue
        for gap in SLICE_GAPS:
            if gap in a_old or gap in a_new:
                base_gap, head_gap = a_old.get(gap), a_new.get(gap)
                change, _ = delta(base_gap, head_gap)
                moved = _direction(change, False, base_gap, head_gap)
                rows.append(SliceRow(attribute, "", gap, base_gap, head_gap, change, moved))
        g_old = a_old.get("groups") or {}
        g_new = a_new.get("groups") or {}
        for group in sorted(set(g_old) | set(g_new), key=str):
            s_old = g_old.get(group) or {}
            s_new = g_new.get(group) or {}
            for stat, better in SLICE_GROUP_STATS.items():
                if stat in s_old or stat in s_new:
                    base_stat, head_stat = s_old.get(stat), s_new.get(stat)
                    change, _ = delta(base_stat, head_stat)
                    moved = (
                        "new" if base is None else _direction(change, better, base_stat, head_stat)
                    )
                    row = SliceRow(attribute, str(group), stat, base_stat, head_stat, change, moved)
                    rows.append(row)
    return rows


@dataclass(frozen=True)
class ImportanceRow:
    """One feature's permutation importance, base against head, with its rank on each side."""

    feature: str
    base: float | None
    head: float | None
    delta: float | None
    base_rank: int | None
    head_rank: int | None


def diff_importance(
    base: Mapping[str, Any] | None, head: Mapping[str, Any] | None, top_k: int
) -> list[ImportanceRow]:
    """The `top_k` features with the largest change in mean importance (head rank if no base)."""

    def means(raw: Mapping[str, Any] | None) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for feature, value in (raw or {}).items():
            out[str(feature)] = number(value.get("mean") if isinstance(value, Mapping) else value)
        return out

    def ranks(values: dict[str, float | None]) -> dict[str, int]:
        ordered = sorted(values, key=lambda f: (-(values[f] or -math.inf), f))
        return {f: i + 1 for i, f in enumerate(ordered)}

    old, new = means(base), means(head)
    old_rank, new_rank = ranks(old), ranks(new)
    rows = []
    for feature in set(old) | set(new):
        base_mean, head_mean = old.get(feature), new.get(feature)
        change = head_mean - base_mean if base_mean is not None and head_mean is not None else None
        ranked = (old_rank.get(feature), new_rank.get(feature))
        rows.append(ImportanceRow(feature, base_mean, head_mean, change, *ranked))
    if base is None:
        rows.sort(key=lambda r: (r.head_rank or math.inf, r.feature))
    else:
        rows.sort(key=lambda r: (-(abs(r.delta) if r.delta is not None else math.inf), r.feature))
    return rows[:top_k]
