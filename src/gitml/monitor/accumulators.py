"""Per-column streaming summaries of a batch, in memory bounded by the reference profile.

- numeric: counts and gap sums on the reference's quantile grid (Wasserstein), counts at the
  reference's distinct values (KS, when the reference kept its values), exact value counts while
  the column has few distinct values, and the first 10,000 values (so small batches get scipy's
  exact functions);
- categorical: exact counts per category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gitml.errors import GitmlError
from gitml.monitor import stats

if TYPE_CHECKING:
    import pandas as pd

TRACK_DISTINCT_MAX = 10_000  # stop counting a numeric column's distinct values beyond this many
LOW_CARDINALITY_KEYS = 20  # Evidently bins numeric columns by value when the reference has <= 20


def to_float(series: pd.Series, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing and non-finite values; non-numbers are an error."""
    import pandas as pd

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
        finite = values[~np.isnan(values)]
        self.nulls += len(values) - len(finite)
        if len(finite) == 0:
            return
        # One sort per chunk (SIMD-fast in numpy), then every count is a binary search of the
        # reference's few edges into the sorted chunk and every sum a difference of cumulative sums.
        ordered = np.sort(finite)
        size = len(ordered)
        csum = np.concatenate([[0.0], np.cumsum(ordered)])
        self.total += float(csum[-1])
        # Not np.dot: that is BLAS, whose threads split the sum (so its last bits depend on the
        # core count) and then spin on the other cores between chunks (2x the monitor's CPU).
        self.total_sq += float(np.einsum("i,i->", ordered, ordered))
        self.low = min(self.low, float(ordered[0]))
        self.high = max(self.high, float(ordered[-1]))
        if self.buffer is not None:
            if self.present <= stats.KS_EXACT_MAX_N:
                self.buffer.append(finite)
            else:
                self.buffer = None
        if self.bins is not None:
            bounds = np.concatenate(
                [[0], np.searchsorted(ordered, self.bins.edges, "left"), [size]]
            )
            counts = np.diff(bounds)
            sums = np.diff(csum[bounds])
            self.counts += counts
            self.gaps += np.abs(counts * self._anchors - sums)
        if self.ref_values is not None:
            self.ks_le += np.searchsorted(ordered, self.ref_unique, "right")
            self.ks_lt += np.searchsorted(ordered, self.ref_unique, "left")
        if self.distinct is not None and self.cur_extra is not None:
            known = self.distinct[0]
            hits = np.searchsorted(ordered, known, "right") - np.searchsorted(
                ordered, known, "left"
            )
            self.cur_known += hits
            if hits.sum() < size:
                pos = np.minimum(np.searchsorted(known, ordered), len(known) - 1)
                new, counts = np.unique(ordered[known[pos] != ordered], return_counts=True)
                self.cur_extra.update(dict(zip(new.tolist(), counts.tolist(), strict=True)))
                if len(self.cur_extra) > TRACK_DISTINCT_MAX:
                    self.cur_extra = None  # type: ignore[assignment]
        if self.coarse_edges is not None:
            edges = self.coarse_edges
            bounds = np.concatenate(
                [
                    [0],
                    np.searchsorted(ordered, edges[:-1], "left"),
                    np.searchsorted(ordered, edges[-1:], "right"),
                    [size],
                ]
            )
            self.coarse += np.diff(bounds)  # the last inner bin is closed, as in np.histogram

    def merge(self, other: NumericAccumulator) -> None:
        """Add the summary of another part of the batch (same column and reference), as if its
        chunks had followed this one's: counts exactly, sums up to float rounding."""
        self.rows += other.rows
        self.nulls += other.nulls
        self.total += other.total
        self.total_sq += other.total_sq
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        if self.buffer is not None and other.buffer is not None:
            if self.present <= stats.KS_EXACT_MAX_N:
                self.buffer.extend(other.buffer)
            else:
                self.buffer = None
        else:
            self.buffer = None
        if self.bins is not None:
            self.counts += other.counts
            self.gaps += other.gaps
        if self.ref_values is not None:
            self.ks_le += other.ks_le
            self.ks_lt += other.ks_lt
        if self.distinct is not None:
            self.cur_known += other.cur_known
            if self.cur_extra is not None and other.cur_extra is not None:
                self.cur_extra.update(other.cur_extra)
                if len(self.cur_extra) > TRACK_DISTINCT_MAX:
                    self.cur_extra = None  # type: ignore[assignment]
            else:
                self.cur_extra = None
        if self.coarse_edges is not None:
            self.coarse += other.coarse

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
        import pandas as pd

        self.rows += len(series)
        present = series.dropna()
        self.nulls += len(series) - len(present)
        if not (
            pd.api.types.is_string_dtype(present) and not pd.api.types.is_object_dtype(present)
        ):
            present = present.astype(str)
        counts = present.value_counts(sort=False)
        self.counts.update(dict(zip(counts.index.tolist(), counts.tolist(), strict=True)))

    def merge(self, other: CategoricalAccumulator) -> None:
        """Add the counts of another part of the batch (same column and reference)."""
        self.rows += other.rows
        self.nulls += other.nulls
        self.counts.update(other.counts)

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


def accumulator_for(name: str, reference: Mapping[str, Any], coarse: bool) -> Accumulator:
    kind = reference.get("kind")
    if kind == "numeric":
        return NumericAccumulator(name, reference, coarse)
    if kind == "categorical":
        return CategoricalAccumulator(name, reference)
    raise GitmlError(
        f"The profile of column '{name}' has an unknown kind {kind!r}.",
        "Rebuild the profile with the split stage (dvc repro split).",
    )
