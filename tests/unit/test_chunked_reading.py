"""Chunked Parquet reading keeps memory bounded by a row group, not by the file.

Counted in bytes Arrow allocates (deterministic), not in seconds or RSS: with pyarrow's default
pre-buffering, `iter_batches` keeps every row group it has read, so allocations grow with the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gitml.monitor.io import BatchSource
from gitml.serve.batch import read_chunks

pytestmark = pytest.mark.unit

ROW_GROUPS = 24
GROUP_ROWS = 40_000  # 24 x 40k x 2 float64 columns: 15 MB of values in all, 0.6 MB a group


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chunks") / "batch.parquet"
    rng = np.random.default_rng(0)
    schema = pa.schema([("a", pa.float64()), ("b", pa.float64())])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for _ in range(ROW_GROUPS):
            writer.write_table(
                pa.table({"a": rng.normal(size=GROUP_ROWS), "b": rng.normal(size=GROUP_ROWS)})
            )
    return path


def _peak_allocated(chunks: object) -> tuple[int, int]:
    base = pa.total_allocated_bytes()
    peak, rows = 0, 0
    for chunk in chunks:  # type: ignore[attr-defined]
        rows += len(chunk)
        peak = max(peak, pa.total_allocated_bytes() - base)
    return peak, rows


def test_default_pre_buffering_grows_with_the_file(big: Path) -> None:
    """The behaviour the readers avoid, shown on the same file (so the test can fail)."""
    handle = pq.ParquetFile(big)
    peak, _ = _peak_allocated(b.to_pandas() for b in handle.iter_batches(batch_size=10_000))
    assert peak > 8 * GROUP_ROWS * 16


@pytest.mark.parametrize("reader", ["monitor", "predict"])
def test_readers_stay_within_a_few_row_groups(big: Path, reader: str) -> None:
    if reader == "monitor":
        chunks = iter(BatchSource(big, {"a": "numeric", "b": "numeric"}, chunk_rows=10_000))
    else:
        chunks = read_chunks(big, 10_000, ["a", "b"])
    peak, rows = _peak_allocated(chunks)
    assert rows == ROW_GROUPS * GROUP_ROWS
    assert peak < 4 * GROUP_ROWS * 16  # a group's bytes, its decoded batch and some slack
