"""The pure core of `gitml report`: diff two snapshots of a project and judge the change.

Everything here takes plain data (what the adapter read at each revision) and returns plain
dataclasses; nothing reads files, git, DVC or the clock. Metric statuses come from
`gitml.compare.compare_metric` with the rules in conf/gitml.yaml.

This module assembles the report; the diffs live in `values` (numbers, formats, deltas),
`metrics` (metric rows and the verdict), `changes` (params and data), `slices` (slices and
importance), `plots` (curves and the confusion matrix) and `experiments` (the multi-experiment
table). Their public names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitml.compare import MetricRule
from gitml.intervals import Settings
from gitml.report.changes import (
    DataDiff,
    OutChange,
    ParamChange,
    SchemaChange,
    diff_data,
    diff_params,
)
from gitml.report.comparable import (
    COMPARABLE,
    Comparability,
    EvalRows,
    comparability,
    evaluation_rows,
)
from gitml.report.experiments import (
    Comparison,
    ExpRow,
    combine,
    compare_by_problem,
    compare_experiments,
)
from gitml.report.intervals import adjust_verdict, judge, threshold_of
from gitml.report.metrics import (
    ADDED,
    INVALID,
    NOT_COMPARABLE,
    REMOVED,
    UNJUDGED,
    ClassRow,
    MetricRow,
    Verdict,
    diff_metrics,
    diff_per_class,
    not_comparable,
    split_per_class,
    verdict,
)
from gitml.report.plots import LINE_PLOTS, Confusion, LinePlot, build_plots
from gitml.report.slices import (
    SLICE_GAPS,
    SLICE_GROUP_STATS,
    ImportanceRow,
    SliceRow,
    diff_importance,
    diff_slices,
)
from gitml.report.values import delta, flatten, fmt, fmt_delta, fmt_pct, number

__all__ = [
    "ADDED",
    "INVALID",
    "LINE_PLOTS",
    "NOT_COMPARABLE",
    "REMOVED",
    "SLICE_GAPS",
    "SLICE_GROUP_STATS",
    "UNJUDGED",
    "ClassRow",
    "Comparability",
    "Comparison",
    "Confusion",
    "DataDiff",
    "EvalRows",
    "ExpRow",
    "ImportanceRow",
    "LinePlot",
    "MetricRow",
    "OutChange",
    "ParamChange",
    "Report",
    "SchemaChange",
    "SliceRow",
    "Snapshot",
    "Verdict",
    "build_plots",
    "build_report",
    "combine",
    "comparability",
    "compare_by_problem",
    "compare_experiments",
    "delta",
    "diff_data",
    "diff_importance",
    "diff_metrics",
    "diff_params",
    "diff_slices",
    "evaluation_rows",
    "flatten",
    "fmt",
    "fmt_delta",
    "fmt_pct",
    "number",
    "verdict",
]


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
    #: Per-row test predictions (a pandas DataFrame) and the model signature, when present.
    predictions: Any = None
    signature: Mapping[str, Any] | None = None
    #: The seed_noise stage's record (each metric under several estimator seeds), when present.
    seed_noise: Mapping[str, Any] | None = None


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
    #: How the metrics were judged (gitml.report.intervals.IntervalSummary); None: point values.
    intervals: Any = None
    #: Per-class precision, recall, F1 and support (multiclass runs; empty otherwise).
    per_class: list[ClassRow] = field(default_factory=list)
    comparability: Comparability = COMPARABLE

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
    statistics: Settings | None = None,
    metrics_path: str = "reports/metrics.json",
    rows: tuple[EvalRows | None, EvalRows | None] | None = None,
) -> Report:
    """Diff `head` against `base` (None, or a base without metrics: no baseline yet).

    When base and head measured different data (dataset, target, task or test rows, see
    `gitml.report.comparable`), the verdict is `not_comparable`: no improved/regressed. Otherwise,
    with `statistics`, judged metrics get paired-bootstrap intervals from the snapshots' per-row
    predictions (`gitml.report.intervals`); without, point values are compared.

    Args:
        metrics_path: the metrics file, to find the evaluating stage (and its data) in dvc.lock.
        rows: (base, head) evaluation rows when the caller read them (with row counts); else
            they come from each side's dvc.lock.
    """
    base_metrics, base_classes = split_per_class(base.metrics if base is not None else None)
    head_metrics, head_classes = split_per_class(head.metrics or {})
    metric_rows = diff_metrics(base_metrics, head_metrics or {}, rules)
    has_baseline = base_metrics is not None
    comparable = COMPARABLE
    if base is not None and has_baseline:
        base_rows, head_rows = rows or (
            evaluation_rows(base.lock, metrics_path),
            evaluation_rows(head.lock, metrics_path),
        )
        comparable = comparability(base.params, head.params, base_rows, head_rows)
    summary = None
    if not comparable.comparable:
        metric_rows, judged = not_comparable(metric_rows, comparable.reasons)
    else:
        if statistics is not None and base is not None and has_baseline:
            metric_rows, summary = judge(
                metric_rows,
                base.predictions,
                head.predictions,
                rules,
                statistics,
                base_label=base.label,
                head_label=head.label,
                thresholds=(threshold_of(base.signature), threshold_of(head.signature)),
                seed_noise=(base.seed_noise, head.seed_noise),
            )
        judged = verdict(metric_rows, has_baseline)
        if summary is not None:
            judged = adjust_verdict(judged, metric_rows, summary)
            notes = [*notes, summary.note]
    lines, confusion = build_plots(base.plots if base else None, head.plots)
    return Report(
        base=base,
        head=head,
        metrics=metric_rows,
        verdict=judged,
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
        intervals=summary,
        per_class=diff_per_class(base_classes if has_baseline else None, head_classes),
        comparability=comparable,
    )
