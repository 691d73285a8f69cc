"""Validated columns (one NumPy array per feature), the error every scoring input raises, and
small helpers the payload parsers, the validator and the context columns share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]


class SparseColumn(list[Any]):
    """A column of row objects some of which lacked its key: those rows hold None, and
    `unsent` holds their positions (a sent null is not among them)."""

    def __init__(self, values: Sequence[Any], unsent: frozenset[int]) -> None:
        super().__init__(values)
        self.unsent = unsent


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


NO_ROWS = "The input has no rows."


def short(value: Any) -> str:
    """`repr(value)`, cut to 40 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_missing(value: Any) -> bool:
    """None, pandas NA or a float NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


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
