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
from gitml.report.experiments import Comparison, ExpRow, compare_experiments
from gitml.report.metrics import (
    ADDED,
    INVALID,
    NOT_COMPARABLE,
    REMOVED,
    UNJUDGED,
    MetricRow,
    Verdict,
    diff_metrics,
    not_comparable,
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
    "comparability",
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
    metrics_path: str = "reports/metrics.json",
    rows: tuple[EvalRows | None, EvalRows | None] | None = None,
) -> Report:
    """Diff `head` against `base` (None, or a base without metrics: no baseline yet).

    When base and head measured different data (dataset, target, task or test rows, see
    `gitml.report.comparable`), the verdict is `not_comparable`: no improved/regressed.

    Args:
        metrics_path: the metrics file, to find the evaluating stage (and its data) in dvc.lock.
        rows: (base, head) evaluation rows when the caller read them (with row counts); else
            they come from each side's dvc.lock.
    """
    base_metrics = base.metrics if base is not None else None
    metric_rows = diff_metrics(base_metrics, head.metrics or {}, rules)
    has_baseline = base_metrics is not None
    comparable = COMPARABLE
    if base is not None and has_baseline:
        base_rows, head_rows = rows or (
            evaluation_rows(base.lock, metrics_path),
            evaluation_rows(head.lock, metrics_path),
        )
        comparable = comparability(base.params, head.params, base_rows, head_rows)
    if comparable.comparable:
        judged = verdict(metric_rows, has_baseline)
    else:
        metric_rows, judged = not_comparable(metric_rows, comparable.reasons)
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
        comparability=comparable,
    )
