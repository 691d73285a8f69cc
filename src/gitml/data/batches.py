"""Labelled batches appended to a data source: one folder per source, read under its contract.

`gitml retrain` stores a batch in `<batches>/<data name>/` and the ingest stage appends only the
folder of the data source it loads, so a batch of one source never reaches another. A batch is
read with the data config's read options and cleaned by the same input contract
(`gitml.contract.InputContract`) as the source, then checked against the declared schema; every
error names the batch file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gitml.config import DataConfig
from gitml.contract import InputContract
from gitml.data.sources import read_table
from gitml.errors import GitmlError
from gitml.schema import validate_frame

#: File types a batch may have.
SUFFIXES = (".csv", ".parquet")


def source_folder(batches: Path, data: DataConfig) -> Path:
    """The folder holding the batches of data source `data` (named after the data config)."""
    return Path(batches) / data.name


def read_batch(path: Path, data: DataConfig) -> pd.DataFrame:
    """One batch file read as the source is: same read options, same input contract.

    A CSV batch of a CSV source gets all of the source's read options (delimiter, encoding...);
    another CSV gets the contract's value options only; Parquet needs none.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise GitmlError(
            f"Cannot tell the format of the batch '{path}'.", "Use a .csv or .parquet file."
        )
    fmt = path.suffix.lstrip(".")
    contract = InputContract.from_read_options(data.source, data.read_options)
    options = dict(data.read_options) if fmt == data.source else {}
    if fmt == "csv" and fmt != data.source:
        options = contract.csv_options()
    frame = read_table(path, fmt, options, [c.name for c in data.columns])
    return contract.clean_frame(frame)


def check_batch(path: Path, frame: pd.DataFrame, data: DataConfig) -> None:
    """Fail, naming `path`, when the batch does not match the data config's schema."""
    declared = [c.name for c in data.columns]
    missing = [c for c in declared if c not in frame.columns]
    extra = [str(c) for c in frame.columns if c not in declared]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(missing[:8])}")
        if extra:
            parts.append(f"has undeclared {', '.join(extra[:8])}")
        raise GitmlError(
            f"The batch '{path}' does not match the data contract '{data.name}': it "
            f"{' and '.join(parts)}.",
            "A batch needs exactly the training table's columns, including the target "
            f"'{data.target}' (see {data.schema or f'conf/data/{data.name}.yaml'}).",
        )
    result = validate_frame(frame, data)
    if not result.passed:
        problems = "; ".join(_problem(f) for f in result.failures[:6])
        raise GitmlError(
            f"The batch '{path}' does not match the data contract '{data.name}': {problems}.",
            f"Fix the batch, or the declaration in {data.schema or f'conf/data/{data.name}.yaml'} "
            "if the batch is right.",
        )


def _problem(failure: dict[str, Any]) -> str:
    """'income: in_range(1, 22) fails in 115 rows, e.g. 23, 24' (a validation failure row)."""
    count = int(failure["failures"])
    examples = ", ".join(repr(v) for v in failure.get("examples", [])[:3])
    rows = f"{count} row{'s' if count != 1 else ''}"
    return f"{failure['column']}: {failure['check']} fails in {rows}" + (
        f", e.g. {examples}" if examples else ""
    )


def load_batches(batches: Path, data: DataConfig) -> list[tuple[Path, pd.DataFrame]]:
    """The batches of `data`'s source folder, sorted by file name, each read and checked.

    Raises GitmlError for batch files left directly in `batches` (the layout before one folder
    per source), since nothing tells which source they belong to.
    """
    batches = Path(batches)
    if batches.is_dir():
        loose = sorted(p.name for p in batches.iterdir() if p.is_file() and p.suffix in SUFFIXES)
        if loose:
            raise GitmlError(
                f"Batch files directly in {batches} ({', '.join(loose[:5])}) belong to no data "
                "source: batches live in one folder per data config.",
                f"Move each into {batches}/<data name>/ (e.g. {batches}/{data.name}/) with "
                "`dvc move`, and commit.",
            )
    folder = source_folder(batches, data)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES):
        frame = read_batch(path, data)
        check_batch(path, frame, data)
        out.append((path, frame))
    return out
