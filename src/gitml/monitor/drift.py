"""Per-column drift: choose each column's test, compute it, and decide after the correction.

Pure apart from the accumulators it reads: no files, no clock, no git.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gitml.errors import GitmlError
from gitml.monitor import stats
from gitml.monitor.accumulators import Accumulator, CategoricalAccumulator, NumericAccumulator
from gitml.policy.monitor import CATEGORICAL_METHODS, DISTANCES, NUMERIC_METHODS, MonitorPolicy

#: Methods that compare binned counts (a numeric column is then binned by value or histogram).
BINNED_METHODS = ("jensenshannon", "psi", "chi2")


def choose_method(acc: Accumulator, policy: MonitorPolicy, rule_method: str | None) -> str:
    """The column's test: its override, else Evidently's default for its type and sizes."""
    n_ref = int(acc.reference["count"]) - int(acc.reference["nulls"])
    small = n_ref <= policy.small_sample
    if rule_method is not None:
        return rule_method
    if isinstance(acc, CategoricalAccumulator):
        return policy.categorical_small if small else policy.categorical_large
    n_values = acc.n_values()
    if n_values is not None and n_values <= policy.low_cardinality:
        return policy.categorical_small if small else policy.categorical_large
    return policy.numeric_small if small else policy.numeric_large


def _numeric_cells(acc: NumericAccumulator) -> tuple[np.ndarray, np.ndarray]:
    cells = acc.value_cells()
    if cells is not None:
        return cells[1], cells[2]
    if acc.coarse_edges is None:
        raise GitmlError(
            f"Column '{acc.name}' has too many distinct values to bin by value.",
            "Use a method for continuous columns (wasserstein or ks) for it in conf/gitml.yaml.",
        )
    return acc.coarse_cells()


def _ks_from_bins(acc: NumericAccumulator) -> stats.TestResult:
    """KS against a large reference known only by its quantile grid (D to within 1/1000)."""
    assert acc.bins is not None
    n_batch = acc.present
    below = np.cumsum(acc.counts)[:-1] / n_batch  # F_cur just below each edge
    at_left = np.abs(acc.bins.cdf_left - below)
    # F_cur at an edge is taken as F_cur just below the next one (exact for discrete columns).
    at_right = np.abs(acc.bins.cdf_right[:-1] - below[1:])
    distance = float(max(at_left.max(), at_right.max() if len(at_right) else 0.0))
    n_reference = int(acc.reference["count"]) - int(acc.reference["nulls"])
    return stats.TestResult("ks", distance, stats.ks_pvalue(distance, n_reference, n_batch))


def column_statistic(acc: Accumulator, method: str) -> stats.TestResult:
    """Compute `method` for one column from its accumulator."""
    if isinstance(acc, CategoricalAccumulator):
        _, ref, cur = acc.cells()
    elif method in BINNED_METHODS:
        ref, cur = _numeric_cells(acc)
    if method == "jensenshannon":
        return stats.TestResult(method, stats.jensenshannon(ref, cur))
    if method == "psi":
        return stats.TestResult(method, stats.psi(ref, cur))
    if method == "chi2":
        return stats.chi2_contingency_test(ref, cur)
    assert isinstance(acc, NumericAccumulator)
    sample = acc.exact_sample()
    if method == "wasserstein":
        if acc.ref_values is not None and sample is not None:
            return stats.TestResult(method, stats.wasserstein_norm(acc.ref_values, sample))
        if acc.bins is None:
            raise GitmlError(
                f"The reference profile of '{acc.name}' has no quantiles.",
                "Rebuild the profile with the split stage (dvc repro split).",
            )
        norm = max(acc.reference_std(), stats.STD_FLOOR)
        score = stats.wasserstein_from_bins(acc.bins, acc.counts, acc.gaps) / norm
        return stats.TestResult(method, score)
    if method == "ks":
        if acc.ref_values is not None and sample is not None:
            return stats.ks_test(acc.ref_values, sample)
        if acc.ref_values is not None:
            return stats.ks_from_counts(
                acc.ref_unique_counts,
                acc.ks_le,
                acc.ks_lt,
                acc.present,
            )
        return _ks_from_bins(acc)
    raise GitmlError(
        f"Unknown drift method '{method}'.", "Use one of the methods in docs/monitor.md."
    )


def _drifted(method: str, score: float | None, p_value: float | None, threshold: float) -> bool:
    if method in DISTANCES:
        return score is not None and np.isfinite(score) and score >= threshold
    if p_value is None or not np.isfinite(p_value):
        return False
    return p_value <= threshold if method == "ks" else p_value < threshold


def column_result(
    acc: Accumulator, policy: MonitorPolicy, rule_method: str | None, rule_threshold: float | None
) -> dict[str, Any]:
    """One column's drift result (the decision is made later, after the correction)."""
    kind = "categorical" if isinstance(acc, CategoricalAccumulator) else "numeric"
    ref = acc.reference
    ref_rows = int(ref["count"])
    out: dict[str, Any] = {
        "kind": kind,
        "method": None,
        "score": None,
        "p_value": None,
        "threshold": None,
        "drifted": False,
        "critical": False,
        "reference_rows": ref_rows,
        "current_rows": acc.rows,
        "reference_null_rate": int(ref["nulls"]) / ref_rows if ref_rows else 0.0,
        "current_null_rate": acc.nulls / acc.rows if acc.rows else 0.0,
        "note": None,
    }
    if isinstance(acc, NumericAccumulator):
        out.update(acc.summary())
    if int(ref["count"]) - int(ref["nulls"]) == 0:
        out["note"] = "the reference has no values"
        return out
    method = choose_method(acc, policy, rule_method)
    allowed = CATEGORICAL_METHODS if kind == "categorical" else NUMERIC_METHODS
    if method not in allowed:
        raise GitmlError(
            f"Method '{method}' cannot test the {kind} column '{acc.name}'.",
            f"Use one of {', '.join(allowed)} for it under monitor.columns in conf/gitml.yaml.",
        )
    out["method"] = method
    out["threshold"] = rule_threshold if rule_threshold is not None else policy.thresholds[method]
    if acc.present == 0:
        out["note"] = "the batch has no values in this column"
        out["drifted"] = True
        return out
    result = column_statistic(acc, method)
    out["score"] = result.score
    out["p_value"] = result.p_value
    return out


def decide(columns: Mapping[str, dict[str, Any]], correction: str) -> None:
    """Set `drifted` on each column, correcting the p-value tests' p-values together."""
    tested = [
        name
        for name, c in columns.items()
        if c["method"] not in (None, *DISTANCES) and c["p_value"] is not None
    ]
    adjusted = stats.adjust([columns[n]["p_value"] for n in tested], correction)
    for name, p_adj in zip(tested, adjusted, strict=True):
        if correction != "none":
            columns[name]["p_adjusted"] = float(p_adj)
    p_by_name = dict(zip(tested, adjusted, strict=True))
    for name, c in columns.items():
        if c["method"] is None or c["note"] == "the batch has no values in this column":
            continue
        p_value = p_by_name.get(name)
        p_value = None if p_value is None else float(p_value)
        c["drifted"] = bool(_drifted(c["method"], c["score"], p_value, c["threshold"]))
