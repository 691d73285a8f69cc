"""Offline scoring: files in chunks (`gitml predict`) and JSON Lines streams (`--stream`).

Files are read `chunk_rows` at a time (CSV through pandas' chunked reader, Parquet by record
batches), validated exactly like the server's requests, scored, and appended to a temporary
output that replaces OUTPUT only when every chunk succeeded. Memory is bounded by the chunk.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gitml import scoring
from gitml.errors import GitmlError
from gitml.fileio import atomic_path, open_parquet
from gitml.scoring import InputError
from gitml.serve.bundle import ModelBundle

FORMATS = (".csv", ".parquet")


def _format(path: Path, what: str) -> str:
    if path.suffix.lower() not in FORMATS:
        raise GitmlError(
            f"Cannot tell the format of the {what} '{path}'.", "Name it .csv or .parquet."
        )
    return path.suffix.lower()


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet file (from its footer); None for CSV (unknown without reading it)."""
    return pq.ParquetFile(path).metadata.num_rows if _format(path, "input") == ".parquet" else None


def read_chunks(path: Path, chunk_rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
    """The input file `chunk_rows` rows at a time (only the signature's columns for Parquet)."""
    if _format(path, "input") == ".parquet":
        pf = open_parquet(path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for rb in pf.iter_batches(batch_size=chunk_rows, columns=present):
            yield rb.to_pandas()
    else:
        try:
            yield from pd.read_csv(path, chunksize=chunk_rows, usecols=lambda c: c in set(columns))
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise GitmlError(
                f"The CSV file '{path}' is malformed: {exc}.",
                "Check the file: a header row, then comma-separated values.",
            ) from None


def output_frame(bundle: ModelBundle, scores: scoring.Scores) -> pd.DataFrame:
    """Predictions, one probability column per class (`probability_<class>`), the version."""
    out: dict[str, Any] = {"prediction": scoring.predictions_array(scores)}
    if scores.probabilities is not None:
        for i, cls in enumerate(scores.classes):
            out[f"probability_{cls}"] = scores.probabilities[:, i]
    out["model_version"] = bundle.version
    return pd.DataFrame(out)


def predict_file(
    bundle: ModelBundle,
    input_path: Path,
    output_path: Path,
    chunk_rows: int,
    unknown_categories: str = "error",
    progress: Callable[[int], None] | None = None,
) -> int:
    """Score `input_path` into `output_path` (atomic); return the number of rows."""
    if not input_path.is_file():
        raise GitmlError(f"The input file '{input_path}' does not exist.", "Check the path.")
    out_format = _format(output_path, "output")
    total = 0
    with atomic_path(output_path) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for chunk in read_chunks(input_path, chunk_rows, bundle.signature.feature_names):
                if chunk.empty:
                    continue
                try:
                    cols = scoring.validate(
                        {str(c): chunk[c] for c in chunk.columns},
                        bundle.signature,
                        unknown_categories,
                    )
                except InputError as exc:
                    raise GitmlError(
                        f"{input_path}, rows {total}-{total + len(chunk) - 1} (0-based, after "
                        f"the header): {exc.message}",
                        "Fix the input; nothing was written.",
                    ) from None
                frame = output_frame(bundle, scoring.score(bundle.model, bundle.signature, cols))
                if out_format == ".parquet":
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    writer.write_table(table)
                else:
                    frame.to_csv(tmp, mode="a", header=total == 0, index=False)
                total += len(frame)
                if progress is not None:
                    progress(len(frame))
        finally:
            if writer is not None:
                writer.close()
        if total == 0:
            raise GitmlError(f"The input file '{input_path}' has no rows.", "Nothing was written.")
    return total


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stream(
    bundle: ModelBundle, source: IO[str], sink: IO[str], unknown_categories: str = "error"
) -> tuple[int, int]:
    """Score JSON Lines from `source` (one row object per line) to `sink`, flushing per line.

    Each output line is `{"line", "prediction", "probabilities", "model_version"}`, or
    `{"line", "error", "field"}` for a line that is not valid; the stream goes on either way.
    Returns (lines scored, lines rejected).
    """
    ok = bad = 0
    for number, text in enumerate(source, start=1):
        if not text.strip():
            continue
        out: dict[str, Any] = {"line": number}
        try:
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"Malformed JSON: {exc.msg} at column {exc.colno}.", None, 400
                ) from None
            if not isinstance(record, dict):
                raise InputError("Each line must be one JSON object (a row).", None, 400)
            cols = scoring.validate(
                {k: [v] for k, v in record.items()}, bundle.signature, unknown_categories
            )
            scores = scoring.score(bundle.model, bundle.signature, cols)
            out["prediction"] = scoring.predictions_list(scores)[0]
            if scores.probabilities is not None:
                out["probabilities"] = dict(
                    zip(map(str, scores.classes), scores.probabilities[0].tolist(), strict=True)
                )
            out["model_version"] = bundle.version
            ok += 1
        except InputError as exc:
            out.update(error=exc.message, field=exc.field)
            bad += 1
        sink.write(json.dumps(out, default=_jsonable) + "\n")
        sink.flush()
    return ok, bad
