"""The multi-experiment table: differing params, all metrics, the best marked, sorted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitml.compare import MetricRule
from gitml.report.values import MISSING, flatten, number


@dataclass(frozen=True)
class ExpRow:
    """One experiment in the comparison table."""

    name: str
    rev: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    best: frozenset[str]  # metrics on which this experiment is best
    #: Whether the interval of (this − best) on the primary metric includes 0 (None: unknown).
    indistinguishable: bool | None = None


@dataclass(frozen=True)
class Comparison:
    """The multi-experiment table: differing params, all metrics, best marked, sorted."""

    rows: list[ExpRow]
    param_keys: list[str]
    metric_keys: list[str]
    primary_metric: str
    higher_is_better: dict[str, bool]
    #: A note on how `indistinguishable` was judged (None: not judged).
    statistics_note: str | None = None


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
    flat = [
        (name, rev, flatten(params), dict(metrics)) for name, rev, params, metrics in experiments
    ]
    keys = sorted({k for _, _, params, _ in flat for k in params})
    differing = [
        k for k in keys if len({_key(params.get(k, MISSING)) for _, _, params, _ in flat}) > 1
    ]
    present = {k for _, _, _, metrics in flat for k in metrics}
    metric_keys = [k for k in rules if k in present] + sorted(present - set(rules))
    direction = {k: rules[k].higher_is_better for k in metric_keys if k in rules}
    best: dict[str, float] = {}
    for key, higher in direction.items():
        values = [v for _, _, _, metrics in flat if (v := number(metrics.get(key))) is not None]
        if values:
            best[key] = max(values) if higher else min(values)
    rows = [
        ExpRow(
            name=name,
            rev=rev,
            params={k: params.get(k) for k in differing},
            metrics=metrics,
            best=frozenset(
                k
                for k, v in best.items()
                if number(metrics.get(k)) is not None and abs(metrics[k] - v) < 1e-12
            ),
        )
        for name, rev, params, metrics in flat
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
    if value is MISSING:
        return "<missing>"
    return f"{type(value).__name__}:{value!r}"
