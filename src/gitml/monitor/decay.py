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
) -> dict[str, Any]:
    """Each metric's current value, recorded value and loss; decayed when a loss passes its tolerance.

    The metrics are the task's (`gitml.tasks`): from the positive-class probability for binary,
    from the predicted value for regression. `task` None: read from the recorded metrics' names
    (binary when they name none).
    """
    import pandas as pd

    row = (
        tasks.get(task)
        if task is not None
        else (tasks.task_of_metrics(recorded_metrics) or tasks.TASKS["binary"])
    )
    if row.compute_decay is None:  # before the scores: a multiclass log holds none to miss
        return {
            "decayed": False,
            "metrics": {},
            "note": f"decay is not judged for {row.name} tasks (one score per row cannot hold it)",
        }
    if not label_chunks:
        return {
            "decayed": False,
            "note": f"no '{score_name}' scores to judge labels by",
            "metrics": {},
        }
    labels = np.concatenate(label_chunks)
    scores = np.concatenate(score_chunks)
    keep = ~np.isnan(scores) & ~pd.isna(labels)
    current = row.compute_decay(labels[keep], scores[keep], positive_class, threshold)
    if isinstance(current, str):
        return {"decayed": False, "metrics": {}, "note": current}
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
