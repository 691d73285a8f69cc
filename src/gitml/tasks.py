"""The task table: what each learning task (binary, multiclass, regression) computes and shows.

One row per task (`TASKS`), read by the evaluate and train stages, the report, the promotion
gates, serving, the monitor and the model card instead of branching on the task's name. Adding
a task means adding a row here (and its metric functions in `gitml.evaluation`).

Pure and light: scikit-learn is imported only when a metric is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gitml.errors import GitmlError

Values = dict[str, Any]


def _classification_metrics(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float
) -> dict[str, Any]:
    from gitml.evaluation import classification_metrics

    return classification_metrics(y, values, classes, threshold)


def _multiclass_metrics(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float
) -> dict[str, Any]:
    from gitml.evaluation import classification_metrics, per_class_metrics, predict_labels

    out: dict[str, Any] = classification_metrics(y, values, classes, threshold)
    out["per_class"] = per_class_metrics(y, predict_labels(values, classes, threshold), classes)
    return out


def _regression_metrics(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float
) -> dict[str, Any]:
    from gitml.evaluation import regression_metrics

    return dict(regression_metrics(y, values))


def _classification_plots(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float, points: int, bins: int
) -> dict[str, list[dict[str, Any]]]:
    from gitml.evaluation import plot_data

    return plot_data(y, values, classes, threshold, points, bins)


def _regression_plots(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float, points: int, bins: int
) -> dict[str, list[dict[str, Any]]]:
    from gitml.evaluation import regression_plot_data

    return regression_plot_data(y, values)


def _binary_slices(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float, groups: np.ndarray
) -> dict[str, Any]:
    from gitml.evaluation import fairness, predict_labels

    pred = predict_labels(values, classes, threshold)
    y_pos = (y == classes[1]).astype(int)
    p_pos = (pred == classes[1]).astype(int)
    return fairness(y_pos, p_pos, groups)


def _regression_slices(
    y: np.ndarray, values: np.ndarray, classes: list[Any], threshold: float, groups: np.ndarray
) -> dict[str, Any]:
    from gitml.evaluation import group_errors

    return group_errors(y, values, groups)


def _probability_score(values: np.ndarray, classes: list[Any]) -> np.ndarray:
    """The positive class's probability (binary), else the largest probability per row."""
    return values[:, -1] if len(classes) == 2 else values.max(axis=1)


def _prediction_score(values: np.ndarray, classes: list[Any]) -> np.ndarray:
    return np.asarray(values, dtype="float64")


def _binary_decay(
    labels: np.ndarray, scores: np.ndarray, positive_class: Any, threshold: float
) -> dict[str, float] | str:
    import pandas as pd

    from gitml.evaluation import classification_metrics

    is_positive = (pd.Series(labels).astype(str) == str(positive_class)).to_numpy()
    if len(np.unique(is_positive)) < 2:
        return "the labels hold one class only: metrics need both"
    clipped = np.clip(scores, 0.0, 1.0)
    proba = np.column_stack([1.0 - clipped, clipped])
    return classification_metrics(is_positive.astype(int), proba, [0, 1], threshold)


def _regression_decay(
    labels: np.ndarray, scores: np.ndarray, positive_class: Any, threshold: float
) -> dict[str, float] | str:
    import pandas as pd

    from gitml.evaluation import regression_metrics

    actual = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype="float64")
    keep = ~np.isnan(actual)
    if not keep.any():
        return "the labels hold no numbers: a regression needs numeric labels"
    return regression_metrics(actual[keep], scores[keep])


def _multiclass_decay(
    labels: np.ndarray, predictions: np.ndarray, positive_class: Any, threshold: float
) -> dict[str, float] | str:
    """Accuracy and macro F1 of the predicted classes (as the recorded metrics compute them)."""
    from sklearn.metrics import accuracy_score, f1_score

    truth, predicted = class_text(labels), class_text(predictions)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1": float(f1_score(truth, predicted, average="macro")),
    }


def class_text(values: np.ndarray) -> np.ndarray:
    """Class values as text, whole floats as integers: a label read as 2.0 is the class 2."""

    def one(v: Any) -> str:
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v.item() if isinstance(v, np.generic) else v)

    return np.array([one(v) for v in values], dtype=object)


@dataclass(frozen=True)
class ModelOptions:
    """The shipped model options (conf/model/<name>.yaml) of one kind of estimator."""

    boosting: str  # the default
    forest: str  # small data: `gitml data init` selects it under 1,000 rows
    linear: str

    def names(self) -> tuple[str, str, str]:
        return self.boosting, self.forest, self.linear


#: The shipped model options per kind of estimator (`Task.estimator`).
MODEL_OPTIONS = {
    "classifier": ModelOptions("hist_gradient_boosting", "random_forest", "logistic_regression"),
    "regressor": ModelOptions(
        "hist_gradient_boosting_regressor", "random_forest_regressor", "ridge"
    ),
}


@dataclass(frozen=True)
class Task:
    """One learning task: its metrics and their directions, plots, slices, outputs and decay."""

    name: str
    #: What conf/model/ must build: "classifier" or "regressor" (scikit-learn's estimator type).
    estimator: str
    #: What the model returns per row: "probability" (predict_proba) or "prediction" (predict).
    output: str
    #: metrics.json's scalar keys in order, each with its direction (True: higher is better).
    metrics: Mapping[str, bool]
    #: The headline metric when the policy's report.primary_metric is not one of `metrics`.
    primary_metric: str
    #: The promotion gates when none of the policy's gates.metrics is one of `metrics`.
    gate_metrics: tuple[str, ...]
    #: The DVC plot files (reports/plots/<name>.json) this task fills; the others are written empty.
    plots: tuple[str, ...]
    #: slices.json's per-attribute gaps (lower is better) and their labels.
    fairness: Mapping[str, str]
    #: slices.json's per-group statistics: label and direction (None: neither).
    group_stats: Mapping[str, tuple[str, bool | None]]
    #: Metrics the monitor recomputes from labels to judge decay (empty: no decay for the task).
    decay_metrics: tuple[str, ...]
    #: Permutation-importance scorer; None: evaluate.importance_scoring from params.
    importance_scoring: str | None
    #: Whether the stratified split stratifies on the target (only meaningful for classes).
    stratify: bool
    #: Whether data.positive_class applies.
    uses_positive_class: bool
    #: The model card's one-line summary, formatted with task, target, classes and positive.
    card_summary: str
    #: What the score profile and the monitor's score column hold.
    score_meaning: str
    compute_metrics: Callable[..., dict[str, Any]] = field(repr=False)
    compute_plots: Callable[..., dict[str, list[dict[str, Any]]]] = field(repr=False)
    compute_slices: Callable[..., dict[str, Any]] | None = field(repr=False)
    compute_score: Callable[[np.ndarray, list[Any]], np.ndarray] = field(repr=False)
    compute_decay: Callable[..., dict[str, float] | str] | None = field(repr=False)
    #: What decay judges the labels by: the batch's "score" column (the monitor's score) or the
    #: model's "prediction" column (the predicted class).
    decay_input: str = "score"

    @property
    def lower_is_better(self) -> tuple[str, ...]:
        return tuple(name for name, higher in self.metrics.items() if not higher)

    def card_line(self, target: str, classes: Sequence[Any], positive: Any) -> str:
        """The model card's task summary."""
        return self.card_summary.format(
            task=self.name, target=target, classes=", ".join(map(str, classes)), positive=positive
        )


_CLASSIFICATION_METRICS = {
    "roc_auc": True,
    "average_precision": True,
    "accuracy": True,
    "f1": True,
    "log_loss": False,
    "brier": False,
}
_CLASSIFICATION_PLOTS = ("roc", "prc", "confusion", "calibration")
_CLASSIFICATION_SUMMARY = (
    "{task} classification of `{target}` (classes: {classes}; positive: {positive})"
)

_BINARY = Task(
    name="binary",
    estimator="classifier",
    output="probability",
    metrics=_CLASSIFICATION_METRICS,
    primary_metric="roc_auc",
    gate_metrics=("roc_auc", "average_precision", "log_loss"),
    plots=_CLASSIFICATION_PLOTS,
    fairness={
        "demographic_parity_difference": "demographic-parity difference",
        "equalized_odds_difference": "equalized-odds difference",
    },
    group_stats={
        "count": ("count", None),
        "selection_rate": ("selection rate", None),
        "tpr": ("TPR", True),
        "fpr": ("FPR", False),
    },
    decay_metrics=tuple(_CLASSIFICATION_METRICS),
    importance_scoring=None,
    stratify=True,
    uses_positive_class=True,
    card_summary=_CLASSIFICATION_SUMMARY,
    score_meaning="the positive class's probability",
    compute_metrics=_classification_metrics,
    compute_plots=_classification_plots,
    compute_slices=_binary_slices,
    compute_score=_probability_score,
    compute_decay=_binary_decay,
)


TASKS: dict[str, Task] = {
    "binary": _BINARY,
    "multiclass": replace(
        _BINARY,
        name="multiclass",
        fairness={},
        group_stats={},
        decay_metrics=("accuracy", "f1"),
        importance_scoring="accuracy",
        uses_positive_class=False,
        score_meaning="the largest class probability",
        card_summary="{task} classification of `{target}` (classes: {classes})",
        compute_metrics=_multiclass_metrics,
        compute_slices=None,
        compute_decay=_multiclass_decay,
        decay_input="prediction",
    ),
    "regression": Task(
        name="regression",
        estimator="regressor",
        output="prediction",
        metrics={"rmse": False, "mae": False, "r2": True, "mape": False},
        primary_metric="rmse",
        gate_metrics=("rmse", "mae"),
        plots=("predicted_actual", "residuals"),
        fairness={"mae_gap": "MAE gap", "rmse_gap": "RMSE gap"},
        group_stats={
            "count": ("count", None),
            "mae": ("MAE", False),
            "rmse": ("RMSE", False),
            "mean_error": ("mean error", None),
        },
        decay_metrics=("rmse", "mae", "r2", "mape"),
        importance_scoring="neg_root_mean_squared_error",
        stratify=False,
        uses_positive_class=False,
        card_summary="regression of `{target}` (the model predicts a number; no probabilities)",
        score_meaning="the predicted value",
        compute_metrics=_regression_metrics,
        compute_plots=_regression_plots,
        compute_slices=_regression_slices,
        compute_score=_prediction_score,
        compute_decay=_regression_decay,
    ),
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def _union(parts: Sequence[Sequence[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for part in parts for name in part))


#: Every plot file any task writes (evaluate writes all of them: DVC needs each declared output).
ALL_PLOTS = _union([t.plots for t in TASKS.values()])
#: Every metric any task reports, and those where lower is better.
ALL_METRICS = _union([tuple(t.metrics) for t in TASKS.values()])
LOWER_IS_BETTER = _union([t.lower_is_better for t in TASKS.values()])
#: Metrics the monitor can judge decay on.
DECAY_METRICS = _union([t.decay_metrics for t in TASKS.values()])
#: slices.json gaps and per-group statistics of every task (with their directions).
FAIRNESS_STATS = _union([tuple(t.fairness) for t in TASKS.values()])
GROUP_STATS: dict[str, bool | None] = {
    stat: direction for t in TASKS.values() for stat, (_, direction) in t.group_stats.items()
}


def get(name: str) -> Task:
    """The row of task `name`; a clear error for an unknown task."""
    if name not in TASKS:
        raise GitmlError(
            f"'{name}' is not a known task.", f"Use one of: {', '.join(TASK_NAMES)} (data.task)."
        )
    return TASKS[name]


def task_of_metrics(metrics: Mapping[str, Any] | None) -> Task | None:
    """The task a metrics.json was written for, from its keys (None: none recognised).

    Binary and multiclass share their metric names; a multiclass file also has `per_class`.
    """
    keys = set(metrics or {})
    if keys & set(TASKS["regression"].metrics):
        return TASKS["regression"]
    if keys & set(_CLASSIFICATION_METRICS):
        return TASKS["multiclass"] if "per_class" in keys else TASKS["binary"]
    return None


def primary_metric(configured: str, task: Task | None) -> str:
    """The policy's report.primary_metric if the task reports it, else the task's own."""
    if task is None or configured in task.metrics:
        return configured
    return task.primary_metric


def gate_metrics(configured: Sequence[str], task: Task | None) -> tuple[list[str], list[str]]:
    """The gate metrics that apply to `task`, and the configured ones that do not.

    The policy's gates.metrics that the task reports are judged; when none of them does (e.g. a
    classification policy and a regression run), the task's own `gate_metrics` are judged.
    """
    if task is None:
        return list(configured), []
    used = [m for m in configured if m in task.metrics]
    skipped = [m for m in configured if m not in task.metrics]
    return (used or list(task.gate_metrics)), skipped


def empty_plots() -> dict[str, list[dict[str, Any]]]:
    """Every plot file, empty: the base the task's own plots are written over."""
    return {name: [] for name in ALL_PLOTS}
