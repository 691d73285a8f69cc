"""Metric statuses, floors and promotion gates (gitml.compare), and the policy loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml.compare import Evidence, MetricRule, Status, compare_metric, evaluate_gates, meets_floor
from gitml.errors import GitmlError
from gitml.policy import GatePolicy, load_policy, parse_policy

pytestmark = pytest.mark.unit

AUC = MetricRule(higher_is_better=True, min_absolute_change=0.002, tolerance=0.005, floor=0.70)
LOSS = MetricRule(higher_is_better=False, min_absolute_change=0.002, tolerance=0.01, floor=0.6)
REL = MetricRule(higher_is_better=True, min_absolute_change=0.0, min_relative_change=0.05)


@pytest.mark.parametrize(
    ("rule", "base", "head", "status"),
    [
        (AUC, 0.80, 0.83, Status.IMPROVED),
        (AUC, 0.80, 0.802, Status.IMPROVED),  # exactly the minimum change
        (AUC, 0.80, 0.801, Status.UNCHANGED),  # a gain below the minimum is noise
        (AUC, 0.80, 0.80, Status.UNCHANGED),
        (AUC, 0.80, 0.799, Status.UNCHANGED),  # a loss below the minimum is noise too
        (AUC, 0.80, 0.796, Status.WITHIN_TOLERANCE),
        (AUC, 0.80, 0.795, Status.WITHIN_TOLERANCE),  # exactly the tolerance
        (AUC, 0.80, 0.794, Status.REGRESSED),
        (LOSS, 0.45, 0.43, Status.IMPROVED),  # lower is better
        (LOSS, 0.45, 0.455, Status.WITHIN_TOLERANCE),
        (LOSS, 0.45, 0.47, Status.REGRESSED),
        (REL, 0.50, 0.52, Status.UNCHANGED),  # +4% < 5% relative
        (REL, 0.50, 0.53, Status.IMPROVED),
        (REL, 0.50, 0.49, Status.REGRESSED),  # tolerance is the hard limit, even inside noise
        (MetricRule(), 0.5, 0.4999, Status.REGRESSED),  # zero tolerance, zero noise
    ],
)
def test_compare_metric(rule: MetricRule, base: float, head: float, status: Status) -> None:
    assert compare_metric("m", base, head, rule) is status


def test_compare_metric_rejects_non_numbers() -> None:
    with pytest.raises(ValueError, match="finite"):
        compare_metric("m", float("nan"), 0.5, AUC)
    with pytest.raises(ValueError, match="finite"):
        compare_metric("m", 0.5, None, AUC)  # type: ignore[arg-type]


def test_floors_follow_direction() -> None:
    assert meets_floor(0.70, AUC) and not meets_floor(0.69, AUC)
    assert meets_floor(0.6, LOSS) and not meets_floor(0.61, LOSS)
    assert meets_floor(-5.0, MetricRule())


GATES = GatePolicy(
    metrics=("roc_auc", "log_loss"),
    fairness={"demographic_parity_difference": 0.10},
    required_checks=("validation_passed",),
)
RULES = {"roc_auc": AUC, "log_loss": LOSS}
SLICES = {
    "sex": {"demographic_parity_difference": 0.05},
    "age": {"demographic_parity_difference": 0.02},
}


def evidence(
    auc: float, loss: float = 0.45, slices: object = SLICES, valid: object = True
) -> Evidence:
    return Evidence(
        metrics={"roc_auc": auc, "log_loss": loss},
        slices=slices,  # type: ignore[arg-type]
        validation=None if valid is None else {"passed": valid},
    )


def failed(report: object) -> set[str]:
    return {r.gate for r in report.failures}  # type: ignore[attr-defined]


def test_gates_pass_against_a_champion() -> None:
    report = evaluate_gates(GATES, RULES, evidence(0.83, 0.43), evidence(0.80))
    assert report.passed, report.to_dict()
    statuses = {r.gate: r.status for r in report.results if r.kind == "metric"}
    assert statuses == {"roc_auc": "improved", "log_loss": "improved"}


def test_non_inferiority_tolerance_passes_small_losses() -> None:
    report = evaluate_gates(GATES, RULES, evidence(0.797, 0.455), evidence(0.80))
    assert report.passed
    assert {r.status for r in report.results if r.kind == "metric"} == {"within_tolerance"}


def test_regression_fails_with_reason() -> None:
    report = evaluate_gates(GATES, RULES, evidence(0.78), evidence(0.83))
    assert failed(report) == {"roc_auc"}
    assert "regressed" in report.failures[0].detail


def test_floor_fails_even_without_champion() -> None:
    report = evaluate_gates(GATES, RULES, evidence(0.65), None)
    assert failed(report) == {"roc_auc floor"}


def test_fairness_limits_and_missing_slices() -> None:
    unfair = {"sex": {"demographic_parity_difference": 0.25}}
    assert failed(evaluate_gates(GATES, RULES, evidence(0.8, slices=unfair), None)) == {
        "sex demographic_parity_difference"
    }
    assert failed(evaluate_gates(GATES, RULES, evidence(0.8, slices=None), None)) == {"fairness"}
    missing = {"sex": {"equalized_odds_difference": 0.01}}
    assert failed(evaluate_gates(GATES, RULES, evidence(0.8, slices=missing), None)) == {
        "sex demographic_parity_difference"
    }


def test_required_checks() -> None:
    assert failed(evaluate_gates(GATES, RULES, evidence(0.8, valid=False), None)) == {
        "validation_passed"
    }
    assert failed(evaluate_gates(GATES, RULES, evidence(0.8, valid=None), None)) == {
        "validation_passed"
    }


def test_missing_candidate_metric_fails_and_missing_champion_metric_is_skipped() -> None:
    candidate = Evidence(metrics={"log_loss": 0.4}, slices=SLICES, validation={"passed": True})
    assert failed(evaluate_gates(GATES, RULES, candidate, evidence(0.8))) == {"roc_auc"}
    champion = Evidence(metrics={"log_loss": 0.4})
    assert evaluate_gates(GATES, RULES, evidence(0.8, 0.4), champion).passed


# ---- policy loader ---------------------------------------------------------------------------

BASE = {
    "artifact": "classifier",
    "metrics": {"roc_auc": {"higher_is_better": True, "tolerance": 0.005, "floor": 0.7}},
    "gates": {"metrics": ["roc_auc"], "required_checks": ["validation_passed"]},
    "registry": {"stages": ["staging", "production"]},
}


def with_(path: str, value: object) -> dict[str, object]:
    import copy

    raw = copy.deepcopy(BASE)
    node: dict[str, object] = raw
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})  # type: ignore[assignment]
    node[last] = value
    return raw


def test_policy_parses_with_defaults() -> None:
    policy = parse_policy(BASE)
    assert policy.registry.stages == ("staging", "production")
    assert policy.registry.remote == "origin" and policy.registry.require_previous_stage
    assert policy.metric_rule("roc_auc") == MetricRule(True, 0.0, 0.0, 0.005, 0.7)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("registy", {}, "Did you mean 'registry'"),
        ("registry.stagess", ["a"], "Did you mean 'stages'"),
        ("registry.stages", "staging", "list of strings"),
        ("registry.stages", ["bad stage"], "not a valid stage name"),
        ("registry.require_signed", "yes", "true or false"),
        ("metrics.roc_auc.tolerance", -1, "at least 0"),
        ("metrics.roc_auc.floor", "high", "must be a number"),
        ("gates.metrics", ["f1"], "no rule under metrics"),
        ("gates.fairness", {"demographic_parity": 0.1}, "demographic_parity_difference"),
        ("gates.required_checks", ["tests_green"], "not a known check"),
    ],
)
def test_policy_errors_name_the_key(path: str, value: object, message: str) -> None:
    with pytest.raises(GitmlError, match=message) as info:
        parse_policy(with_(path, value))
    assert "conf/gitml.yaml" in info.value.render()


def test_policy_requires_registry_and_artifact() -> None:
    with pytest.raises(GitmlError, match="missing key"):
        parse_policy({"artifact": "classifier"})


def test_the_project_policy_loads() -> None:
    policy = load_policy(Path(__file__).resolve().parents[2])
    assert policy.artifact == "classifier"
    assert set(policy.gates.metrics) <= set(policy.metrics)


def test_missing_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GitmlError, match="No policy file"):
        load_policy(tmp_path)
