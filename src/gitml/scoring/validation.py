"""Validation: raw columns checked against the model's signature and normalised, one NumPy
array per feature (float64 for numeric, NaN = missing; object for categorical, str or NaN)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gitml.contract import InputContract
from gitml.modeling import Signature
from gitml.scoring.columns import NO_ROWS, Columns, InputError, is_missing, short

# Two paths per column, with the same checks and the same messages: request payloads arrive as
# short Python lists (checked value by value in one plain-Python pass, then ONE np.array call:
# NumPy calls on a one-row array cost more than the Python checks), and file chunks arrive as
# typed pandas Series (checked with vectorised NumPy/pandas operations).

Rows = Sequence[int] | np.ndarray  # row numbers (a list, or an index array from NumPy)

_NAN = float("nan")
_INF = float("inf")
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_I64_END = float(2**63)  # floats in [-2**63, 2**63) fit int64
_FLOAT_MAX_INT = int(sys.float_info.max)  # the largest finite float64, as an integer
_I64_GUARD = float(2**62)  # below this magnitude every whole number fits int64
_FLOAT_LIKE = (int, float, np.integer, np.floating)


#: A verb of a row hint in the plural ("rows 0, 1 have ...").
_PLURAL = {"has": "have", "is": "are"}


def _rows_hint(rows: Rows, verb: str) -> str:
    """The rows named for an error, with `verb` ("has", "is") agreeing: "row 4 has", "rows 0, 1, 2
    and 3 more have"."""
    shown = ", ".join(str(r) for r in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    if len(rows) == 1:
        return f"row {shown}{more} {verb}"
    return f"rows {shown}{more} {_PLURAL[verb]}"


def _row_hint(mask: np.ndarray, verb: str) -> str:
    return _rows_hint(np.flatnonzero(mask).tolist(), verb)


def _to_float(
    name: str, dtype: Any, i: int, value: Any, contract: InputContract | None = None
) -> float:
    """One value of a numeric column as a float (NaN = missing); the slow, general case."""
    if is_missing(value):
        return _NAN
    if (
        isinstance(value, str)
        and contract is not None
        and contract.clean_text(value) in contract.markers(name)
    ):
        return _NAN
    if dtype == "bool" and isinstance(value, bool | np.bool_):
        return float(value)
    if dtype == "datetime" and isinstance(value, str | pd.Timestamp):
        try:
            return float(pd.Timestamp(value).as_unit("ns").value)
        except ValueError:
            raise InputError(
                f"Column '{name}' expects a date-time; row {i} has {value!r}.", name
            ) from None
    if isinstance(value, _FLOAT_LIKE) and not isinstance(value, bool | np.bool_):
        if isinstance(value, int) and abs(value) > _FLOAT_MAX_INT:  # past float64's range,
            return _INF if value > 0 else -_INF  # even where float() would round it back in
        return float(value)
    raise InputError(
        f"Column '{name}' expects {dtype} numbers; row {i} has {type(value).__name__} {short(value)}.",
        name,
    )


def _in_int64(value: Any, number: float) -> bool:
    """Whether a whole number lies in int64's range: exactly for an integer (its float may round
    onto the limit, e.g. -2**63 - 1 -> -2**63), by its float otherwise."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return _fits_int64(value)
    return -_I64_END <= number < _I64_END


def _fits_int64(value: Any) -> bool:
    """Whether an integer value (not its float) lies in the int64 range."""
    return (
        isinstance(value, int | np.integer)
        and not isinstance(value, bool)
        and _I64_MIN <= int(value) <= _I64_MAX
    )


def _outside_int64(name: str, rows: str, value: Any) -> InputError:
    return InputError(
        f"Column '{name}' expects int64 whole numbers (from -2**63 to 2**63-1); {rows} "
        f"{short(value)}, outside that range.",
        name,
    )


def _numeric_values(
    name: str, dtype: Any, seq: Sequence[Any], contract: InputContract
) -> tuple[np.ndarray, list[int]]:
    """A list of request values: one pass in plain Python, one array at the end."""
    numbers = contract.numeric_markers(name)  # usually empty
    out: list[float] = []
    nulls: list[int] = []
    infinite: list[int] = []
    fraction: list[int] = []
    outside: list[int] = []
    notbool: list[int] = []
    whole = dtype == "int64"
    for i, value in enumerate(seq):
        kind = type(value)
        if kind is float:
            number = value
        elif kind is int and -(2**53) <= value <= 2**53:
            number = float(value)
        else:
            number = _to_float(name, dtype, i, value, contract)
        if numbers and number in numbers:
            number = _NAN
        if number != number:  # NaN: missing
            nulls.append(i)
        elif number == _INF or number == -_INF:
            infinite.append(i)
        elif whole:
            if not number.is_integer():
                fraction.append(i)
            elif abs(number) >= _I64_GUARD and not _in_int64(value, number):
                outside.append(i)
        elif dtype == "bool" and number != 0.0 and number != 1.0:
            notbool.append(i)
        out.append(number)
    arr = np.array(out, dtype="float64")
    if infinite:
        raise InputError(
            f"Column '{name}' must be finite; {_rows_hint(infinite, 'is')} infinite.", name
        )
    if fraction:
        raise InputError(
            f"Column '{name}' expects whole numbers (int64); {_rows_hint(fraction, 'has')} "
            f"{out[fraction[0]]!r}.",
            name,
        )
    if outside:
        raise _outside_int64(name, _rows_hint(outside, "has"), seq[outside[0]])
    if notbool:
        raise InputError(
            f"Column '{name}' expects true/false; {_rows_hint(notbool, 'has')} {out[notbool[0]]!r}.",
            name,
        )
    return arr, nulls


def _numeric_array(
    name: str, dtype: Any, arr: np.ndarray, contract: InputContract, from_ints: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A float64 array from a typed column: vectorised checks."""
    numbers = contract.numeric_markers(name)
    if numbers:
        arr = np.where(np.isin(arr, list(numbers)), _NAN, arr)
    nan = np.isnan(arr)
    finite = np.isfinite(arr)
    bad = ~finite & ~nan
    if bad.any():
        raise InputError(f"Column '{name}' must be finite; {_row_hint(bad, 'is')} infinite.", name)
    if dtype == "int64":
        frac = finite & (arr != np.floor(np.where(finite, arr, 0.0)))
        if frac.any():
            raise InputError(
                f"Column '{name}' expects whole numbers (int64); {_row_hint(frac, 'has')} "
                f"{float(arr[frac][0])!r}.",
                name,
            )
        big = None if from_ints else finite & ((arr >= _I64_END) | (arr < -_I64_END))
        if big is not None and big.any():
            raise _outside_int64(name, _row_hint(big, "has"), float(arr[big][0]))
    if dtype == "bool":
        notbool = finite & (arr != 0.0) & (arr != 1.0)
        if notbool.any():
            raise InputError(
                f"Column '{name}' expects true/false; {_row_hint(notbool, 'has')} "
                f"{float(arr[notbool][0])!r}.",
                name,
            )
    return arr, np.flatnonzero(nan)


def _numeric(
    name: str, spec: Mapping[str, Any], values: Any, contract: InputContract
) -> tuple[np.ndarray, Rows]:
    dtype = spec.get("dtype")
    if isinstance(values, pd.Series):
        if (
            dtype != "datetime"
            and pd.api.types.is_numeric_dtype(values.dtype)
            and not pd.api.types.is_bool_dtype(values.dtype)
        ):
            return _numeric_array(
                name,
                dtype,
                values.to_numpy(dtype="float64", na_value=np.nan),
                contract,
                from_ints=pd.api.types.is_integer_dtype(values.dtype),
            )
        values = values.tolist()
    return _numeric_values(name, dtype, values, contract)


def _unseen(name: str, categories: Sequence[Any], i: int, value: Any) -> InputError:
    return InputError(
        f"Column '{name}' has the unseen category {value!r} in row {i}; known: "
        f"{', '.join(map(str, categories))}.",
        name,
    )


def _categorical_values(
    name: str, categories: Sequence[Any] | None, seq: Sequence[Any], contract: InputContract
) -> tuple[np.ndarray, list[int]]:
    """A list of request values: one pass in plain Python."""
    arr = np.empty(len(seq), dtype=object)
    nulls: list[int] = []
    allowed = frozenset(categories) if categories else None
    unseen: tuple[int, Any] | None = None
    clean = not contract.empty  # the contract's text rules, when it has any
    markers = contract.markers(name)
    for i, value in enumerate(seq):
        if clean and isinstance(value, str | int | np.integer) and not isinstance(value, bool):
            text = contract.clean_text(str(value))
            if text in markers:
                value = None
            elif type(value) is str:
                value = text
        if type(value) is str:
            arr[i] = value
            if allowed is not None and unseen is None and value not in allowed:
                unseen = (i, value)
        elif is_missing(value):
            arr[i] = _NAN
            nulls.append(i)
        elif isinstance(value, str) or (  # a str subclass, or an integer code
            isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
        ):
            text = str(value)
            arr[i] = text
            if allowed is not None and unseen is None and text not in allowed:
                unseen = (i, text)
        else:
            raise InputError(
                f"Column '{name}' expects category strings; row {i} has "
                f"{type(value).__name__} {short(value)}.",
                name,
            )
    if unseen is not None:
        assert categories is not None
        raise _unseen(name, categories, *unseen)
    return arr, nulls


def _categorical(
    name: str, spec: Mapping[str, Any], values: Any, unknown: str, contract: InputContract
) -> tuple[np.ndarray, Rows]:
    categories = spec.get("categories") if unknown == "error" else None
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        if not contract.empty:
            values = contract.clean_series(name, values)
        # Every value is a string or missing: no per-value type checks needed.
        arr = values.to_numpy(dtype=object, na_value=np.nan)
        missing = values.isna().to_numpy()
        if categories:
            bad = ~missing & ~values.isin(categories).to_numpy()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise _unseen(name, categories, i, arr[i])
        return arr, np.flatnonzero(missing)
    seq = values.tolist() if isinstance(values, pd.Series) else values
    return _categorical_values(name, categories, seq, contract)


def validate(
    columns: Mapping[str, Any], signature: Signature, unknown_categories: str = "error"
) -> Columns:
    """The input contract: raw columns (a request's, a file chunk's, a stream line's) checked
    against the signature and normalised into model input (see the module docstring).

    The signature's `InputContract` applies first: missing-value markers become missing,
    leading spaces go where training stripped them. Extra columns are ignored. Raises `InputError` (naming the column) on a missing column,
    a value of the wrong type, an unseen category (when `unknown_categories` is "error"; with
    "unknown" it is passed through and the pipeline's encoder treats it as unknown), a missing
    value in a non-nullable column, or no rows at all.
    """
    if not columns:
        raise InputError(NO_ROWS, None, 400)
    missing = [f["name"] for f in signature.features if f["name"] not in columns]
    if missing:
        raise InputError(f"Missing column(s): {', '.join(missing)}.", missing[0])
    lengths = {len(columns[f["name"]]) for f in signature.features}
    if len(lengths) != 1:
        raise InputError("The feature columns have different lengths.", None, 400)
    if lengths == {0}:
        raise InputError(NO_ROWS, None, 400)
    contract = signature.contract
    out: Columns = {}
    for spec in signature.features:
        name = spec["name"]
        nulls: Rows
        if spec["kind"] == "numeric":
            arr, nulls = _numeric(name, spec, columns[name], contract)
        else:
            arr, nulls = _categorical(name, spec, columns[name], unknown_categories, contract)
        if len(nulls) and not spec.get("nullable", True):
            raise InputError(
                f"Column '{name}' is not nullable, but {_rows_hint(nulls, 'is')} "
                "missing (null or NaN).",
                name,
            )
        out[name] = arr
    return out
