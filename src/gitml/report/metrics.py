"""Metric rows (base against head, judged by the rules in conf/gitml.yaml) and the verdict.

Metric statuses come from `gitml.compare.compare_metric`; the rows it cannot judge get one of
the four statuses below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitml.compare import MetricRule, Status, compare_metric, meets_floor
from gitml.report.values import delta, fmt, fmt_delta, number

#: Statuses beyond compare.py's four, for rows it cannot judge.
ADDED = "added"  # head only (a new metric, or no baseline at all)
REMOVED = "removed"  # base only
INVALID = "invalid"  # a side is not a finite number (NaN, Infinity, text)
UNJUDGED = "unjudged"  # no rule in conf/gitml.yaml
NOT_COMPARABLE = "not_comparable"  # base and head were measured on different data


@dataclass(frozen=True)
class MetricRow:
    """One metric, base against head."""

    name: str
    base: Any
    head: Any
    delta: float | None
    delta_pct: float | None
    status: str
    higher_is_better: bool | None
    floor: float | None = None
    floor_ok: bool | None = None
    #: The paired-bootstrap interval of head − base (gitml.intervals.MetricInterval), if any.
    interval: Any = None


def diff_metrics(
    base: Mapping[str, Any] | None, head: Mapping[str, Any], rules: Mapping[str, MetricRule]
) -> list[MetricRow]:
    """Rows for every metric on either side: policy metrics first (in policy order), then others.

    With no baseline (`base` is None) every row is `added`, showing the new value only.
    """
    names = [n for n in rules if n in head or (base is not None and n in base)]
    others = sorted(set(head) | set(base or {}))
    names += [n for n in others if n not in rules]
    rows: list[MetricRow] = []
    for name in names:
        rule = rules.get(name)
        has_base = base is not None and name in base
        base_value = base.get(name) if base is not None else None
        head_value = head.get(name)
        change, pct = delta(base_value, head_value)
        head_number, base_number = number(head_value), number(base_value)
        if not has_base:
            status = ADDED
        elif name not in head:
            status = REMOVED
        elif base_number is None or head_number is None:
            numeric = _numeric_like(base_value) or _numeric_like(head_value)
            status = INVALID if numeric or base_value != head_value else Status.UNCHANGED
        elif rule is None:
            status = UNJUDGED
        else:
            status = compare_metric(name, base_number, head_number, rule).value
        floor_ok = None
        if rule is not None and rule.floor is not None and name in head:
            floor_ok = head_number is not None and meets_floor(head_number, rule)
        rows.append(
            MetricRow(
                name=name,
                base=base_value,
                head=head_value,
                delta=change,
                delta_pct=pct,
                status=str(status),
                higher_is_better=rule.higher_is_better if rule else None,
                floor=rule.floor if rule else None,
                floor_ok=floor_ok,
            )
        )
    return rows


#: The per-class block of a multiclass metrics.json (gitml.tasks), and its statistics in order.
PER_CLASS_KEY = "per_class"
PER_CLASS_STATS = ("precision", "recall", "f1", "support")


@dataclass(frozen=True)
class ClassRow:
    """One class's precision, recall, F1 or support, base against head (multiclass runs)."""

    label: str
    stat: str
    base: Any
    head: Any
    delta: float | None


def split_per_class(
    metrics: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, Mapping[str, Any]]]:
    """The scalar metrics, and the per-class block (nested, or flattened as per_class.<c>.<stat>)."""
    if metrics is None:
        return None, {}
    scalars: dict[str, Any] = {}
    classes: dict[str, dict[str, Any]] = {}
    prefix = PER_CLASS_KEY + "."
    for key, value in metrics.items():
        if key == PER_CLASS_KEY and isinstance(value, Mapping):
            for label, stats in value.items():
                if isinstance(stats, Mapping):
                    classes.setdefault(str(label), {}).update(stats)
        elif key.startswith(prefix) and "." in key[len(prefix) :]:
            label, stat = key[len(prefix) :].rsplit(".", 1)
            classes.setdefault(label, {})[stat] = value
        else:
            scalars[key] = value
    return scalars, dict(classes)


def diff_per_class(
    base: Mapping[str, Mapping[str, Any]] | None, head: Mapping[str, Mapping[str, Any]]
) -> list[ClassRow]:
    """Rows per class and statistic (precision, recall, F1, support), classes in head's order."""
    old = base or {}
    labels = list(head) + [c for c in old if c not in head]
    rows: list[ClassRow] = []
    for label in labels:
        for stat in PER_CLASS_STATS:
            b, h = (old.get(label) or {}).get(stat), (head.get(label) or {}).get(stat)
            if b is None and h is None:
                continue
            rows.append(ClassRow(label, stat, b, h, delta(b, h)[0]))
    return rows


def _numeric_like(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Verdict:
    """The overall judgement: `regressed` fails; everything else passes."""

    status: (
        str  # regressed | improved | within_tolerance | unchanged | no_baseline | not_comparable
    )
    passed: bool
    reasons: tuple[str, ...]

    @property
    def headline(self) -> str:
        return {
            "regressed": "❌ Regressed",
            "improved": "✅ Improved",
            "within_tolerance": "✅ Within tolerance",
            "unchanged": "✅ Unchanged",
            "no_significant_change": "✅ No significant change",
            "not_comparable": "⚠️ Not comparable",
            "no_baseline": "🆕 No baseline",
        }[self.status]


def verdict(rows: Sequence[MetricRow], has_baseline: bool) -> Verdict:
    """Judge the whole change from the metric rows of metrics that have a rule.

    Fails on a regression beyond tolerance, a broken floor, a judged metric that went missing, or
    a judged metric whose head value is not a finite number.
    """
    reasons: list[str] = []
    for row in rows:
        if row.higher_is_better is None:
            continue
        if row.status == Status.REGRESSED:
            reasons.append(f"{row.name} regressed ({fmt_delta(row.delta)})")
        elif row.status == REMOVED:
            reasons.append(f"{row.name} is missing at head")
        elif row.status in (INVALID, ADDED) and number(row.head) is None:
            reasons.append(f"{row.name} is not a finite number at head ({fmt(row.head)})")
        if row.floor_ok is False and number(row.head) is not None:
            bound = ">=" if row.higher_is_better else "<="
            reasons.append(f"{row.name} {fmt(row.head)} breaks its floor ({bound} {row.floor:g})")
    if reasons:
        return Verdict("regressed", False, tuple(reasons))
    if not has_baseline:
        return Verdict("no_baseline", True, ("no baseline to compare with: new values only",))
    statuses = {row.status for row in rows if row.higher_is_better is not None}
    improved = [row.name for row in rows if row.status == Status.IMPROVED]
    within = [row.name for row in rows if row.status == Status.WITHIN_TOLERANCE]
    if Status.IMPROVED in statuses:
        note = f"improved: {', '.join(improved)}"
        if within:
            note += f"; within tolerance: {', '.join(within)}"
        return Verdict("improved", True, (note,))
    if Status.WITHIN_TOLERANCE in statuses:
        return Verdict("within_tolerance", True, (f"within tolerance: {', '.join(within)}",))
    return Verdict("unchanged", True, ("no metric moved beyond its minimum change",))


#: Row statuses that are a judgement of base against head (withdrawn when not comparable).
_JUDGED = frozenset({Status.IMPROVED, Status.REGRESSED, Status.WITHIN_TOLERANCE, Status.UNCHANGED})


def not_comparable(
    rows: Sequence[MetricRow], reasons: Sequence[str]
) -> tuple[list[MetricRow], Verdict]:
    """Rows and verdict when base and head measured different data: no improved/regressed.

    Values and deltas stay (for information); judged statuses become `not_comparable`; floors are
    absolute, so a broken one is still named, but nothing fails.
    """
    out = [
        dataclasses.replace(row, status=NOT_COMPARABLE) if row.status in _JUDGED else row
        for row in rows
    ]
    notes = list(reasons)
    for row in rows:
        if row.floor_ok is False and number(row.head) is not None:
            bound = ">=" if row.higher_is_better else "<="
            notes.append(f"{row.name} {fmt(row.head)} breaks its floor ({bound} {row.floor:g})")
    return out, Verdict(NOT_COMPARABLE, True, tuple(notes))
