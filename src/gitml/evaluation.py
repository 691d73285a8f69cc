"""Pure evaluation: metrics, DVC plot data, fairness slices and permutation importance.

Which of these a run uses is decided by its task's row in `gitml.tasks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    check_scoring,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    precision_recall_curve,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    roc_curve,
)

CONFUSION_ROWS = 20_000
#: Rows kept in the per-row regression plots (predicted vs actual, residuals).
SCATTER_ROWS = 5_000


def predict_labels(proba: np.ndarray, classes: list[Any], threshold: float) -> np.ndarray:
    """Labels from probabilities: the threshold on the last class for binary, argmax otherwise."""
    if len(classes) == 2:
        return np.where(proba[:, 1] >= threshold, classes[1], classes[0])
    return np.asarray(classes)[np.argmax(proba, axis=1)]


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, classes: list[Any], threshold: float
) -> dict[str, float]:
    """ROC AUC, average precision, accuracy, F1, log loss and Brier score (binary or multiclass)."""
    pred = predict_labels(proba, classes, threshold)
    if len(classes) == 2:
        pos = classes[1]
        y_bin = (y == pos).astype(int)
        return {
            "roc_auc": float(roc_auc_score(y_bin, proba[:, 1])),
            "average_precision": float(average_precision_score(y_bin, proba[:, 1])),
            "accuracy": float(accuracy_score(y, pred)),
            "f1": float(f1_score(y_bin, (pred == pos).astype(int))),
            "log_loss": _log_loss(y, proba, classes),
            "brier": float(brier_score_loss(y_bin, proba[:, 1])),
        }
    onehot = (np.asarray(y)[:, None] == np.asarray(classes)[None, :]).astype(float)
    present = onehot.sum(axis=0) > 0
    if present.all():
        roc_auc = float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        avg_precision = float(average_precision_score(onehot, proba, average="macro"))
    else:  # one-vs-rest over the classes the test labels hold (an absent class has no curve)
        roc_auc = (
            float(roc_auc_score(onehot[:, present], proba[:, present], average="macro"))
            if present.sum() >= 2
            else float("nan")
        )
        avg_precision = float(
            average_precision_score(onehot[:, present], proba[:, present], average="macro")
        )
    return {
        "roc_auc": roc_auc,
        "average_precision": avg_precision,
        "accuracy": float(accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, average="macro", zero_division=0.0)),
        "log_loss": _log_loss(y, proba, classes),
        "brier": float(np.mean(np.sum((proba - onehot) ** 2, axis=1))),
    }


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> float:
    """scikit-learn's log loss, with `proba`'s columns in `classes`' order.

    `log_loss(labels=...)` sorts the labels and reads the columns in that sorted order; gitml
    puts the positive class last (binary), which need not sort last (`female`/`male` with
    `female` positive): put the columns in sorted order first.
    """
    order = sorted(range(len(classes)), key=lambda i: classes[i])
    return float(log_loss(y, proba[:, order], labels=[classes[i] for i in order]))


def per_class_metrics(
    y: np.ndarray, pred: np.ndarray, classes: list[Any]
) -> dict[str, dict[str, float | int | None]]:
    """Precision, recall, F1 and support of each class (one-vs-rest), keyed by the class as text.

    A class with no test rows (support 0) has no recall or F1 (None), and no precision unless
    the model predicted it (then 0: every such prediction is wrong)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=classes, zero_division=0.0
    )
    predicted = set(np.asarray(pred).tolist())
    out: dict[str, dict[str, float | int | None]] = {}
    for i, c in enumerate(classes):
        if support[i] == 0:
            shown = float(precision[i]) if c in predicted else None
            out[str(c)] = {"precision": shown, "recall": None, "f1": None, "support": 0}
        else:
            out[str(c)] = {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
    return out


def absent_classes(y: np.ndarray, classes: list[Any]) -> list[Any]:
    """The model's classes that no test label holds (their one-vs-rest metrics are undefined)."""
    seen = set(np.asarray(y).tolist())
    return [c for c in classes if c not in seen]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, R² and MAPE (scikit-learn's: a fraction, not a percentage).

    MAPE is left out when a true value is 0: it is undefined there (scikit-learn divides by
    2.2e-16, so one zero makes it ~1e15, and every comparison of it noise). Counts and other
    targets with zeros are judged by RMSE, MAE and R².
    """
    y = np.asarray(y, dtype="float64")
    pred = np.asarray(pred, dtype="float64")
    out = {
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float(r2_score(y, pred)),
    }
    if np.all(y != 0):
        out["mape"] = float(mean_absolute_percentage_error(y, pred))
    return out


def regression_plot_data(y: np.ndarray, pred: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """Data for the DVC plots of a regression: predicted vs actual, and residuals (first rows)."""
    y = np.asarray(y, dtype="float64")[:SCATTER_ROWS]
    pred = np.asarray(pred, dtype="float64")[:SCATTER_ROWS]
    return {
        "predicted_actual": [
            {"actual": _r(a), "predicted": _r(p)} for a, p in zip(y, pred, strict=True)
        ],
        "residuals": [
            {"predicted": _r(p), "residual": _r(a - p)} for a, p in zip(y, pred, strict=True)
        ],
    }


def group_errors(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Per group: count, MAE, RMSE and mean error (bias); the largest MAE and RMSE gaps."""
    error = np.asarray(pred, dtype="float64") - np.asarray(y, dtype="float64")
    frame = pd.DataFrame({"g": groups, "e": error, "ae": np.abs(error), "se": error**2})
    agg = frame.groupby("g", sort=True, observed=True).agg(
        count=("e", "size"), mae=("ae", "mean"), mse=("se", "mean"), mean_error=("e", "mean")
    )
    rmse = np.sqrt(agg["mse"])
    return {
        "groups": {
            str(g): {
                "count": int(agg.loc[g, "count"]),
                "mae": float(agg.loc[g, "mae"]),
                "rmse": float(rmse.loc[g]),
                "mean_error": float(agg.loc[g, "mean_error"]),
            }
            for g in agg.index
        },
        "mae_gap": float(agg["mae"].max() - agg["mae"].min()),
        "rmse_gap": float(rmse.max() - rmse.min()),
    }


def _thin(points: list[dict[str, float]], n: int) -> list[dict[str, float]]:
    """Keep at most n points, evenly spaced, always keeping the first and last."""
    if len(points) <= n:
        return points
    idx = np.unique(np.linspace(0, len(points) - 1, n).round().astype(int))
    return [points[i] for i in idx]


def _r(value: float) -> float:
    return round(float(value), 6)


def plot_data(
    y: np.ndarray, proba: np.ndarray, classes: list[Any], threshold: float, points: int, bins: int
) -> dict[str, list[dict[str, Any]]]:
    """Data for the DVC plots: ROC, precision-recall, confusion matrix and calibration."""
    pred = predict_labels(proba, classes, threshold)
    # DVC's confusion template counts one record per sample: keep the first CONFUSION_ROWS.
    out: dict[str, list[dict[str, Any]]] = {
        "confusion": [
            {"actual": str(a), "predicted": str(p)}
            for a, p in zip(y[:CONFUSION_ROWS], pred[:CONFUSION_ROWS], strict=True)
        ]
    }
    if len(classes) == 2:
        y_bin = (y == classes[1]).astype(int)
        score = proba[:, 1]
    else:  # micro-average: every (sample, class) pair is one binary decision
        y_bin = (np.asarray(y)[:, None] == np.asarray(classes)[None, :]).astype(int).ravel()
        score = proba.ravel()
    fpr, tpr, _ = roc_curve(y_bin, score)
    out["roc"] = _thin(
        [{"fpr": _r(f), "tpr": _r(t)} for f, t in zip(fpr, tpr, strict=True)], points
    )
    precision, recall, _ = precision_recall_curve(y_bin, score)
    out["prc"] = _thin(
        [
            {"recall": _r(r), "precision": _r(p)}
            for r, p in zip(recall[::-1], precision[::-1], strict=True)
        ],
        points,
    )
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
    cal = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            cal.append(
                {
                    "bin": b,
                    "mean_predicted": _r(score[mask].mean()),
                    "fraction_positive": _r(y_bin[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    out["calibration"] = cal
    return out


def group_rates(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Per group: count, selection rate, TPR and FPR, computed with one vectorised groupby."""
    frame = pd.DataFrame({"g": groups, "t": y_true.astype(int), "p": y_pred.astype(int)})
    frame["tp"] = frame["t"] & frame["p"]
    frame["fp"] = (1 - frame["t"]) & frame["p"]
    frame["neg"] = 1 - frame["t"]
    agg = frame.groupby("g", sort=True, observed=True).agg(
        count=("p", "size"),
        selected=("p", "sum"),
        tp=("tp", "sum"),
        fp=("fp", "sum"),
        pos=("t", "sum"),
        neg=("neg", "sum"),
    )
    out = pd.DataFrame(index=agg.index)
    out["count"] = agg["count"]
    out["selection_rate"] = agg["selected"] / agg["count"]
    out["tpr"] = agg["tp"] / agg["pos"].where(agg["pos"] > 0)
    out["fpr"] = agg["fp"] / agg["neg"].where(agg["neg"] > 0)
    return out


def fairness(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Group rates plus demographic-parity and equalized-odds differences (fairlearn's definitions)."""
    rates = group_rates(y_true, y_pred, groups)
    dpd = float(rates["selection_rate"].max() - rates["selection_rate"].min())
    tpr_gap = float(rates["tpr"].max() - rates["tpr"].min())
    fpr_gap = float(rates["fpr"].max() - rates["fpr"].min())
    return {
        "groups": {
            str(g): {
                k: (None if pd.isna(v) else (int(v) if k == "count" else float(v)))
                for k, v in row.items()
            }
            for g, row in rates.iterrows()
        },
        "demographic_parity_difference": dpd,
        "equalized_odds_difference": float(np.nanmax([tpr_gap, fpr_gap])),
    }


def _column_blocks(pre: Any, features: list[str]) -> dict[str, list[int]] | None:
    """Which columns of the fitted ColumnTransformer's output each input feature became."""
    blocks: dict[str, list[int]] = {}
    for name, transformer, columns in pre.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        start = pre.output_indices_[name].start
        encoder = transformer
        if hasattr(transformer, "named_steps"):
            encoder = transformer.named_steps.get("encode", transformer.steps[-1][1])
        widths = [1] * len(columns)
        if type(encoder).__name__ == "OneHotEncoder":
            if getattr(encoder, "drop_idx_", None) is not None:
                return None
            widths = [len(c) for c in encoder.categories_]
        for column, width in zip(columns, widths, strict=True):
            blocks[str(column)] = list(range(start, start + width))
            start += width
    return blocks if set(blocks) == set(features) else None


def importance(
    pipeline: Any, x: pd.DataFrame, y: np.ndarray, scoring: str, repeats: int, seed: int
) -> dict[str, dict[str, float]]:
    """Permutation importance per input feature, sorted by mean decrease (largest first).

    The same numbers as `sklearn.inspection.permutation_importance` (same random stream), but the
    preprocessing runs once: permuting an input column's rows and then encoding it equals
    encoding once and permuting the rows of that column's encoded block.
    """
    features = [str(c) for c in x.columns]
    pre = getattr(pipeline, "named_steps", {}).get("preprocess")
    blocks = _column_blocks(pre, features) if pre is not None else None
    if blocks is None:
        result = permutation_importance(
            pipeline, x, y, scoring=scoring, n_repeats=repeats, random_state=seed, n_jobs=1
        )
        means, stds = result.importances_mean, result.importances_std
    else:
        assert pre is not None  # blocks come from the preprocessor
        final = pipeline.steps[-1][1]
        scorer = check_scoring(final, scoring=scoring)
        encoded = np.asarray(pre.transform(x))
        baseline = scorer(final, encoded, y)
        column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
        scores = np.empty((len(features), repeats))
        for i, feature in enumerate(features):
            rng = np.random.RandomState(column_seed)
            permuted = encoded.copy()
            cols = blocks[feature]
            order = np.arange(len(encoded))
            for r in range(repeats):
                rng.shuffle(order)
                permuted[:, cols] = permuted[order][:, cols]
                scores[i, r] = scorer(final, permuted, y)
        drops = baseline - scores
        means, stds = drops.mean(axis=1), drops.std(axis=1)
    order_idx = np.argsort(-means, kind="stable")
    return {features[i]: {"mean": _r(means[i]), "std": _r(stds[i])} for i in order_idx}
