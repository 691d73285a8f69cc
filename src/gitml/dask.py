"""The Dask adapter: a `distributed` cluster running one task per partition of a Parquet dataset.

The only module that imports `dask`/`distributed` (an import-linter contract says so). Features
hand it a module-level function and the partitions; it connects to a scheduler (or starts a
`LocalCluster` of one single-threaded process per core), submits one task per partition, reports
each one's result to the caller as it finishes (without keeping it). A worker that dies mid-task
is replaced by its nanny and the scheduler reruns the task elsewhere: features write each
partition's output atomically under a name derived from the partition, so a rerun overwrites
instead of duplicating. Partitions are listed and read through fsspec (local paths or `s3://`,
whose credentials and endpoint come from the environment as botocore reads them).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gitml.errors import GitmlError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: File suffixes that count as Parquet partitions of a dataset.
PARQUET_SUFFIXES = (".parquet", ".pq")
CONNECT_TIMEOUT = "10s"
DRAIN_SECONDS = 120.0

_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


# ------------------------------------------------------------------------------ datasets


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise GitmlError(
            f"Cannot open the dataset '{url}' ({exc}).",
            "Use a local directory or glob, or s3://bucket/prefix with `pip install 'gitml[s3]'`.",
        ) from None


def is_remote(url: str) -> bool:
    """Whether `url` names an object store (`s3://...`) rather than a local path."""
    return "://" in url and not url.startswith("file://")


def list_partitions(source: str) -> list[str]:
    """The Parquet files of a dataset (a directory, a glob or one file), sorted by path.

    Files whose name starts with `_` or `.` (`_SUCCESS`, `_metadata`, temp files) are skipped.
    """
    fs, path = _fs(source)
    try:
        if any(ch in path for ch in "*?["):
            found = list(fs.glob(path))
        elif fs.isdir(path):
            found = list(fs.find(path))
        elif fs.isfile(path):
            found = [path]
        else:
            found = None
    except (OSError, ValueError) as exc:
        raise GitmlError(
            f"Cannot list the dataset '{source}' ({exc}).",
            "Check the path, and for s3:// the AWS_* credentials and endpoint.",
        ) from None
    if found is None:
        raise GitmlError(f"The dataset '{source}' does not exist.", "Check the path.")
    parts = sorted(
        p
        for p in found
        if p.lower().endswith(PARQUET_SUFFIXES) and not Path(p).name.startswith(("_", "."))
    )
    if not parts:
        raise GitmlError(
            f"The dataset '{source}' has no Parquet partitions (*.parquet files).",
            "Point at a directory or glob of Parquet files; nothing was written.",
        )
    return [fs.unstrip_protocol(p) if is_remote(source) else p for p in parts]


@contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """A local path to a partition: the file itself, or a temporary download of a remote one."""
    if not is_remote(url):
        yield Path(url.removeprefix("file://"))
        return
    fs, path = _fs(url)
    tmp = Path(tempfile.mkdtemp(prefix="gitml-part-"))
    try:
        target = tmp / Path(path).name
        try:
            fs.get(path, str(target))
        except (OSError, ValueError) as exc:
            raise GitmlError(
                f"Cannot read the partition '{url}' ({exc}).",
                "Check that it exists and that the AWS_* credentials may read it.",
            ) from None
        yield target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ workers


def worker_cache(key: str, load: Callable[[], T]) -> T:
    """`load()` once per worker process for `key` (e.g. a model digest), then the cached value."""
    with _cache_lock:
        if key not in _cache:
            _cache[key] = load()
        return _cache[key]


# ------------------------------------------------------------------------------ the cluster


@contextmanager
def connect(scheduler: str | None, n_workers: int | None = None) -> Iterator[Any]:
    """A `distributed.Client` on `scheduler`, or on a new LocalCluster of one process per core.

    The local cluster listens on 127.0.0.1 only, without a dashboard; each worker is one process
    with one thread (scoring is CPU-bound Python and NumPy: processes, not threads, scale it).
    """
    try:
        from distributed import Client
    except ImportError:
        raise GitmlError(
            "--engine dask needs Dask's `distributed`, which is not installed in this environment.",
            "Install the extra: pip install 'gitml[dask]' (docs/scale.md), or drop --engine dask.",
        ) from None

    for name in ("distributed", "tornado"):  # their INFO lines would bury the command's output
        logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise GitmlError(
                f"Cannot reach the Dask scheduler at '{scheduler}' ({exc}).",
                "Start it (`dask scheduler`) or fix --scheduler, e.g. tcp://10.0.0.5:8786.",
            ) from None
        with client:
            yield client
        return
    with (
        local_cluster(n_workers or os.cpu_count() or 1) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@contextmanager
def local_cluster(n_workers: int, preload: Sequence[str] = ()) -> Iterator[Any]:
    """A `distributed.LocalCluster` of `n_workers` single-threaded processes on 127.0.0.1, no
    dashboard, workers importing `preload` (the test suite and the benchmark start theirs as
    docs/scale.md starts long-lived workers).

    Dask's nanny gives each worker MALLOC_TRIM_THRESHOLD_=65536; gitml's tasks set glibc's
    thresholds for batch work themselves (`gitml.malloc`), so no worker setting is needed.
    """
    from distributed import LocalCluster

    # The nanny writes its workers' settings (OMP_NUM_THREADS=1, ...) into this process's
    # environment: put it back afterwards, so later subprocesses (dvc, stages) are not affected.
    environ = dict(os.environ)
    try:
        with LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            preload=list(preload) or None,  # None: the dask config's own preloads
        ) as cluster:
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(environ)


def run_partitions(
    client: Any,
    fn: Callable[[Any, Any], T],
    items: Sequence[Any],
    shared: Any,
    *,
    name: str,
    describe: Callable[[int], str],
    on_done: Callable[[int, T], None],
) -> None:
    """Run `fn(item, shared)` for every item on the cluster; `on_done(i, result)` as each ends.

    Results are handed over in the order tasks finish and not kept here, so a caller that folds
    them in holds one at a time, not one per partition. `shared` is sent to the workers once
    (scattered), not once per task. The first task that fails cancels the rest and is raised as
    a GitmlError that names its item (`describe(i)`); a GitmlError raised inside the task keeps
    its own message.
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    [shared_future] = client.scatter([shared], broadcast=True, hash=False)
    run = uuid.uuid4().hex[:8]
    futures = [
        client.submit(fn, item, shared_future, key=f"gitml-{name}-{run}-{i:05d}", pure=False)
        for i, item in enumerate(items)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    finished = False
    try:
        for future in as_completed(futures, loop=client.loop):
            i = index[future.key]
            if future.status == "error":
                raise _task_error(future.exception(), describe(i))
            try:
                result = future.result()
            except FutureCancelledError as exc:
                raise _task_error(exc, describe(i)) from None
            future.release()
            on_done(i, result)
            del result
        finished = True
    finally:
        client.cancel(futures)
        client.cancel([shared_future])
        if not finished:  # a cancelled task that is running still runs: let it end first
            _drain(client, [f.key for f in futures])


def _executing(keys: list[str], dask_worker: Any = None) -> list[str]:
    """The keys among `keys` this worker is executing (run on each worker by `_drain`)."""
    running = {ts.key for ts in dask_worker.state.executing}
    return [k for k in keys if k in running]


def _drain(client: Any, keys: list[str], timeout: float = DRAIN_SECONDS) -> None:
    """Wait until no worker executes one of `keys` (cancelled tasks run to their end), so the
    caller can remove what they write; give up after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            busy = client.run(_executing, keys, on_error="ignore")
        except (OSError, TimeoutError):
            return
        if not any(busy.values()):
            return
        time.sleep(0.1)
    log.warning("tasks still running after %.0f s; their output may be left behind", timeout)


def _task_error(exc: BaseException, where: str) -> GitmlError:
    if isinstance(exc, GitmlError):
        return exc
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return GitmlError(
            f"{where} killed every Dask worker that ran it ({exc}).",
            "It probably needs more memory than a worker has: split the partition, or give "
            "the workers more memory (dask worker --memory-limit).",
        )
    return GitmlError(
        f"{where} failed on a Dask worker: {type(exc).__name__}: {exc}.",
        "Fix the partition, or report a bug if the message does not point at the input.",
    )
