"""The multi-experiment table: differing params, all metrics, the best marked, sorted.

Experiments trained for different problems (dataset, target, task: `gitml.problem`) are not
ranked against each other: `compare_by_problem` builds one table per problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitml.compare import MetricRule
from gitml.problem import PROBLEM_KEYS, data_section, describe, differences
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
    #: The problem these experiments were trained for, when the comparison spans several
    #: ("dataset engel, target foodexp (regression)"; None: one problem, no heading).
    problem: str | None = None
    #: The tables of the other problems' experiments (ranked on their own), when there are any.
    others: tuple[Comparison, ...] = ()


#: (name, rev, params, metrics) of one experiment.
Experiment = tuple[str, str, Mapping[str, Any], Mapping[str, Any]]


def compare_experiments(
    experiments: Sequence[Experiment],
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


def problem_groups(
    experiments: Sequence[Experiment],
) -> list[tuple[dict[str, Any], list[Experiment]]]:
    """The experiments grouped by problem (params' `data:` sections), in first-seen order.

    An experiment joins the first group whose problem `gitml.problem.differences` finds no
    difference with (a key one side does not declare is not held against the other), so
    experiments without a `data:` section join the first group.
    """
    groups: list[tuple[dict[str, Any], list[Experiment]]] = []
    for exp in experiments:
        data = data_section(exp[2])
        for problem, members in groups:
            if not differences(problem, data):
                members.append(exp)
                for key, _ in PROBLEM_KEYS:  # the group's problem: every key a member declares
                    if problem.get(key) is None and data.get(key) is not None:
                        problem[key] = data[key]
                break
        else:
            groups.append(({k: data.get(k) for k, _ in PROBLEM_KEYS}, [exp]))
    return groups


def compare_by_problem(
    experiments: Sequence[Experiment],
    rules: Mapping[str, MetricRule],
    primary_metric: Callable[[Sequence[Mapping[str, Any]]], str],
) -> list[Comparison]:
    """One `compare_experiments` table per problem (`problem_groups`), the first group first.

    `primary_metric` picks a group's primary metric from its experiments' metrics (the task
    decides it). With one problem, the one table has no `problem` heading: the usual case.
    """
    groups = problem_groups(experiments)
    tables = [
        compare_experiments(members, rules, primary_metric([m for *_, m in members]))
        for _, members in groups
    ]
    if len(tables) == 1:
        return tables
    return [
        dataclasses.replace(table, problem=describe(problem))
        for table, (problem, _) in zip(tables, groups, strict=True)
    ]


def combine(tables: Sequence[Comparison]) -> Comparison:
    """The first problem's table, carrying the other problems' tables in `others`."""
    return dataclasses.replace(tables[0], others=tuple(tables[1:]))


def _key(value: Any) -> str:
    if value is MISSING:
        return "<missing>"
    return f"{type(value).__name__}:{value!r}"
