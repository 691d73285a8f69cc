"""ingest: read the configured data source and store it as Parquet, under the input contract.

The contract (`gitml.contract.InputContract`, from the data config's read options) is the one
serving applies too: missing-value markers become missing, leading spaces go when configured.
Labelled batches (`gitml retrain`) are appended from `<batches>/<data name>/` only: the batches of
one data source never reach another (`gitml.data.batches`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from gitml.config import load_params
from gitml.contract import InputContract
from gitml.data.batches import load_batches, source_folder
from gitml.data.sources import load_source
from gitml.errors import GitmlError
from gitml.fileio import write_parquet
from gitml.stagekit import stage_main

log = logging.getLogger(__name__)


def run(params: str, out: str, batches: str) -> None:
    """Load the source named by params `data`, append its batches (`<batches>/<data name>/`),
    write to `out`."""
    p = load_params(params)
    contract = InputContract.from_read_options(p.data.source, p.data.read_options)
    frame: pd.DataFrame = load_source(p.data, p.seed)
    extra = load_batches(Path(batches), p.data)
    if extra:
        frame = pd.concat([frame, *(f for _, f in extra)], ignore_index=True)
        log.info(
            "appended %d batch file(s) from %s", len(extra), source_folder(Path(batches), p.data)
        )
    frame = contract.clean_frame(frame)
    try:
        write_parquet(Path(out), frame)
    except (TypeError, ValueError) as exc:  # pyarrow cannot store a column of mixed types
        where = f" and its batches ({', '.join(str(b) for b, _ in extra)})" if extra else ""
        raise GitmlError(
            f"The table from data source '{p.data.name}'{where} could not be stored as "
            f"Parquet: {exc}.",
            "A column probably mixes numbers and text; clean it or declare it as string.",
        ) from exc
    log.info("%d rows x %d columns from %s -> %s", len(frame), frame.shape[1], p.data.name, out)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "ingest",
        __doc__ or "",
        [
            ("params", "params.yaml"),
            ("out", "raw Parquet"),
            ("batches", "batches folder (one subfolder per data config)"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
