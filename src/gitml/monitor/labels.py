"""Labels that arrive later: join them to the logged rows by request id and row index.

The serving log keeps several rows per request; the monitor reads each as one row with its
`request_id` and `row` (the row's index within the request, from 0). A labels table joins on the
key (`request_id`, `row`); without a `row` column a label belongs to row 0 of its request (the only
row of a one-row request). Pure: the caller reads the labels table and hands it in.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gitml.errors import GitmlError

if TYPE_CHECKING:
    import pandas as pd

REQUEST_ID = "request_id"
ROW = "row"


def _key(request_id: Any, row: Any) -> tuple[str, int]:
    return (str(request_id), int(row))


class LabelJoin:
    """The labels by (request id, row), and what the join matched so far."""

    def __init__(self, labels: Mapping[tuple[str, int], Any], column: str, source: str) -> None:
        self.labels = dict(labels)
        self.column = column
        self.source = source
        self.matched: set[tuple[str, int]] = set()
        self.rows = 0
        self.joined_rows = 0
        self.empty = 0  # labels whose value is missing (not joined)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, column: str, source: str) -> LabelJoin:
        """Index a labels table (`request_id`, optional `row`, the label column); a clear error
        when a key column is missing or a key repeats."""
        import pandas as pd

        for needed in (REQUEST_ID, column):
            if needed not in frame.columns:
                raise GitmlError(
                    f"The labels file '{source}' has no '{needed}' column "
                    f"(its columns: {', '.join(map(str, frame.columns))}).",
                    f"A labels file holds '{REQUEST_ID}', optionally '{ROW}' (the row's index within "
                    f"the request, from 0) and the label column ('{column}').",
                )
        ids = frame[REQUEST_ID]
        rows = frame[ROW] if ROW in frame.columns else pd.Series(0, index=frame.index)
        if ids.isna().any() or pd.to_numeric(rows, errors="coerce").isna().any():
            raise GitmlError(
                f"The labels file '{source}' has rows without a '{REQUEST_ID}' or '{ROW}'.",
                "Every label needs the request id (and the row index) it belongs to.",
            )
        values = _plain(frame[column])
        labels: dict[tuple[str, int], Any] = {}
        empty = 0
        for rid, row, value in zip(ids.tolist(), rows.tolist(), values, strict=True):
            key = _key(rid, row)
            if key in labels:
                raise GitmlError(
                    f"The labels file '{source}' labels request '{key[0]}' row {key[1]} twice.",
                    "Keep one label per (request_id, row).",
                )
            labels[key] = value
            empty += value is None
        join = cls({k: v for k, v in labels.items() if v is not None}, column, source)
        join.empty = empty
        return join

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk with the label column set from the join (None where no label matches)."""
        import pandas as pd

        n = len(chunk)
        self.rows += n
        if REQUEST_ID not in chunk.columns:
            raise GitmlError(
                f"The batch has no '{REQUEST_ID}' column to join the labels of '{self.source}' by.",
                "Join labels to the serving log (--log), or to a batch with request ids.",
            )
        ids = chunk[REQUEST_ID].tolist()
        rows = chunk[ROW].tolist() if ROW in chunk.columns else [0] * n
        out: list[Any] = [None] * n
        for i, (rid, row) in enumerate(zip(ids, rows, strict=True)):
            if rid is None or (isinstance(rid, float) and np.isnan(rid)):
                continue
            key = _key(rid, row)
            if key in self.labels:
                out[i] = self.labels[key]
                self.matched.add(key)
                self.joined_rows += 1
        chunk = chunk.copy()
        chunk[self.column] = pd.Series(out, index=chunk.index, dtype=object)
        return chunk

    def summary(self) -> dict[str, Any]:
        """The join's counts: labels, joined rows, rows without a label, labels without a row."""
        return {
            "labels_file": self.source,
            "key": [REQUEST_ID, ROW],
            "labels": len(self.labels),
            "joined_rows": self.joined_rows,
            "rows_without_label": self.rows - self.joined_rows,
            "labels_without_row": len(self.labels) - len(self.matched),
            "labels_without_value": self.empty,
        }


def _plain(values: pd.Series) -> list[Hashable]:
    """Label values as plain Python objects; whole floats become ints (CSV reads 1 as 1.0 when a
    value is missing) so they compare equal to an integer positive class."""
    out: list[Any] = []
    for value in values.tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
        elif isinstance(value, float) and value.is_integer():
            out.append(int(value))
        else:
            out.append(value)
    return out
