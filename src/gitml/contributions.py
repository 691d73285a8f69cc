"""What drives the predictions: the model card's global summary of per-row contributions (pure).

The contributions stage explains a fixed, seeded sample of the test split with `gitml.explain`
(the only shap importer) and summarises each original feature here:

- `mean_abs`: the mean absolute contribution over the sample (how much the feature moves the
  raw output, whichever way), and `share`: its part of the sum of `mean_abs` over the features;
- `mean`: the mean signed contribution (its average push relative to the base value; near 0
  when the sample looks like the training data, since the base is the training average);
- `trend` (numeric features): the Pearson correlation between the feature's value and its
  contribution: positive when higher values raise the raw output, negative when they lower it.

One summary per explained output: the positive class (binary), every class (multiclass, each
class's raw output one-vs-rest) or the prediction (regression). `mean_base + sum(mean)` equals
`mean_output`, the mean raw output over the sample. Floats are rounded to `DIGITS` decimals so
the JSON's bytes do not depend on the last bits of a sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: At most this many test rows are explained (a seeded sample when the split is larger).
SAMPLE_ROWS = 1000
#: Decimals kept in reports/contributions.json.
DIGITS = 6
#: |trend| at or above this reads as "raises" / "lowers" in the card; below, as "mixed".
TREND_CLEAR = 0.5


def sample_index(n: int, rows: int, seed: int) -> np.ndarray:
    """Sorted positions of a fixed sample of at most `rows` of `n` rows (all when n <= rows)."""
    if n <= rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=rows, replace=False))


def _round(value: float) -> float:
    out = round(float(value), DIGITS)
    return 0.0 if out == 0 else out  # no "-0.0"


def _trend(values: np.ndarray, contributions: np.ndarray) -> float | None:
    """Pearson correlation of a numeric feature's values with its contributions (None: undefined)."""
    keep = ~np.isnan(values)
    x, c = values[keep], contributions[keep]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(c) == 0:
        return None
    x = x - x.mean()
    c = c - c.mean()
    r = float((x * c).sum() / np.sqrt((x * x).sum() * (c * c).sum()))
    return round(max(-1.0, min(1.0, r)), 4)


def summarize_output(
    label: Any,
    features: Sequence[str],
    base: np.ndarray,
    values: np.ndarray,
    frame: pd.DataFrame,
    numeric: Sequence[str],
) -> dict[str, Any]:
    """The summary of one explained output: per feature mean |contribution|, share, mean, trend.

    Args:
        label: the explained class (None for a regression).
        features: the original feature names, in the columns' order of `values`.
        base: the base value per row (rows,).
        values: the contributions per row and feature (rows, features).
        frame: the explained rows (the model's input frame), for the trends.
        numeric: the numeric features (the others get no trend).
    """
    values = np.asarray(values, dtype="float64")
    base = np.asarray(base, dtype="float64")
    mean_abs = np.abs(values).mean(axis=0)
    mean = values.mean(axis=0)
    total = float(mean_abs.sum())
    order = sorted(range(len(features)), key=lambda i: (-round(mean_abs[i], DIGITS), features[i]))
    rows = []
    for i in order:
        name = features[i]
        trend = None
        if name in numeric:
            column = frame[name].to_numpy(dtype="float64")
            trend = _trend(column, values[:, i])
        rows.append(
            {
                "feature": name,
                "mean_abs": _round(mean_abs[i]),
                "share": _round(mean_abs[i] / total) if total > 0 else 0.0,
                "mean": _round(mean[i]),
                "trend": trend,
            }
        )
    return {
        "class": label,
        "mean_base": _round(base.mean()),
        "mean_output": _round((base + values.sum(axis=1)).mean()),
        "total_mean_abs": _round(total),
        "features": rows,
    }


def summary(
    method: str,
    output: str,
    sample: Mapping[str, Any],
    outputs: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """reports/contributions.json for an explained model."""
    return {
        "explained": True,
        "method": method,
        "output": output,
        "sample": dict(sample),
        "outputs": list(outputs),
    }


def not_explained(reason: str, sample: Mapping[str, Any]) -> dict[str, Any]:
    """reports/contributions.json for a model that could not be explained, and why."""
    return {"explained": False, "reason": reason, "sample": dict(sample), "outputs": []}


def direction(trend: float | None) -> str:
    """The card's reading of a trend: "raises", "lowers", "mixed" or "" (no trend)."""
    if trend is None:
        return ""
    if trend >= TREND_CLEAR:
        return "raises"
    if trend <= -TREND_CLEAR:
        return "lowers"
    return "mixed"
