"""The report's statistics: interval statuses for metric rows, the verdict, the experiments table.

Pure: takes the per-row predictions the adapter read at each revision (None where the file does
not exist, e.g. an old commit) and returns plain data. The status of a judged metric becomes

- "improved" / "regressed": the 95% paired-bootstrap interval of head − base (on large test sets
  its normal approximation) excludes zero AND the change reaches the policy minimum
  (`gitml.intervals`);
- "no significant change": anything else;
- "not comparable": both revisions have predictions but not on the same test rows;

and without predictions at a revision the rows keep today's point comparison, with a note.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gitml.compare import MetricRule
from gitml.intervals import (
    METHOD_NAMES,
    NO_SIGNIFICANT_CHANGE,
    NOT_COMPARABLE,
    MetricInterval,
    Settings,
    metric_intervals,
    seed_values,
    with_seed_means,
)
from gitml.predictions import pair
from gitml.report.experiments import Comparison
from gitml.report.metrics import ADDED, INVALID, REMOVED, MetricRow, Verdict
from gitml.report.values import number

#: How the rows were judged.
BOOTSTRAP = "bootstrap"
POINT = "point"


@dataclass(frozen=True)
class IntervalSummary:
    """How the report judged its metrics, with what, and the decision thresholds."""

    mode: str  # bootstrap (any interval method) | point | not comparable
    note: str
    rows: int | None = None
    resamples: int | None = None  # 0: the normal approximation, no resamples
    confidence: float | None = None
    seed: int | None = None
    base_threshold: float | None = None
    head_threshold: float | None = None
    metrics: Mapping[str, MetricInterval] = field(default_factory=dict)
    method: str | None = None  # MetricInterval.method of the judged metrics

    @property
    def threshold_changed(self) -> bool:
        return self.base_threshold != self.head_threshold


def threshold_of(signature: Mapping[str, Any] | None) -> float | None:
    """The decision threshold recorded in a signature (None: none recorded)."""
    value = (signature or {}).get("threshold")
    return number(value)


def judge(
    rows: Sequence[MetricRow],
    base_predictions: pd.DataFrame | None,
    head_predictions: pd.DataFrame | None,
    rules: Mapping[str, MetricRule],
    settings: Settings,
    *,
    base_label: str = "base",
    head_label: str = "head",
    thresholds: tuple[float | None, float | None] = (None, None),
    seed_noise: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None] = (None, None),
) -> tuple[list[MetricRow], IntervalSummary]:
    """Re-judge the judged metric rows from the paired predictions (see the module docstring).

    `seed_noise`: each side's seed_noise record (reports/seed_noise.json), None where absent.
    """
    missing = [
        label
        for label, frame in ((base_label, base_predictions), (head_label, head_predictions))
        if frame is None
    ]
    if missing:
        note = (
            f"per-row predictions are missing at {' and '.join(missing)} (older pipeline): "
            "metrics are compared as point values, without confidence intervals"
        )
        return list(rows), IntervalSummary(
            POINT, note, base_threshold=thresholds[0], head_threshold=thresholds[1]
        )
    assert base_predictions is not None and head_predictions is not None
    paired = pair(base_predictions, head_predictions)
    if isinstance(paired, str):
        note = f"not comparable: {paired}, so no change can be judged on shared rows"
        out = [dataclasses.replace(r, status=NOT_COMPARABLE) if _judgeable(r) else r for r in rows]
        return out, IntervalSummary(
            NOT_COMPARABLE, note, base_threshold=thresholds[0], head_threshold=thresholds[1]
        )
    names = [r.name for r in rows if _judgeable(r)]
    found = metric_intervals(paired, names, rules, settings)
    found = {
        name: with_seed_means(
            interval,
            seed_values(seed_noise[0], name),
            seed_values(seed_noise[1], name),
            rules.get(name),
        )
        for name, interval in found.items()
    }
    out = []
    for row in rows:
        interval = found.get(row.name)
        if interval is not None and _judgeable(row):
            row = dataclasses.replace(row, status=interval.status, interval=interval)
        out.append(row)
    pct = f"{settings.confidence:.0%}"
    normal = any(i.method == METHOD_NAMES["normal"] for i in found.values())
    if normal:
        how = (
            f"normal approximation of the paired bootstrap (delta method), used from "
            f"{settings.normal_min_rows:,} rows"
        )
    else:
        how = f"{settings.resamples:,} resamples, seed {settings.seed}"
    note = (
        f"statuses from {pct} paired-bootstrap intervals on the {paired.rows:,} shared test rows "
        f"({how})"
    )
    if any(i.delong for i in found.values()):
        note += "; ROC AUC cross-checked with DeLong's test"
    seeded = _seed_note(found.values(), seed_noise, (base_label, head_label))
    if seeded:
        note += f"; {seeded}"
    return out, IntervalSummary(
        BOOTSTRAP,
        note,
        rows=paired.rows,
        resamples=0 if normal else settings.resamples,
        method=METHOD_NAMES["normal" if normal else "bootstrap"] if found else None,
        confidence=settings.confidence,
        seed=settings.seed,
        base_threshold=thresholds[0],
        head_threshold=thresholds[1],
        metrics=found,
    )


def _seed_note(
    found: Iterable[MetricInterval],
    records: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None],
    labels: tuple[str, str],
) -> str:
    """How estimator-seed noise entered the statuses, '' when no side measured it."""
    seeded = [i for i in found if i.seeds is not None]
    if seeded:
        nb, nh = seeded[0].seeds or (0, 0)
        names = ", ".join(i.metric for i in seeded)
        return (
            f"{names} judged on the mean over estimator seeds ({nb} at {labels[0]}, {nh} at "
            f"{labels[1]}; the interval adds the spread between seeds, Welch-Satterthwaite t)"
        )
    missing = [label for label, r in zip(labels, records, strict=True) if not r]
    if missing and len(missing) < 2:
        return (
            f"estimator-seed noise not measured at {missing[0]} (no seed_noise record), so one "
            "seed's luck counts as a change"
        )
    return ""


def _judgeable(row: MetricRow) -> bool:
    return row.higher_is_better is not None and row.status not in (ADDED, REMOVED, INVALID)


def adjust_verdict(
    verdict: Verdict, rows: Sequence[MetricRow], summary: IntervalSummary
) -> Verdict:
    """The verdict in the interval vocabulary (a regression or broken floor still fails)."""
    if not verdict.passed or verdict.status in ("improved", "no_baseline"):
        return verdict
    judged = [r for r in rows if r.higher_is_better is not None]
    if summary.mode == NOT_COMPARABLE and judged:
        return Verdict("not_comparable", True, (summary.note,))
    if summary.mode == BOOTSTRAP and any(r.status == NO_SIGNIFICANT_CHANGE for r in judged):
        return Verdict(
            "no_significant_change",
            True,
            ("no judged metric's interval excludes zero with a change above its minimum",),
        )
    return verdict


# -- the multi-experiment table -----------------------------------------------------------------


def indistinguishable_from_best(
    names: Sequence[str],
    predictions: Mapping[str, pd.DataFrame | None],
    best: str | None,
    metric: str,
    rule: MetricRule | None,
    settings: Settings,
    seed_noise: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> dict[str, bool | None]:
    """Per experiment: whether the interval of (it − best) on `metric` includes 0.

    True for the best itself; None where predictions are missing or rows are not shared. Where
    both experiments have seed_noise records, the difference is that of the seed means.
    """
    records = seed_noise or {}
    out: dict[str, bool | None] = {n: None for n in names}
    if best is None or predictions.get(best) is None:
        return out
    best_frame = predictions[best]
    assert best_frame is not None
    out[best] = True
    rules = {metric: rule} if rule is not None else {}
    for name in names:
        frame = predictions.get(name)
        if name == best or frame is None:
            continue
        paired = pair(best_frame, frame)
        if isinstance(paired, str):
            continue
        found = metric_intervals(paired, [metric], rules, settings).get(metric)
        if found is not None:
            found = with_seed_means(
                found,
                seed_values(records.get(best), metric),
                seed_values(records.get(name), metric),
                rule,
            )
        if found is None or not (math.isfinite(found.low) and math.isfinite(found.high)):
            continue
        out[name] = found.low <= 0.0 <= found.high
    return out


def mark_comparison(
    comparison: Comparison,
    predictions: Mapping[str, pd.DataFrame | None],
    rule: MetricRule | None,
    settings: Settings,
    seed_noise: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> Comparison:
    """The table with each row marked indistinguishable (or not) from the best on the primary
    metric; the best is the first row (the table is sorted by the primary metric)."""
    metric = comparison.primary_metric
    rows = comparison.rows
    first = rows[0] if rows and number(rows[0].metrics.get(metric)) is not None else None
    names = [r.name for r in rows]
    found = indistinguishable_from_best(
        names, predictions, first.name if first else None, metric, rule, settings, seed_noise
    )
    marked = [dataclasses.replace(r, indistinguishable=found.get(r.name)) for r in rows]
    judged = sum(v is not None for v in found.values())
    pct = f"{settings.confidence:.0%}"
    note = (
        f"≈ best: the {pct} paired-bootstrap interval of the difference to the best on "
        f"`{metric}` includes 0 ({settings.resamples:,} resamples on shared test rows; its normal "
        f"approximation from {settings.normal_min_rows:,} rows; on the mean over estimator "
        "seeds where both have a seed_noise record); "
        f"{len(rows) - judged} experiment(s) without shared per-row predictions are not judged"
    )
    return dataclasses.replace(comparison, rows=marked, statistics_note=note)
