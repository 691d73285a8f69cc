"""The pure core of `gitml report`: statuses, verdict, params/data/slices/importance diffs, table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gitml.compare import MetricRule
from gitml.report.core import (
    compare_by_problem,
    compare_experiments,
    diff_data,
    diff_importance,
    diff_metrics,
    diff_params,
    diff_slices,
    verdict,
)

pytestmark = pytest.mark.unit

AUC = MetricRule(higher_is_better=True, min_absolute_change=0.002, tolerance=0.005, floor=0.70)
LOSS = MetricRule(higher_is_better=False, min_absolute_change=0.002, tolerance=0.01)
RULES = {"roc_auc": AUC, "log_loss": LOSS}


@pytest.mark.parametrize(
    ("base", "head", "status"),
    [
        (0.80, 0.81, "improved"),
        (0.80, 0.801, "unchanged"),  # gain below min_absolute_change
        (0.80, 0.799, "unchanged"),  # loss below min_absolute_change: noise
        (0.80, 0.796, "within_tolerance"),
        (0.80, 0.79, "regressed"),
    ],
)
def test_higher_is_better_statuses(base: float, head: float, status: str) -> None:
    (row,) = diff_metrics({"roc_auc": base}, {"roc_auc": head}, RULES)
    assert row.status == status
    assert math.isclose(row.delta or 0, head - base)
    assert math.isclose(row.delta_pct or 0, (head - base) / base * 100)


def test_lower_is_better_flips_direction() -> None:
    rows = diff_metrics({"log_loss": 0.40}, {"log_loss": 0.38}, RULES)
    assert rows[0].status == "improved"
    rows = diff_metrics({"log_loss": 0.40}, {"log_loss": 0.42}, RULES)
    assert rows[0].status == "regressed"


def test_one_sided_non_numeric_and_unruled_metrics() -> None:
    base = {"roc_auc": 0.8, "log_loss": 0.4, "old": 1.0, "note": "a", "same_note": "x"}
    head = {"roc_auc": float("nan"), "new": 2.0, "note": "b", "same_note": "x", "log_loss": 0.4}
    rows = {r.name: r for r in diff_metrics(base, head, RULES)}
    assert rows["roc_auc"].status == "invalid" and rows["roc_auc"].delta is None
    assert rows["roc_auc"].floor_ok is False
    assert rows["log_loss"].status == "unchanged"
    assert rows["old"].status == "removed"
    assert rows["new"].status == "added"
    assert rows["note"].status == "invalid"
    assert rows["same_note"].status == "unchanged"
    assert list(rows)[:2] == ["roc_auc", "log_loss"]  # policy order first
    v = verdict(list(rows.values()), has_baseline=True)
    assert not v.passed and any("roc_auc is not a finite number" in r for r in v.reasons)


def test_unruled_metric_is_not_judged() -> None:
    (row,) = diff_metrics({"custom": 1.0}, {"custom": 0.1}, RULES)
    assert row.status == "unjudged"
    assert verdict([row], has_baseline=True).passed


def test_verdicts() -> None:
    def judge(head: float, loss: float = 0.4) -> str:
        rows = diff_metrics(
            {"roc_auc": 0.80, "log_loss": 0.4}, {"roc_auc": head, "log_loss": loss}, RULES
        )
        return verdict(rows, has_baseline=True).status

    assert judge(0.81) == "improved"
    assert judge(0.796) == "within_tolerance"
    assert judge(0.80) == "unchanged"
    assert judge(0.79) == "regressed"
    assert judge(0.81, loss=0.5) == "regressed"


def test_floor_breaks_verdict_even_when_improved() -> None:
    rows = diff_metrics({"roc_auc": 0.60}, {"roc_auc": 0.65}, RULES)
    assert rows[0].status == "improved" and rows[0].floor_ok is False
    v = verdict(rows, has_baseline=True)
    assert v.status == "regressed" and "breaks its floor (>= 0.7)" in v.reasons[0]


def test_no_baseline_shows_new_values_only() -> None:
    rows = diff_metrics(None, {"roc_auc": 0.75, "log_loss": 0.4}, RULES)
    assert {r.status for r in rows} == {"added"} and all(r.base is None for r in rows)
    assert verdict(rows, has_baseline=False).status == "no_baseline"
    rows = diff_metrics(None, {"roc_auc": 0.65}, RULES)
    assert verdict(rows, has_baseline=False).status == "regressed"  # floor still applies


def test_params_diff_changed_only_with_group_choices() -> None:
    base = {"model": {"name": "random_forest", "max_depth": 5, "n": 1}, "seed": 1, "gone": True}
    head = {
        "model": {"name": "hist_gradient_boosting", "max_depth": 3, "n": 1},
        "seed": 1,
        "new": [1],
    }
    changes = diff_params(base, head)
    assert [(c.key, c.kind, c.group) for c in changes] == [
        ("model", "changed", True),
        ("gone", "removed", False),
        ("model.max_depth", "changed", False),
        ("new", "added", False),
    ]
    assert changes[0].arrow == "random_forest → hist_gradient_boosting"
    assert diff_params(base, base) == []


def test_params_diff_tells_int_from_float() -> None:
    assert [c.key for c in diff_params({"a": 1}, {"a": 1.0})] == ["a"]


def test_data_diff_hashes_deps_rows_and_schema() -> None:
    def lock(data_md5: str, code_md5: str) -> dict:
        return {"stages": {
            "prepare": {"deps": [{"path": "prepare.py", "md5": code_md5}],
                        "outs": [{"path": "data/train.csv", "md5": data_md5, "size": 10},
                                 {"path": "reports/validation.json", "md5": data_md5}]},
            "train": {"deps": [{"path": "data/train.csv", "md5": data_md5}],
                      "outs": [{"path": "models/m.bin", "md5": "same", "size": 3}]},
        }}  # fmt: skip

    old_v = {
        "rows": 100,
        "passed": True,
        "columns": {
            "a": {"dtype": "int64", "role": "feature"},
            "b": {"dtype": "int64", "role": "feature"},
        },
    }
    new_v = {
        "rows": 120,
        "passed": True,
        "columns": {
            "a": {"dtype": "float64", "role": "feature"},
            "c": {"dtype": "int64", "role": "feature"},
        },
    }
    d = diff_data(
        lock("aaa", "c1"), lock("bbb", "c2"), old_v, new_v, skip=["reports/validation.json"]
    )
    assert [(o.path, o.base_hash, o.head_hash) for o in d.outs] == [
        ("data/train.csv", "aaa", "bbb")
    ]
    assert d.unchanged_outs == 1 and d.deps == ["prepare.py"]
    assert (d.rows_base, d.rows_head) == (100, 120)
    assert [(s.column, s.base, s.head) for s in d.schema] == [
        ("a", "int64/feature", "float64/feature"),
        ("b", "int64/feature", None),
        ("c", None, "int64/feature"),
    ]
    same = diff_data(lock("aaa", "c1"), lock("aaa", "c1"), old_v, old_v)
    assert not same.changed


def test_slices_direction() -> None:
    base = {"gender": {"groups": {"f": {"tpr": 0.5, "fpr": 0.1, "count": 10}},
                       "demographic_parity_difference": 0.05}}  # fmt: skip
    head = {"gender": {"groups": {"f": {"tpr": 0.4, "fpr": 0.05, "count": 10}},
                       "demographic_parity_difference": 0.02}}  # fmt: skip
    rows = {(r.group, r.stat): r.change for r in diff_slices(base, head)}
    assert rows == {
        ("", "demographic_parity_difference"): "better",
        ("f", "count"): "same",
        ("f", "tpr"): "worse",
        ("f", "fpr"): "better",
    }


def test_importance_top_k_by_absolute_change() -> None:
    base = {"a": {"mean": 0.30}, "b": {"mean": 0.20}, "c": {"mean": 0.10}}
    head = {"a": {"mean": 0.29}, "b": {"mean": 0.05}, "d": {"mean": 0.25}}
    rows = diff_importance(base, head, top_k=3)
    assert [r.feature for r in rows] == ["c", "d", "b"]  # missing side sorts first, then |Δ|
    b = next(r for r in rows if r.feature == "b")
    assert (b.base_rank, b.head_rank) == (2, 3) and math.isclose(b.delta or 0, -0.15)
    rows = diff_importance(None, head, top_k=2)
    assert [r.feature for r in rows] == ["a", "d"]


def test_experiment_table_best_sort_and_differing_params() -> None:
    exps = [
        (
            "a",
            "r1",
            {"model": {"name": "rf", "depth": 3}, "seed": 1},
            {"roc_auc": 0.7, "log_loss": 0.3},
        ),
        (
            "b",
            "r2",
            {"model": {"name": "rf", "depth": 5}, "seed": 1},
            {"roc_auc": 0.8, "log_loss": 0.4},
        ),
        ("c", "r3", {"model": {"name": "rf", "depth": 7}, "seed": 1}, {"roc_auc": float("nan")}),
    ]
    table = compare_experiments(exps, RULES, "roc_auc")
    assert [r.name for r in table.rows] == ["b", "a", "c"]
    assert table.param_keys == ["model.depth"]
    assert table.metric_keys == ["roc_auc", "log_loss"]
    best = {r.name: set(r.best) for r in table.rows}
    assert best == {"b": {"roc_auc"}, "a": {"log_loss"}, "c": set()}
    lower = compare_experiments(exps, RULES, "log_loss")
    assert [r.name for r in lower.rows] == ["a", "b", "c"]


def test_experiment_table_ranks_only_within_one_problem() -> None:
    binary = {"name": "breast_cancer", "target": "diagnosis", "task": "binary"}
    engel = {"name": "engel", "target": "foodexp", "task": "regression"}
    exps = [
        ("base", "r0", {"data": binary, "model": {"name": "logreg"}}, {"roc_auc": 0.95}),
        ("engel1", "r1", {"data": engel, "model": {"name": "logreg"}}, {"rmse": 80.0}),
        ("rf50", "r2", {"data": binary, "model": {"name": "random_forest"}}, {"roc_auc": 0.97}),
        ("nodata", "r3", {"model": {"name": "hgb"}}, {"roc_auc": 0.5}),
    ]

    def primary(metrics: Sequence[Mapping[str, Any]]) -> str:
        return "rmse" if any("rmse" in m for m in metrics) else "roc_auc"

    groups = compare_by_problem(exps, RULES, primary)
    assert [[r.name for r in g.rows] for g in groups] == [["rf50", "base", "nodata"], ["engel1"]]
    assert [g.problem for g in groups] == [
        "dataset breast_cancer, target diagnosis (binary)",
        "dataset engel, target foodexp (regression)",
    ]
    assert [g.primary_metric for g in groups] == ["roc_auc", "rmse"]
    assert groups[0].metric_keys == ["roc_auc"] and groups[1].metric_keys == ["rmse"]
    assert "model.name" in groups[0].param_keys and groups[1].param_keys == []
    assert {r.name: set(r.best) for r in groups[0].rows}["base"] == set()
    # One problem (the usual case): one table, no heading, as compare_experiments builds it.
    same = [e for e in exps if e[0] != "engel1"]
    (only,) = compare_by_problem(same, RULES, primary)
    assert only == compare_experiments(same, RULES, "roc_auc") and only.problem is None
