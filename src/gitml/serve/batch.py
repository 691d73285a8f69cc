"""Offline scoring: files in chunks (`gitml predict`) and JSON Lines streams (`--stream`).

Files are read `chunk_rows` at a time (CSV through pandas' chunked reader, Parquet by record
batches), validated exactly like the server's requests, scored, and appended to a temporary
output that replaces OUTPUT only when every chunk succeeded. Memory is bounded by the chunk.
CSV text is read with the model's input contract (its missing-value markers and the training
file's CSV format: delimiter, decimal and thousands separators, encoding), like training read it. `carry` columns (`--id-column`, `--keep`) are copied into the output so it joins back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gitml import scoring
from gitml.contract import InputContract
from gitml.errors import GitmlError
from gitml.fileio import atomic_path, open_parquet
from gitml.scoring import InputError
from gitml.serve.bundle import ModelBundle

FORMATS = (".csv", ".parquet")
OUTPUT_COLUMNS = ("prediction", "model_version")
STREAM_FIELDS = ("line", "prediction", "probabilities", "model_version", "error", "field")


def _format(path: Path, what: str) -> str:
    if path.suffix.lower() not in FORMATS:
        raise GitmlError(
            f"Cannot tell the format of the {what} '{path}'.", "Name it .csv or .parquet."
        )
    return path.suffix.lower()


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet file (from its footer); None for CSV (unknown without reading it)."""
    return pq.ParquetFile(path).metadata.num_rows if _format(path, "input") == ".parquet" else None


def input_columns(path: Path, contract: InputContract | None = None) -> list[str]:
    """The column names of the input file (CSV: its header, read in the contract's format)."""
    if _format(path, "input") == ".parquet":
        return list(open_parquet(path).schema_arrow.names)
    options = contract.format_options() if contract is not None else {}
    try:
        header = pd.read_csv(path, nrows=0, **options)
    except pd.errors.EmptyDataError:
        return []
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise GitmlError(
            f"The CSV file '{path}' is malformed: {exc}.",
            "Check the file: a header row, then comma-separated values.",
        ) from None
    return [str(c) for c in header.columns]


def check_columns(path: Path, found: Sequence[str], bundle: ModelBundle) -> None:
    """A GitmlError when the input has none of the model's feature columns (a file in another
    CSV format reads as one column), naming what was found and what was expected."""
    features = bundle.signature.feature_names
    if not found or not features or any(f in found for f in features):
        return

    def listed(names: Sequence[str]) -> str:
        shown = ", ".join(f"'{n}'" for n in names[:8])
        return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")

    contract = bundle.signature.contract
    hint = "Score a file with the model's feature columns."
    if len(found) == 1:
        other = next(
            (d for d in (";", "\t", "|", ",") if d in found[0] and d != contract.sep), None
        )
        if other is not None:
            hint = (
                f"It looks like '{other}'-delimited, but the model's data is read with "
                f"sep {contract.sep!r} (the training data config's read_options): write the file "
                "in that format."
            )
    raise GitmlError(
        f"None of the model's feature columns is in '{path}': it has {len(found)} column(s) "
        f"{listed(found)}; the model expects {listed(features)}.",
        hint,
    )


def read_chunks(
    path: Path,
    chunk_rows: int,
    columns: list[str],
    contract: InputContract | None = None,
    text_columns: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """The input file `chunk_rows` rows at a time (only `columns`); CSV cells are read with the
    contract's options, `text_columns` as strings (ids keep their leading zeros)."""
    wanted = set(columns)
    if _format(path, "input") == ".parquet":
        pf = open_parquet(path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for rb in pf.iter_batches(batch_size=chunk_rows, columns=present):
            yield rb.to_pandas()
    else:
        options = contract.csv_options() if contract is not None else {}
        try:
            yield from pd.read_csv(
                path,
                chunksize=chunk_rows,
                usecols=lambda c: c in wanted,
                dtype=dict.fromkeys(text_columns, "string") or None,
                **options,
            )
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise GitmlError(
                f"The CSV file '{path}' is malformed: {exc}.",
                "Check the file: a header row, then comma-separated values.",
            ) from None


def column_list(text: str | None) -> list[str]:
    """`--keep a,b,"name, with comma"`: comma-separated names, CSV-quoted when one holds a comma
    (blanks around an unquoted name are dropped)."""
    import csv

    if not text or not text.strip():
        return []
    [names] = csv.reader([text], skipinitialspace=True)
    return [n.strip() for n in names if n.strip()]


def carried_columns(bundle: ModelBundle, id_column: str | None, keep: Sequence[str]) -> list[str]:
    """The input columns to copy into the output (`--id-column` first, then `--keep`), checked
    against the output's own column names."""
    carry = list(dict.fromkeys([*([id_column] if id_column else []), *keep]))
    taken = [*OUTPUT_COLUMNS, *(f"probability_{c}" for c in bundle.signature.classes)]
    clash = [c for c in carry if c in taken or c in STREAM_FIELDS]
    if clash:
        raise GitmlError(
            f"Cannot carry the input column '{clash[0]}': the output has a column of that name.",
            "Rename the column in the input, or drop it from --id-column/--keep.",
        )
    return carry


def _carried(
    chunk: pd.DataFrame, cols: scoring.Columns, carry: Sequence[str], bundle: ModelBundle
) -> dict[str, Any]:
    """The carried columns of a chunk: a feature as the model scored it (after the input
    contract), any other column as read."""
    kinds = {f["name"]: f.get("dtype") for f in bundle.signature.features}
    out: dict[str, Any] = {}
    for name in carry:
        if name in cols and kinds.get(name) != "datetime":
            out[name] = cols[name]
        else:
            out[name] = chunk[name].to_numpy()
    return out


def output_frame(
    bundle: ModelBundle, scores: scoring.Scores, carried: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Carried input columns, predictions, one probability column per class
    (`probability_<class>`), the version."""
    out: dict[str, Any] = dict(carried or {})
    out["prediction"] = scoring.predictions_array(scores)
    if scores.probabilities is not None:
        for i, cls in enumerate(scores.classes):
            out[f"probability_{cls}"] = scores.probabilities[:, i]
    out["model_version"] = bundle.version
    return pd.DataFrame(out)


def with_contributions(
    frame: pd.DataFrame, explainer: Any, bundle: ModelBundle, cols: scoring.Columns
) -> pd.DataFrame:
    """The output frame with `contrib_<feature>` columns (each feature's contribution to the raw
    output, e.g. the log-odds) and `contrib_base` (base value + the row's contributions = it)."""
    found = explainer.explain(scoring.model_frame(cols, bundle.signature.features))
    extra = {f"contrib_{name}": found.values[:, i] for i, name in enumerate(found.features)}
    extra["contrib_base"] = found.base
    return pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1)


def make_explainer(bundle: ModelBundle, root: Path, policy: Any) -> Any:
    """The explainer for `gitml predict --explain` (GitmlError, exit 2, without shap)."""
    from gitml import explain
    from gitml.serve.project import explain_background

    explain.require()
    return explain.Explainer(
        bundle.model,
        bundle.signature.feature_names,
        bundle.signature.positive_class,
        explain_background(root, policy, bundle.signature.features),
    )


def predict_file(
    bundle: ModelBundle,
    input_path: Path,
    output_path: Path,
    chunk_rows: int,
    unknown_categories: str = "error",
    progress: Callable[[int], None] | None = None,
    carry: Sequence[str] = (),
    explainer: Any = None,
) -> int:
    """Score `input_path` into `output_path` (atomic); return the number of rows.

    `carry` columns of the input (see `carried_columns`) are copied in front of the scores;
    with `explainer` (`gitml.explain.Explainer`), `with_contributions` adds its columns."""
    if not input_path.is_file():
        raise GitmlError(f"The input file '{input_path}' does not exist.", "Check the path.")
    out_format = _format(output_path, "output")
    signature = bundle.signature
    features = signature.feature_names
    wanted = [*features, *(c for c in carry if c not in features)]
    text = [c for c in carry if c not in features]
    total = 0
    check_columns(input_path, input_columns(input_path, signature.contract), bundle)
    with atomic_path(output_path) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            chunks = read_chunks(input_path, chunk_rows, wanted, signature.contract, text)
            for chunk in chunks:
                if chunk.empty:
                    continue
                absent = [c for c in carry if c not in chunk.columns]
                if absent:
                    raise GitmlError(
                        f"The input '{input_path}' has no column '{absent[0]}' to carry "
                        "(--id-column/--keep).",
                        "Check the column name; nothing was written.",
                    )
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
                frame = output_frame(
                    bundle,
                    bundle.score(cols),
                    _carried(chunk, cols, carry, bundle),
                )
                if explainer is not None:
                    frame = with_contributions(frame, explainer, bundle, cols)
                if out_format == ".parquet":
                    table = _table(frame, None if writer is None else writer.schema)
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


def _table(frame: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    """A chunk as an Arrow table, cast to the schema of the first chunk (a carried column that
    is all-null in one chunk, or integral in one and fractional in another, still fits)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if schema is None or table.schema.equals(schema):
        if schema is None:
            fields = [
                pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                for f in table.schema
            ]
            return table.cast(pa.schema(fields))
        return table
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise GitmlError(
            f"A carried column changes type between chunks ({exc}).",
            "Write CSV output, or raise --chunk-rows.",
        ) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stream(
    bundle: ModelBundle,
    source: IO[str],
    sink: IO[str],
    unknown_categories: str = "error",
    carry: Sequence[str] = (),
) -> tuple[int, int]:
    """Score JSON Lines from `source` (one row object per line) to `sink`, flushing per line.

    Each output line is `{"line", <carry columns>, "prediction", "probabilities",
    "model_version"}`, or `{"line", <carry columns>, "error", "field"}` for a line that is not
    valid; the stream goes on either way. Returns (lines scored, lines rejected).
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
            for name in carry:
                if name not in record:
                    raise InputError(f"The line has no '{name}' to carry.", name, 422)
                out[name] = record[name]
            cols = scoring.validate(
                {k: [v] for k, v in record.items()}, bundle.signature, unknown_categories
            )
            scores = bundle.score(cols)
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
