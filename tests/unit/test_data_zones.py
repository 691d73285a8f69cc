"""Time zones and duplicate names in `gitml data init`: what it declares, the pipeline accepts.

Rule: a timestamp that carries a zone or an offset (a tz-aware Parquet column, ISO text ending in
`+01:00`/`Z`) is compared and stored in UTC (naive); naive timestamps are left as written.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from gitml.config import DataConfig, SplitParams
from gitml.contract import InputContract
from gitml.data.cli import build
from gitml.data.sources import read_table
from gitml.errors import GitmlError
from gitml.schema import coerce, labelled, validate_frame
from stages.split import split_frame

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    """breast_cancer with hourly Berlin timestamps that cross the March DST change."""
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 30]]
    frame.columns = ["radius", "texture", "perimeter", "y"]
    stamps = pd.date_range("2024-03-30", periods=len(frame), freq="h", tz="Europe/Berlin")
    return frame.assign(ts=stamps)


def pipeline(path: Path, fmt: str, text: str) -> tuple[DataConfig, pd.DataFrame]:
    """The rendered config parsed, and the file read as `ingest` reads it (input contract too)."""
    raw = yaml.safe_load(text)
    raw.pop("defaults", None)
    config = DataConfig.parse(raw)
    frame = read_table(path, fmt, config.read_options, [c.name for c in config.columns])
    contract = InputContract.from_read_options(config.source, config.read_options)
    return config, contract.clean_frame(frame)


def check_utc(path: Path, fmt: str, cancer: pd.DataFrame) -> None:
    inference, text = build(path, f"data/external/{path.name}", "y", "zoned")
    ts = next(c for c in inference.columns if c.name == "ts")
    utc = cancer["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    assert (ts.dtype, ts.role, inference.time_column) == ("datetime", "time", "ts")
    assert (ts.min, ts.max) == (str(utc.min()), str(utc.max()))
    assert "in UTC" in text
    config, frame = pipeline(path, fmt, text)
    result = validate_frame(frame, config)
    assert result.passed, result.failures
    stored = labelled(coerce(frame, config), config.column("y"))
    assert stored["ts"].dtype == "datetime64[ns]"
    assert stored["ts"].tolist() == utc.tolist()
    train, test = split_frame(stored, config, SplitParams(method="time", test_size=0.2), 0)
    assert train["ts"].max() < test["ts"].min()
    assert len(test) == round(len(stored) * 0.2)


def test_a_tz_aware_parquet_column_is_declared_and_checked_in_utc(
    tmp_path: Path, cancer: pd.DataFrame
) -> None:
    path = tmp_path / "zoned.parquet"
    cancer.to_parquet(path, row_group_size=100)
    check_utc(path, "parquet", cancer)


def test_iso_text_with_offsets_is_declared_and_checked_in_utc(
    tmp_path: Path, cancer: pd.DataFrame
) -> None:
    path = tmp_path / "zoned.csv"
    text = cancer.assign(ts=cancer["ts"].map(lambda t: t.isoformat()))
    assert text["ts"].iloc[0] == "2024-03-30T00:00:00+01:00"  # +02:00 after the DST change
    text.to_csv(path, index=False)
    check_utc(path, "csv", cancer)


def test_naive_timestamps_stay_as_written(tmp_path: Path, cancer: pd.DataFrame) -> None:
    path = tmp_path / "naive.csv"
    naive = cancer.assign(ts=cancer["ts"].dt.tz_localize(None))
    naive.to_csv(path, index=False)
    inference, text = build(path, "data/external/naive.csv", "y", "naive")
    ts = next(c for c in inference.columns if c.name == "ts")
    assert (ts.min, ts.max) == ("2024-03-30 00:00:00", str(naive["ts"].max()))
    assert "UTC" not in text
    config, frame = pipeline(path, "csv", text)
    assert validate_frame(frame, config).passed
    assert coerce(frame, config)["ts"].tolist() == naive["ts"].tolist()


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a,y\n1,x,2,0\n3,y,4,1\n5,x,6,0\n7,y,8,1\n", encoding="utf-8")
    with pytest.raises(GitmlError) as err:
        build(path, "data/external/dup.csv", "y", "dup")
    message = err.value.render()
    assert "'a' (columns 1 and 3)" in message
    assert "rename" in message.lower()
    assert err.value.exit_code == 2


def test_a_parquet_file_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    columns = [pa.array([1, 2, 3, 4]), pa.array([5, 6, 7, 8]), pa.array([0, 1, 0, 1])]
    pq.write_table(pa.table(columns, names=["a", "a", "y"]), path)
    with pytest.raises(GitmlError, match=r"'a' \(columns 1 and 2\)"):
        build(path, "data/external/dup.parquet", "y", "dup")
