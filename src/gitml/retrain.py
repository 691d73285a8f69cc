"""Continuous training: add a labelled batch, rerun the pipeline as a DVC experiment, report.

`gitml retrain --data PATH` is what the scheduled monitoring workflow runs after drift: the batch is
validated against the data contract, stored under the ingest stage's batches folder and tracked with
`dvc add`, the pipeline runs through `dvc exp run`, and the comparison report against the version in
production (or HEAD when nothing is in production yet) is written for the pull request.

When the project has a default DVC remote (a folder, S3...), the batch is pushed to it right after
`dvc add` and before the pipeline runs: a clone can then `dvc pull` it, and wrong remote
credentials fail in seconds (one paragraph, see gitml.dvc) instead of after a full run. The
pipeline's outputs are pushed by whoever commits them (`ci/retrain_pr.sh`: `dvc push --run-cache`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from gitml.config import load_params
from gitml.data.sources import read_table
from gitml.dvc import Dvc
from gitml.errors import GitmlError
from gitml.fileio import atomic_path, md5_file, write_text
from gitml.schema import validate_frame

log = logging.getLogger(__name__)
BATCHES = Path("data/external/batches")
_KEPT = "Fix what DVC reports above; the batch stays where it was stored."


@dataclass(frozen=True)
class Retrained:
    """What a retrain did: the stored batch, the base of the report, and the report's path."""

    batch: Path
    rows: int
    base: str | None
    report: Path
    regressed: bool


def store_batch(root: Path, data: Path) -> tuple[Path, int]:
    """Validate `data` against the data contract and copy it into the batches folder."""
    if data.suffix not in (".csv", ".parquet"):
        raise GitmlError(f"Cannot tell the format of '{data}'.", "Pass a .csv or .parquet file.")
    params = load_params(root / "params.yaml")
    frame = read_table(data, data.suffix.lstrip("."), {}, [c.name for c in params.data.columns])
    result = validate_frame(frame, params.data)
    if not result.passed:
        problems = "; ".join(
            f"{f['column']}: {f['check']} ({f['failures']})" for f in result.failures[:6]
        )
        raise GitmlError(
            f"The batch '{data}' does not match the data contract '{params.data.name}': {problems}.",
            "A retraining batch needs the training table's columns, including the target.",
        )
    target = root / BATCHES / f"{data.stem}-{md5_file(data)[:8]}{data.suffix}"
    if target.exists():
        raise GitmlError(
            f"This batch is already stored as {target.relative_to(root)}.",
            "Nothing to retrain on: pass a new batch.",
        )
    with atomic_path(target) as tmp:
        shutil.copyfile(data, tmp)
    return target, len(frame)


def retrain(
    root: Path, data: Path, stage: str = "production", report_path: Path | None = None
) -> Retrained:
    """Add the batch, run the pipeline as an experiment and write the report against `stage`."""
    from gitml.registry import resolve
    from gitml.report.api import report

    root = Path(root).resolve()
    target, rows = store_batch(root, Path(data))
    try:
        dvc = Dvc(root)
        dvc.add(str(target.relative_to(root)), how_to_fix=_KEPT)
        remote = dvc.default_remote()
        if remote is not None:
            dvc.push(f"{target.relative_to(root)}.dvc", how_to_fix=_KEPT)
            log.info("pushed %s to the DVC remote '%s'", target.name, remote)
        dvc.exp_run(how_to_fix=_KEPT)
    except GitmlError:
        dvc_file = target.with_name(target.name + ".dvc")
        for leftover in (target, dvc_file):
            leftover.unlink(missing_ok=True)
        raise
    holder = resolve(root, None, stage)
    base = holder.commit if holder else "HEAD"
    rendered = report(root, base=base, fmt="md")
    out = report_path or root / "reports" / "retrain.md"
    write_text(out, rendered.text)
    log.info("retrained on %s (+%d rows); report against %s -> %s", target.name, rows, base, out)
    return Retrained(target, rows, holder.version if holder else None, out, rendered.regressed)
