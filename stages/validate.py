"""validate: check the raw table against the data config's schema (pandera, lazy)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from gitml.config import load_params
from gitml.errors import GitmlError
from gitml.fileio import write_json
from gitml.leakage import leaking_features
from gitml.schema import ValidationResult, validate_frame
from gitml.stagekit import stage_main

log = logging.getLogger(__name__)


def failure_table(result: ValidationResult) -> Table:
    """A short table: column, check, count of failures, example values."""
    table = Table(title=f"Validation failed: {len(result.failures)} problem(s)")
    for name in ("column", "check", "failures", "examples"):
        table.add_column(name)
    for row in result.failures:
        examples = ", ".join(repr(v) for v in row["examples"])
        table.add_row(row["column"], row["check"], str(row["failures"]), examples)
    return table


def run(params: str, data: str, report: str) -> None:
    """Validate `data`; write `report` (JSON) either way; fail when any check fails."""
    p = load_params(params)
    frame = pd.read_parquet(data)
    result = validate_frame(frame, p.data)
    payload = {"data": p.data.name, **result.to_dict()}
    write_json(Path(report), payload)
    if not result.passed:
        Console(stderr=True, width=120).print(failure_table(result))
        raise GitmlError(
            f"The data from '{p.data.name}' does not match its declared schema "
            f"({len(result.failures)} problem(s), listed above and in {report}).",
            f"Fix the data, or the declaration in conf/data/{p.data.name}.yaml if the data is right.",
            exit_code=1,
        )
    log.info("%d rows passed %d column checks", result.rows, len(p.data.columns))
    for leak in leaking_features(frame, p.data):
        log.warning(
            "warning: %s: a copy or an encoding of the label? If it is not known before the "
            "label is, declare it role: ignore in %s.",
            leak,
            p.data.schema or f"conf/data/{p.data.name}.yaml",
        )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "validate",
        __doc__ or "",
        [("params", "params.yaml"), ("data", "raw Parquet"), ("report", "validation JSON")],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
