"""ingest: read the configured data source and store it as Parquet, under the input contract.

The contract (`gitml.contract.InputContract`, from the data config's read options) is the one
serving applies too: missing-value markers become missing, leading spaces go when configured.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from gitml.config import load_params
from gitml.contract import InputContract
from gitml.data.sources import load_source, read_table
from gitml.errors import GitmlError
from gitml.fileio import write_parquet
from gitml.stagekit import stage_main

log = logging.getLogger(__name__)


def run(params: str, out: str, batches: str) -> None:
    """Load the source named by params `data`, append the files in `batches`, write to `out`."""
    p = load_params(params)
    contract = InputContract.from_read_options(p.data.source, p.data.read_options)
    frame: pd.DataFrame = load_source(p.data, p.seed)
    extra = load_batches(Path(batches), [c.name for c in p.data.columns], contract)
    if extra:
        frame = pd.concat([frame, *extra], ignore_index=True)
        log.info("appended %d batch file(s) from %s", len(extra), batches)
    frame = contract.clean_frame(frame)
    try:
        write_parquet(Path(out), frame)
    except (TypeError, ValueError) as exc:  # pyarrow cannot store a column of mixed types
        raise GitmlError(
            f"The table from data source '{p.data.name}' could not be stored as Parquet: {exc}.",
            "A column probably mixes numbers and text; clean it or declare it as string.",
        ) from exc
    log.info("%d rows x %d columns from %s -> %s", len(frame), frame.shape[1], p.data.name, out)


def load_batches(
    folder: Path, columns: list[str], contract: InputContract | None = None
) -> list[pd.DataFrame]:
    """Read the appended batches (`gitml retrain` puts them there), sorted by file name; CSV
    cells are read with the contract's options, as the source was."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".parquet"))
    options = contract.csv_options() if contract is not None else {}
    return [read_table(f, f.suffix.lstrip("."), options, columns) for f in files]


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "ingest",
        __doc__ or "",
        [("params", "params.yaml"), ("out", "raw Parquet"), ("batches", "appended batches folder")],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
