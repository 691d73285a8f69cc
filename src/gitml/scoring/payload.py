"""Payload parsing: MLflow scoring-protocol JSON, CSV and Open Inference Protocol v2 tensors
become a mapping of column name to raw values (bounded: depth, elements, no rows)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from gitml.modeling import Signature
from gitml.scoring.columns import NO_ROWS, InputError, SparseColumn, short

PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


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
    kept = structure.translate(None, _NOT_BRACKETS)
    if opens > max_depth and kept:
        depth = _deepest(kept)
        if depth > max_depth:
            raise InputError(
                f"The JSON body is nested {depth} levels deep; the limit is {max_depth} "
                "(serve.max_json_depth in conf/gitml.yaml).",
                None,
                400,
            )
    if values > max_elements:
        values = structure.count(b",") + kept.count(b"[") + kept.count(b"{") + 1
        if values > max_elements:
            raise InputError(
                f"The JSON body has {values} values; the limit is {max_elements} "
                "(serve.max_elements in conf/gitml.yaml).",
                None,
                400,
            )


def _deepest(brackets: bytes) -> int:
    """The deepest nesting of a string of brackets: a plain loop when short (one request's few
    dozen), one NumPy cumulative sum when long."""
    if len(brackets) <= 4096:
        depth = deepest = 0
        for b in brackets:
            if b == 91 or b == 123:  # [ or {
                depth += 1
                if depth > deepest:
                    deepest = depth
            else:
                depth -= 1
        return deepest
    arr = np.frombuffer(brackets, dtype=np.uint8)
    return int(np.cumsum(np.where(np.isin(arr, _OPENERS), 1, -1)).max())


#: 19 digits in a row: possibly an integer beyond int64, which orjson would round to a float
#: (-2**63 - 1 becomes -2**63); such bodies are parsed by the standard library, exactly.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_json(
    body: bytes, max_depth: int = MAX_JSON_DEPTH, max_elements: int = MAX_ELEMENTS
) -> Any:
    """Decode a JSON body; malformed JSON is a 400 that says where it broke.

    The body's nesting and size are bounded first (`check_json_shape`). orjson parses (several
    times faster); what it refuses (NaN/Infinity literals, errors) and bodies that may hold an
    integer beyond 64 bits go through the standard library, which keeps integers exact."""
    check_json_shape(body, max_depth, max_elements)
    if not _LONG_DIGITS.search(body):  # orjson reads integers past 64 bits as rounded floats
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
    out: dict[str, Sequence[Any]] = {}
    for name in names:
        values = [rec.get(name) for rec in records]
        unsent = frozenset(i for i, rec in enumerate(records) if name not in rec)
        out[name] = SparseColumn(values, unsent) if unsent else values
    return out


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
        f"'params.{key}' must be true or false (a JSON boolean), not {short(value)}.",
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
    columns = _records_to_columns(value, key)
    _every_row_has_the_features(value, signature.feature_names, key)
    return columns, dict(params)


def _every_row_has_the_features(records: Sequence[Any], features: Sequence[str], key: str) -> None:
    """A row object that lacks a feature another row has is refused (a null must be sent as
    null): a typo in one row's key would otherwise score that row on a missing value."""
    if len(records) < 2:
        return
    for name in features:
        has = [name in rec for rec in records]
        if any(has) and not all(has):
            i = has.index(False)
            raise InputError(
                f"Row {i} of '{key}' has no '{name}', which other rows have; send "
                f'"{name}": null for a missing value.',
                name,
            )


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
        get = tensor.get
        name, shape, dtype, data = get("name"), get("shape"), get("datatype"), get("data")
        if not isinstance(name, str) or not name:
            raise InputError(f"'inputs[{i}].name' must be a non-empty string.", "inputs", 400)
        if name in out:
            raise InputError(
                f"Input '{name}' appears more than once in 'inputs'; send each column once.",
                name,
                400,
            )
        if not isinstance(dtype, str) or dtype not in V2_DATATYPES:  # a dict is unhashable
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
        if not (  # [n] or [n, 1], n = the number of values
            type(shape) is list
            and (shape == [len(data)] or shape == [len(data), 1])
            and type(shape[0]) is int
            and (len(shape) == 1 or type(shape[1]) is int)
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
