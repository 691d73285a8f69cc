"""Atomic, deterministic file writes: a temp file in the same folder, then rename."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas only for the annotation: `gitml --help` should not import it
    import pandas as pd


_umask: int | None = None


def file_mode() -> int:
    """The mode `open()` gives a new file under the process's umask (0o644 under 022).

    `tempfile.mkstemp` creates its file 0600 whatever the umask, so a file written through one
    and renamed into place would be unreadable to a web server or a colleague.
    """
    global _umask
    if _umask is None:
        _umask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(_umask)
    return 0o666 & ~_umask


def temp_file(folder: Path, name: str) -> Path:
    """A new empty file for `name` in `folder` (same file system), with `file_mode()`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.chmod(tmp, file_mode())
    return Path(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds.

    The file gets the mode of a file `open()` would create (`file_mode()`), not mkstemp's 0600.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = temp_file(target.parent, target.name)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def _clean(value: Any) -> Any:
    """Make a value JSON-safe and stable: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps_json(data: Any) -> str:
    """Serialise to stable JSON: 2-space indent, keys in insertion order, trailing newline."""
    return json.dumps(_clean(data), indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically (see `dumps_json`)."""
    write_text(path, dumps_json(data))


def write_parquet(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a DataFrame to Parquet atomically; pyarrow writes no timestamps, so bytes are stable."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def open_parquet(path: str | os.PathLike[str]) -> Any:
    """A `pyarrow.parquet.ParquetFile` for reading in chunks with memory bounded by a row group.

    pre_buffer is off: with it on (pyarrow's default) `iter_batches` keeps the pre-buffered bytes
    of every row group it has read, so memory grows with the file (measured: 1.2 GB of Arrow
    allocations after 10M rows in 10 row groups, against 0.25 GB without; apache/arrow#39808).
    """
    import pyarrow.parquet as pq

    return pq.ParquetFile(path, pre_buffer=False)


def md5_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The md5 of a file's bytes, as DVC records it in dvc.lock."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_bytes(data: bytes) -> str:
    """The md5 of bytes."""
    return hashlib.md5(io.BytesIO(data).getvalue()).hexdigest()
