"""The input contract: how raw values (a file's cells, a request's JSON values) become model input.

Training reads its source with the data config's `read_options`; the value-level part of those
options (missing-value markers, skipping spaces after the delimiter) is the contract, and so is
the CSV format (delimiter, decimal and thousands separators, quote character, encoding), so a
file in the training file's format reads the same way wherever it is scored. The train
stage stores it in the model's signature, and every place data enters applies the same rules:
`ingest` (training), `gitml serve` and `gitml predict` (through `gitml.scoring.validate`, which
calls `InputContract.markers`/`clean_text` per value or `clean_series` per column) and the
monitor's readers (`clean_frame`). Pure: no IO.

The rules, per column:
- a string equal to a missing-value marker (after the leading-space strip) is missing;
- a number equal to a numeric-looking marker (e.g. "-1") is missing, as pandas reads it;
- with `strip_leading_space` (read option `skipinitialspace`), leading spaces of strings go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas' default missing-value strings for read_csv (keep_default_na=True), frozen here so
# the contract does not move with the pandas version. The same list as pandas 2.x.
CSV_DEFAULT_MISSING = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
VALUE_OPTIONS = ("na_values", "keep_default_na", "skipinitialspace")
#: The CSV format fields of the contract, their read option (pandas.read_csv's name) and default.
FORMAT_DEFAULTS: dict[str, Any] = {
    "sep": ",",
    "decimal": ".",
    "thousands": None,
    "quotechar": '"',
    "encoding": "utf-8",
}
_UTF8 = ("utf-8", "utf8", "utf-8-sig", "utf8-sig")
_NONE: frozenset[Any] = frozenset()


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    return [str(v) for v in value]


def _numbers(markers: frozenset[str]) -> frozenset[float]:
    out = set()
    for text in markers:
        try:
            number = float(text)
        except ValueError:
            continue
        if not math.isnan(number):
            out.add(number)
    return frozenset(out)


@dataclass(frozen=True)
class InputContract:
    """The value rules a model's input follows (stored in its signature as `input_contract`).

    Args:
        missing_values: strings that mean "missing" in every column.
        column_missing_values: extra markers for single columns (read option `na_values` as
            a mapping).
        strip_leading_space: strip leading spaces of strings (read option `skipinitialspace`).
        sep: the CSV delimiter (read option `sep`, or its alias `delimiter`).
        decimal: the CSV decimal separator (read option `decimal`, e.g. ",").
        thousands: the CSV thousands separator, if numbers have one (read option `thousands`).
        quotechar: the CSV quote character (read option `quotechar`).
        encoding: the CSV text encoding (read option `encoding`; "utf-8" for any UTF-8 spelling,
            a leading byte-order mark is skipped either way, as pandas does).
    """

    missing_values: tuple[str, ...] = ()
    column_missing_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    strip_leading_space: bool = False
    sep: str = ","
    decimal: str = "."
    thousands: str | None = None
    quotechar: str = '"'
    encoding: str = "utf-8"

    @classmethod
    def from_read_options(cls, source: str, read_options: Mapping[str, Any]) -> InputContract:
        """The contract of a data source read with `read_options` (the data config's)."""
        na = read_options.get("na_values")
        common = set() if isinstance(na, Mapping) else set(_strings(na))
        per_column = (
            {str(k): tuple(sorted(set(_strings(v)))) for k, v in sorted(na.items())}
            if isinstance(na, Mapping)
            else {}
        )
        if source == "csv" and read_options.get("keep_default_na", True):
            common |= set(CSV_DEFAULT_MISSING)
        strip = source == "csv" and bool(read_options.get("skipinitialspace", False))
        return cls(tuple(sorted(common)), per_column, strip, **_format(source, read_options))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> InputContract:
        """Read the signature's `input_contract` (absent in older signatures: no rules)."""
        if not raw:
            return cls()
        return cls(
            tuple(str(v) for v in raw.get("missing_values", ())),
            {str(k): tuple(map(str, v)) for k, v in raw.get("column_missing_values", {}).items()},
            bool(raw.get("strip_leading_space", False)),
            **{k: raw[k] for k in FORMAT_DEFAULTS if raw.get(k) is not None},
        )

    def to_dict(self) -> dict[str, Any]:
        """The signature's `input_contract`; format fields only where they differ from the
        defaults (a comma-separated UTF-8 file's contract is what it was before they existed)."""
        out: dict[str, Any] = {
            "missing_values": list(self.missing_values),
            "column_missing_values": {k: list(v) for k, v in self.column_missing_values.items()},
            "strip_leading_space": self.strip_leading_space,
        }
        out.update(self.format_options())
        return out

    def format_options(self) -> dict[str, Any]:
        """The CSV format fields that differ from the defaults, by read option name."""
        return {k: getattr(self, k) for k, v in FORMAT_DEFAULTS.items() if getattr(self, k) != v}

    @property
    def empty(self) -> bool:
        """No value rules (missing-value markers, space stripping); the CSV format aside."""
        return not (self.missing_values or self.column_missing_values or self.strip_leading_space)

    @cached_property
    def _common(self) -> tuple[frozenset[str], frozenset[float]]:
        markers = frozenset(self.missing_values) if self.missing_values else _NONE
        return markers, _numbers(markers)

    @cached_property
    def _columns(self) -> dict[str, tuple[frozenset[str], frozenset[float]]]:
        out = {}
        for name, extra in self.column_missing_values.items():
            markers = frozenset(self.missing_values) | frozenset(extra)
            out[name] = (markers, _numbers(markers))
        return out

    def markers(self, column: str) -> frozenset[str]:
        """The strings that mean missing in `column`."""
        return self._columns.get(column, self._common)[0]

    def numeric_markers(self, column: str) -> frozenset[float]:
        """The numbers that mean missing in `column` (markers such as "-1" or "999")."""
        return self._columns.get(column, self._common)[1]

    def clean_text(self, value: str) -> str:
        """A string as the training reader would have seen it (leading spaces stripped)."""
        return value.lstrip(" ") if self.strip_leading_space else value

    def csv_options(self) -> dict[str, Any]:
        """pandas.read_csv options that read CSV text the way training did."""
        out: dict[str, Any] = {}
        if self.missing_values:
            out["na_values"] = list(self.missing_values)
            out["keep_default_na"] = False
        if self.strip_leading_space:
            out["skipinitialspace"] = True
        out.update(self.format_options())
        return out

    def clean_series(self, column: str, series: pd.Series) -> pd.Series:
        """One column with the rules applied, vectorised (its dtype is kept where possible)."""
        import pandas as pd

        markers = self.markers(column)
        kind = series.dtype
        if isinstance(kind, pd.StringDtype) or (
            pd.api.types.is_object_dtype(kind)
            and pd.api.types.infer_dtype(series, skipna=True) == "string"
        ):
            if self.strip_leading_space:
                series = series.str.lstrip(" ")
            if markers:
                hit = series.isin(markers).to_numpy(dtype=bool)
                if hit.any():
                    series = series.mask(hit)
            return series
        if pd.api.types.is_object_dtype(kind) and markers:
            hit = series.isin(markers).to_numpy(dtype=bool)
            if hit.any():
                series = series.mask(hit)
        if pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind):
            numbers = self.numeric_markers(column)
            if numbers:
                hit = np.isin(series.to_numpy(dtype="float64", na_value=np.nan), list(numbers))
                if hit.any():
                    series = series.astype("float64").mask(hit)
        return series

    def clean_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A table with the rules applied to every column; the same object when nothing applies."""
        import pandas as pd

        if self.empty:
            return frame
        out: dict[Any, pd.Series] = {}
        changed = False
        for name in frame.columns:
            original = frame[name]
            out[name] = self.clean_series(str(name), original)
            changed = changed or out[name] is not original
        return pd.DataFrame(out, index=frame.index) if changed else frame


def _format(source: str, read_options: Mapping[str, Any]) -> dict[str, Any]:
    """The CSV format fields of a source's read options (none for other sources)."""
    if source != "csv":
        return {}
    given = {**read_options}
    if given.get("sep") is None and given.get("delimiter") is not None:
        given["sep"] = given["delimiter"]
    out = {k: str(given[k]) for k in FORMAT_DEFAULTS if given.get(k) is not None}
    if str(out.get("encoding", "utf-8")).lower().replace("_", "-") in _UTF8:
        out.pop("encoding", None)
    return out


def reader_options(source: str, read_options: Mapping[str, Any]) -> dict[str, Any]:
    """The options to hand the file reader: all of them for CSV, none of the value ones else."""
    if source == "csv":
        return dict(read_options)
    return {k: v for k, v in read_options.items() if k not in VALUE_OPTIONS}
