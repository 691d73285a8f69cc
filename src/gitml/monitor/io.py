"""Adapters of the monitor: reading profiles, batch files and prediction logs in bounded chunks.

Parquet is read by record batches, CSV with pyarrow's streaming reader (column types fixed from the
reference profile, so every chunk parses alike), the serving log line by line. The log is what
`gitml serve` writes (`gitml.serve.predlog`): one JSON object per request, its rows under `inputs`
(a list of row objects) and their scores under `score` (a list); each row becomes one batch row
with its `request_id`, its index `row` within the request, its `score`, its `prediction` and its
context columns (`context`: declared non-feature columns such as sensitive attributes). A column
only some requests carried is null in the others' rows; the chunk's `attrs[ABSENT]` names those
rows, and the monitor leaves them out of that column's checks (absent is not null).
Rejected requests (a status other than 200, no inputs) are counted and skipped. The older format,
one row object per line with one score, is read too. Naming the live log reads its rotated
predecessors (`<path>.N` ... `<path>.1`) first, oldest first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitml.contract import InputContract
from gitml.errors import GitmlError
from gitml.fileio import open_parquet
from gitml.monitor.labels import REQUEST_ID, ROW, LabelJoin
from gitml.monitor.quality import ABSENT
from gitml.serve.predlog import log_files

if TYPE_CHECKING:
    import pandas as pd

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
    #: The serving prediction log (`--log`): JSON Lines whatever the suffix, rotated files too.
    log: bool = False

    def __post_init__(self) -> None:
        #: Every column name the batch has (also those not read), for the undeclared-column check.
        self.columns: list[str] = []
        #: With the log: files read, requests, rejected requests, rows.
        self.log_summary: dict[str, Any] = {}
        self.files = log_files(self.path) if self.log else [self.path]
        if not self.files or not all(f.is_file() for f in self.files):
            what = "prediction log" if self.log else "batch"
            raise GitmlError(f"The {what} '{self.path}' does not exist.", "Check the path.")
        suffix = self.path.suffix.lower()
        if self.log or suffix in (".jsonl", ".ndjson", ".log"):
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
        size = sum(f.stat().st_size for f in self.files)
        with max(self.files, key=lambda f: f.stat().st_size).open("rb") as handle:
            head = handle.read(1 << 20)
        lines = head.count(b"\n")
        if lines == 0:
            return 1
        per_line = 1.0
        if self.format == "jsonl":  # rows per line, from the complete lines of the head
            rows = [len(_rows_of(json.loads(x), self.inputs_field)) for x in _json_lines(head)]
            per_line = sum(rows) / len(rows) if rows else 1.0
        estimate = size / (len(head) / lines) * per_line
        return max(int(estimate) - (1 if self.format == "csv" else 0), 1)

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
        return (_with_attrs(contract.clean_frame(chunk), chunk) for chunk in chunks)

    def _wanted(self, available: list[str]) -> list[str]:
        # once each: `--score-column prediction --labels y` names `prediction` twice
        return list(dict.fromkeys(c for c in (*self.kinds, *self.extra) if c in available))

    def _parquet(self) -> Iterator[pd.DataFrame]:
        import pandas as pd
        import pyarrow as pa

        try:
            handle = open_parquet(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise GitmlError(
                f"'{self.path}' is not a readable Parquet file ({exc}).", "Check the file."
            ) from None
        names = handle.schema_arrow.names
        self.columns = list(names)
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
        import pandas as pd
        import pyarrow as pa
        from pyarrow import csv

        fmt = self.contract or InputContract()
        encoding = {"encoding": fmt.encoding} if fmt.encoding != "utf-8" else {}
        parse = csv.ParseOptions(delimiter=fmt.sep, quote_char=fmt.quotechar)
        try:
            probe = csv.open_csv(
                self.path,
                read_options=csv.ReadOptions(block_size=1 << 16, **encoding),
                parse_options=parse,
            )
            names = probe.schema.names
        except (pa.ArrowException, OSError) as exc:
            if "Empty CSV file" in str(exc):
                raise GitmlError(
                    f"The batch '{self.path}' is empty.", "Pass a CSV file with a header and rows."
                ) from None
            raise GitmlError(
                f"'{self.path}' is not a readable CSV file ({exc}).", "Check the file."
            ) from None
        self.columns = list(names)
        wanted = self._wanted(names)
        types = {
            c: (pa.float64() if self.kinds.get(c) == "numeric" else pa.string())
            for c in wanted
            if c in self.kinds
        }
        if self.score_column in wanted:
            types[self.score_column] = pa.float64()
        # With a thousands separator (52,791) the numbers are read as text and converted here:
        # pyarrow has no thousands option.
        grouped = [c for c, t in types.items() if pa.types.is_floating(t)] if fmt.thousands else []
        types.update(dict.fromkeys(grouped, pa.string()))
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
                read_options=csv.ReadOptions(block_size=block, **encoding),
                parse_options=parse,
                convert_options=csv.ConvertOptions(
                    column_types=types,
                    include_columns=wanted or None,
                    strings_can_be_null=True,
                    decimal_point=fmt.decimal,
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
            if grouped:
                try:
                    batch = _ungrouped(batch, grouped, fmt)
                except pa.ArrowInvalid as exc:
                    raise GitmlError(
                        f"'{self.path}' has a value of the wrong type: {exc}.",
                        "Numeric columns of the reference must hold numbers in the batch; "
                        "fix the values or check that it is the right table.",
                    ) from None
            yield batch.to_pandas()
        if not produced:
            yield pd.DataFrame({c: [] for c in (wanted or names)})

    def _jsonl(self) -> Iterator[pd.DataFrame]:
        import pandas as pd

        rows: list[dict[str, Any]] = []
        produced = False
        seen: dict[str, None] = {}
        summary: dict[str, Any] = {
            "files": [str(f) for f in self.files],
            "requests": 0,
            "rejected": 0,
            "rows": 0,
        }
        self.log_summary = summary
        for path in self.files:
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    parsed = self._parse(line, f"{path}:{number}")
                    if parsed is None:
                        summary["requests"] += 1
                        summary["rejected"] += 1
                        continue
                    summary["requests"] += 1
                    summary["rows"] += len(parsed)
                    for row in parsed:
                        seen.update(dict.fromkeys(row))
                    rows.extend(parsed)
                    if len(rows) >= self.chunk_rows:
                        produced = True
                        self.columns = list(seen)
                        yield self._frame(rows)
                        rows = []
        self.columns = list(seen)
        if rows:
            yield self._frame(rows)
        elif not produced:
            yield pd.DataFrame({c: [] for c in self.kinds})

    def _parse(self, line: str, where: str) -> list[dict[str, Any]] | None:
        """The batch rows of one log line (None for a rejected request); a clear error if bad."""

        def bad(what: str) -> GitmlError:
            return GitmlError(
                f"{where}: the prediction log line {what}.",
                "Each line must be one JSON object as `gitml serve` writes it: the rows under "
                f"'{self.inputs_field}' (a list of row objects, or one object) and their scores "
                f"under '{self.score_field}' (monitor.log in conf/gitml.yaml). Remove or repair "
                "the line, or point --log at the right file.",
            )

        try:
            record = json.loads(line)
        except ValueError as exc:
            raise bad(f"is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise bad("is not a JSON object")
        inputs = record.get(self.inputs_field)
        status = record.get("status")
        if inputs is None and status is not None and status != 200:
            return None  # a rejected request: nothing was scored
        if isinstance(inputs, dict):  # the older format: one row per line, one score
            row = dict(inputs)
            score = _number(_dig(record, self.score_field), last=True)
            if score is not None:
                row[self.score_column] = score
            for name in self.extra:
                if name not in row and name in record:
                    row[name] = record[name]
            return [row]
        if not isinstance(inputs, list) or not all(isinstance(r, dict) for r in inputs):
            raise bad(f"has no '{self.inputs_field}' list of row objects")
        if status is not None and status != 200:
            return None
        scores = _dig(record, self.score_field)
        if scores is not None and (not isinstance(scores, list) or len(scores) != len(inputs)):
            raise bad(
                f"has {len(inputs)} rows but its '{self.score_field}' is not a list of as many"
            )
        predictions = _dig(record, "outputs.predictions")
        if not isinstance(predictions, list) or len(predictions) != len(inputs):
            predictions = None
        request_id = record.get(REQUEST_ID)
        context = record.get("context")
        if not isinstance(context, list) or len(context) != len(inputs):
            context = None
        out = []
        for i, raw in enumerate(inputs):
            row = dict(raw)
            if context is not None and isinstance(context[i], dict):
                for name, value in context[i].items():
                    row.setdefault(name, value)
            if scores is not None:
                score = _number(scores[i], last=True)
                row[self.score_column] = float("nan") if score is None else score
            if predictions is not None:
                row.setdefault("prediction", predictions[i])
            if request_id is not None:
                row[REQUEST_ID] = str(request_id)
                row[ROW] = i
            out.append(row)
        return out

    def _frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        frame = pd.DataFrame.from_records(rows)
        for name, kind in self.kinds.items():
            if name in frame.columns and kind == "categorical":
                frame[name] = frame[name].astype("string")
        # A column some requests did not send is null in their rows: note which rows lacked it,
        # so the monitor does not judge a value nobody sent (a sent null stays a null).
        absent: dict[str, np.ndarray] = {}
        for name in frame.columns[frame.isna().any().to_numpy()]:
            lacked = np.fromiter((name not in row for row in rows), dtype=bool, count=len(rows))
            if lacked.any():
                absent[str(name)] = lacked
        if absent:
            frame.attrs[ABSENT] = absent
        return frame


def _with_attrs(cleaned: pd.DataFrame, chunk: pd.DataFrame) -> pd.DataFrame:
    """The cleaned chunk, keeping what the reader noted on the original (`ABSENT`)."""
    if chunk.attrs and cleaned is not chunk:
        cleaned.attrs.update(chunk.attrs)
    return cleaned


def _ungrouped(batch: Any, columns: list[str], fmt: InputContract) -> Any:
    """The batch with `columns` (text such as "52,791") as float64 numbers, read with the
    contract's thousands and decimal separators."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in columns:
            column = pc.replace_substring(column, fmt.thousands, "")
            if fmt.decimal != ".":
                column = pc.replace_substring(column, fmt.decimal, ".")
            column = pc.cast(pc.utf8_trim_whitespace(column), pa.float64())
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _null_values(contract: InputContract | None) -> dict[str, Any]:
    """The CSV reader's missing-value strings: the input contract's, when it has some."""
    if contract is None or not contract.missing_values:
        return {}
    return {"null_values": list(contract.missing_values)}


def _dig(record: Any, path: str) -> Any:
    """The value at a dotted path such as 'outputs.score', or None."""
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(node: Any, last: bool = False) -> float | None:
    """A number, or with `last` the last element of a list (a probability row); else None."""
    if last and isinstance(node, list):
        node = node[-1] if node else None
    if isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)
    return None


def _rows_of(record: Any, field: str) -> list[Any]:
    """The rows a log record holds (for estimates only)."""
    inputs = record.get(field) if isinstance(record, dict) else None
    return inputs if isinstance(inputs, list) else [inputs] if isinstance(inputs, dict) else []


def _json_lines(head: bytes) -> Iterator[bytes]:
    """The complete lines of a file's head that parse as JSON."""
    for line in head.split(b"\n")[:-1][:1000]:
        try:
            json.loads(line)
        except ValueError:
            continue
        yield line


def read_labels(path: Path, column: str | None) -> LabelJoin:
    """Read a labels file (CSV, Parquet or JSON Lines: `request_id`, optional `row`, the label).

    `column` names the label column; None takes the one column besides the keys.
    """
    import pandas as pd

    if not path.is_file():
        raise GitmlError(f"The labels file '{path}' does not exist.", "Check the path.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype={REQUEST_ID: str})
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True, dtype={REQUEST_ID: str})
        else:
            raise GitmlError(
                f"Cannot tell the format of the labels file '{path}'.",
                "Name it .csv, .parquet or .jsonl.",
            )
    except GitmlError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
        raise GitmlError(
            f"The labels file '{path}' is not readable ({type(exc).__name__}: {exc}).",
            "Check the file: request_id, optionally row, and the label column.",
        ) from None
    if column is None:
        others = [str(c) for c in frame.columns if c not in (REQUEST_ID, ROW)]
        if len(others) != 1:
            raise GitmlError(
                f"Cannot tell the label column of '{path}' (columns besides the keys: "
                f"{', '.join(others) or 'none'}).",
                "Name it with --label-column, or give --params so the data contract's target is "
                "used.",
            )
        column = others[0]
    return LabelJoin.from_frame(frame, column, str(path))
