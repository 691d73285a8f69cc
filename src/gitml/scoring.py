"""Scoring core shared by `gitml serve`, `gitml predict` and `gitml replay` (pure: no IO).

Inputs arrive as MLflow scoring-protocol JSON, CSV, Open Inference Protocol v2 tensors or
DataFrame chunks. All of them become a mapping of column name to values, which `validate`
checks against the model's signature and normalises into one NumPy array per feature: float64
for numeric features (NaN = missing), object for categorical ones (str, or NaN = missing).
Validated columns from many requests can be concatenated (`concat_columns`) and scored with a
single call (`score`), which is what the server's micro-batcher does.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from gitml.contract import InputContract
from gitml.modeling import Signature

Columns = dict[str, np.ndarray]
PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
UNKNOWN_MODES = ("error", "unknown")


class InputError(ValueError):
    """A request or input file the signature rejects; `status` is the HTTP status to answer with.

    Args:
        message: what is wrong, naming the field.
        field: the offending column or payload key, when there is one.
        status: 400 (malformed), 413 (too large) or 422 (does not match the signature).
    """

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_code": _ERROR_CODES.get(self.status, "BAD_REQUEST"),
            "message": self.message,
            "field": self.field,
        }


_ERROR_CODES = {400: "MALFORMED_REQUEST", 413: "PAYLOAD_TOO_LARGE", 422: "INVALID_PARAMETER_VALUE"}


# --------------------------------------------------------------------------- payload parsing


#: Defaults of `serve.max_json_depth` and `serve.max_elements` (gitml.policy.serve).
MAX_JSON_DEPTH = 32
MAX_ELEMENTS = 500_000

# A JSON string literal (escapes included): what the shape scan skips.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)


def check_json_shape(
    body: bytes, max_depth: int = MAX_JSON_DEPTH, max_elements: int = MAX_ELEMENTS
) -> None:
    """Refuse (400) a body nested deeper than `max_depth` or with more than `max_elements` values,
    before any parser sees it.

    Counts are upper bounds that cost a few `bytes.count` calls (C speed); only a body with more
    brackets than `max_depth`, or more commas than `max_elements`, is scanned exactly: string
    literals removed by one regex, the brackets kept by `bytes.translate`, the depth a NumPy
    cumulative sum. All O(bytes), none in a Python loop over bytes. Values are counted as
    commas + opening brackets + 1 outside strings (an object member counts once)."""
    opens = body.count(b"[") + body.count(b"{")
    values = body.count(b",") + opens + 1
    if opens <= max_depth and values <= max_elements:
        return
    structure = _STRING.sub(b"", body)
    brackets = np.frombuffer(structure.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    opening = np.isin(brackets, _OPENERS)
    if opens > max_depth and len(brackets):
        depth = int(np.cumsum(np.where(opening, 1, -1)).max())
        if depth > max_depth:
            raise InputError(
                f"The JSON body is nested {depth} levels deep; the limit is {max_depth} "
                "(serve.max_json_depth in conf/gitml.yaml).",
                None,
                400,
            )
    if values > max_elements:
        values = structure.count(b",") + int(opening.sum()) + 1
        if values > max_elements:
            raise InputError(
                f"The JSON body has {values} values; the limit is {max_elements} "
                "(serve.max_elements in conf/gitml.yaml).",
                None,
                400,
            )


def parse_json(
    body: bytes, max_depth: int = MAX_JSON_DEPTH, max_elements: int = MAX_ELEMENTS
) -> Any:
    """Decode a JSON body; malformed JSON is a 400 that says where it broke.

    The body's nesting and size are bounded first (`check_json_shape`). orjson parses (several
    times faster); what it refuses (NaN/Infinity literals, integers beyond 64 bits, errors)
    goes through the standard library, which decides and explains."""
    check_json_shape(body, max_depth, max_elements)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise InputError(f"The body is not UTF-8 text: {exc}.", status=400) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.", status=400
        ) from None
    except RecursionError:  # not reachable within the depth limit; a 400 all the same
        raise InputError("The JSON body is nested too deeply.", None, 400) from None


def _records_to_columns(records: Sequence[Any], key: str) -> dict[str, Sequence[Any]]:
    names: dict[str, None] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(f"'{key}[{i}]' must be an object of column values.", key, 400)
        for name in rec:
            names.setdefault(str(name), None)
    return {name: [rec.get(name) for rec in records] for name in names}


def _rows_to_columns(
    rows: Sequence[Any], columns: Sequence[str], key: str
) -> dict[str, Sequence[Any]]:
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InputError(
                f"'{key}' row {i} must be a list of {width} values (one per column).", key, 400
            )
    return {name: [row[j] for row in rows] for j, name in enumerate(columns)}


NO_ROWS = "The input has no rows."


def _no_rows(key: str, value: Any) -> bool:
    """Whether a payload's input value holds zero rows (an empty list, object or table)."""
    if isinstance(value, list | dict) and not value:
        return True
    if key == "dataframe_split" and isinstance(value, Mapping):
        return value.get("data") == []
    if isinstance(value, Mapping):
        return all(isinstance(col, list) and not col for col in value.values())
    return False


def param_flag(params: Mapping[str, Any], key: str) -> bool:
    """A boolean entry of a request's `params`: a JSON boolean (or absent/null), nothing else."""
    value = params.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise InputError(
        f"'params.{key}' must be true or false (a JSON boolean), not {_short(value)}.",
        f"params.{key}",
        422,
    )


def columns_from_payload(
    payload: Any, signature: Signature
) -> tuple[dict[str, Sequence[Any]], dict[str, Any]]:
    """Turn an MLflow scoring-protocol JSON document into columns and its `params`.

    Accepted (exactly one of): `dataframe_split` ({columns, data[, index]}), `dataframe_records`
    (list of row objects), `instances` or `inputs` (list of row objects, an object of column
    lists, or a list of rows in signature order). `params` is an optional object.
    """
    if not isinstance(payload, Mapping):
        raise InputError(
            f"The JSON body must be an object with one of: {', '.join(PAYLOAD_KEYS)}.", None, 400
        )
    present = [k for k in PAYLOAD_KEYS if k in payload]
    unknown = [k for k in payload if k not in (*PAYLOAD_KEYS, "params")]
    if len(present) != 1 or unknown:
        what = (
            f"unknown key(s) {', '.join(map(str, unknown))}"
            if unknown
            else (f"{len(present)} input keys")
        )
        raise InputError(
            f"The JSON body has {what}; it needs exactly one of: {', '.join(PAYLOAD_KEYS)} "
            "(and optionally 'params').",
            (unknown or present or [None])[0],
            400,
        )
    params = payload.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, Mapping):
        raise InputError("'params' must be an object.", "params", 400)
    key = present[0]
    value = payload[key]
    if _no_rows(key, value):
        raise InputError(NO_ROWS, key, 400)
    if key == "dataframe_split":
        if not isinstance(value, Mapping) or not isinstance(value.get("data"), list):
            raise InputError(
                "'dataframe_split' must be an object with 'columns' and 'data'.", key, 400
            )
        cols = value.get("columns")
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            raise InputError("'dataframe_split.columns' must be a list of column names.", key, 400)
        return _rows_to_columns(value["data"], cols, key), dict(params)
    if isinstance(value, Mapping):
        if key == "dataframe_records":
            raise InputError("'dataframe_records' must be a list of row objects.", key, 400)
        lengths = set()
        out: dict[str, Sequence[Any]] = {}
        for name, col in value.items():
            if not isinstance(col, list):
                col = [col]
            lengths.add(len(col))
            out[str(name)] = col
        if len(lengths) > 1:
            raise InputError(f"The columns of '{key}' have different lengths.", key, 400)
        return out, dict(params)
    if not isinstance(value, list):
        raise InputError(f"'{key}' must be a list of rows.", key, 400)
    if value and all(isinstance(r, list) for r in value):
        if key == "dataframe_records":
            raise InputError("'dataframe_records' must be a list of row objects.", key, 400)
        return _rows_to_columns(value, signature.feature_names, key), dict(params)
    return _records_to_columns(value, key), dict(params)


def columns_from_csv(
    body: bytes, options: Mapping[str, Any] | None = None
) -> dict[str, Sequence[Any]]:
    """Parse a CSV body with a header row (`options`: the contract's `csv_options`); malformed
    CSV is a 400."""
    if not body.strip():
        raise InputError(NO_ROWS, None, 400)
    try:
        frame = pd.read_csv(io.BytesIO(body), **(options or {}))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"Malformed CSV: {first}.", None, 400) from None
    if frame.empty:
        raise InputError(NO_ROWS, None, 400)
    return {str(c): frame[c] for c in frame.columns}


V2_DATATYPES = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
}


def columns_from_v2(payload: Any) -> dict[str, Sequence[Any]]:
    """Columns from an Open Inference Protocol v2 request: one input tensor per feature column.

    Each input is `{name, shape: [n] or [n, 1], datatype, data}` (the pandas codec convention).
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("inputs"), list):
        raise InputError(
            "The inference request must be an object with a list 'inputs'.", "inputs", 400
        )
    if not payload["inputs"]:
        raise InputError(NO_ROWS, "inputs", 400)
    out: dict[str, Sequence[Any]] = {}
    for i, tensor in enumerate(payload["inputs"]):
        if not isinstance(tensor, Mapping):
            raise InputError(f"'inputs[{i}]' must be a tensor object.", "inputs", 400)
        name, shape, dtype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
        if not isinstance(name, str) or not name:
            raise InputError(f"'inputs[{i}].name' must be a non-empty string.", "inputs", 400)
        if name in out:
            raise InputError(
                f"Input '{name}' appears more than once in 'inputs'; send each column once.",
                name,
                400,
            )
        if dtype not in V2_DATATYPES:
            raise InputError(
                f"Input '{name}' has datatype {dtype!r}; expected one of "
                f"{', '.join(sorted(V2_DATATYPES))}.",
                name,
                400,
            )
        if not isinstance(data, list):
            raise InputError(f"Input '{name}' needs a 'data' list.", name, 400)
        if data and isinstance(data[0], list):
            if not all(isinstance(d, list) and len(d) == 1 for d in data):
                raise InputError(
                    f"Input '{name}' must be one column (shape [n] or [n, 1]).", name, 400
                )
            data = [d[0] for d in data]
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
            or shape[0] != len(data)
            or any(s != 1 for s in shape[1:])
        ):
            raise InputError(
                f"Input '{name}' has shape {shape!r}, which does not match its "
                f"{len(data)} values (use [n] or [n, 1]).",
                name,
                400,
            )
        out[name] = data
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise InputError("The input tensors have different lengths.", "inputs", 400)
    if lengths == {0}:
        raise InputError(NO_ROWS, "inputs", 400)
    return out


# --------------------------------------------------------------------------- validation
#
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
_FLOAT_LIKE = (int, float, np.integer, np.floating)


def _rows_hint(rows: Rows) -> str:
    shown = ", ".join(str(r) for r in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return f"row {shown}{more}" if len(rows) == 1 else f"rows {shown}{more}"


def _row_hint(mask: np.ndarray) -> str:
    return _rows_hint(np.flatnonzero(mask).tolist())


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _to_float(
    name: str, dtype: Any, i: int, value: Any, contract: InputContract | None = None
) -> float:
    """One value of a numeric column as a float (NaN = missing); the slow, general case."""
    if _is_missing(value):
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
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range
            return _INF if value > 0 else -_INF
    raise InputError(
        f"Column '{name}' expects {dtype} numbers; row {i} has {type(value).__name__} {_short(value)}.",
        name,
    )


def _fits_int64(value: Any) -> bool:
    """Whether an integer value (not its float) lies in the int64 range."""
    return (
        isinstance(value, int | np.integer)
        and not isinstance(value, bool)
        and _I64_MIN <= int(value) <= _I64_MAX
    )


def _outside_int64(name: str, rows: str, value: Any) -> InputError:
    return InputError(
        f"Column '{name}' expects int64 whole numbers (from -2**63 to 2**63-1); {rows} has "
        f"{_short(value)}, outside that range.",
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
            elif (number >= _I64_END or number < -_I64_END) and not _fits_int64(value):
                outside.append(i)
        elif dtype == "bool" and number != 0.0 and number != 1.0:
            notbool.append(i)
        out.append(number)
    arr = np.array(out, dtype="float64")
    if infinite:
        raise InputError(
            f"Column '{name}' must be finite; {_rows_hint(infinite)} is infinite.", name
        )
    if fraction:
        raise InputError(
            f"Column '{name}' expects whole numbers (int64); {_rows_hint(fraction)} "
            f"has {out[fraction[0]]!r}.",
            name,
        )
    if outside:
        raise _outside_int64(name, _rows_hint(outside), seq[outside[0]])
    if notbool:
        raise InputError(
            f"Column '{name}' expects true/false; {_rows_hint(notbool)} has {out[notbool[0]]!r}.",
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
        raise InputError(f"Column '{name}' must be finite; {_row_hint(bad)} is infinite.", name)
    if dtype == "int64":
        frac = finite & (arr != np.floor(np.where(finite, arr, 0.0)))
        if frac.any():
            raise InputError(
                f"Column '{name}' expects whole numbers (int64); {_row_hint(frac)} "
                f"has {float(arr[frac][0])!r}.",
                name,
            )
        big = None if from_ints else finite & ((arr >= _I64_END) | (arr < -_I64_END))
        if big is not None and big.any():
            raise _outside_int64(name, _row_hint(big), float(arr[big][0]))
    if dtype == "bool":
        notbool = finite & (arr != 0.0) & (arr != 1.0)
        if notbool.any():
            raise InputError(
                f"Column '{name}' expects true/false; {_row_hint(notbool)} has "
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        elif _is_missing(value):
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
                f"{type(value).__name__} {_short(value)}.",
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
                f"Column '{name}' is not nullable, but {_rows_hint(nulls)} is "
                "missing (null or NaN).",
                name,
            )
        out[name] = arr
    return out


def n_rows(columns: Columns) -> int:
    """Rows in validated columns."""
    return len(next(iter(columns.values()))) if columns else 0


def concat_columns(parts: Sequence[Columns]) -> Columns:
    """Validated columns of several requests, stacked in order."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def to_records(columns: Columns) -> list[dict[str, Any]]:
    """Validated columns as JSON-safe row objects (NaN becomes null), for the prediction log."""
    names = list(columns)
    lists = [
        [None if isinstance(v, float) and math.isnan(v) else v for v in columns[n].tolist()]
        for n in names
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


# --------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class Scores:
    """Predictions for a batch of rows; `probabilities` has one column per class (or None)."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any]

    def slice(self, start: int, stop: int) -> Scores:
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Scores(self.predictions[start:stop], proba, self.classes)

    def positive_scores(self, positive_class: Any) -> list[float] | None:
        """The score the monitor profiles per row: the positive class's probability (binary
        classifiers) or the predicted value (regressors: no probabilities, no classes)."""
        if self.probabilities is None:
            if self.classes or self.predictions.dtype.kind not in "iufO":
                return None
            try:
                return [float(v) for v in self.predictions.tolist()]
            except (TypeError, ValueError):
                return None
        if positive_class not in self.classes:
            return None
        return self.probabilities[:, self.classes.index(positive_class)].tolist()


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def model_frame(columns: Columns, features: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The model's input frame from validated columns: equal to what `prepare_features` makes of
    them (same values, dtypes and index; tested), without its per-column pandas conversions,
    which `validate` has already done. Categorical columns stay object arrays even when every
    value is missing (a float64 column of NaN breaks the fitted encoders)."""
    return pd.DataFrame({spec["name"]: columns[spec["name"]] for spec in features}, copy=False)


def score(model: Any, signature: Signature, columns: Columns) -> Scores:
    """Score validated columns with one call into the model."""
    frame = model_frame(columns, signature.features)
    if hasattr(model, "predict_proba"):
        return classified(model.predict_proba(frame), model_classes(model, signature), signature)
    return regressed(model.predict(frame))


def model_classes(model: Any, signature: Signature) -> list[Any]:
    """A classifier's classes in its probability columns' order (JSON-safe values)."""
    return [_py(c) for c in getattr(model, "classes_", signature.classes)]


def classified(probabilities: Any, classes: list[Any], signature: Signature) -> Scores:
    """A classifier's scores from its class probabilities: the signature's decision threshold
    on P(positive class) for a binary model that has one, else the most probable class."""
    proba = np.asarray(probabilities, dtype="float64")
    cut, positive = signature.threshold, signature.positive_class
    if cut is not None and len(classes) == 2 and positive in classes:
        # The train stage's decision threshold on P(positive class) (signature.json).
        pos = classes.index(positive)
        labels = np.asarray([classes[1 - pos], positive], dtype=object)
        preds = labels[(proba[:, pos] >= cut).astype(np.intp)]
        return Scores(preds, proba, classes)
    # Same rule as scikit-learn classifiers' predict: the class of the largest probability.
    preds = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    return Scores(preds, proba, classes)


def regressed(values: Any) -> Scores:
    """A regressor's scores: its predictions, no probabilities, no classes."""
    return Scores(np.asarray(values, dtype=object), None, [])


def predictions_array(scores: Scores) -> np.ndarray:
    """Predictions as a typed array (int64, float64, str...) when the classes allow one: what
    a DataFrame column of `predictions_list` would hold, without a Python object per row."""
    values = scores.predictions
    if values.dtype != object or not len(values):
        return values
    typed = np.asarray(values.tolist())
    return typed if typed.dtype.kind in "iufb" else values


def predictions_list(scores: Scores) -> list[Any]:
    """JSON-safe predictions."""
    return [_py(v) for v in scores.predictions.tolist()]


# --------------------------------------------------------------------------- context columns


#: Roles of declared non-feature columns a request may carry and the prediction log keeps.
CONTEXT_ROLES = ("id", "sensitive", "time")


@dataclass(frozen=True)
class ContextSpec:
    """Declared non-feature columns a request may carry besides the features: never passed to
    the model; logged (`logged`), or, flagged `pii: true`, dropped or keyed-hashed (`pii`).

    `pii_features` are features flagged PII (only with `data.allow_pii_features`): scored, but
    redacted in the log like the other PII columns."""

    logged: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    pii_features: tuple[str, ...] = ()

    @classmethod
    def from_columns(cls, columns: Sequence[Mapping[str, Any]]) -> ContextSpec:
        """From declared columns (name, role, pii), as in params.yaml's `data.columns`."""
        logged: list[str] = []
        pii: list[str] = []
        pii_features: list[str] = []
        for col in columns:
            name, role, flagged = str(col["name"]), col.get("role"), bool(col.get("pii"))
            if role == "feature":
                if flagged:
                    pii_features.append(name)
            elif flagged and role != "target":
                pii.append(name)
            elif role in CONTEXT_ROLES:
                logged.append(name)
        return cls(tuple(logged), tuple(pii), tuple(pii_features))

    @property
    def empty(self) -> bool:
        return not (self.logged or self.pii or self.pii_features)


def _context_value(name: str, i: int, value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise InputError(
        f"Context column '{name}' holds a {type(value).__name__} in row {i}; send plain values "
        "(text, numbers, true/false or null).",
        name,
    )


def context_columns(raw: Mapping[str, Any], spec: ContextSpec, rows: int) -> dict[str, list[Any]]:
    """The declared context and PII columns a request carries, as JSON-safe lists (never model
    input). A column of another length than the features is a 400."""
    out: dict[str, list[Any]] = {}
    for name in (*spec.logged, *spec.pii):
        if name not in raw:
            continue
        values = raw[name]
        seq = values.tolist() if isinstance(values, pd.Series) else list(values)
        if len(seq) != rows:
            raise InputError(
                f"Context column '{name}' has {len(seq)} values for {rows} rows.", name, 400
            )
        out[name] = [_context_value(name, i, v) for i, v in enumerate(seq)]
    return out
