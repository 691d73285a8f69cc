"""Chunked Parquet reading keeps memory bounded by a row group, not by the file.

Counted in bytes Arrow allocates (deterministic), not in seconds or RSS. The readers turn off
pyarrow's pre-buffering (which, in the versions we pin, keeps every row group `iter_batches` has read);
what is asserted here is our own property, whatever Arrow's default does: the peak stays within a few
row groups and does not grow with the number of row groups in the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gitml.monitor.io import BatchSource
from gitml.serve.batch import read_chunks

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("chunked_reading")]

ROW_GROUPS = 24
GROUP_ROWS = 40_000  # 24 x 40k x 2 float64 columns: 15 MB of values in all, 0.6 MB a group


def _write(path: Path, row_groups: int) -> Path:
    rng = np.random.default_rng(0)
    schema = pa.schema([("a", pa.float64()), ("b", pa.float64())])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for _ in range(row_groups):
            writer.write_table(
                pa.table({"a": rng.normal(size=GROUP_ROWS), "b": rng.normal(size=GROUP_ROWS)})
            )
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("chunks") / "batch.parquet", ROW_GROUPS)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("chunks") / "small.parquet", 4)


def _chunks(path: Path, reader: str) -> object:
    if reader == "monitor":
        return iter(BatchSource(path, {"a": "numeric", "b": "numeric"}, chunk_rows=10_000))
    return read_chunks(path, 10_000, ["a", "b"])


def _peak_allocated(chunks: object) -> tuple[int, int]:
    base = pa.total_allocated_bytes()
    peak, rows = 0, 0
    for chunk in chunks:  # type: ignore[attr-defined]
        rows += len(chunk)
        peak = max(peak, pa.total_allocated_bytes() - base)
    return peak, rows


@pytest.mark.parametrize("reader", ["monitor", "predict"])
def test_readers_stay_within_a_few_row_groups(big: Path, reader: str) -> None:
    peak, rows = _peak_allocated(_chunks(big, reader))
    assert rows == ROW_GROUPS * GROUP_ROWS
    assert peak < 4 * GROUP_ROWS * 16  # a group's bytes, its decoded batch and some slack


@pytest.mark.parametrize("reader", ["monitor", "predict"])
def test_reader_peak_does_not_grow_with_the_file(big: Path, small: Path, reader: str) -> None:
    """Six times the row groups, the same peak (within one group's bytes)."""
    small_peak, small_rows = _peak_allocated(_chunks(small, reader))
    big_peak, big_rows = _peak_allocated(_chunks(big, reader))
    assert (small_rows, big_rows) == (4 * GROUP_ROWS, ROW_GROUPS * GROUP_ROWS)
    assert big_peak <= small_peak + GROUP_ROWS * 16, (small_peak, big_peak)
