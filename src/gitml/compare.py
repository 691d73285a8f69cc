"""Pure metric comparison and promotion gates, shared by `gitml report` and `gitml model promote`.

A metric change is judged by its rule (from `metrics:` in conf/gitml.yaml):

- `improved`: the gain reaches both `min_absolute_change` and `min_relative_change` × |base|;
- `unchanged`: the change is smaller than that in either direction (noise);
- `within_tolerance`: a loss beyond noise but no larger than `tolerance` (non-inferiority);
- `regressed`: a loss larger than `tolerance`.

Promotion gates judge a candidate against the stage's champion only when both were trained for
the same problem (`gitml.problem`: data config name, target and task, as `gitml report` checks
them); a gate that does not apply says so (status "not applicable", shown as n/a).

Nothing here reads files, git or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gitml import problem, tasks
from gitml.intervals import (
    FAIRNESS_RATES,
    NOT_COMPARABLE,
    GapJudgement,
    MetricInterval,
    Settings,
    is_non_inferior,
    judge_gap,
    metric_intervals,
)
from gitml.predictions import pair
from gitml.rules import MetricRule

if TYPE_CHECKING:
    from gitml.policy import GatePolicy

#: Slack for float round-off when a change sits exactly on a threshold.
EPSILON = 1e-12

#: A gate's status when it does not apply to the candidate (its task, or no sensitive column).
NOT_APPLICABLE = "not applicable"
#: The gate that fails when the champion was trained for another dataset, target or task.
COMPARABLE_GATE = "comparable"


class Status(StrEnum):
    """The verdict on one metric, candidate (head) against baseline (base)."""

    IMPROVED = "improved"
    REGRESSED = "regressed"
    UNCHANGED = "unchanged"
    WITHIN_TOLERANCE = "within_tolerance"


def gain(base: float, head: float, rule: MetricRule) -> float:
    """The change from base to head, positive when head is better."""
    delta = head - base
    return delta if rule.higher_is_better else -delta


def compare_metric(name: str, base: float, head: float, rule: MetricRule) -> Status:
    """Judge the change of metric `name` from `base` (champion) to `head` (candidate).

    Raises:
        ValueError: when either value is not a finite number.
    """
    for label, value in (("base", base), ("head", head)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"metric '{name}': {label} value {value!r} is not a finite number")
    change = gain(base, head, rule)
    noise = max(rule.min_absolute_change, rule.min_relative_change * abs(base))
    if change < 0 and -change > rule.tolerance + EPSILON:
        return Status.REGRESSED
    if change > 0 and change + EPSILON >= noise:
        return Status.IMPROVED
    if change >= 0 or -change + EPSILON < noise:
        return Status.UNCHANGED
    return Status.WITHIN_TOLERANCE


def meets_floor(value: float, rule: MetricRule) -> bool:
    """Whether `value` respects the rule's absolute floor (a maximum when lower is better)."""
    if rule.floor is None:
        return True
    if rule.higher_is_better:
        return value + EPSILON >= rule.floor
    return value - EPSILON <= rule.floor


@dataclass(frozen=True)
class Evidence:
    """What a version's commit says about it: metrics, fairness slices, validation and params.

    `predictions` (a DataFrame of per-row test predictions, see `gitml.predictions`) lets the
    metric gates judge the change with a paired-bootstrap interval instead of point values.
    `params` (params.yaml at the commit) says which problem it was trained for (`data.name`,
    `data.target`, `data.task`), so a champion of another problem is not compared.
    """

    metrics: Mapping[str, Any] = field(default_factory=dict)
    slices: Mapping[str, Any] | None = None
    validation: Mapping[str, Any] | None = None
    predictions: Any = None
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict."""

    gate: str
    kind: str  # metric | floor | fairness | check
    passed: bool
    detail: str
    candidate: float | None = None
    champion: float | None = None
    status: str | None = None
    #: The statistics behind the verdict (a change's interval, or a fairness gap's), if any.
    interval: Mapping[str, Any] | None = None

    @property
    def result(self) -> str:
        """The gate table's verdict: FAIL, n/a (not judged, does not block) or ok."""
        if not self.passed:
            return "FAIL"
        return "n/a" if self.status in (NOT_APPLICABLE, NOT_COMPARABLE) else "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateReport:
    """All gate verdicts for one promotion."""

    results: tuple[GateResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[GateResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": [r.to_dict() for r in self.results]}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _paired_intervals(
    names: Sequence[str],
    rules: Mapping[str, MetricRule],
    candidate: Evidence,
    champion: Evidence | None,
    settings: Settings,
) -> tuple[dict[str, MetricInterval], str | None]:
    """Intervals of candidate − champion on shared rows, and why there are none (or None)."""
    if champion is None:
        return {}, None
    if candidate.predictions is None or champion.predictions is None:
        return {}, "per-row predictions missing; point values compared"
    paired = pair(champion.predictions, candidate.predictions)
    if isinstance(paired, str):
        return {}, f"not comparable on shared rows ({paired}); point values compared"
    return metric_intervals(paired, names, rules, settings), None


def _interval_gate(name: str, rule: MetricRule, found: MetricInterval) -> GateResult:
    """Non-inferiority on the interval's worst bound against the rule's tolerance."""
    ok = is_non_inferior(found, rule)
    worst = found.low if rule.higher_is_better else found.high
    pct = f"{found.confidence:.0%}"
    detail = (
        f"{found.status}: Δ {found.delta:+.4f}, {pct} CI [{found.low:+.4f}, {found.high:+.4f}]; "
        f"worst bound {worst:+.4f} {'within' if ok else 'beyond'} tolerance {rule.tolerance:g}"
    )
    return GateResult(
        name,
        "metric",
        ok,
        detail,
        found.head,
        found.base,
        found.status if ok else "inferior",
        found.to_dict(),
    )


def _why_missing(name: str, metrics: Mapping[str, Any]) -> str:
    """Why a gate metric has no value: the classes without test rows, when metrics name some."""
    per_class = metrics.get("per_class")
    if isinstance(per_class, Mapping):
        absent = [
            str(c) for c, s in per_class.items() if isinstance(s, Mapping) and s.get("support") == 0
        ]
        if absent:
            shown = ", ".join(repr(c) for c in absent)
            return f"{name} was not measured: class(es) {shown} have no test rows"
    return "missing or not a finite number"


def _metric_gates(
    names: Sequence[str],
    rules: Mapping[str, MetricRule],
    candidate: Evidence,
    champion: Evidence | None,
    settings: Settings | None = None,
    not_comparable: bool = False,
) -> list[GateResult]:
    """Floors and champion comparisons; with `not_comparable`, floors only (see `_problem_gate`)."""
    results: list[GateResult] = []
    intervals: dict[str, MetricInterval] = {}
    why_not: str | None = None
    if settings is not None and not not_comparable:
        intervals, why_not = _paired_intervals(names, rules, candidate, champion, settings)
    for name in names:
        rule = rules.get(name)
        if rule is None:
            results.append(
                GateResult(name, "metric", False, "no rule under metrics: in the policy")
            )
            continue
        head = _number(candidate.metrics.get(name))
        base = _number(champion.metrics.get(name)) if champion is not None else None
        if head is None:
            results.append(
                GateResult(name, "metric", False, _why_missing(name, candidate.metrics), None, base)
            )
            continue
        if rule.floor is not None:
            ok = meets_floor(head, rule)
            bound = ">=" if rule.higher_is_better else "<="
            results.append(
                GateResult(
                    f"{name} floor",
                    "floor",
                    ok,
                    f"{head:.4f} {bound} {rule.floor:g}"
                    if ok
                    else f"{head:.4f} breaks floor {bound} {rule.floor:g}",
                    head,
                    None,
                )
            )
        if champion is None:
            results.append(GateResult(name, "metric", True, "no champion to compare", head, None))
            continue
        if not_comparable:
            detail = "not compared: the champion was trained for another problem (see comparable)"
            results.append(GateResult(name, "metric", True, detail, head, base, NOT_COMPARABLE))
            continue
        if base is None:
            results.append(
                GateResult(name, "metric", True, "champion has no value; not compared", head, None)
            )
            continue
        if name in intervals:
            results.append(_interval_gate(name, rule, intervals[name]))
            continue
        status = compare_metric(name, base, head, rule)
        change = gain(base, head, rule)
        sign = "+" if change >= 0 else ""
        detail = f"{status.value} ({sign}{change:.4f} vs tolerance {rule.tolerance:g})"
        if why_not is not None:
            detail += f"; {why_not}"
        results.append(
            GateResult(name, "metric", status != Status.REGRESSED, detail, head, base, status.value)
        )
    return results


def _fairness_interval_gate(
    gate: str, statistic: str, limit: float, groups: Mapping[str, Any], gates: GatePolicy
) -> GateResult | None:
    """A fairness gate judged on Newcombe intervals of its gaps; None when slices lack them.

    Groups below `gates.min_group` are left out and reported as "insufficient data" (the gate
    then passes or fails as `gates.insufficient` says); a gap fails only when its interval's
    LOWER bound exceeds the limit.
    """
    judged = []
    for rate in FAIRNESS_RATES.get(statistic, ()):
        found = judge_gap(groups, rate, limit, gates.min_group.rows, gates.min_group.positives)
        if found is None:
            return None
        judged.append(found)
    if not judged:
        return None
    left_out = sorted({g for j in judged for g in j.insufficient})
    gaps_ok = all(j.passed for j in judged)
    insufficient_ok = not left_out or gates.insufficient == "pass"
    details = list(dict.fromkeys(j.detail for j in judged))  # TPR and FPR may say the same
    if left_out:
        minimum = f">= {gates.min_group.rows} rows and {gates.min_group.positives} positives"
        details.append(f"insufficient data: {', '.join(left_out)} (needs {minimum})")
    worst = max((j for j in judged if j.estimate is not None), key=_gap_low, default=None)
    status = "insufficient data" if left_out else None
    record = {
        "gaps": [j.to_dict() for j in judged],
        "insufficient": left_out,
        "min_group": {"rows": gates.min_group.rows, "positives": gates.min_group.positives},
    }
    return GateResult(
        gate,
        "fairness",
        gaps_ok and insufficient_ok,
        "; ".join(details),
        worst.estimate if worst else None,
        None,
        status,
        record,
    )


def _gap_low(j: GapJudgement) -> float:
    return j.low if j.low is not None else -math.inf


def _skipped(names: Sequence[str], kind: str, task: tasks.Task) -> list[GateResult]:
    """Passing results that say which configured gates do not apply to the candidate's task."""
    return [
        GateResult(
            name,
            kind,
            True,
            f"skipped: {task.name} runs do not report it",
            status=NOT_APPLICABLE,
        )
        for name in names
    ]


#: The fairness gate's detail when reports/slices.json is present but names no attribute.
NO_SENSITIVE = (
    "not applicable: no sensitive column is declared in the data config (role: sensitive), "
    "so the slices report names no attribute; nothing to compare"
)


def _fairness_gates(
    limits: Mapping[str, float],
    slices: Mapping[str, Any] | None,
    gates: GatePolicy | None = None,
    task: tasks.Task | None = None,
) -> list[GateResult]:
    if task is not None:
        skipped = [s for s in limits if s not in task.fairness]
        limits = {s: v for s, v in limits.items() if s in task.fairness}
        if skipped:
            return _skipped(skipped, "fairness", task) + _fairness_gates(limits, slices, gates)
    if not limits:
        return []
    if slices is None:
        return [GateResult("fairness", "fairness", False, "no slices report at the candidate")]
    if not slices:  # the evaluate stage writes {} when no column has role: sensitive
        return [GateResult("fairness", "fairness", True, NO_SENSITIVE, status=NOT_APPLICABLE)]
    results: list[GateResult] = []
    for attribute in sorted(slices):
        report = slices[attribute]
        if not isinstance(report, Mapping):
            continue
        intervals = report.get("intervals")
        groups = intervals.get("groups") if isinstance(intervals, Mapping) else None
        for statistic, limit in limits.items():
            value = _number(report.get(statistic))
            gate = f"{attribute} {statistic}"
            if gates is not None and isinstance(groups, Mapping):
                judged = _fairness_interval_gate(gate, statistic, limit, groups, gates)
                if judged is not None:
                    results.append(judged)
                    continue
            if value is None:
                results.append(GateResult(gate, "fairness", False, "missing from slices report"))
            else:
                ok = value <= limit + EPSILON
                relation = "<=" if ok else ">"
                results.append(
                    GateResult(gate, "fairness", ok, f"{value:.4f} {relation} {limit:g}", value)
                )
    if not results:
        return [GateResult("fairness", "fairness", False, "slices report names no attribute")]
    return results


def _problems(candidate: Evidence, champion: Evidence) -> tuple[dict[str, Any], dict[str, Any]]:
    """What champion and candidate were trained for: their data config's name, target and task.

    When either side does not declare `data.task`, both tasks are read off the metric names
    (`gitml.tasks.task_of_metrics`), so a declared task is never held against an inferred one.
    """
    theirs, ours = (
        {key: problem.data_section(e.params).get(key) for key, _ in problem.PROBLEM_KEYS}
        for e in (champion, candidate)
    )
    if theirs["task"] is None or ours["task"] is None:
        for side, evidence in ((theirs, champion), (ours, candidate)):
            task = tasks.task_of_metrics(evidence.metrics)
            side["task"] = task.name if task is not None else None
    return theirs, ours


def _problem_gate(candidate: Evidence, champion: Evidence) -> GateResult | None:
    """A failing gate when the champion was trained for another dataset, target or task.

    Their metrics then say nothing about which model is better, so none is compared (floors,
    fairness and checks still judge the candidate alone): replacing a model with one for another
    problem is a deliberate decision, made with --force and a reason. None: same problem.
    """
    theirs, ours = _problems(candidate, champion)
    reasons = problem.differences(theirs, ours)
    if not reasons:
        return None
    detail = (
        f"not comparable: {'; '.join(reasons)} (champion vs candidate). The champion was trained "
        f"on {problem.describe(theirs)}, the candidate on {problem.describe(ours)}: their metrics say nothing "
        "about which model is better, so none is compared"
    )
    audit = {
        "reasons": list(reasons),
        "champion": problem.record(theirs),
        "candidate": problem.record(ours),
    }
    return GateResult(COMPARABLE_GATE, "check", False, detail, None, None, NOT_COMPARABLE, audit)


def _check_gates(checks: Sequence[str], candidate: Evidence) -> list[GateResult]:
    results: list[GateResult] = []
    for check in checks:
        if check == "validation_passed":
            validation = candidate.validation
            if validation is None:
                results.append(GateResult(check, "check", False, "no validation report"))
            else:
                ok = validation.get("passed") is True
                results.append(
                    GateResult(check, "check", ok, "passed" if ok else "validation did not pass")
                )
        else:
            results.append(GateResult(check, "check", False, "unknown check"))
    return results


def evaluate_gates(
    gates: GatePolicy,
    rules: Mapping[str, MetricRule],
    candidate: Evidence,
    champion: Evidence | None,
    settings: Settings | None = None,
) -> GateReport:
    """Judge a candidate against the stage's champion (None when the stage is empty).

    With `settings` (the policy's `statistics:`) the gates are statistical tests: a metric gate
    holds when the worst bound of the paired-bootstrap interval of candidate − champion stays
    within the tolerance (non-inferiority; both versions need per-row predictions, else point
    values are compared), and a fairness gate fails only when the lower bound of a gap's
    Newcombe interval exceeds its limit, among groups of at least `gates.min_group`.
    Without, point values are compared. A broken floor fails; check gates fail when the check did
    not pass; missing evidence fails its gate.
    Gates are read per task (`gitml.tasks`, from the candidate's metric names): configured metrics
    and fairness gaps the task does not report are skipped with a note, and when no configured
    metric applies the task's own gate metrics are judged. A fairness gate with no sensitive
    attribute in the slices report does not apply (status "not applicable"; a missing report
    fails). When the champion was trained for another dataset, target or task (its params'
    `data:` section), the `comparable` gate fails and no metric is compared with it.
    """
    task = tasks.task_of_metrics(candidate.metrics)
    names, skipped = tasks.gate_metrics(gates.metrics, task)
    other = _problem_gate(candidate, champion) if champion is not None else None
    results = [other] if other is not None else []
    results += _metric_gates(names, rules, candidate, champion, settings, other is not None)
    if task is not None:
        results += _skipped(skipped, "metric", task)
    results += _fairness_gates(
        gates.fairness, candidate.slices, gates if settings is not None else None, task
    )
    results += _check_gates(gates.required_checks, candidate)
    return GateReport(tuple(results))
