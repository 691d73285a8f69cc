"""Reference profile of a table: what drift monitoring needs, without the table itself.

Numeric columns keep 1,001 quantiles (enough to compute the Wasserstein distance and a KS
statistic from quantile functions), histogram bins for PSI and plots, moments and the null rate;
when the reference has at most `SMALL_SAMPLE` rows the sorted values are kept as well, so that
exact small-sample tests (KS) can run; numeric columns with at most `LOW_CARDINALITY` distinct
values keep their exact value counts. Categorical columns keep exact category counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 1001)
SMALL_SAMPLE = 1000
LOW_CARDINALITY = 20


def _round(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def numeric_profile(series: pd.Series, bins: int = 20) -> dict[str, Any]:
    """Profile one numeric column (booleans and datetimes are cast to float)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        series = series.astype("int64").where(series.notna())
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    present = values[~np.isnan(values)]
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": len(values),
        "nulls": int(len(values) - len(present)),
    }
    if len(present) == 0:
        return out
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([present[0] - 0.5, present[0] + 0.5])
    counts, _ = np.histogram(present, bins=edges)
    out.update(
        {
            "min": float(present.min()),
            "max": float(present.max()),
            "mean": float(present.mean()),
            "std": float(present.std(ddof=1)) if len(present) > 1 else 0.0,
            "quantiles": _round(np.quantile(present, QUANTILE_LEVELS)),
            "bin_edges": _round(edges),
            "bin_counts": [int(c) for c in counts],
        }
    )
    if len(present) <= SMALL_SAMPLE:
        out["values"] = _round(np.sort(present))
    distinct, distinct_counts = np.unique(present, return_counts=True)
    if len(distinct) <= LOW_CARDINALITY:
        # Exact counts of a low-cardinality numeric column: drift monitoring tests these like
        # categories (as Evidently does for at most 5 distinct values).
        out["distinct_values"] = _round(distinct)
        out["distinct_counts"] = [int(c) for c in distinct_counts]
    return out


def categorical_profile(series: pd.Series) -> dict[str, Any]:
    """Profile one categorical column: exact counts per category, sorted by category."""
    counts = series.dropna().astype(str).value_counts(sort=False)
    return {
        "kind": "categorical",
        "count": len(series),
        "nulls": int(series.isna().sum()),
        "frequencies": {str(k): int(counts[k]) for k in sorted(counts.index)},
    }


def build_profile(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], bins: int = 20
) -> dict[str, Any]:
    """Profile the named columns of `frame`, in the order given (numeric first)."""
    columns: dict[str, Any] = {}
    for name in numeric:
        columns[name] = numeric_profile(frame[name], bins)
    for name in categorical:
        columns[name] = categorical_profile(frame[name])
    return {"version": PROFILE_VERSION, "rows": len(frame), "columns": columns}
