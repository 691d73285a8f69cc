"""The pure core of `gitml report`: diff two snapshots of a project and judge the change.

Everything here takes plain data (what the adapter read at each revision) and returns plain
dataclasses; nothing reads files, git, DVC or the clock. Metric statuses come from
`gitml.compare.compare_metric` with the rules in conf/gitml.yaml.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitml.compare import MetricRule, Status, compare_metric, meets_floor

#: Statuses beyond compare.py's four, for rows it cannot judge.
ADDED = "added"  # head only (a new metric, or no baseline at all)
REMOVED = "removed"  # base only
INVALID = "invalid"  # a side is not a finite number (NaN, Infinity, text)
UNJUDGED = "unjudged"  # no rule in conf/gitml.yaml

#: Plots drawn as lines: file stem -> (title, x field, y field).
LINE_PLOTS: dict[str, tuple[str, str, str]] = {
    "roc": ("ROC", "fpr", "tpr"),
    "prc": ("Precision-recall", "recall", "precision"),
    "calibration": ("Calibration", "mean_predicted", "fraction_positive"),
}
#: Slice statistics and their direction (True: higher is better, None: neutral).
SLICE_GROUP_STATS: dict[str, bool | None] = {
    "count": None,
    "selection_rate": None,
    "tpr": True,
    "fpr": False,
}
SLICE_GAPS = ("demographic_parity_difference", "equalized_odds_difference")


# ---------------------------------------------------------------------------------------------
# Values


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
        import json

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
    b, h = number(base), number(head)
    if b is None or h is None:
        return None, None
    d: float = h - b
    if isinstance(base, int) and isinstance(head, int):
        d = int(head - base)
    return d, (d / abs(b) * 100.0 if b != 0 else None)


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


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Snapshot:
    """What the adapter read at one revision. None for a file that does not exist there."""

    label: str  # "workspace", a short sha, or an experiment name
    rev: str | None  # full sha; None for the workspace
    metrics: Mapping[str, Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    lock: Mapping[str, Any] | None = None
    validation: Mapping[str, Any] | None = None
    slices: Mapping[str, Any] | None = None
    importance: Mapping[str, Any] | None = None
    plots: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Metrics


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
        b = base.get(name) if base is not None else None
        h = head.get(name)
        d, pct = delta(b, h)
        hv, bv = number(h), number(b)
        if not has_base:
            status = ADDED
        elif name not in head:
            status = REMOVED
        elif bv is None or hv is None:
            status = INVALID if _numeric_like(b) or _numeric_like(h) or b != h else Status.UNCHANGED
        elif rule is None:
            status = UNJUDGED
        else:
            status = compare_metric(name, bv, hv, rule).value
        floor_ok = None
        if rule is not None and rule.floor is not None and name in head:
            floor_ok = hv is not None and meets_floor(hv, rule)
        rows.append(
            MetricRow(
                name=name,
                base=b,
                head=h,
                delta=d,
                delta_pct=pct,
                status=str(status),
                higher_is_better=rule.higher_is_better if rule else None,
                floor=rule.floor if rule else None,
                floor_ok=floor_ok,
            )
        )
    return rows


def _numeric_like(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Verdict:
    """The overall judgement: `regressed` fails; everything else passes."""

    status: str  # regressed | improved | within_tolerance | unchanged | no_baseline
    passed: bool
    reasons: tuple[str, ...]

    @property
    def headline(self) -> str:
        return {
            "regressed": "❌ Regressed",
            "improved": "✅ Improved",
            "within_tolerance": "✅ Within tolerance",
            "unchanged": "✅ Unchanged",
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


# ---------------------------------------------------------------------------------------------
# Params


@dataclass(frozen=True)
class ParamChange:
    """One changed param (dotted key), or a Hydra group choice (`model`, from `model.name`)."""

    key: str
    base: Any
    head: Any
    kind: str  # changed | added | removed
    group: bool = False

    @property
    def arrow(self) -> str:
        return f"{fmt(self.base)} → {fmt(self.head)}"


_MISSING = object()


def diff_params(base: Mapping[str, Any] | None, head: Mapping[str, Any]) -> list[ParamChange]:
    """Changed keys only, Hydra group choices first (`model.name` shown as `model`)."""
    old = flatten(base or {})
    new = flatten(head)
    groups: list[ParamChange] = []
    rest: list[ParamChange] = []
    for key in sorted(set(old) | set(new)):
        b = old.get(key, _MISSING)
        h = new.get(key, _MISSING)
        if b == h and type(b) is type(h):
            continue
        kind = "added" if b is _MISSING else "removed" if h is _MISSING else "changed"
        change = ParamChange(
            key=key,
            base=None if b is _MISSING else b,
            head=None if h is _MISSING else h,
            kind=kind,
        )
        parts = key.split(".")
        if len(parts) == 2 and parts[1] == "name" and kind == "changed":
            groups.append(ParamChange(parts[0], change.base, change.head, kind, group=True))
        else:
            rest.append(change)
    return groups + rest


# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class OutChange:
    """One output recorded in dvc.lock whose content hash differs between the revisions."""

    path: str
    stage: str
    base_hash: str | None
    head_hash: str | None
    base_size: int | None
    head_size: int | None


@dataclass(frozen=True)
class SchemaChange:
    """One column whose presence, dtype or role differs in the validation reports."""

    column: str
    base: str | None  # "dtype/role", None when absent
    head: str | None


@dataclass(frozen=True)
class DataDiff:
    """Dataset hashes, code/input deps, row counts and schema, base against head."""

    outs: list[OutChange]
    deps: list[str]  # dependencies (code, external inputs) whose hash changed
    rows_base: int | None
    rows_head: int | None
    validation_base: bool | None
    validation_head: bool | None
    schema: list[SchemaChange]
    unchanged_outs: int

    @property
    def changed(self) -> bool:
        return bool(self.outs or self.deps or self.schema or self.rows_base != self.rows_head)


def _lock_entries(lock: Mapping[str, Any] | None, kind: str) -> dict[str, tuple[str, Any]]:
    """path -> (stage, entry) for every `outs` or `deps` entry in a dvc.lock mapping."""
    found: dict[str, tuple[str, Any]] = {}
    for stage, body in ((lock or {}).get("stages") or {}).items():
        for entry in (body or {}).get(kind) or []:
            if isinstance(entry, Mapping) and "path" in entry:
                found.setdefault(str(entry["path"]), (str(stage), entry))
    return found


def _hash(entry: Mapping[str, Any] | None) -> str | None:
    if entry is None:
        return None
    for key in ("md5", "etag", "checksum", "hash"):
        value = entry.get(key)
        if isinstance(value, str) and value not in ("md5",):
            return value
    return None


def diff_data(
    base_lock: Mapping[str, Any] | None,
    head_lock: Mapping[str, Any] | None,
    base_validation: Mapping[str, Any] | None,
    head_validation: Mapping[str, Any] | None,
    skip: Sequence[str] = (),
) -> DataDiff:
    """Compare dvc.lock outputs/dependencies and the validation reports.

    Args:
        skip: path prefixes to leave out of the hash table (report files diffed elsewhere).
    """
    old_outs, new_outs = _lock_entries(base_lock, "outs"), _lock_entries(head_lock, "outs")
    outs: list[OutChange] = []
    unchanged = 0
    for path in sorted(set(old_outs) | set(new_outs)):
        if any(path == s or path.startswith(s.rstrip("/") + "/") for s in skip):
            continue
        b = old_outs.get(path)
        h = new_outs.get(path)
        stage = h[0] if h is not None else b[0] if b is not None else ""
        bh, hh = _hash(b[1] if b else None), _hash(h[1] if h else None)
        if bh == hh:
            unchanged += 1
            continue
        outs.append(
            OutChange(
                path=path,
                stage=stage,
                base_hash=bh,
                head_hash=hh,
                base_size=b[1].get("size") if b else None,
                head_size=h[1].get("size") if h else None,
            )
        )
    old_deps, new_deps = _lock_entries(base_lock, "deps"), _lock_entries(head_lock, "deps")
    produced = set(old_outs) | set(new_outs)
    deps = sorted(
        path
        for path in set(old_deps) | set(new_deps)
        if path not in produced
        and base_lock is not None
        and _hash(old_deps.get(path, ("", None))[1]) != _hash(new_deps.get(path, ("", None))[1])
    )
    schema: list[SchemaChange] = []
    old_cols = (base_validation or {}).get("columns") or {}
    new_cols = (head_validation or {}).get("columns") or {}
    if base_validation is not None:
        for col in sorted(set(old_cols) | set(new_cols)):
            b_desc = _column(old_cols.get(col))
            h_desc = _column(new_cols.get(col))
            if b_desc != h_desc:
                schema.append(SchemaChange(col, b_desc, h_desc))
    return DataDiff(
        outs=outs,
        deps=deps,
        rows_base=_int_or_none((base_validation or {}).get("rows")),
        rows_head=_int_or_none((head_validation or {}).get("rows")),
        validation_base=(base_validation or {}).get("passed") if base_validation else None,
        validation_head=(head_validation or {}).get("passed") if head_validation else None,
        schema=schema,
        unchanged_outs=unchanged,
    )


def _column(raw: Any) -> str | None:
    if not isinstance(raw, Mapping):
        return None
    return f"{raw.get('dtype', '?')}/{raw.get('role', '?')}"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------------------------
# Slices and importance


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


def _direction(d: float | None, higher_is_better: bool | None, base: Any, head: Any) -> str:
    if base is None:
        return "new"
    if head is None:
        return "gone"
    if d is None:
        return "same" if base == head else "changed"
    if abs(d) < 1e-12:
        return "same"
    if higher_is_better is None:
        return "changed"
    return "better" if (d > 0) == higher_is_better else "worse"


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
                b, h = a_old.get(gap), a_new.get(gap)
                d, _ = delta(b, h)
                rows.append(SliceRow(attribute, "", gap, b, h, d, _direction(d, False, b, h)))
        g_old = a_old.get("groups") or {}
        g_new = a_new.get("groups") or {}
        for group in sorted(set(g_old) | set(g_new), key=str):
            s_old = g_old.get(group) or {}
            s_new = g_new.get(group) or {}
            for stat, better in SLICE_GROUP_STATS.items():
                if stat in s_old or stat in s_new:
                    b, h = s_old.get(stat), s_new.get(stat)
                    d, _ = delta(b, h)
                    change = _direction(d, better, b, h) if base is not None else "new"
                    rows.append(SliceRow(attribute, str(group), stat, b, h, d, change))
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
        b, h = old.get(feature), new.get(feature)
        d = h - b if b is not None and h is not None else None
        rows.append(ImportanceRow(feature, b, h, d, old_rank.get(feature), new_rank.get(feature)))
    if base is None:
        rows.sort(key=lambda r: (r.head_rank or math.inf, r.feature))
    else:
        rows.sort(key=lambda r: (-(abs(r.delta) if r.delta is not None else math.inf), r.feature))
    return rows[:top_k]


# ---------------------------------------------------------------------------------------------
# Plots


@dataclass(frozen=True)
class LinePlot:
    """One curve plot, base and head as (x, y) points sorted by x."""

    name: str
    title: str
    x: str
    y: str
    base: list[tuple[float, float]]
    head: list[tuple[float, float]]

    def sampled(
        self, points: int = 11
    ) -> tuple[list[float], list[float | None], list[float | None]]:
        """Both curves linearly interpolated on one evenly spaced x grid (for Mermaid)."""
        xs = [p[0] for p in self.base + self.head]
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        grid = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
        return grid, [_interp(self.base, x) for x in grid], [_interp(self.head, x) for x in grid]


def _interp(points: Sequence[tuple[float, float]], x: float) -> float | None:
    if not points:
        return None
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _series(
    records: Sequence[Mapping[str, Any]] | None, x: str, y: str
) -> list[tuple[float, float]]:
    out = []
    for record in records or []:
        xv, yv = number(record.get(x)), number(record.get(y))
        if xv is not None and yv is not None:
            out.append((xv, yv))
    # Stable sort by x, then y: ROC-like curves go up-right, so ties keep a monotone path.
    return sorted(out)


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix from per-row (actual, predicted) records, base and head counts."""

    labels: list[str]
    base: dict[tuple[str, str], int] | None
    head: dict[tuple[str, str], int] | None

    def cell(self, side: str, actual: str, predicted: str) -> int | None:
        counts = self.base if side == "base" else self.head
        return None if counts is None else counts.get((actual, predicted), 0)


def _confusion_counts(
    records: Sequence[Mapping[str, Any]] | None,
) -> dict[tuple[str, str], int] | None:
    if records is None:
        return None
    counts: dict[tuple[str, str], int] = {}
    for record in records:
        key = (str(record.get("actual")), str(record.get("predicted")))
        counts[key] = counts.get(key, 0) + 1
    return counts


def build_plots(
    base: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    head: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[list[LinePlot], Confusion | None]:
    """Line plots present on either side, and the confusion matrix when head has one."""
    old = base or {}
    lines = []
    for name, (title, x, y) in LINE_PLOTS.items():
        if name in head or name in old:
            lines.append(
                LinePlot(
                    name, title, x, y, _series(old.get(name), x, y), _series(head.get(name), x, y)
                )
            )
    confusion = None
    if "confusion" in head or "confusion" in old:
        b = _confusion_counts(old.get("confusion"))
        h = _confusion_counts(head.get("confusion"))
        labels = sorted({k for counts in (b or {}, h or {}) for pair in counts for k in pair})
        confusion = Confusion(labels, b, h)
    return lines, confusion


# ---------------------------------------------------------------------------------------------
# The two-revision report


@dataclass(frozen=True)
class Report:
    """Everything a two-revision report shows."""

    base: Snapshot | None
    head: Snapshot
    metrics: list[MetricRow]
    verdict: Verdict
    params: list[ParamChange]
    data: DataDiff
    slices: list[SliceRow]
    importance: list[ImportanceRow]
    plots: list[LinePlot]
    confusion: Confusion | None
    primary_metric: str
    top_k: int
    notes: tuple[str, ...] = ()

    @property
    def has_baseline(self) -> bool:
        return self.base is not None and self.base.metrics is not None


def build_report(
    base: Snapshot | None,
    head: Snapshot,
    rules: Mapping[str, MetricRule],
    *,
    primary_metric: str,
    top_k: int,
    skip_outs: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> Report:
    """Diff `head` against `base` (None, or a base without metrics: no baseline yet)."""
    base_metrics = base.metrics if base is not None else None
    rows = diff_metrics(base_metrics, head.metrics or {}, rules)
    has_baseline = base_metrics is not None
    lines, confusion = build_plots(base.plots if base else None, head.plots)
    return Report(
        base=base,
        head=head,
        metrics=rows,
        verdict=verdict(rows, has_baseline),
        params=diff_params(base.params if base else None, head.params),
        data=diff_data(
            base.lock if base else None,
            head.lock,
            base.validation if base else None,
            head.validation,
            skip=skip_outs,
        ),
        slices=diff_slices(base.slices if base and has_baseline else None, head.slices),
        importance=diff_importance(
            base.importance if base and has_baseline else None, head.importance, top_k
        ),
        plots=lines,
        confusion=confusion,
        primary_metric=primary_metric,
        top_k=top_k,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Multi-experiment comparison


@dataclass(frozen=True)
class ExpRow:
    """One experiment in the comparison table."""

    name: str
    rev: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    best: frozenset[str]  # metrics on which this experiment is best


@dataclass(frozen=True)
class Comparison:
    """The multi-experiment table: differing params, all metrics, best marked, sorted."""

    rows: list[ExpRow]
    param_keys: list[str]
    metric_keys: list[str]
    primary_metric: str
    higher_is_better: dict[str, bool]


def compare_experiments(
    experiments: Sequence[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]],
    rules: Mapping[str, MetricRule],
    primary_metric: str,
) -> Comparison:
    """Build the table from (name, rev, params, metrics) tuples.

    Params: only dotted keys whose value differs between experiments. Metrics: all of them,
    policy metrics first. Best per metric by the rule's direction (ties all marked). Sorted by the
    primary metric, best first; experiments without a finite primary value go last, by name.
    """
    flat = [(n, r, flatten(p), dict(m)) for n, r, p, m in experiments]
    keys = sorted({k for _, _, p, _ in flat for k in p})
    differing = [k for k in keys if len({_key(p.get(k, _MISSING)) for _, _, p, _ in flat}) > 1]
    present = {k for _, _, _, m in flat for k in m}
    metric_keys = [k for k in rules if k in present] + sorted(present - set(rules))
    direction = {k: rules[k].higher_is_better for k in metric_keys if k in rules}
    best: dict[str, float] = {}
    for key, higher in direction.items():
        values = [v for _, _, _, m in flat if (v := number(m.get(key))) is not None]
        if values:
            best[key] = max(values) if higher else min(values)
    rows = [
        ExpRow(
            name=n,
            rev=r,
            params={k: p.get(k) for k in differing},
            metrics=m,
            best=frozenset(
                k for k, v in best.items() if number(m.get(k)) is not None and abs(m[k] - v) < 1e-12
            ),
        )
        for n, r, p, m in flat
    ]
    higher = direction.get(primary_metric, True)

    def order(row: ExpRow) -> tuple[int, float, str]:
        value = number(row.metrics.get(primary_metric))
        if value is None:
            return (1, 0.0, row.name)
        return (0, -value if higher else value, row.name)

    rows.sort(key=order)
    return Comparison(rows, differing, metric_keys, primary_metric, direction)


def _key(value: Any) -> str:
    if value is _MISSING:
        return "<missing>"
    return f"{type(value).__name__}:{value!r}"
