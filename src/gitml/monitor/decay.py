"""Decay: the model's metrics on labelled batch rows against the metrics recorded at training.

Pure: the caller hands in the label and score chunks it kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gitml import tasks


def decay(
    label_chunks: Sequence[np.ndarray],
    score_chunks: Sequence[np.ndarray],
    *,
    score_name: str,
    positive_class: Any,
    threshold: float,
    recorded_metrics: Mapping[str, Any],
    tolerances: Mapping[str, float],
    task: str | None = None,
    prediction_chunks: Sequence[np.ndarray | None] = (),
) -> dict[str, Any]:
    """Each metric's current value, recorded value and loss; decayed when a loss passes its tolerance.

    The metrics are the task's (`gitml.tasks`): from the positive-class probability for binary,
    from the predicted value for regression, from the predicted class (`prediction_chunks`, the
    batch's `prediction` column; None where a chunk has none) for multiclass. The score chunks
    hold NaN where the batch has no score column. `task` None: read from the recorded metrics'
    names (binary when they name none).
    """
    import pandas as pd

    row = (
        tasks.get(task)
        if task is not None
        else (tasks.task_of_metrics(recorded_metrics) or tasks.TASKS["binary"])
    )
    labels = np.concatenate(label_chunks) if label_chunks else np.array([], dtype=object)
    labelled = ~pd.isna(labels)
    if row.compute_decay is None:
        return {
            "decayed": False,
            "metrics": {},
            "labelled_rows": int(labelled.sum()),
            "note": f"decay is not judged for {row.name} tasks",
        }
    if row.decay_input == "prediction":
        given = [*prediction_chunks, *[None] * (len(label_chunks) - len(prediction_chunks))]
        parts = [
            np.full(len(lab), None, dtype=object) if pred is None else pred
            for lab, pred in zip(label_chunks, given, strict=True)
        ]
        values = np.concatenate(parts) if parts else np.array([], dtype=object)
        keep = labelled & ~pd.isna(values)
        missing = "prediction"
    else:
        values = np.concatenate(score_chunks) if score_chunks else np.array([], dtype="float64")
        keep = labelled & ~np.isnan(values)
        missing = score_name
    if not keep.any():
        return {
            "decayed": False,
            "metrics": {},
            "labelled_rows": int(labelled.sum()),
            "note": _no_values_note(row, missing, int(labelled.sum()), positive_class),
        }
    current = row.compute_decay(labels[keep], values[keep], positive_class, threshold)
    if isinstance(current, str):
        return {
            "decayed": False,
            "metrics": {},
            "labelled_rows": int(keep.sum()),
            "note": current,
        }
    recorded = flat_metrics(recorded_metrics)
    metrics: dict[str, dict[str, Any]] = {}
    for name, value in current.items():
        entry: dict[str, Any] = {
            "current": value,
            "recorded": recorded.get(name),
            "tolerance": tolerances.get(name),
            "decayed": False,
        }
        if entry["recorded"] is not None and entry["tolerance"] is not None:
            loss = (
                value - entry["recorded"]
                if name in tasks.LOWER_IS_BETTER
                else entry["recorded"] - value
            )
            entry["loss"] = loss
            entry["decayed"] = bool(loss > entry["tolerance"])
        metrics[name] = entry
    return {
        "decayed": any(m["decayed"] for m in metrics.values()),
        "metrics": metrics,
        "labelled_rows": int(keep.sum()),
        "note": None if recorded else "no recorded metrics to compare with",
    }


def _no_values_note(row: tasks.Task, column: str, labelled: int, positive_class: Any) -> str:
    """Why no labelled row could be judged, and how to name the column to judge them by."""
    if not labelled:
        return "no row has a label"
    if row.decay_input == "prediction":
        return (
            f"the batch has no predicted class (column 'prediction') for its {labelled} labelled "
            "row(s): monitor a batch `gitml predict` scored, or the serving log"
        )
    written = f"probability_{positive_class}" if row.output == "probability" else "prediction"
    return (
        f"the batch has no '{column}' scores for its {labelled} labelled row(s): name its score "
        f"column with --score-column (`gitml predict` writes {row.score_meaning} as '{written}')"
    )


def flat_metrics(raw: Mapping[str, Any]) -> dict[str, float]:
    """Metric values from reports/metrics.json, flat or nested one level (e.g. under 'test')."""
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(key)] = float(value)
        elif isinstance(value, Mapping):
            for inner, v in value.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    out.setdefault(str(inner), float(v))
    return out
