"""Drift, quality and decay of a batch against a reference profile.

The batch arrives in chunks (DataFrames). Each monitored column has an accumulator that keeps only
what the statistics need, in memory bounded by the reference profile, never by the batch:

- numeric: counts and gap sums on the reference's quantile grid (Wasserstein), counts at the
  reference's distinct values (KS, when the reference kept its values), exact value counts while
  the column has few distinct values, and the first 10,000 values (so small batches get scipy's
  exact functions);
- categorical: exact counts per category.

`analyse` turns the accumulators into per-column results, applies the multiple-testing
correction, and builds the verdict: dataset drift, prediction drift, batch quality and decay.
Pure apart from the data it is given: no files, no clock, no git.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gitml.config import DataConfig
from gitml.errors import GitmlError
from gitml.monitor import stats
from gitml.monitor.policy import (
    CATEGORICAL_METHODS,
    DISTANCES,
    LOWER_IS_BETTER,
    NUMERIC_METHODS,
    MonitorPolicy,
)

log = logging.getLogger(__name__)

TRACK_DISTINCT_MAX = 10_000  # stop counting a numeric column's distinct values beyond this many
LOW_CARDINALITY_KEYS = 20  # Evidently bins numeric columns by value when the reference has <= 20


def to_float(series: pd.Series, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing and non-finite values; non-numbers are an error."""
    if pd.api.types.is_bool_dtype(series):
        values = series.astype("float64").to_numpy(dtype=float, na_value=np.nan)
    elif pd.api.types.is_datetime64_any_dtype(series):
        values = series.astype("int64").where(series.notna()).to_numpy(dtype=float)
    elif pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
    else:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            examples = ", ".join(repr(v) for v in pd.unique(series[bad])[:3])
            raise GitmlError(
                f"Column '{name}' is numeric in the reference, but the batch has "
                f"{int(bad.sum())} non-numeric value(s) in it, e.g. {examples}.",
                "Fix the values in the batch, or check that the batch is the right table.",
            )
        values = converted.to_numpy(dtype=float, na_value=np.nan)
    values = np.array(values, dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


class NumericAccumulator:
    """Streaming summary of one numeric column of the batch, against its reference profile."""

    def __init__(self, name: str, reference: Mapping[str, Any], coarse: bool = False) -> None:
        self.name = name
        self.reference = reference
        self.rows = 0
        self.nulls = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.low = np.inf
        self.high = -np.inf
        quantiles = reference.get("quantiles")
        self.bins = stats.QuantileBins.from_quantiles(quantiles) if quantiles else None
        if self.bins is not None:
            self._anchors = self.bins.anchors()
            self.counts = np.zeros(self.bins.n_bins)
            self.gaps = np.zeros(self.bins.n_bins)
        values = reference.get("values")
        self.ref_values: np.ndarray | None = None
        if values is not None:
            self.ref_values = np.asarray(values, dtype=float)
            self.ref_unique, self.ref_unique_counts = np.unique(self.ref_values, return_counts=True)
            self.ks_le = np.zeros(len(self.ref_unique))  # batch values <= each reference value
            self.ks_lt = np.zeros(len(self.ref_unique))  # batch values < each reference value
        self.distinct: tuple[np.ndarray, np.ndarray] | None = None
        if "distinct_values" in reference:
            self.distinct = (
                np.asarray(reference["distinct_values"], dtype=float),
                np.asarray(reference["distinct_counts"], dtype=float),
            )
        elif self.ref_values is not None and len(self.ref_unique) <= LOW_CARDINALITY_KEYS:
            self.distinct = (self.ref_unique, self.ref_unique_counts.astype(float))
        if self.distinct is not None:
            self.cur_known = np.zeros(len(self.distinct[0]))
            self.cur_extra: Counter[float] = Counter()
        self.coarse_edges = np.asarray(reference["bin_edges"], float) if coarse else None
        if self.coarse_edges is not None:
            self.coarse = np.zeros(len(self.coarse_edges) + 1)
        self.buffer: list[np.ndarray] | None = []

    @property
    def present(self) -> int:
        return self.rows - self.nulls

    def update(self, series: pd.Series) -> None:
        """Add one chunk of the column."""
        values = to_float(series, self.name)
        self.rows += len(values)
        x = values[~np.isnan(values)]
        self.nulls += len(values) - len(x)
        if len(x) == 0:
            return
        # One sort per chunk (SIMD-fast in numpy), then every count is a binary search of the
        # reference's few edges into the sorted chunk and every sum a difference of cumulative sums.
        xs = np.sort(x)
        n = len(xs)
        csum = np.concatenate([[0.0], np.cumsum(xs)])
        self.total += float(csum[-1])
        self.total_sq += float(np.dot(xs, xs))
        self.low = min(self.low, float(xs[0]))
        self.high = max(self.high, float(xs[-1]))
        if self.buffer is not None:
            if self.present <= stats.KS_EXACT_MAX_N:
                self.buffer.append(x)
            else:
                self.buffer = None
        if self.bins is not None:
            bounds = np.concatenate([[0], np.searchsorted(xs, self.bins.edges, "left"), [n]])
            counts = np.diff(bounds)
            sums = np.diff(csum[bounds])
            self.counts += counts
            self.gaps += np.abs(counts * self._anchors - sums)
        if self.ref_values is not None:
            self.ks_le += np.searchsorted(xs, self.ref_unique, "right")
            self.ks_lt += np.searchsorted(xs, self.ref_unique, "left")
        if self.distinct is not None and self.cur_extra is not None:
            known = self.distinct[0]
            hits = np.searchsorted(xs, known, "right") - np.searchsorted(xs, known, "left")
            self.cur_known += hits
            if hits.sum() < n:
                pos = np.minimum(np.searchsorted(known, xs), len(known) - 1)
                new, counts = np.unique(xs[known[pos] != xs], return_counts=True)
                self.cur_extra.update(dict(zip(new.tolist(), counts.tolist(), strict=True)))
                if len(self.cur_extra) > TRACK_DISTINCT_MAX:
                    self.cur_extra = None  # type: ignore[assignment]
        if self.coarse_edges is not None:
            edges = self.coarse_edges
            bounds = np.concatenate(
                [
                    [0],
                    np.searchsorted(xs, edges[:-1], "left"),
                    np.searchsorted(xs, edges[-1:], "right"),
                    [n],
                ]
            )
            self.coarse += np.diff(bounds)  # the last inner bin is closed, as in np.histogram

    # ---------------------------------------------------------------- what the tests need

    def exact_sample(self) -> np.ndarray | None:
        """The whole batch column, if it was small enough to keep."""
        if self.buffer is None:
            return None
        return np.concatenate(self.buffer) if self.buffer else np.zeros(0)

    def value_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(values, reference counts, batch counts) over the union of distinct values, if known."""
        if self.distinct is None or self.cur_extra is None:
            return None
        known, ref_counts = self.distinct
        extra = sorted(self.cur_extra)
        values = np.concatenate([known, np.asarray(extra, float)])
        ref = np.concatenate([ref_counts, np.zeros(len(extra))])
        cur = np.concatenate([self.cur_known, [self.cur_extra[v] for v in extra]])
        order = np.argsort(values, kind="stable")
        return values[order], ref[order], cur[order]

    def coarse_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference and batch counts on the profile's histogram bins plus two open outer bins."""
        ref = np.concatenate([[0.0], np.asarray(self.reference["bin_counts"], float), [0.0]])
        return ref, self.coarse

    def n_values(self) -> int | None:
        """Distinct values in reference and batch together, or None when there are many."""
        cells = self.value_cells()
        if cells is None:
            return None
        return int(np.count_nonzero(cells[1] + cells[2]))

    def reference_std(self) -> float:
        """The reference's population standard deviation (ddof=0), as Evidently normalises by."""
        n = int(self.reference["count"]) - int(self.reference["nulls"])
        std = float(self.reference.get("std", 0.0))
        return std * np.sqrt((n - 1) / n) if n > 1 else 0.0

    def summary(self) -> dict[str, Any]:
        mean = self.total / self.present if self.present else None
        var = self.total_sq / self.present - mean**2 if mean is not None else None
        return {
            "reference_mean": self.reference.get("mean"),
            "current_mean": mean,
            "reference_std": self.reference.get("std"),
            "current_std": float(np.sqrt(max(var, 0.0))) if var is not None else None,
            "current_min": self.low if self.present else None,
            "current_max": self.high if self.present else None,
        }


class CategoricalAccumulator:
    """Streaming counts of one categorical column of the batch."""

    def __init__(self, name: str, reference: Mapping[str, Any]) -> None:
        self.name = name
        self.reference = reference
        self.rows = 0
        self.nulls = 0
        self.counts: Counter[str] = Counter()

    @property
    def present(self) -> int:
        return self.rows - self.nulls

    def update(self, series: pd.Series) -> None:
        """Add one chunk of the column (values compared as strings, like the profile's keys)."""
        self.rows += len(series)
        present = series.dropna()
        self.nulls += len(series) - len(present)
        if not (
            pd.api.types.is_string_dtype(present) and not pd.api.types.is_object_dtype(present)
        ):
            present = present.astype(str)
        counts = present.value_counts(sort=False)
        self.counts.update(dict(zip(counts.index.tolist(), counts.tolist(), strict=True)))

    def cells(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(categories, reference counts, batch counts) over the union of categories."""
        ref = self.reference.get("frequencies", {})
        keys = sorted(set(ref) | set(self.counts))
        return (
            keys,
            np.array([ref.get(k, 0) for k in keys], float),
            np.array([self.counts.get(k, 0) for k in keys], float),
        )


Accumulator = NumericAccumulator | CategoricalAccumulator


# ----------------------------------------------------------------------------- per column


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
    n = acc.present
    below = np.cumsum(acc.counts)[:-1] / n  # F_cur just below each edge
    at_left = np.abs(acc.bins.cdf_left - below)
    # F_cur at an edge is taken as F_cur just below the next one (exact for discrete columns).
    at_right = np.abs(acc.bins.cdf_right[:-1] - below[1:])
    d = float(max(at_left.max(), at_right.max() if len(at_right) else 0.0))
    m = int(acc.reference["count"]) - int(acc.reference["nulls"])
    return stats.TestResult("ks", d, stats.ks_pvalue(d, m, n))


def column_statistic(acc: Accumulator, method: str) -> stats.TestResult:
    """Compute `method` for one column from its accumulator."""
    if isinstance(acc, CategoricalAccumulator):
        _, ref, cur = acc.cells()
    elif method in ("jensenshannon", "psi", "chi2"):
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
        p = p_by_name.get(name)
        c["drifted"] = bool(
            _drifted(c["method"], c["score"], None if p is None else float(p), c["threshold"])
        )


# ------------------------------------------------------------------------------ the batch


@dataclasses.dataclass
class Inputs:
    """What one monitoring run compares, besides the batch itself."""

    profile: Mapping[str, Any]
    policy: MonitorPolicy = dataclasses.field(default_factory=MonitorPolicy)
    score_profile: Mapping[str, Any] | None = None
    data: DataConfig | None = None
    labels: str | None = None
    score_column: str | None = None
    recorded_metrics: Mapping[str, Any] | None = None
    #: The version's permutation importance (reports/importance.json), for critical_top_features.
    importance: Mapping[str, Any] | None = None
    threshold: float = 0.5
    positive_class: Any = 1


def check_profile(profile: Any, source: str = "profile") -> Mapping[str, Any]:
    """A clear error unless `profile` looks like a gitml reference profile."""
    if not isinstance(profile, Mapping) or not isinstance(profile.get("columns"), Mapping):
        raise GitmlError(
            f"The {source} is not a gitml reference profile (no 'columns').",
            "Point at data/profile.json as written by the split stage.",
        )
    if not profile["columns"]:
        raise GitmlError(
            f"The {source} profiles no columns.",
            "Rebuild it with the split stage (dvc repro split).",
        )
    return profile


class Monitor:
    """Accumulate a batch chunk by chunk, then `result()` gives the report's data."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        policy = inputs.policy
        self.profile = check_profile(inputs.profile)
        self.accumulators: dict[str, Accumulator] = {}
        for name, ref in self.profile["columns"].items():
            rule = policy.columns.get(name)
            coarse = rule is not None and rule.method in ("jensenshannon", "psi", "chi2")
            self.accumulators[name] = _accumulator(name, ref, coarse)
        for name in policy.critical_columns:
            if name not in self.accumulators:
                raise GitmlError(
                    f"monitor.critical_columns names '{name}', which the reference profile lacks.",
                    f"Profiled columns: {', '.join(self.accumulators)}. Fix conf/gitml.yaml.",
                )
        self.by_importance, self.critical_note = top_features(
            inputs.importance, list(self.accumulators), policy.critical_top_features
        )
        self.critical = (
            *policy.critical_columns,
            *(n for n in self.by_importance if n not in policy.critical_columns),
        )
        self.score_name = inputs.score_column or policy.score_column
        self.score: NumericAccumulator | None = None
        if inputs.score_profile is not None:
            ref = check_profile(inputs.score_profile, "score profile")["columns"]
            if "score" not in ref:
                raise GitmlError(
                    "The score profile has no 'score' column.",
                    "Point at data/score_profile.json as written by evaluate.",
                )
            rule = policy.prediction
            self.score = NumericAccumulator(
                "score", ref["score"], rule.method in ("jensenshannon", "psi", "chi2")
            )
        self.rows = 0
        self.chunks = 0
        self.schema_failures: dict[tuple[str, str], dict[str, Any]] = {}
        self.schema_checked = False
        self.columns_seen: list[str] | None = None
        self._label_chunks: list[np.ndarray] = []
        self._score_chunks: list[np.ndarray] = []
        self.score_seen = False

    def update(self, chunk: pd.DataFrame) -> None:
        """Add one chunk of the batch."""
        if self.columns_seen is None:
            self.columns_seen = [str(c) for c in chunk.columns]
            missing = [n for n in self.accumulators if n not in chunk.columns]
            if missing:
                raise GitmlError(
                    f"The batch lacks {len(missing)} profiled column(s): {', '.join(missing)}.",
                    "Monitor a batch with the columns the model was trained on "
                    f"({', '.join(self.accumulators)}).",
                )
            if self.inputs.labels and self.inputs.labels not in chunk.columns:
                raise GitmlError(
                    f"The batch has no label column '{self.inputs.labels}'.",
                    f"Its columns: {', '.join(self.columns_seen)}.",
                )
        if len(chunk) == 0:
            return
        self.rows += len(chunk)
        self.chunks += 1
        for name, acc in self.accumulators.items():
            acc.update(chunk[name])
        has_score = self.score_name in chunk.columns
        if has_score:
            self.score_seen = True
            if self.score is not None:
                self.score.update(chunk[self.score_name])
        if self.inputs.labels and has_score:
            self._label_chunks.append(chunk[self.inputs.labels].to_numpy())
            self._score_chunks.append(to_float(chunk[self.score_name], self.score_name))
        if self.inputs.data is not None and self.inputs.policy.schema:
            self._validate(chunk)

    def _validate(self, chunk: pd.DataFrame) -> None:
        from gitml.schema import validate_frame

        data = self.inputs.data
        assert data is not None
        declared = [
            c for c in data.columns if c.name in chunk.columns or c.name in self.accumulators
        ]
        subset = dataclasses.replace(data, columns=tuple(declared))
        frame = chunk[[c.name for c in declared if c.name in chunk.columns]]
        self.schema_checked = True
        result = validate_frame(frame, subset)
        for failure in result.failures:
            key = (failure["column"], failure["check"])
            seen = self.schema_failures.get(key)
            if seen is None:
                self.schema_failures[key] = dict(failure)
            else:
                seen["failures"] += failure["failures"]
                for ex in failure["examples"]:
                    if ex not in seen["examples"] and len(seen["examples"]) < 3:
                        seen["examples"].append(ex)

    # -------------------------------------------------------------------------- results

    def result(self) -> dict[str, Any]:
        """Per-column drift, the verdict, prediction drift, quality and decay."""
        if self.rows == 0:
            raise GitmlError(
                "The batch is empty: it has no rows to monitor.",
                "Check the file (or the log) you passed with --current/--log.",
            )
        policy = self.inputs.policy
        columns: dict[str, dict[str, Any]] = {}
        for name, acc in self.accumulators.items():
            rule = policy.columns.get(name)
            columns[name] = column_result(
                acc, policy, rule.method if rule else None, rule.threshold if rule else None
            )
            columns[name]["critical"] = name in self.critical
        decide(columns, policy.correction)
        monitored = [c for c in columns.values() if c["method"] is not None]
        n_drifted = sum(1 for c in monitored if c["drifted"])
        share = n_drifted / len(monitored) if monitored else 0.0
        critical = sorted(n for n, c in columns.items() if c["critical"] and c["drifted"])
        dataset_drift = bool(monitored) and (share >= policy.drift_share or bool(critical))
        prediction = self._prediction()
        quality = self._quality(columns)
        decay = self._decay()
        drift = dataset_drift or bool(prediction and prediction["drifted"])
        decayed = bool(decay and decay["decayed"])
        status = (
            "drift"
            if drift
            else "decay"
            if decayed
            else ("quality" if not quality["passed"] else "ok")
        )
        return {
            "status": status,
            "dataset_drift": dataset_drift,
            "drift_share": share,
            "n_columns": len(monitored),
            "n_drifted": n_drifted,
            "drifted_columns": sorted(n for n, c in columns.items() if c["drifted"]),
            "critical_drifted": critical,
            "prediction_drift": bool(prediction and prediction["drifted"]),
            "decay": decayed,
            "quality_passed": quality["passed"],
            "rows": self.rows,
            "reference_rows": int(self.profile.get("rows", 0)),
            "policy": {
                "drift_share": policy.drift_share,
                "correction": policy.correction,
                "small_sample": policy.small_sample,
                "critical_columns": list(self.critical),
                "critical_top_features": policy.critical_top_features,
                "critical_by_importance": list(self.by_importance),
                "critical_note": self.critical_note,
            },
            "columns": columns,
            "prediction": prediction,
            "quality": quality,
            "metrics": decay,
        }

    def _prediction(self) -> dict[str, Any] | None:
        if self.score is None or not self.score_seen:
            return None
        rule = self.inputs.policy.prediction
        result = column_result(self.score, self.inputs.policy, rule.method, rule.threshold)
        decide({"score": result}, "none")
        return result

    def _quality(self, columns: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        tol = self.inputs.policy.null_rate_tolerance
        null_changes = {
            name: {"reference": c["reference_null_rate"], "current": c["current_null_rate"]}
            for name, c in columns.items()
            if abs(c["current_null_rate"] - c["reference_null_rate"]) > tol
        }
        new_categories: dict[str, dict[str, Any]] = {}
        for name, acc in self.accumulators.items():
            if isinstance(acc, CategoricalAccumulator):
                ref = acc.reference.get("frequencies", {})
                new = {k: int(v) for k, v in sorted(acc.counts.items()) if k not in ref}
                if new:
                    new_categories[name] = {
                        "values": new,
                        "share": sum(new.values()) / max(acc.rows, 1),
                    }
        declared = (
            {c.name for c in self.inputs.data.columns} if self.inputs.data is not None else None
        )
        extra = {self.score_name, self.inputs.labels}
        undeclared = sorted(
            c
            for c in (self.columns_seen or [])
            if declared is not None and c not in declared and c not in extra
        )
        failures = sorted(self.schema_failures.values(), key=lambda f: (f["column"], f["check"]))
        passed = not failures and not null_changes and not new_categories
        return {
            "passed": passed,
            "schema_checked": self.schema_checked,
            "schema_failures": failures,
            "null_rate_changes": null_changes,
            "new_categories": new_categories,
            "undeclared_columns": undeclared,
        }

    def _decay(self) -> dict[str, Any] | None:
        if not self.inputs.labels:
            return None
        if not self._label_chunks:
            return {
                "decayed": False,
                "note": f"no '{self.score_name}' scores to judge labels by",
                "metrics": {},
            }
        from gitml.evaluation import classification_metrics

        y = np.concatenate(self._label_chunks)
        s = np.concatenate(self._score_chunks)
        keep = ~np.isnan(s) & ~pd.isna(y)
        y_pos = (pd.Series(y[keep]).astype(str) == str(self.inputs.positive_class)).to_numpy()
        s = np.clip(s[keep], 0.0, 1.0)
        if len(np.unique(y_pos)) < 2:
            return {
                "decayed": False,
                "metrics": {},
                "note": "the labels hold one class only: metrics need both",
            }
        proba = np.column_stack([1.0 - s, s])
        current = classification_metrics(y_pos.astype(int), proba, [0, 1], self.inputs.threshold)
        recorded = _flat_metrics(self.inputs.recorded_metrics or {})
        tolerances = self.inputs.policy.decay
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
                    if name in LOWER_IS_BETTER
                    else entry["recorded"] - value
                )
                entry["loss"] = loss
                entry["decayed"] = bool(loss > entry["tolerance"])
            metrics[name] = entry
        return {
            "decayed": any(m["decayed"] for m in metrics.values()),
            "metrics": metrics,
            "labelled_rows": len(s),
            "note": None if recorded else "no recorded metrics to compare with",
        }


def top_features(
    importance: Mapping[str, Any] | None, profiled: Sequence[str], k: int
) -> tuple[tuple[str, ...], str | None]:
    """The `k` profiled features the model relies on most (mean permutation importance > 0).

    Returns them, most important first (ties by name), and a note when `k` asks for some but the
    reference recorded no importance.
    """
    if k <= 0:
        return (), None
    if not importance:
        return (), (
            f"monitor.critical_top_features is {k}, but the reference has no recorded importance "
            "(reports/importance.json), so no column is critical by importance."
        )
    ranked = []
    for name in profiled:
        entry = importance.get(name)
        mean = entry.get("mean") if isinstance(entry, Mapping) else entry
        if isinstance(mean, int | float) and not isinstance(mean, bool) and mean > 0:
            ranked.append((-float(mean), name))
    return tuple(name for _, name in sorted(ranked)[:k]), None


def _flat_metrics(raw: Mapping[str, Any]) -> dict[str, float]:
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


def _accumulator(name: str, reference: Mapping[str, Any], coarse: bool) -> Accumulator:
    kind = reference.get("kind")
    if kind == "numeric":
        return NumericAccumulator(name, reference, coarse)
    if kind == "categorical":
        return CategoricalAccumulator(name, reference)
    raise GitmlError(
        f"The profile of column '{name}' has an unknown kind {kind!r}.",
        "Rebuild the profile with the split stage (dvc repro split).",
    )


def analyse(
    batches: Iterable[pd.DataFrame], inputs: Inputs, on_chunk: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Monitor a batch given as an iterable of chunks; `on_chunk(rows)` after each one."""
    monitor = Monitor(inputs)
    for chunk in batches:
        monitor.update(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return monitor.result()


def analyse_frame(frame: pd.DataFrame, inputs: Inputs) -> dict[str, Any]:
    """Monitor an in-memory batch, in chunks of the policy's `chunk_rows`."""
    step = inputs.policy.chunk_rows
    chunks = (frame.iloc[i : i + step] for i in range(0, max(len(frame), 1), step))
    return analyse(chunks, inputs)
