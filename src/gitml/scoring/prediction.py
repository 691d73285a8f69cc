"""Prediction: validated columns scored by the model, as labels, probabilities or values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitml.modeling import Signature
from gitml.scoring.columns import Columns


@dataclass(frozen=True)
class Scores:
    """Predictions for a batch of rows; `probabilities` has one column per class (or None)."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any]

    def slice(self, start: int, stop: int) -> Scores:
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Scores(self.predictions[start:stop], proba, self.classes)

    def positive_scores(self, positive_class: Any) -> list[float] | None:
        """The score the monitor profiles per row: the positive class's probability (binary
        classifiers) or the predicted value (regressors: no probabilities, no classes)."""
        if self.probabilities is None:
            if self.classes or self.predictions.dtype.kind not in "iufO":
                return None
            try:
                return [float(v) for v in self.predictions.tolist()]
            except (TypeError, ValueError):
                return None
        if positive_class not in self.classes:
            return None
        return self.probabilities[:, self.classes.index(positive_class)].tolist()


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def model_frame(columns: Columns, features: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The model's input frame from validated columns: equal to what `prepare_features` makes of
    them (same values, dtypes and index; tested), without its per-column pandas conversions,
    which `validate` has already done. Categorical columns stay object arrays even when every
    value is missing (a float64 column of NaN breaks the fitted encoders)."""
    return pd.DataFrame({spec["name"]: columns[spec["name"]] for spec in features}, copy=False)


def score(model: Any, signature: Signature, columns: Columns) -> Scores:
    """Score validated columns with one call into the model."""
    frame = model_frame(columns, signature.features)
    if hasattr(model, "predict_proba"):
        return classified(model.predict_proba(frame), model_classes(model, signature), signature)
    return regressed(model.predict(frame))


def model_classes(model: Any, signature: Signature) -> list[Any]:
    """A classifier's classes in its probability columns' order (JSON-safe values)."""
    return [_py(c) for c in getattr(model, "classes_", signature.classes)]


def classified(probabilities: Any, classes: list[Any], signature: Signature) -> Scores:
    """A classifier's scores from its class probabilities: the signature's decision threshold
    on P(positive class) for a binary model that has one, else the most probable class."""
    proba = np.asarray(probabilities, dtype="float64")
    cut, positive = signature.threshold, signature.positive_class
    if cut is not None and len(classes) == 2 and positive in classes:
        # The train stage's decision threshold on P(positive class) (signature.json).
        pos = classes.index(positive)
        labels = np.asarray([classes[1 - pos], positive], dtype=object)
        preds = labels[(proba[:, pos] >= cut).astype(np.intp)]
        return Scores(preds, proba, classes)
    # Same rule as scikit-learn classifiers' predict: the class of the largest probability.
    preds = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    return Scores(preds, proba, classes)


def regressed(values: Any) -> Scores:
    """A regressor's scores: its predictions, no probabilities, no classes."""
    return Scores(np.asarray(values, dtype=object), None, [])


def predictions_array(scores: Scores) -> np.ndarray:
    """Predictions as a typed array (int64, float64, str...) when the classes allow one: what
    a DataFrame column of `predictions_list` would hold, without a Python object per row."""
    values = scores.predictions
    if values.dtype != object or not len(values):
        return values
    typed = np.asarray(values.tolist())
    return typed if typed.dtype.kind in "iufb" else values


def predictions_list(scores: Scores) -> list[Any]:
    """JSON-safe predictions."""
    return [_py(v) for v in scores.predictions.tolist()]
