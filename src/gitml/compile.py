"""Compile a fitted pipeline to ONNX and check it against scikit-learn (parity record).

`compile_pipeline` converts the whole pipeline (preprocessing and estimator) through the
`gitml.onnx` adapter, scores the same rows with both runtimes and keeps the ONNX bytes only when
the labels are identical and every class probability is within the policy's tolerance (for a
regressor: every prediction, relative to its size). Any conversion gap becomes a "not compiled"
record with the reason: it never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from gitml import onnx as onnx_adapter
from gitml.fileio import md5_bytes

log = logging.getLogger(__name__)

#: The file the compiled model is written to inside the stage's output directory.
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Compiled:
    """The outcome of a compilation: the ONNX bytes (None when not compiled) and the record."""

    model: bytes | None
    record: dict[str, Any]


def parity(
    labels: np.ndarray,
    proba: np.ndarray,
    ref_labels: np.ndarray,
    ref_proba: np.ndarray,
    tolerance: float,
) -> dict[str, Any]:
    """Compare the compiled model's outputs with scikit-learn's (pure).

    The labels are compared as values, so both must be the model's classes (`as_classes`).
    """
    same = np.asarray(labels) == np.asarray(ref_labels)
    diff = float(np.max(np.abs(proba - ref_proba))) if len(proba) else 0.0
    return {
        "rows": len(ref_labels),
        "label_agreement": float(same.mean()) if len(same) else 1.0,
        "labels_identical": bool(same.all()),
        "max_abs_diff_proba": diff,
        "tolerance": tolerance,
        "within_tolerance": bool(diff <= tolerance),
    }


def regression_parity(
    values: np.ndarray, ref_values: np.ndarray, tolerance: float
) -> dict[str, Any]:
    """Compare a compiled regressor's predictions with scikit-learn's (pure).

    The tolerance is relative to the size of the prediction (and absolute below 1): a target in
    dollars and one in probabilities are held to the same number of significant digits.
    """
    ref = np.asarray(ref_values, dtype=np.float64)
    diff = np.abs(np.asarray(values, dtype=np.float64) - ref)
    scaled = diff / np.maximum(1.0, np.abs(ref))
    return {
        "rows": len(ref),
        "max_abs_diff_prediction": float(diff.max()) if len(diff) else 0.0,
        "max_rel_diff_prediction": float(scaled.max()) if len(scaled) else 0.0,
        "tolerance": tolerance,
        "within_tolerance": bool(not len(scaled) or scaled.max() <= tolerance),
    }


def _mismatch(check: dict[str, Any], tolerance: float) -> str | None:
    """Why a parity check fails, or None when it passes."""
    if "labels_identical" in check and not check["labels_identical"]:
        return f"labels differ from scikit-learn on {1 - check['label_agreement']:.4%} of the rows"
    if check["within_tolerance"]:
        return None
    if "max_rel_diff_prediction" in check:
        return (
            f"predictions differ by up to {check['max_rel_diff_prediction']:.3g} of their size "
            f"(tolerance {tolerance:g})"
        )
    return (
        f"probabilities differ by up to {check['max_abs_diff_proba']:.3g} (tolerance {tolerance:g})"
    )


def _estimator(pipeline: Any) -> str:
    est = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    return f"{type(est).__module__}.{type(est).__qualname__}"


def not_compiled(pipeline: Any, reason: str, tolerance: float) -> Compiled:
    """The record of a model that was not compiled, and why."""
    log.warning("not compiled: %s", reason)
    return Compiled(
        None,
        {
            "compiled": False,
            "reason": reason,
            "estimator": _estimator(pipeline),
            "tolerance": tolerance,
            "versions": onnx_adapter.runtime_versions(),
        },
    )


def compile_pipeline(
    pipeline: Pipeline, features: Sequence[dict[str, Any]], frame: pd.DataFrame, tolerance: float
) -> Compiled:
    """Convert `pipeline` to ONNX and keep it if it agrees with scikit-learn on `frame`.

    Args:
        pipeline: the fitted model (a scikit-learn Pipeline).
        features: the signature's feature list (name, kind, ...), in the model's order.
        frame: prepared feature rows (see `gitml.modeling.prepare_features`) to compare on.
        tolerance: the largest absolute difference of a class probability that still passes
            (regressors: of a prediction, relative to max(1, |prediction|)).
    """
    try:
        data = onnx_adapter.convert(pipeline, features)
        runtime = onnx_adapter.Runtime.load(data, features)
        labels, proba = runtime.predict(frame)
        if proba is not None:  # labels as scikit-learn gives them (a bool target: True/False)
            labels = onnx_adapter.as_classes(labels, pipeline.classes_)
    except Exception as exc:  # any conversion gap is a record, never a failed pipeline
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return not_compiled(
            pipeline, f"conversion failed: {type(exc).__name__}: {first}", tolerance
        )
    if proba is None:  # a regressor: its predictions are compared
        check = regression_parity(labels, pipeline.predict(frame), tolerance)
    else:
        check = parity(
            labels, proba, pipeline.predict(frame), pipeline.predict_proba(frame), tolerance
        )
    record: dict[str, Any] = {
        "compiled": False,
        "reason": _mismatch(check, tolerance),
        "estimator": _estimator(pipeline),
        "parity": check,
        "opset": onnx_adapter.opsets(data),
        "numeric_input": np.dtype(runtime.dtype).name,
        "versions": onnx_adapter.runtime_versions(),
    }
    if record["reason"] is not None:
        log.warning("not compiled: %s", record["reason"])
        return Compiled(None, record)
    record["compiled"] = True
    record["file"] = MODEL_FILE
    record["bytes"] = len(data)
    record["md5"] = md5_bytes(data)
    return Compiled(data, record)
