"""The data contract: a pandera schema built from the data config, lazy validation, coercion.

Used by the `validate` stage, by `split` (coercion), and later by serving, batch scoring and
monitoring, so one declaration (conf/schema/<name>.yaml, named by conf/data/<name>.yaml) governs
every place data enters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from gitml.config import ColumnSpec, DataConfig
from gitml.errors import GitmlError

log = logging.getLogger(__name__)

PANDERA_DTYPES = {
    "int64": "int64",
    "float64": "float64",
    "bool": "boolean",
    "category": "string",
    "string": "string",
    "datetime": "datetime64[ns]",
}


def _bound(spec: ColumnSpec, value: Any) -> Any:
    if spec.dtype != "datetime":
        return value
    stamp = pd.Timestamp(value)  # a bound written with an offset is a UTC time too
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def utc_times(series: pd.Series) -> pd.Series:
    """Date-times as naive UTC: a tz-aware column, or ISO text with offsets (`+01:00`, `Z`),
    converted to UTC; naive values (typed or text) are kept as written (read as UTC).

    The one rule for time zones: `gitml data init` writes the bounds in UTC, validation compares
    and `coerce` stores in UTC, so a tz-aware column passes against its own inferred schema."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series
    return pd.to_datetime(series, utc=True).dt.tz_localize(None)


def _in_utc(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """The declared datetime columns that carry zones, as naive UTC before pandera sees them
    (text that does not parse is left to pandera, which names it as a dtype failure)."""
    out = frame
    for spec in data.columns:
        if spec.dtype != "datetime" or spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        if pd.api.types.is_datetime64_dtype(series.dtype) or pd.api.types.is_numeric_dtype(
            series.dtype
        ):
            continue
        try:
            converted = utc_times(series)
        except (ValueError, TypeError):
            continue
        out = out.assign(**{spec.name: converted})
    return out


def _dtype(spec: ColumnSpec) -> str:
    if spec.dtype == "int64" and spec.nullable:
        return "Int64"
    return PANDERA_DTYPES[spec.dtype]


def _checks(spec: ColumnSpec, task: str, is_target: bool) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if spec.role != "ignore":  # an ignored column may be empty: nothing reads it
        checks.append(
            pa.Check(
                lambda s: bool(s.notna().any()),
                element_wise=False,
                name="not_all_null",
                error="every value is null",
            )
        )
    if spec.categories is not None:
        allowed = (
            [str(c) for c in spec.categories] if spec.is_categorical else list(spec.categories)
        )
        checks.append(pa.Check.isin(allowed, name="allowed_categories"))
    if spec.min is not None and spec.max is not None:
        checks.append(
            pa.Check.in_range(_bound(spec, spec.min), _bound(spec, spec.max), name="in_range")
        )
    elif spec.min is not None:
        checks.append(pa.Check.ge(_bound(spec, spec.min), name="in_range"))
    elif spec.max is not None:
        checks.append(pa.Check.le(_bound(spec, spec.max), name="in_range"))
    if is_target:
        checks.append(
            pa.Check(
                lambda s: bool(s.nunique(dropna=True) >= 2),
                element_wise=False,
                name="at_least_two_classes",
                error="the target has only one class",
            )
        )
    return checks


def build_schema(data: DataConfig) -> pa.DataFrameSchema:
    """The pandera schema of the declared table (strict: undeclared columns fail)."""
    columns = {
        spec.name: pa.Column(
            _dtype(spec),
            checks=_checks(spec, data.task, spec.name == data.target),
            nullable=spec.nullable,
            coerce=True,
            required=True,
            name=spec.name,
        )
        for spec in data.columns
    }
    return pa.DataFrameSchema(columns, strict=True, coerce=True, name=data.name)


@dataclass
class ValidationResult:
    """The outcome of validating a table against its data config."""

    passed: bool
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows": self.rows,
            "failures": self.failures,
            "columns": self.columns,
        }


def _example(value: Any) -> Any:
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, int | float | bool | str) or value is None else str(value)


def _summarise(cases: pd.DataFrame) -> list[dict[str, Any]]:
    """Group pandera's failure cases into (column, check) rows with counts and examples."""
    rows: list[dict[str, Any]] = []
    cases = cases.copy()
    cases["column"] = cases["column"].fillna(cases["schema_context"]).astype(str)
    cases["check"] = cases["check"].astype(str)
    # A null cannot be cast to a non-nullable int64 either, but its problem is that it is null
    # (pandera reports it as `not_nullable` too): the dtype rows name only values of a wrong type.
    cast = cases["check"].str.startswith(("coerce_dtype", "dtype("))
    cases = cases[~(cast & cases["failure_case"].isna())]
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        values = group["failure_case"].tolist()
        examples: list[Any] = []
        for v in values:
            ex = _example(v)
            if ex not in examples:
                examples.append(ex)
            if len(examples) == 3:
                break
        if check == "column_in_schema":
            column, check = str(values[0]), "undeclared column"
        elif check == "column_in_dataframe":
            column, check = str(values[0]), "missing column"
        elif check.startswith("coerce_dtype") or check.startswith("dtype("):
            check = "dtype " + check.split("(", 1)[-1].rstrip(")").strip("'")
        elif check == "not_nullable":
            check = "null values"
        rows.append(
            {"column": column, "check": check, "failures": len(group), "examples": examples}
        )
    # A value that cannot be cast fails every later check too: report only the dtype problem.
    bad_dtype = {r["column"] for r in rows if r["check"].startswith("dtype ")}
    seen: set[tuple[str, str]] = set()
    kept = []
    for r in rows:
        key = (r["column"], r["check"])
        if key in seen or (r["column"] in bad_dtype and not r["check"].startswith("dtype ")):
            continue
        seen.add(key)
        kept.append(r)
    return kept


def column_summary(frame: pd.DataFrame, data: DataConfig) -> dict[str, dict[str, Any]]:
    """Per declared column: dtype, role and null count, for the data diff in reports."""
    out: dict[str, dict[str, Any]] = {}
    for spec in data.columns:
        entry: dict[str, Any] = {"dtype": spec.dtype, "role": spec.role}
        if spec.name in frame.columns:
            entry["nulls"] = int(frame[spec.name].isna().sum())
        out[spec.name] = entry
    return out


def not_whole(frame: pd.DataFrame, data: DataConfig) -> list[dict[str, Any]]:
    """Failures for int64 columns read as floats that hold a fraction (0.5 in a 0/1 target).

    pandera's coercion would truncate them silently (non-nullable int64) or fail without naming
    the value (nullable: Int64), so they are found here, before it.
    """
    rows: list[dict[str, Any]] = []
    for spec in data.columns:
        if spec.dtype != "int64" or spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        if not pd.api.types.is_float_dtype(series.dtype):
            continue
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        bad = ~np.isnan(values) & (values != np.round(values))
        if bad.any():
            examples = list(dict.fromkeys(values[bad].tolist()))[:3]
            rows.append(
                {
                    "column": spec.name,
                    "check": "whole numbers (int64)",
                    "failures": int(bad.sum()),
                    "examples": examples,
                }
            )
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_null(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float | np.floating) and value != value)
    )


def not_numbers(frame: pd.DataFrame, data: DataConfig) -> list[dict[str, Any]]:
    """Failures for int64 and float64 columns holding values that are not numbers: text such as
    "5" (a string or category column of a Parquet batch), true/false.

    `gitml predict` and `gitml serve` refuse such values ("Column 'PID' expects int64 numbers;
    row 0 has str '5'"); pandera's coercion would turn "5" into 5 and pass. Numbers of another
    width or kind (whole floats for int64) are fine, as they are for scoring.
    """
    rows: list[dict[str, Any]] = []
    for spec in data.columns:
        if spec.dtype not in ("int64", "float64") or spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):
            continue
        values = series.to_numpy(dtype=object)  # a category column: its values
        bad = np.fromiter(
            (not _is_number(v) and not _is_null(v) for v in values), dtype=bool, count=len(values)
        )
        if bad.any():
            examples = [f"{type(v).__name__} {v!r}" for v in values[bad][:50]]
            rows.append(
                {
                    "column": spec.name,
                    "check": f"numbers ({spec.dtype})",
                    "failures": int(bad.sum()),
                    "examples": list(dict.fromkeys(examples))[:3],
                }
            )
    return rows


def validate_frame(
    frame: pd.DataFrame, data: DataConfig, numbers: bool = False
) -> ValidationResult:
    """Validate lazily: every failing (column, check) is collected, not just the first.

    With `numbers`, numeric columns must hold numbers, as scoring requires (`not_numbers`), not
    text that pandera's coercion would turn into numbers: the monitor's batches.
    """
    schema = build_schema(data)
    fractions = not_whole(frame, data) + (not_numbers(frame, data) if numbers else [])
    try:
        schema.validate(_in_utc(frame, data), lazy=True)
        failures: list[dict[str, Any]] = []
    except pa.errors.SchemaErrors as exc:
        failures = _summarise(exc.failure_cases)
    if fractions:  # a fraction or text fails Int64's coercion too: the row above names it
        named = {r["column"] for r in fractions}
        failures = sorted(
            fractions
            + [
                r
                for r in failures
                if not (r["column"] in named and r["check"].startswith("dtype "))
            ],
            key=lambda r: (str(r["column"]), str(r["check"])),
        )
    return ValidationResult(not failures, len(frame), failures, column_summary(frame, data))


def coerce(frame: pd.DataFrame, data: DataConfig, columns: list[str] | None = None) -> pd.DataFrame:
    """Cast validated columns to their storage dtypes (categoricals as pandas strings)."""
    names = columns if columns is not None else [c.name for c in data.columns]
    out = {}
    for name in names:
        spec = data.column(name)
        series = frame[name]
        if spec.dtype == "int64":
            out[name] = series.astype("float64" if spec.nullable else "int64")
        elif spec.dtype == "float64":
            out[name] = series.astype("float64")
        elif spec.dtype == "bool":
            out[name] = series.astype("boolean")
        elif spec.dtype == "datetime":
            out[name] = utc_times(series).astype("datetime64[ns]")
        else:
            out[name] = series.astype("string")
    return pd.DataFrame(out, index=frame.index)


def labelled(frame: pd.DataFrame, target: ColumnSpec) -> pd.DataFrame:
    """The rows whose target is known, the target in its declared dtype (the count is logged).

    A row without a target can be neither learned nor scored (statsmodels' fertility: 17 of 219
    countries lack the 2011 rate). `coerce` stores a nullable int64 column as float64 (NaN is
    its missing value); without its nulls the target goes back to int64, so a 0/1 target with
    blanks gives classes 0 and 1, not 0.0 and 1.0. A value that is not a whole number is an
    error, never truncated.
    """
    name = target.name
    known = frame[name].notna().to_numpy()
    if not known.any():
        raise GitmlError(
            f"Every row's target '{name}' is missing: there is nothing to learn from.",
            "Pick another target in the data config, or add labelled rows.",
        )
    if not known.all():
        log.warning(
            "%d of %d rows have no '%s' (the target): left out of training and testing",
            int((~known).sum()),
            len(frame),
            name,
        )
        frame = frame[known]
    values = frame[name]
    if target.dtype != "int64" or values.dtype == np.int64:
        return frame
    numbers = values.to_numpy(dtype="float64")
    whole = numbers == np.round(numbers)
    if not whole.all():
        raise GitmlError(
            f"Target '{name}' is declared int64 but holds {float(numbers[~whole][0])!r}, which is not a "
            "whole number.",
            f"Declare '{name}' as float64 (a regression target) or category, or fix the value.",
        )
    return frame.assign(**{name: values.astype("int64")})
