"""evaluate: score the test split; write metrics, per-row predictions, plots, slices and importance.

Binary tasks are thresholded at the threshold the train stage chose (models/signature.json), so
accuracy, F1, the confusion matrix and the slices use the same decision rule as serving.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from gitml.config import Params, load_params
from gitml.evaluation import absent_classes, importance, predict_labels
from gitml.fileio import write_json, write_parquet
from gitml.modeling import load_model, load_signature, prepare_features
from gitml.policy import load_policy
from gitml.predictions import predictions_frame, row_ids, slice_intervals
from gitml.profile import build_profile
from gitml.stagekit import stage_main
from gitml.tasks import empty_plots
from gitml.tasks import get as get_task

log = logging.getLogger(__name__)


def ordered_classes(classes: list[Any], positive: Any) -> list[int]:
    """Column order that puts the positive class last (binary), else the model's order."""
    if len(classes) == 2 and positive in classes:
        pos = classes.index(positive)
        return [1 - pos, pos]
    return list(range(len(classes)))


#: The decision threshold of a signature without one (written before thresholds were chosen).
DEFAULT_THRESHOLD = 0.5


def model_outputs(
    pipeline: Any, frame: pd.DataFrame, features: list[dict[str, Any]], p: Params
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[Any]]:
    """(features, labels, model outputs, classes) on `frame`, as every metric reads them.

    Classifiers give class probabilities with the positive class last (binary); regressors their
    predictions, with no classes.
    """
    x = prepare_features(frame, features)
    y = frame[p.data.target].to_numpy()
    if get_task(p.data.task).output == "probability":
        model_classes = [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
        order = ordered_classes(model_classes, p.data.positive_class)
        return x, y, pipeline.predict_proba(x)[:, order], [model_classes[i] for i in order]
    return x, y.astype("float64"), np.asarray(pipeline.predict(x), dtype="float64"), []


def evaluate(
    pipeline: Any,
    frame: pd.DataFrame,
    features: list[dict[str, Any]],
    p: Params,
    threshold: float | None = None,
) -> dict[str, Any]:
    """All evaluation results for `frame` (pure apart from the model's own computation).

    What is computed comes from the task's row in `gitml.tasks`: its metrics, plots, slices,
    importance scorer and score (the positive-class probability, or the predicted value).
    """
    task = get_task(p.data.task)
    x, y, values, classes = model_outputs(pipeline, frame, features, p)
    e = p.evaluate
    cut = DEFAULT_THRESHOLD if threshold is None else threshold
    metrics = task.compute_metrics(y, values, classes, cut)
    pred = predict_labels(values, classes, cut) if classes else values
    slices = {}
    if task.compute_slices is not None:
        for attr in p.data.sensitive:
            groups = frame[attr].astype(str).to_numpy()
            slices[attr] = task.compute_slices(y, values, classes, cut, groups)
            if len(classes) == 2:  # group rates with Wilson intervals for the fairness gates
                y_pos = (y == classes[1]).astype(int)
                p_pos = (pred == classes[1]).astype(int)
                slices[attr]["intervals"] = slice_intervals(y_pos, p_pos, groups)
    n = min(len(x), e.importance_max_rows)
    scoring = task.importance_scoring or e.importance_scoring
    imp = importance(pipeline, x.iloc[:n], y[:n], scoring, e.importance_repeats, p.seed)
    plots = empty_plots()
    plots.update(task.compute_plots(y, values, classes, cut, e.curve_points, e.calibration_bins))
    score = pd.DataFrame({"score": task.compute_score(values, classes)})
    ids = row_ids(frame, [c.name for c in p.data.columns if c.role == "id"])
    sensitive = frame[[a for a in p.data.sensitive if a in frame.columns]]
    return {
        "predictions": predictions_frame(ids, y, values, pred, sensitive, classes),
        "metrics": metrics,
        "slices": slices,
        "importance": imp,
        "plots": plots,
        "score_profile": build_profile(score, ["score"], []),
        "notes": _absent_note(absent_classes(y, classes)),
    }


def _absent_note(absent: list[Any]) -> list[str]:
    """A warning naming the model's classes that have no test rows (nothing when none)."""
    if not absent:
        return []
    shown = ", ".join(repr(c) for c in absent)
    return [
        f"class(es) {shown} have no test rows: their per-class metrics are not measured, and "
        "roc_auc and average_precision average the other classes; add rows or merge them"
    ]


def run(
    params: str,
    policy: str,
    model: str,
    signature: str,
    test: str,
    metrics: str,
    slices: str,
    importance: str,
    plots: str,
    score_profile: str,
    predictions: str,
) -> None:
    """Evaluate `model` on `test` and write every result file."""
    p = load_params(params)
    trusted = list(load_policy(Path(), policy).trusted_types)
    pipeline = load_model(model, trusted)
    sig = load_signature(signature)
    frame = pd.read_parquet(test)
    # Many small predict calls (permutation importance): one OpenMP thread is faster than
    # spinning up a team per call, and it cannot stall when the machine is busy.
    with threadpool_limits(limits=1, user_api="openmp"):
        result = evaluate(pipeline, frame, sig.features, p, sig.threshold)
    write_json(Path(metrics), result["metrics"])
    write_parquet(Path(predictions), result["predictions"])
    write_json(Path(slices), result["slices"])
    write_json(Path(importance), result["importance"])
    for name, rows in result["plots"].items():
        write_json(Path(plots) / f"{name}.json", rows)
    write_json(Path(score_profile), result["score_profile"])
    shown = ", ".join(
        f"{k}={v:.4f}"
        for k, v in result["metrics"].items()
        if isinstance(v, float) and np.isfinite(v)
    )
    log.info("%s", shown)
    for note in result["notes"]:
        log.warning("warning: %s", note)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "evaluate",
        __doc__ or "",
        [
            ("params", "params.yaml"),
            ("policy", "conf/gitml.yaml (trusted types)"),
            ("model", "skops model"),
            ("signature", "signature JSON"),
            ("test", "test Parquet"),
            ("metrics", "metrics JSON"),
            ("slices", "slices JSON"),
            ("importance", "importance JSON"),
            ("plots", "plots folder"),
            ("score-profile", "score profile JSON"),
            ("predictions", "per-row test predictions Parquet"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
