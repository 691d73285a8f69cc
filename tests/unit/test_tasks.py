"""The task table (gitml.tasks): metrics against scikit-learn, and how gates, report and monitor read it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    f1_score,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
)

from gitml import tasks
from gitml.compare import Evidence, MetricRule, evaluate_gates
from gitml.config import DataConfig
from gitml.errors import GitmlError
from gitml.monitor.decay import decay
from gitml.policy import GatePolicy
from gitml.report.core import Snapshot, build_report
from gitml.report.render import render_html, render_markdown
from gitml.scoring import Scores

pytestmark = pytest.mark.unit
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "gitml" / "templates"

RNG = np.random.default_rng(7)
Y = RNG.normal(150.0, 60.0, 300) + 200.0
PRED = Y + RNG.normal(0.0, 25.0, 300)


def test_every_task_row_is_consistent() -> None:
    for name, task in tasks.TASKS.items():
        assert task.name == name
        assert task.primary_metric in task.metrics
        assert set(task.gate_metrics) <= set(task.metrics)
        assert set(task.decay_metrics) <= set(task.metrics)
        assert set(task.plots) <= set(tasks.ALL_PLOTS)
        assert task.estimator in ("classifier", "regressor")
        assert task.output == ("probability" if task.estimator == "classifier" else "prediction")
    assert tasks.TASK_NAMES == ("binary", "multiclass", "regression")


def test_regression_metrics_match_sklearn() -> None:
    got = tasks.get("regression").compute_metrics(Y, PRED, [], 0.5)
    assert list(got) == list(tasks.get("regression").metrics)
    assert got["rmse"] == pytest.approx(np.sqrt(mean_squared_error(Y, PRED)), rel=1e-12)
    assert got["mae"] == pytest.approx(mean_absolute_error(Y, PRED), rel=1e-12)
    assert got["r2"] == pytest.approx(r2_score(Y, PRED), rel=1e-12)
    assert got["mape"] == pytest.approx(mean_absolute_percentage_error(Y, PRED), rel=1e-12)


def test_mape_is_left_out_when_a_true_value_is_zero() -> None:
    """statsmodels' `fair` (affairs: mostly 0) gave MAPE 1.9e15: undefined, so not reported."""
    y = np.array([0.0, 0.0, 1.5, 3.0, 0.7])
    pred = np.array([0.2, 0.1, 1.4, 2.0, 0.9])
    got = tasks.get("regression").compute_metrics(y, pred, [], 0.5)
    assert "mape" not in got and mean_absolute_percentage_error(y, pred) > 1e14
    assert got["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-12)


def test_regression_plots_and_group_errors() -> None:
    task = tasks.get("regression")
    plots = task.compute_plots(Y, PRED, [], 0.5, 101, 10)
    assert set(plots) == {"predicted_actual", "residuals"}
    assert plots["predicted_actual"][0] == {
        "actual": round(Y[0], 6),
        "predicted": round(PRED[0], 6),
    }
    assert plots["residuals"][3]["residual"] == pytest.approx(Y[3] - PRED[3], abs=1e-5)
    groups = np.where(np.arange(300) % 3 == 0, "a", "b")
    assert task.compute_slices is not None
    out = task.compute_slices(Y, PRED, [], 0.5, groups)
    a = groups == "a"
    assert out["groups"]["a"]["count"] == int(a.sum())
    assert out["groups"]["a"]["mae"] == pytest.approx(mean_absolute_error(Y[a], PRED[a]))
    rmse_b = np.sqrt(mean_squared_error(Y[~a], PRED[~a]))
    assert out["groups"]["b"]["rmse"] == pytest.approx(rmse_b)
    assert out["groups"]["b"]["mean_error"] == pytest.approx(np.mean(PRED[~a] - Y[~a]))
    maes = [out["groups"][g]["mae"] for g in "ab"]
    assert out["mae_gap"] == pytest.approx(max(maes) - min(maes))
    assert set(out) == {"groups", *task.fairness}


def test_multiclass_per_class_metrics_match_sklearn() -> None:
    classes = ["x", "y", "z"]
    y = np.array(classes * 40)
    proba = RNG.dirichlet([1.0, 1.0, 1.0], size=len(y))
    proba[np.arange(len(y)), np.arange(len(y)) % 3] += 0.4  # mostly right
    proba /= proba.sum(axis=1, keepdims=True)
    got = tasks.get("multiclass").compute_metrics(y, proba, classes, 0.5)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    assert got["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    for i, c in enumerate(classes):
        row = got["per_class"][c]
        assert row["precision"] == pytest.approx(
            precision_score(y, pred, labels=[c], average=None)[0]
        )
        assert row["recall"] == pytest.approx(recall_score(y, pred, labels=[c], average=None)[0])
        assert row["f1"] == pytest.approx(f1_score(y, pred, average=None, labels=classes)[i])
        assert row["support"] == 40


def test_binary_metrics_carry_no_per_class_block() -> None:
    y = np.array([0, 1] * 50)
    p = np.clip(y * 0.6 + RNG.uniform(0, 0.4, 100), 0, 1)
    got = tasks.get("binary").compute_metrics(y, np.column_stack([1 - p, p]), [0, 1], 0.5)
    assert list(got) == list(tasks.get("binary").metrics)


def test_task_of_metrics_primary_and_gate_fallbacks() -> None:
    regression = tasks.task_of_metrics({"rmse": 1.0, "mae": 1.0})
    assert regression is tasks.TASKS["regression"]
    assert tasks.task_of_metrics({"roc_auc": 0.8}) is tasks.TASKS["binary"]
    assert tasks.task_of_metrics({"roc_auc": 0.8, "per_class": {}}) is tasks.TASKS["multiclass"]
    assert tasks.task_of_metrics({}) is None
    assert tasks.primary_metric("roc_auc", regression) == "rmse"
    assert tasks.primary_metric("mae", regression) == "mae"
    assert tasks.primary_metric("roc_auc", tasks.TASKS["binary"]) == "roc_auc"
    assert tasks.gate_metrics(["roc_auc", "log_loss"], regression) == (
        ["rmse", "mae"],
        ["roc_auc", "log_loss"],
    )
    assert tasks.gate_metrics(["roc_auc", "r2"], regression) == (["r2"], ["roc_auc"])
    with pytest.raises(GitmlError, match="not a known task"):
        tasks.get("ranking")


RULES = {
    "roc_auc": MetricRule(higher_is_better=True, tolerance=0.01),
    "rmse": MetricRule(higher_is_better=False, tolerance=1.0),
    "mae": MetricRule(higher_is_better=False, tolerance=1.0),
}
GATES = GatePolicy(metrics=("roc_auc",), fairness={"demographic_parity_difference": 0.1})


def test_gates_judge_a_regression_by_its_own_metrics_and_skip_classification_gaps() -> None:
    slices = {"sex": {"groups": {}, "mae_gap": 3.0, "rmse_gap": 4.0}}
    champion = Evidence(metrics={"rmse": 50.0, "mae": 40.0})
    worse = Evidence(metrics={"rmse": 52.5, "mae": 40.2, "r2": 0.4}, slices=slices)
    report = evaluate_gates(GATES, RULES, worse, champion)
    by_gate = {r.gate: r for r in report.results}
    assert not by_gate["rmse"].passed and by_gate["rmse"].status == "regressed"
    assert by_gate["mae"].passed
    assert by_gate["roc_auc"].passed and "skipped" in by_gate["roc_auc"].detail
    skipped = by_gate["demographic_parity_difference"]
    assert skipped.passed and skipped.kind == "fairness" and "regression" in skipped.detail
    gap_gates = GatePolicy(metrics=("rmse",), fairness={"mae_gap": 2.0})
    gap = {r.gate: r for r in evaluate_gates(gap_gates, RULES, worse, None).results}
    assert not gap["sex mae_gap"].passed


def test_gates_for_a_binary_candidate_are_unchanged() -> None:
    slices = {"g": {"demographic_parity_difference": 0.2}}
    report = evaluate_gates(GATES, RULES, Evidence({"roc_auc": 0.8}, slices), None)
    assert [r.gate for r in report.results] == ["roc_auc", "g demographic_parity_difference"]
    assert not report.passed


def test_regression_decay_against_recorded_metrics() -> None:
    labels = [Y[:150], Y[150:]]
    scores = [PRED[:150] + 40.0, PRED[150:] + 40.0]  # biased predictions: larger errors
    recorded = tasks.get("regression").compute_metrics(Y, PRED, [], 0.5)
    out = decay(
        labels,
        scores,
        score_name="score",
        positive_class=None,
        threshold=0.5,
        recorded_metrics=recorded,
        tolerances={"rmse": 5.0, "r2": 0.05},
        task="regression",
    )
    assert out["decayed"] and out["labelled_rows"] == 300
    rmse = out["metrics"]["rmse"]
    assert rmse["current"] == pytest.approx(np.sqrt(mean_squared_error(Y, PRED + 40.0)))
    assert rmse["loss"] == pytest.approx(rmse["current"] - recorded["rmse"]) and rmse["decayed"]
    assert out["metrics"]["mae"]["tolerance"] is None and not out["metrics"]["mae"]["decayed"]
    inferred = decay(
        labels,
        [PRED[:150], PRED[150:]],
        score_name="score",
        positive_class=None,
        threshold=0.5,
        recorded_metrics=recorded,
        tolerances={"rmse": 5.0},
    )
    assert not inferred["decayed"] and inferred["metrics"]["rmse"]["loss"] == pytest.approx(0.0)


def test_multiclass_decay_judges_the_predicted_classes() -> None:
    """iris: accuracy and macro F1 of the predicted class against the labels, no scores needed."""
    from sklearn.datasets import load_iris
    from sklearn.metrics import accuracy_score, f1_score

    iris = load_iris(as_frame=True).frame
    labels = iris["target"].to_numpy(dtype="float64")[::2]  # labels read as numbers: 2.0 is 2
    predicted = labels.astype(int).copy()
    predicted[::7] = (predicted[::7] + 1) % 3  # some wrong
    out = decay(
        [labels[:40], labels[40:]],
        [np.full(40, np.nan), np.full(len(labels) - 40, np.nan)],  # no score column
        score_name="score",
        positive_class=None,
        threshold=0.5,
        recorded_metrics={"accuracy": 0.97, "f1": 0.97, "per_class": {}},
        tolerances={"accuracy": 0.02, "f1": 0.03},
        task="multiclass",
        prediction_chunks=[predicted[:40].astype(object), predicted[40:].astype(object)],
    )
    truth = labels.astype(int)
    assert out["labelled_rows"] == len(labels) == 75
    assert out["metrics"]["accuracy"]["current"] == pytest.approx(accuracy_score(truth, predicted))
    assert out["metrics"]["f1"]["current"] == pytest.approx(
        f1_score(truth, predicted, average="macro")
    )
    assert out["decayed"] and out["metrics"]["accuracy"]["decayed"]
    # Without a prediction column the labelled rows are still counted, and the note says why.
    none = decay(
        [labels],
        [np.full(len(labels), np.nan)],
        score_name="score",
        positive_class=None,
        threshold=0.5,
        recorded_metrics={"accuracy": 0.9, "per_class": {}},
        tolerances={},
    )
    assert none["labelled_rows"] == 75 and "'prediction'" in none["note"], none


def test_regression_data_refuses_a_positive_class() -> None:
    raw = {
        "source": "diabetes",
        "target": "y",
        "task": "regression",
        "columns": {
            "x": {"dtype": "float64", "role": "feature"},
            "y": {"dtype": "float64", "role": "target"},
        },
    }
    assert DataConfig.parse(raw).positive_class is None
    with pytest.raises(GitmlError, match="positive_class"):
        DataConfig.parse({**raw, "positive_class": 1})


def test_a_regressor_scores_its_predictions_for_the_monitor() -> None:
    scores = Scores(np.array([1.5, 2.0], dtype=object), None, [])
    assert scores.positive_scores(None) == [1.5, 2.0]
    proba = Scores(np.array([0, 1], dtype=object), np.array([[0.3, 0.7], [0.9, 0.1]]), [0, 1])
    assert proba.positive_scores(1) == [0.7, 0.1]


def _snapshot(label: str, metrics: dict, plots: dict, slices: dict | None = None) -> Snapshot:
    return Snapshot(label=label, rev=None, metrics=metrics, slices=slices, plots=plots)


def test_report_shows_per_class_metrics_and_the_k_by_k_confusion_matrix() -> None:
    classes = ["a", "b", "c"]
    confusion = [{"actual": a, "predicted": p} for a in classes for p in classes if a <= p]
    per_class = {c: {"precision": 0.5, "recall": 0.6, "f1": 0.55, "support": 10} for c in classes}
    base = _snapshot("base", {"accuracy": 0.7, "per_class": per_class}, {"confusion": confusion})
    flat = {f"per_class.{c}.{s}": v for c in classes for s, v in per_class[c].items()}
    flat["per_class.b.recall"] = 0.8  # DVC may hand the block over flattened
    head = _snapshot("head", {"accuracy": 0.72, **flat}, {"confusion": confusion, "roc": []})
    rules = {"accuracy": MetricRule(True, 0.002, 0.0, 0.01, None)}
    report = build_report(base, head, rules, primary_metric="accuracy", top_k=5)
    assert [m.name for m in report.metrics] == ["accuracy"]
    recall_b = next(r for r in report.per_class if (r.label, r.stat) == ("b", "recall"))
    assert recall_b.base == 0.6 and recall_b.head == 0.8 and recall_b.delta == pytest.approx(0.2)
    assert len(report.per_class) == 12 and report.plots == []  # an empty plot file is skipped
    assert report.confusion is not None and report.confusion.labels == classes
    md = render_markdown(report, TEMPLATES, marker="<!-- m -->", limit=60000)
    assert "### Per-class metrics" in md and "| b | recall | 0.6000 | 0.8000 | +0.2000 |" in md
    assert "| Actual \\ Predicted | a | b | c |" in md
    assert "Per-class metrics" in render_html(report, TEMPLATES)


def test_report_of_a_regression_diffs_group_errors() -> None:
    slices = {"sex": {"groups": {"1": {"count": 40, "mae": 40.0, "rmse": 50.0}}, "mae_gap": 3.0}}
    worse = {"sex": {"groups": {"1": {"count": 40, "mae": 44.0, "rmse": 55.0}}, "mae_gap": 5.0}}
    report = build_report(
        _snapshot("base", {"rmse": 50.0}, {}, slices),
        _snapshot("head", {"rmse": 52.0}, {}, worse),
        {"rmse": MetricRule(False, 0.0, 0.01, 1.0, None)},
        primary_metric="rmse",
        top_k=5,
    )
    changes = {(s.group, s.stat): s.change for s in report.slices}
    assert changes[("", "mae_gap")] == "worse" and changes[("1", "mae")] == "worse"
    assert report.verdict.status == "regressed"


def test_the_card_line_names_a_positive_class_only_for_binary() -> None:
    from gitml.tasks import get

    assert "positive" not in get("multiclass").card_line("species", ["a", "b", "c"], None)
    assert "positive: 1" in get("binary").card_line("default", [0, 1], 1)
