"""Adapters of the monitor: reading profiles, batch files and prediction logs in bounded chunks.

Parquet is read by record batches, CSV with pyarrow's streaming reader (column types fixed from the
reference profile, so every chunk parses alike), the serving log (JSON Lines, one prediction per
line with its features under `inputs`) line by line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gitml.contract import InputContract
from gitml.errors import GitmlError
from gitml.fileio import open_parquet

CSV_BLOCK_BYTES = 16 << 20


def read_json_file(path: str | Path, what: str) -> dict[str, Any]:
    """Read a JSON object from a file, with a clear error when it is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise GitmlError(f"The {what} '{p}' does not exist.", "Check the path.")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GitmlError(
            f"The {what} '{p}' is not valid JSON ({exc}).",
            "Rebuild it with the pipeline (dvc repro).",
        ) from None
    if not isinstance(data, dict):
        raise GitmlError(f"The {what} '{p}' is not a JSON object.", "Rebuild it (dvc repro).")
    return data


@dataclass
class BatchSource:
    """A batch file or prediction log to read in chunks; `total_rows` is known or estimated."""

    path: Path
    kinds: Mapping[str, str]  # profiled column -> "numeric" | "categorical"
    extra: tuple[str, ...] = ()  # other columns to read if present (score, labels)
    chunk_rows: int = 250_000
    inputs_field: str = "inputs"
    score_field: str = "score"
    score_column: str = "score"
    contract: InputContract | None = None  # the model's input contract, applied to every chunk

    def __post_init__(self) -> None:
        if not self.path.is_file():
            raise GitmlError(f"The batch '{self.path}' does not exist.", "Check the path.")
        suffix = self.path.suffix.lower()
        if suffix in (".jsonl", ".ndjson", ".log"):
            self.format = "jsonl"
        elif suffix in (".parquet", ".pq"):
            self.format = "parquet"
        elif suffix in (".csv", ".txt"):
            self.format = "csv"
        else:
            raise GitmlError(
                f"Cannot tell the format of '{self.path}'.",
                "Name it .csv, .parquet, or .jsonl for a prediction log.",
            )

    # ------------------------------------------------------------------------- sizes

    @property
    def total_rows(self) -> int | None:
        """The row count (Parquet) or an estimate from the file size (CSV, JSON Lines)."""
        if self.format == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.path).metadata.num_rows)
        size = self.path.stat().st_size
        with self.path.open("rb") as handle:
            head = handle.read(1 << 20)
        lines = head.count(b"\n")
        if lines == 0:
            return 1
        return max(int(size / (len(head) / lines)) - (1 if self.format == "csv" else 0), 1)

    # ----------------------------------------------------------------------- readers

    def __iter__(self) -> Iterator[pd.DataFrame]:
        if self.format == "parquet":
            chunks = self._parquet()
        elif self.format == "csv":
            chunks = self._csv()
        else:
            chunks = self._jsonl()
        contract = self.contract
        if contract is None or contract.empty:
            return chunks
        return (contract.clean_frame(chunk) for chunk in chunks)

    def _wanted(self, available: list[str]) -> list[str]:
        wanted = [c for c in self.kinds if c in available]
        wanted += [c for c in self.extra if c in available and c not in wanted]
        return wanted

    def _parquet(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        try:
            handle = open_parquet(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise GitmlError(
                f"'{self.path}' is not a readable Parquet file ({exc}).", "Check the file."
            ) from None
        names = handle.schema_arrow.names
        wanted = self._wanted(names)
        if not wanted:
            yield pd.DataFrame({c: [] for c in names})
            return
        produced = False
        for batch in handle.iter_batches(batch_size=self.chunk_rows, columns=wanted):
            produced = True
            yield batch.to_pandas()
        if not produced:
            yield pd.DataFrame({c: [] for c in wanted})

    def _csv(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        from pyarrow import csv

        try:
            probe = csv.open_csv(self.path, read_options=csv.ReadOptions(block_size=1 << 16))
            names = probe.schema.names
        except (pa.ArrowException, OSError) as exc:
            if "Empty CSV file" in str(exc):
                raise GitmlError(
                    f"The batch '{self.path}' is empty.", "Pass a CSV file with a header and rows."
                ) from None
            raise GitmlError(
                f"'{self.path}' is not a readable CSV file ({exc}).", "Check the file."
            ) from None
        wanted = self._wanted(names)
        types = {
            c: (pa.float64() if self.kinds.get(c) == "numeric" else pa.string())
            for c in wanted
            if c in self.kinds
        }
        if self.score_column in wanted:
            types[self.score_column] = pa.float64()
        total = self.total_rows or 1
        block = max(
            1 << 16,
            min(CSV_BLOCK_BYTES * 8, int(self.path.stat().st_size / total * self.chunk_rows)),
        )

        def wrong_type(exc: Exception) -> GitmlError:
            found = re.search(r"CSV column #(\d+)", str(exc))
            column = f" in column '{names[int(found.group(1))]}'" if found else ""
            return GitmlError(
                f"'{self.path}' has a value of the wrong type{column}: {exc}.",
                "Numeric columns of the reference must hold numbers in the batch; "
                "fix the values or check that it is the right table.",
            )

        try:
            reader = csv.open_csv(
                self.path,
                read_options=csv.ReadOptions(block_size=block),
                convert_options=csv.ConvertOptions(
                    column_types=types,
                    include_columns=wanted or None,
                    strings_can_be_null=True,
                    **_null_values(self.contract),
                ),
            )
        except pa.ArrowInvalid as exc:
            raise wrong_type(exc) from None
        produced = False
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise wrong_type(exc) from None
            produced = True
            yield batch.to_pandas()
        if not produced:
            yield pd.DataFrame({c: [] for c in (wanted or names)})

    def _jsonl(self) -> Iterator[pd.DataFrame]:
        rows: list[dict[str, Any]] = []
        produced = False
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise GitmlError(
                        f"Line {number} of the log '{self.path}' is not JSON ({exc}).",
                        "Each line must be one JSON object.",
                    ) from None
                inputs = record.get(self.inputs_field) if isinstance(record, dict) else None
                if not isinstance(inputs, dict):
                    raise GitmlError(
                        f"Line {number} of the log '{self.path}' has no '{self.inputs_field}' "
                        "object.",
                        "Each line needs the request's features under that key "
                        "(monitor.log.inputs_field in conf/gitml.yaml).",
                    )
                row = dict(inputs)
                score = _dig(record, self.score_field)
                if score is not None:
                    row[self.score_column] = score
                for name in self.extra:
                    if name not in row and name in record:
                        row[name] = record[name]
                rows.append(row)
                if len(rows) >= self.chunk_rows:
                    produced = True
                    yield self._frame(rows)
                    rows = []
        if rows:
            yield self._frame(rows)
        elif not produced:
            yield pd.DataFrame({c: [] for c in self.kinds})

    def _frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(rows)
        for name, kind in self.kinds.items():
            if name in frame.columns and kind == "categorical":
                frame[name] = frame[name].astype("string")
        return frame


def _null_values(contract: InputContract | None) -> dict[str, Any]:
    """The CSV reader's missing-value strings: the input contract's, when it has some."""
    if contract is None or not contract.missing_values:
        return {}
    return {"null_values": list(contract.missing_values)}


def _dig(record: Any, path: str) -> Any:
    """The value at a dotted path such as 'outputs.score' (a list yields its last element)."""
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, list):
        node = node[-1] if node else None
    return node if isinstance(node, int | float) and not isinstance(node, bool) else None
