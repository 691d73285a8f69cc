"""Per-column statistics for `gitml data init`, folded in one chunk at a time (pure).

`ColumnStats.update` folds one chunk of a column (the raw text of a CSV, or typed values of a
Parquet batch) into bounded accumulators: exact distinct values and counts up to `MAX_TRACKED`
values, a k-minimum-values sketch for the number of distinct values beyond that, a bounded sample
for pattern checks (email, phone, national id, dates), min/max, and the missing-value markers met.
`gitml.data.infer` turns the statistics into a data config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gitml.contract import CSV_DEFAULT_MISSING

MAX_TRACKED = 1000  # exact distinct values tracked per column; beyond, a sketch estimates them
SAMPLE_SIZE = 200  # distinct values kept per column for the pattern checks
SKETCH_K = 1024  # size of the k-minimum-values sketch
# pandas' default NA strings (read_csv keep_default_na), the same list the input contract keeps.
PANDAS_NA = frozenset(CSV_DEFAULT_MISSING)
EXTRA_MARKERS = frozenset(
    {"?", "??", "-", "--", ".", "na", "none", "missing", "unknown", "not available", "#n/a"}
)
#: A number written with `,` between groups of three digits (`52,791`, `-1,234.5`), or without.
GROUPED_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
#: An ISO date or date-time, optionally with a UTC offset (`Z`, `+01:00`) after the time.
DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
#: The UTC offset ending an ISO date-time: such a time is compared and stored in UTC.
ZONE_RE = re.compile(r"\d(Z|[+-]\d{2}:?\d{2})$")
BOOL_TEXT = {
    "True": True,
    "TRUE": True,
    "true": True,
    "False": False,
    "FALSE": False,
    "false": False,
}
_PANDAS_NA = pa.array(sorted(PANDAS_NA), type=pa.string())
_EXTRA_MARKERS = pa.array(sorted(EXTRA_MARKERS), type=pa.string())
_BOOL_TEXT = pa.array(sorted(BOOL_TEXT), type=pa.string())


def _strings(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """A chunk of raw text as one Arrow string array without nulls (a null is an empty cell)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(pd.Series(values).astype(object).fillna("").astype(str), type=pa.string())
    if values.type != pa.string():
        values = pc.cast(values, pa.string())
    return pc.fill_null(values, "")


def _stamp(value: pd.Timestamp) -> str:
    """A UTC time as naive ISO text, the way typed date-times are written (no offset)."""
    return str(value.tz_convert("UTC").tz_localize(None)) if value.tzinfo else str(value)


def is_marker(text: str) -> bool:
    """Whether a raw cell reads as a missing value (stray whitespace and case ignored)."""
    stripped = text.strip()
    return stripped in PANDAS_NA or stripped.lower() in EXTRA_MARKERS


def _sketch_merge(kept: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Keep the SKETCH_K smallest distinct hashes (k-minimum-values)."""
    if len(kept) >= SKETCH_K:
        hashes = hashes[hashes < kept[-1]]
    if not len(hashes):
        return kept
    merged = np.unique(np.concatenate([kept, hashes]))
    return merged[:SKETCH_K]


def _sketch_estimate(kept: np.ndarray) -> float:
    """Estimated number of distinct values from a k-minimum-values sketch."""
    if len(kept) < SKETCH_K:
        return float(len(kept))
    return (SKETCH_K - 1) / (float(kept[-1]) / 2.0**64)


@dataclass
class ColumnStats:
    """Bounded accumulators for one column, updated one chunk at a time."""

    name: str
    rows: int = 0
    missing: int = 0
    markers: dict[str, int] = field(default_factory=dict)  # raw text -> count
    counts: dict[Any, int] = field(default_factory=dict)  # exact, while not overflowed
    overflowed: bool = False
    sketch: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    sample: list[str] = field(default_factory=list)  # distinct non-missing texts, bounded
    numeric: bool = True  # every non-missing value so far is a number
    integral: bool = True  # ... and an integer
    boolean: bool = True  # every non-missing value so far is True/False text
    dates: bool = True  # every non-missing value so far is an ISO date/time
    vmin: Any = None
    vmax: Any = None
    smin: str | None = None  # text min/max (ISO dates order as text)
    smax: str | None = None
    zoned: bool = False  # some date-time carries a time zone or UTC offset: smin/smax are UTC
    padded: int = 0  # values carrying leading/trailing whitespace
    # Thousands separators (text only): pandas' `thousands=","` drops every comma of a value
    # and reads a number if what is left is one; `grouped` is that, `grouping` the strict form
    # (GROUPED_RE), `separated` how many values held a comma. vmin/vmax/integral are kept on.
    grouped: bool = True  # every non-missing value so far is a number once its commas go
    grouping: bool = True  # ... and each is written as GROUPED_RE (groups of three digits)
    separated: int = 0  # values holding a comma
    unnamed: bool = False  # the CSV header gives the column no name (pandas: 'Unnamed: <i>')

    @property
    def present(self) -> int:
        """Number of non-missing values."""
        return self.rows - self.missing

    @property
    def thousands(self) -> bool:
        """Text that is numbers with `,` thousands separators (`52,791`), consistently."""
        return not self.numeric and self.grouping and self.separated > 0

    @property
    def grouped_loosely(self) -> bool:
        """Text that pandas' `thousands=","` would turn into numbers although its commas do not
        separate groups of three digits (`1,2` -> 12)."""
        return not self.numeric and self.grouped and not self.grouping

    def with_thousands(self) -> ColumnStats:
        """These statistics as the pipeline sees the column when read with `thousands=","`:
        numbers (the tracked values without their separators)."""
        counts: dict[Any, int] = {}
        for raw, count in self.counts.items():
            key = str(raw).replace(",", "")
            counts[key] = counts.get(key, 0) + count
        return replace(self, numeric=True, counts=counts, separated=0)

    @property
    def distinct(self) -> float:
        """Exact distinct count while tracked, else the sketch's estimate."""
        if not self.overflowed:
            return float(len(self.counts))
        return max(_sketch_estimate(self.sketch), float(MAX_TRACKED + 1))

    def update(self, values: pd.Series | pa.Array, text: bool = True) -> None:
        """Fold one chunk in: `values` is raw text (CSV, markers apply) or typed (Parquet)."""
        self.rows += len(values)
        if text:
            self._update_text(_strings(values))
        else:
            self._update_typed(pd.Series(values))

    def _track(self, values: pa.Array, numbers: np.ndarray | None) -> None:
        """Exact counts up to MAX_TRACKED distinct values; past that, a bounded sketch."""
        if not self.overflowed:
            counted = pc.value_counts(values)
            uniques = counted.field("values").to_pylist()
            if len(uniques) + len(self.counts) > MAX_TRACKED and len(uniques) > MAX_TRACKED:
                self._overflow(list(self.counts))
            else:
                for value, count in zip(uniques, counted.field("counts").to_pylist(), strict=True):
                    if value not in self.counts and len(self.sample) < SAMPLE_SIZE:
                        self.sample.append(str(value))
                    self.counts[value] = self.counts.get(value, 0) + int(count)
                if len(self.counts) > MAX_TRACKED:
                    self._overflow(list(self.counts))
                return
        if numbers is not None:
            hashes = pd.util.hash_array(numbers)
        else:
            distinct = pc.unique(values).to_numpy(zero_copy_only=False)
            hashes = pd.util.hash_array(np.asarray(distinct, dtype=object))
        self.sketch = _sketch_merge(self.sketch, hashes.astype(np.uint64))

    def _overflow(self, seen: list[Any]) -> None:
        self.overflowed = True
        self.counts = {}
        if seen:
            keys = np.asarray([str(v) for v in seen], dtype=object)
            self.sketch = _sketch_merge(self.sketch, pd.util.hash_array(keys).astype(np.uint64))

    def _update_text(self, raw: pa.Array) -> None:
        raw = pc.utf8_ltrim(raw, characters=" ")  # what pandas' skipinitialspace does
        stripped = pc.utf8_trim_whitespace(raw)
        marker = pc.or_(
            pc.is_in(stripped, value_set=_PANDAS_NA),
            pc.is_in(pc.utf8_lower(stripped), value_set=_EXTRA_MARKERS),
        )
        n_marker = int(pc.sum(marker).as_py() or 0)
        if n_marker:
            counted = pc.value_counts(pc.filter(raw, marker))
            for text, count in zip(
                counted.field("values").to_pylist(),
                counted.field("counts").to_pylist(),
                strict=True,
            ):
                self.markers[str(text)] = self.markers.get(str(text), 0) + int(count)
            self.missing += n_marker
        keep = pc.invert(marker)
        present_raw = pc.filter(raw, keep)
        present = pc.filter(stripped, keep)
        if not len(present):
            return
        widths = pc.not_equal(pc.utf8_length(present_raw), pc.utf8_length(present))
        self.padded += int(pc.sum(widths).as_py() or 0)
        numbers: np.ndarray | None = None
        if self.numeric:
            numbers = _numbers(present)
            if numbers is None:
                self.numeric = False
                if self.vmin is not None:  # earlier chunks were numbers: not dates either
                    self.dates = False
            else:
                self._minmax(numbers)
        if not self.numeric and self.grouped:
            self._update_grouped(present)
        if self.boolean and not pc.all(pc.is_in(present, value_set=_BOOL_TEXT)).as_py():
            self.boolean = False
        if not self.numeric and self.dates:
            self.dates = bool(
                pc.all(pc.match_substring_regex(present, DATETIME_RE.pattern)).as_py()
            )
            if self.dates and pc.any(pc.match_substring_regex(present, ZONE_RE.pattern)).as_py():
                self.zoned = True  # offsets: bounds in UTC (a naive time in the chunk is UTC)
                stamps = pd.to_datetime(present.to_pandas(), utc=True, format="ISO8601")
                self._widen(_stamp(stamps.min()), _stamp(stamps.max()))
            elif self.dates:
                bounds = pc.min_max(present)
                self._widen(str(bounds["min"].as_py()), str(bounds["max"].as_py()))
        # Categories are the values exactly as pandas will read them (leading blanks skipped as
        # the written read_options make it do; trailing ones stay), so they match the pipeline.
        self._track(present_raw, numbers if self.numeric else None)

    def _update_grouped(self, present: pa.Array) -> None:
        """Track numbers written with `,` thousands separators (what pandas' thousands=","
        reads): bounds as numbers, whether every value groups its digits by three."""
        numbers = _numbers(pc.replace_substring(present, ",", ""))
        if numbers is None:
            self.grouped = self.grouping = False
            return
        self.separated += int(pc.sum(pc.match_substring(present, ",")).as_py() or 0)
        if (
            self.grouping
            and not pc.all(pc.match_substring_regex(present, GROUPED_RE.pattern)).as_py()
        ):
            self.grouping = False
        self._minmax(numbers)

    def _update_typed(self, values: pd.Series) -> None:
        isna = values.isna()
        self.missing += int(isna.sum())
        present = values[~isna]
        if present.empty:
            return
        if pd.api.types.is_bool_dtype(present.dtype):
            self.numeric = self.dates = False
            self._track(pa.array(present.astype(bool)), None)
            return
        self.boolean = self.grouped = False  # typed text is not parsed: no thousands
        if pd.api.types.is_numeric_dtype(present.dtype):
            self.dates = False
            numbers = present.to_numpy(dtype=np.float64)
            self._minmax(numbers)
            self._track(pa.array(present), numbers)
            return
        self.numeric = False
        if isinstance(present.dtype, pd.DatetimeTZDtype):
            self.zoned = True  # compared and stored in UTC by the pipeline (gitml.schema)
            present = present.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(present.dtype):
            text = present.dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00", "")
        else:
            text = present.astype(str)
            self.dates = self.dates and bool(text.str.fullmatch(DATETIME_RE.pattern).all())
        if self.dates:
            self._widen(str(text.min()), str(text.max()))
        self._track(pa.array(text, type=pa.string()), None)

    def _widen(self, lo: str, hi: str) -> None:
        """Widen the date bounds; chunks are compared as times (`2024-01-01T05:00` written
        one way, `2024-01-01 04:00:00` another, still order by time)."""
        try:
            if self.smin is None or pd.Timestamp(lo) < pd.Timestamp(self.smin):
                self.smin = lo
            if self.smax is None or pd.Timestamp(hi) > pd.Timestamp(self.smax):
                self.smax = hi
        except ValueError:  # not a real date (2024-13-45): as text; validation will name it
            self.smin = lo if self.smin is None else min(self.smin, lo)
            self.smax = hi if self.smax is None else max(self.smax, hi)

    def _minmax(self, numbers: np.ndarray) -> None:
        lo, hi = float(numbers.min()), float(numbers.max())
        self.vmin = lo if self.vmin is None else min(self.vmin, lo)
        self.vmax = hi if self.vmax is None else max(self.vmax, hi)
        if self.integral and not bool(np.all(np.floor(numbers) == numbers)):
            self.integral = False


def _numbers(text: pa.Array) -> np.ndarray | None:
    """Text values as float64 numbers, or None when one of them is not a number."""
    try:
        return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
