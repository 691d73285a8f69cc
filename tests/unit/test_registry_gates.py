"""Metric statuses, floors and promotion gates (gitml.compare), and the policy loader."""

from __future__ import annotations

from dataclasses import replace
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


def test_fairness_gate_does_not_apply_without_a_sensitive_column() -> None:
    # The evaluate stage writes {} when no column has role: sensitive: nothing to compare.
    report = evaluate_gates(GATES, RULES, evidence(0.8, slices={}), None)
    assert report.passed, report.to_dict()
    (fair,) = [r for r in report.results if r.kind == "fairness"]
    assert fair.passed and fair.status == "not applicable" and fair.result == "n/a"
    assert "no sensitive column" in fair.detail and "role: sensitive" in fair.detail
    assert fair.to_dict()["status"] == "not applicable"  # kept in the tag's audit trail
    # A missing report (None) is still a gap, and fails.
    missing = evaluate_gates(GATES, RULES, evidence(0.8, slices=None), None)
    assert failed(missing) == {"fairness"} and missing.failures[0].result == "FAIL"


def test_gates_a_task_does_not_report_are_not_applicable() -> None:
    multiclass = Evidence(
        metrics={"roc_auc": 0.9, "log_loss": 0.3, "per_class": {}},
        slices={},
        validation={"passed": True},
    )
    report = evaluate_gates(GATES, RULES, multiclass, None)
    assert report.passed
    (fair,) = [r for r in report.results if r.kind == "fairness"]
    assert fair.status == "not applicable" and fair.result == "n/a"
    assert "multiclass" in fair.detail


def problem(auc: float, name: str, target: str, task: str | None, **metrics: float) -> Evidence:
    data = {"name": name, "target": target, **({"task": task} if task else {})}
    return Evidence(
        metrics={"roc_auc": auc, "log_loss": 0.45, **metrics},
        slices=SLICES,
        validation={"passed": True},
        params={"data": data, "model": {"name": "hgb"}},
    )


IRIS = problem(0.88, "iris", "species", "multiclass", per_class=0)
CANCER = problem(0.99, "breast_cancer", "diagnosis", "binary")


def test_a_champion_of_another_dataset_target_or_task_is_not_compared() -> None:
    report = evaluate_gates(GATES, RULES, CANCER, IRIS)
    assert failed(report) == {"comparable"}
    comparable = report.failures[0]
    assert comparable.status == "not comparable" and comparable.result == "FAIL"
    for reason in (
        "dataset differs: iris vs breast_cancer",
        "target differs: species vs diagnosis",
        "task differs: multiclass vs binary",
    ):
        assert reason in comparable.detail
    assert "dataset iris, target species (multiclass)" in comparable.detail
    metric = [r for r in report.results if r.kind == "metric"]
    assert metric and {r.status for r in metric} == {"not comparable"}
    assert all("improved" not in r.detail and r.result == "n/a" for r in metric)
    floors = [r for r in report.results if r.kind == "floor"]  # absolute: still judged
    assert {r.gate for r in floors} == {"roc_auc floor", "log_loss floor"}
    # the audit trail says what each side was trained on
    assert comparable.interval is not None
    assert comparable.interval["champion"]["dataset"] == "iris"
    assert comparable.interval["candidate"]["task"] == "binary"


def test_floors_still_judge_a_candidate_of_another_problem() -> None:
    low = problem(0.6, "breast_cancer", "diagnosis", "binary")
    assert failed(evaluate_gates(GATES, RULES, low, IRIS)) == {"comparable", "roc_auc floor"}


def test_a_regression_against_a_binary_champion_is_not_compared() -> None:
    rules = {**RULES, "rmse": MetricRule(higher_is_better=False, tolerance=1.0)}
    rules["mae"] = MetricRule(higher_is_better=False, tolerance=1.0)
    regression = Evidence(
        metrics={"rmse": 50.0, "mae": 40.0, "r2": 0.4},
        slices={},
        validation={"passed": True},
        params={"data": {"name": "diabetes", "target": "progression", "task": "regression"}},
    )
    report = evaluate_gates(GATES, rules, regression, CANCER)
    assert failed(report) == {"comparable"}
    assert "task differs: binary vs regression" in report.failures[0].detail
    assert all("champion has no value" not in r.detail for r in report.results)
    # without a declared task on one side, both tasks are read off the metrics
    bare = evaluate_gates(GATES, rules, replace(regression, params=None), evidence(0.8))
    assert failed(bare) == {"comparable"}
    assert "task differs: binary vs regression" in bare.failures[0].detail
    undeclared = replace(IRIS, params={"data": {"name": "iris", "target": "species"}})
    assert evaluate_gates(GATES, RULES, undeclared, IRIS).passed  # both multiclass metrics


def test_the_same_problem_and_an_empty_stage_are_judged_as_before() -> None:
    better = problem(0.90, "iris", "species", "multiclass", per_class=0)
    report = evaluate_gates(GATES, RULES, better, IRIS)
    assert report.passed and "comparable" not in {r.gate for r in report.results}
    assert {r.status for r in report.results if r.kind == "metric"} == {"improved", "unchanged"}
    # an undeclared side is not held against the other (as in `gitml report`)
    assert evaluate_gates(GATES, RULES, CANCER, evidence(0.80)).passed
    # the first promotion into an empty stage: no champion, nothing to compare
    first = evaluate_gates(GATES, RULES, CANCER, None)
    assert first.passed and "comparable" not in {r.gate for r in first.results}


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


def test_a_metric_missing_for_a_class_without_test_rows_says_so() -> None:
    """roc_auc undefined because the test rows lack classes: the gate names them."""
    per_class = {"a": {"support": 9}, "rare": {"support": 0}}
    candidate = Evidence(
        metrics={"roc_auc": None, "log_loss": 0.4, "per_class": per_class},
        slices=SLICES,
        validation={"passed": True},
    )
    (result,) = [r for r in evaluate_gates(GATES, RULES, candidate, None).failures]
    assert result.detail == "roc_auc was not measured: class(es) 'rare' have no test rows"


def test_an_equalized_odds_gate_without_two_usable_groups_says_so_once() -> None:
    from gitml.compare import _fairness_interval_gate

    def rate(k: int, n: int) -> dict[str, float]:
        return {"successes": k, "trials": n, "low": 0.0, "high": 1.0}

    groups = {
        "big": {"rows": 400, "positives": 200, "tpr": rate(150, 200), "fpr": rate(20, 200)},
        "tiny": {"rows": 3, "positives": 1, "tpr": rate(1, 1), "fpr": rate(0, 2)},
    }
    gates = GatePolicy(metrics=(), fairness={"equalized_odds_difference": 0.1})
    found = _fairness_interval_gate("sex eo", "equalized_odds_difference", 0.1, groups, gates)
    assert found is not None
    assert found.detail.count("fewer than two groups with enough data") == 1
    assert "insufficient data: tiny" in found.detail
