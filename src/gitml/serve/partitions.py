"""`gitml predict --engine dask`: score a partitioned Parquet dataset on a Dask cluster.

One task per input partition. Each worker process loads the model once (from the skops bytes
the client scattered, after checking their md5 against the bundle's digest) and scores its
partition with `gitml.serve.batch.predict_file`, the single-process path itself: the same input
contract, validation, chunking and output columns. Partition `i` of the input (sorted by path)
becomes `part-<i:05d>-<input stem>.parquet` in the output, written atomically (temp file +
rename), so a task rerun after a worker died overwrites its own file and never duplicates
rows. The output directory is assembled under a temporary name next to OUTPUT and renamed into
place only when every partition succeeded.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gitml import dask as cluster
from gitml.errors import GitmlError
from gitml.fileio import md5_bytes
from gitml.malloc import keep_freed_memory
from gitml.serve import batch
from gitml.serve.bundle import ModelBundle, from_bytes
from gitml.serve.bundle import signature_from_bytes as _signature

log = logging.getLogger(__name__)
PART_PREFIX = "part-"


@dataclass(frozen=True)
class ScoringJob:
    """Everything a worker needs to score a partition (sent to each worker once)."""

    model: bytes
    signature: bytes
    trusted: tuple[str, ...]
    name: str
    version: str
    digest: str
    stage: str | None
    commit: str | None
    source: str
    out_dir: str
    chunk_rows: int
    unknown_categories: str
    carry: tuple[str, ...]


def dask_setup(worker: object) -> None:
    """Dask's preload hook (`dask worker --preload gitml.serve.partitions`, docs/scale.md):
    import the model loader (skops, and scikit-learn with it) when the worker starts, rather than
    in the first task that loads a model."""
    import skops.io  # noqa: F401


def part_name(index: int, url: str) -> str:
    """The output file of input partition `index` (named after the input file, in input order)."""
    return f"{PART_PREFIX}{index:05d}-{PurePosixPath(url).stem}.parquet"


def _load(job: ScoringJob) -> ModelBundle:
    found = md5_bytes(job.model)
    if found != job.digest:
        raise GitmlError(
            f"The model bytes a worker received have md5 {found}, not {job.digest}.",
            "The transfer was corrupted: rerun the command.",
        )
    signature = _signature(job.signature, f"{job.name} {job.version}")
    return from_bytes(
        job.model,
        signature,
        job.trusted,
        name=job.name,
        version=job.version,
        stage=job.stage,
        commit=job.commit,
        source=job.source,
    )


def worker_bundle(job: ScoringJob) -> ModelBundle:
    """The job's model on this worker: loaded and digest-checked once per worker process."""
    # Keyed by the trusted list too: a long-lived worker that loaded these bytes under another
    # policy must check them again under this one.
    trusted = md5_bytes("\n".join(job.trusted).encode("utf-8"))
    return cluster.worker_cache(f"model-{job.digest}-{trusted}", lambda: _load(job))


def score_partition(item: tuple[int, str], job: ScoringJob) -> int:
    """Score one partition into its output file (runs on a worker); return its row count."""
    import pyarrow as pa

    index, url = item
    keep_freed_memory()  # partition after partition: reuse the freed pages (gitml.malloc)
    if not Path(job.out_dir).is_dir():  # the run failed and was cleaned up: write nothing
        raise GitmlError("The run was aborted.", None)
    bundle = worker_bundle(job)
    out = Path(job.out_dir) / part_name(index, url)
    with cluster.local_copy(url) as path:
        try:
            if batch.count_rows(path) == 0:
                return 0
            return batch.predict_file(
                bundle,
                path,
                out,
                job.chunk_rows,
                job.unknown_categories,
                carry=job.carry,
            )
        except GitmlError as exc:
            raise GitmlError(
                f"Partition {index} of the dataset: {exc.message.replace(str(path), url)}",
                exc.hint,
            ) from None
        except (pa.ArrowException, OSError) as exc:
            raise GitmlError(
                f"Partition {index} of the dataset, '{url}', is not a readable Parquet file "
                f"({exc}).",
                "Fix or remove that partition; nothing was written.",
            ) from None


def _prepare_output(output: Path) -> Path:
    """A fresh temporary directory next to `output`; refuse an `output` that is not ours."""
    if output.exists():
        own = output.is_dir() and all(
            p.name.startswith(PART_PREFIX) and p.suffix == ".parquet" for p in output.iterdir()
        )
        if not own:
            raise GitmlError(
                f"The output '{output}' exists and is not a gitml prediction dataset.",
                "With --engine dask, -o names a directory of part-*.parquet files: choose a new "
                "path, or remove the old one.",
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def _publish(tmp: Path, output: Path) -> None:
    """Rename the finished temporary directory to `output` (replacing an older prediction set)."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(output, old)
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def predict_dataset(
    bundle: ModelBundle,
    source: str,
    output: Path,
    *,
    chunk_rows: int,
    unknown_categories: str = "error",
    carry: Sequence[str] = (),
    trusted: Sequence[str] = (),
    scheduler: str | None = None,
    n_workers: int | None = None,
    on_partitions: Callable[[int], None] | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> int:
    """Score every partition of the dataset `source` into the directory `output`; the row count.

    `on_partitions(n)` is called once the partitions are listed, `on_done(i, rows)` as each one
    finishes (in completion order). Nothing is left at `output` unless every partition scored.
    """
    if not bundle.data:
        raise GitmlError(
            "The model was loaded without its bytes; --engine dask cannot ship it to workers.",
            "Load it with --model, --stage or --version.",
        )
    parts = cluster.list_partitions(source)
    if on_partitions is not None:
        on_partitions(len(parts))
    tmp = _prepare_output(output)
    try:
        job = ScoringJob(
            model=bundle.data,
            signature=_signature_bytes(bundle),
            trusted=tuple(trusted),
            name=bundle.name,
            version=bundle.version,
            digest=bundle.digest,
            stage=bundle.stage,
            commit=bundle.commit,
            source=bundle.source,
            out_dir=str(tmp.resolve()),
            chunk_rows=chunk_rows,
            unknown_categories=unknown_categories,
            carry=tuple(carry),
        )
        counts: list[int] = []

        def done(i: int, rows: int) -> None:
            counts.append(rows)
            if on_done is not None:
                on_done(i, rows)

        with cluster.connect(scheduler, n_workers) as client:
            cluster.run_partitions(
                client,
                score_partition,
                list(enumerate(parts)),
                job,
                name="predict",
                describe=lambda i: f"Partition {i} of the dataset, '{parts[i]}',",
                on_done=done,
            )
        total = sum(counts)
        if total == 0:
            raise GitmlError(f"The dataset '{source}' has no rows.", "Nothing was written.")
        _publish(tmp, output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return total


def _signature_bytes(bundle: ModelBundle) -> bytes:
    import json

    return json.dumps(bundle.signature.to_dict()).encode("utf-8")
