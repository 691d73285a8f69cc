"""Read a configured data source into a DataFrame, with clear errors for unreadable files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gitml.config import DataConfig
from gitml.contract import reader_options
from gitml.data import synthetic
from gitml.errors import GitmlError


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame.rename(columns={"target": "benign"}).astype({"benign": "int64"})


def _diabetes() -> pd.DataFrame:
    """scikit-learn's bundled diabetes table (442 rows, unscaled), target `progression`."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = frame.rename(columns={"target": "progression"})
    frame["sex"] = frame["sex"].astype("int64").astype(str)  # coded 1/2 in the source
    return frame


def read_table(
    path: str | Path,
    fmt: str,
    read_options: dict[str, object] | None = None,
    expected: list[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file; a missing, empty or mis-delimited file raises GitmlError.

    The value options (missing-value markers...) go to the CSV reader only: the input contract
    (`gitml.contract`) applies them to any table afterwards."""
    p = Path(path)
    options = reader_options(fmt, read_options or {})
    if not p.is_file():
        raise GitmlError(
            f"The data file '{p}' does not exist.",
            "Put your file there (and track it with `dvc add`), or fix data.path in the data config.",
        )
    if p.stat().st_size == 0:
        raise GitmlError(f"The data file '{p}' is empty.", "Check the export that produced it.")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(p, **options)
        else:
            frame = pd.read_csv(p, **options)
    except UnicodeDecodeError as exc:
        raise GitmlError(
            f"'{p}' is not in the encoding {options.get('encoding', 'utf-8')!r} "
            f"(byte {exc.start} cannot be decoded).",
            "Set data.read_options.encoding to the file's encoding, e.g. latin-1 or cp1252.",
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise GitmlError(
            f"The data file '{p}' has no rows or columns.", "Check its content."
        ) from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        kind = "Parquet" if fmt == "parquet" else "CSV"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GitmlError(
            f"'{p}' could not be read as {kind}: {first}.",
            "Check that data.source matches the file's format and data.read_options fits it.",
        ) from exc
    if frame.empty:
        raise GitmlError(f"The data file '{p}' has a header but no rows.", "Check its content.")
    if expected and fmt == "csv" and len(frame.columns) == 1 and len(expected) > 1:
        header = str(frame.columns[0])
        guess = next((d for d in (";", "\t", "|", ",") if d in header), None)
        hint = f" It looks like '{guess}'-delimited." if guess else ""
        raise GitmlError(
            f"'{p}' was read as one column '{header[:60]}', but {len(expected)} are declared.{hint}",
            "Set data.read_options.sep to the file's delimiter.",
        )
    return frame


def load_source(data: DataConfig, seed: int) -> pd.DataFrame:
    """Load the table the data config describes."""
    if data.source == "synthetic_credit":
        return synthetic.generate(int(data.n_rows or 20_000), seed=seed)
    if data.source == "breast_cancer":
        return _breast_cancer()
    if data.source == "diabetes":
        return _diabetes()
    assert data.path is not None  # checked by DataConfig
    frame = read_table(data.path, data.source, data.read_options, [c.name for c in data.columns])
    if data.n_rows:
        frame = frame.head(int(data.n_rows))
    return frame
