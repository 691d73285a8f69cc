"""Evaluation metrics, plots and fairness slices, cross-checked against sklearn and fairlearn."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from gitml.evaluation import classification_metrics, fairness, plot_data

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fairness_matches_fairlearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.4, 0.1])
    y = rng.integers(0, 2, n)
    pred = (rng.random(n) < np.where(groups == "a", 0.3, 0.5)).astype(int)
    ours = fairness(y, pred, groups)
    assert ours["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=groups)
    )
    assert ours["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=groups)
    )
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
    ).by_group
    for g in ("a", "b", "c"):
        for key in ("selection_rate", "tpr", "fpr"):
            assert ours["groups"][g][key] == pytest.approx(frame.loc[g, key])
        assert ours["groups"][g]["count"] == int((groups == g).sum())


def test_binary_metrics_and_plots() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 1000)
    p1 = np.clip(y * 0.3 + rng.random(1000) * 0.7, 0, 1)
    proba = np.column_stack([1 - p1, p1])
    m = classification_metrics(y, proba, [0, 1], 0.5)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert set(m) == {"roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"}
    plots = plot_data(y, proba, [0, 1], 0.5, points=50, bins=10)
    assert len(plots["roc"]) <= 50 and plots["roc"][0] == {"fpr": 0.0, "tpr": 0.0}
    assert sum(b["count"] for b in plots["calibration"]) == 1000
    assert len(plots["confusion"]) == 1000


@pytest.mark.parametrize("positive", ["benign", "malignant"])
def test_binary_metrics_do_not_depend_on_how_the_classes_sort(positive: str) -> None:
    """The positive class comes last in `classes` whether or not it sorts last (penguins' `sex`
    with `female` positive reported log loss 2.99 for a model whose true log loss was 0.27)."""
    data = load_breast_cancer()
    y = np.asarray(data.target_names)[data.target]
    negative = "malignant" if positive == "benign" else "benign"
    x = data.data[:, :4]
    model = LogisticRegression(max_iter=5000).fit(x, y == positive)
    p_pos = model.predict_proba(x)[:, 1]
    m = classification_metrics(y, np.column_stack([1 - p_pos, p_pos]), [negative, positive], 0.5)
    y_pos = (y == positive).astype(int)
    assert m["log_loss"] == pytest.approx(log_loss(y_pos, p_pos), rel=1e-12)
    assert m["log_loss"] < 0.5  # a useful model, either way round
    assert m["brier"] == pytest.approx(brier_score_loss(y_pos, p_pos))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y_pos, p_pos))


def test_multiclass_metrics() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 600)
    raw = rng.random((600, 3)) + np.eye(3)[y]
    proba = raw / raw.sum(axis=1, keepdims=True)
    m = classification_metrics(y, proba, [0, 1, 2], 0.5)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    assert 0 <= m["brier"] <= 2
    plots = plot_data(y, proba, [0, 1, 2], 0.5, points=20, bins=5)
    assert {"roc", "prc", "calibration", "confusion"} <= set(plots)


@pytest.mark.parametrize(
    "option", ["logistic_regression", "random_forest", "hist_gradient_boosting"]
)
def test_importance_equals_sklearn_permutation_importance(option: str) -> None:
    from sklearn.inspection import permutation_importance

    from gitml.config import Params
    from gitml.data.synthetic import generate
    from gitml.evaluation import importance
    from gitml.modeling import feature_specs, prepare_features
    from gitml.schema import coerce
    from stages.train import fit
    from tests.unit.test_contracts import resolved

    params = Params.parse(
        resolved(
            [f"model={option}", "model.n_estimators=20"]
            if option == "random_forest"
            else [f"model={option}"]
        )
    )
    frame = coerce(generate(600, seed=3), params.data)
    model = fit(frame, params.data, params.model)
    x = prepare_features(frame, feature_specs(params.data))
    y = frame["default"].to_numpy()
    ours = importance(model, x, y, "roc_auc", repeats=3, seed=7)
    ref = permutation_importance(model, x, y, scoring="roc_auc", n_repeats=3, random_state=7)
    for i, name in enumerate(x.columns):
        assert ours[name]["mean"] == pytest.approx(ref.importances_mean[i], abs=1e-6)
        assert ours[name]["std"] == pytest.approx(ref.importances_std[i], abs=1e-6)


def _iris_with_a_rare_class() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Iris test labels and a perfect model's probabilities, the model also knowing a class
    'rare' that no test row holds (its two rows all went to training)."""
    from sklearn.datasets import load_iris

    target = load_iris(as_frame=True).target
    names = np.array(["setosa", "versicolor", "virginica"])
    y = names[target.to_numpy()]
    classes = ["rare", *names.tolist()]  # sorted, as a fitted model's classes_
    proba = np.eye(4)[target.to_numpy() + 1] * 0.9 + 0.025
    return y, proba, classes


def test_multiclass_metrics_skip_a_class_without_test_rows() -> None:
    """A perfect model keeps roc_auc and average precision 1.0 when the model knows a class
    the test labels lack; that class's recall and F1 are unmeasured, not 0; no sklearn warnings."""
    import warnings

    from gitml.evaluation import absent_classes
    from gitml.tasks import get

    y, proba, classes = _iris_with_a_rare_class()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = get("multiclass").compute_metrics(y, proba, classes, 0.5)
    assert m["roc_auc"] == 1.0 and m["average_precision"] == 1.0 and m["accuracy"] == 1.0
    assert m["per_class"]["rare"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert m["per_class"]["setosa"]["recall"] == 1.0
    assert absent_classes(y, classes) == ["rare"]
    three = proba[:, 1:] / proba[:, 1:].sum(axis=1, keepdims=True)
    every = get("multiclass").compute_metrics(y, three, classes[1:], 0.5)
    assert every["roc_auc"] == roc_auc_score(y, three, multi_class="ovr")
