"""Bad input to the stages: one clear paragraph, a non-zero exit, and no output written."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.pipeline_repo import ROOT

pytestmark = pytest.mark.integration

CSV_DATA = {
    "name": "mine",
    "source": "csv",
    "path": None,
    "read_options": {"sep": ","},
    "n_rows": None,
    "target": "label",
    "task": "binary",
    "positive_class": 1,
    "time_column": None,
    "allow_pii_features": False,
    "columns": {
        "x1": {"dtype": "float64", "role": "feature", "nullable": False, "min": -100, "max": 100},
        "colour": {"dtype": "category", "role": "feature", "categories": ["red", "green", "blue"]},
        "label": {"dtype": "int64", "role": "target", "categories": [0, 1]},
    },
}
GOOD = "x1,colour,label\n1.5,red,0\n-2.0,green,1\n3.25,blue,0\n0.5,red,1\n"


def params_for(tmp: Path, csv: Path, **changes: object) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    data = copy.deepcopy(CSV_DATA)
    data["path"] = str(csv)
    data.update(changes)
    params["data"] = data
    params["split"]["test_size"] = 0.5  # four rows: two per class, so a stratified split works
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def stage(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"stages.{name}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def ingest_then_validate(tmp: Path, content: bytes, **changes: object):
    csv = tmp / "in.csv"
    csv.write_bytes(content)
    params = params_for(tmp, csv, **changes)
    raw, report = tmp / "raw.parquet", tmp / "validation.json"
    first = stage(
        "ingest", "--params", str(params), "--out", str(raw), "--batches", str(tmp / "b"), cwd=tmp
    )
    if first.returncode != 0:
        return first, raw, report
    return (
        stage(
            "validate",
            "--params",
            str(params),
            "--data",
            str(raw),
            "--report",
            str(report),
            cwd=tmp,
        ),
        raw,
        report,
    )


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (None, ("does not exist", "dvc add")),
        (b"", ("is empty",)),
        (GOOD.replace(",", ";").encode(), ("one column", "';'", "read_options.sep")),
        ("x1,colour,label\n1.5,rouge\xe9,0\n".encode("latin-1"), ("encoding", "latin-1")),
    ],
    ids=["missing-file", "empty-file", "wrong-delimiter", "wrong-encoding"],
)
def test_unreadable_files_fail_in_ingest(
    tmp_path: Path, content: bytes | None, needles: tuple[str, ...]
) -> None:
    csv = tmp_path / "in.csv"
    if content is not None:
        csv.write_bytes(content)
    params = params_for(tmp_path, csv)
    out = tmp_path / "raw.parquet"
    proc = stage(
        "ingest",
        "--params",
        str(params),
        "--out",
        str(out),
        "--batches",
        str(tmp_path / "b"),
        cwd=tmp_path,
    )
    assert_clean_error(proc, *needles)
    assert not out.exists()
    assert not list(tmp_path.glob(".raw.parquet*")), "a temp file was left behind"


def split_after(tmp: Path, raw: Path, report: Path) -> subprocess.CompletedProcess[str]:
    """The split stage on what ingest and validate left (downstream of validate in dvc.yaml)."""
    return stage(
        "split",
        "--params",
        str(tmp / "params.yaml"),
        "--data",
        str(raw),
        "--validation",
        str(report),
        "--train",
        str(tmp / "train.parquet"),
        "--test",
        str(tmp / "test.parquet"),
        "--profile",
        str(tmp / "profile.json"),
        cwd=tmp,
    )


DOWNSTREAM = ("train.parquet", "test.parquet", "profile.json")


@pytest.mark.parametrize(
    ("content", "column", "check"),
    [
        ("x1,label\n1.5,0\n2.0,1\n", "colour", "missing column"),
        (
            GOOD.replace("x1,colour,label", "x1,colour,label,extra")
            .replace(",0\n", ",0,9\n")
            .replace(",1\n", ",1,9\n"),
            "extra",
            "undeclared column",
        ),
        (GOOD.replace("1.5", "one"), "x1", "dtype float64"),
        (GOOD.replace("3.25", "300"), "x1", "in_range"),
        (GOOD.replace("blue", "purple"), "colour", "isin"),
        ("x1,colour,label\n,red,0\n,green,1\n", "x1", "every value is null"),
        (GOOD.replace(",1\n", ",0\n"), "label", "the target has only one class"),
    ],
    ids=[
        "missing-column",
        "extra-column",
        "wrong-dtype",
        "out-of-range",
        "unseen-category",
        "all-null",
        "one-class",
    ],
)
def test_bad_data_fails_in_validate_with_a_table(
    tmp_path: Path, content: str, column: str, check: str
) -> None:
    proc, raw, report = ingest_then_validate(tmp_path, content.encode())
    assert_clean_error(proc, "does not match its declared schema")
    assert proc.returncode == 1
    # The table on stderr: its title, then a row naming the column and the failed check.
    assert "Validation failed:" in proc.stderr, proc.stderr
    assert any(column in line and check.split()[0] in line for line in proc.stderr.splitlines()), (
        proc.stderr
    )
    written = yaml.safe_load(report.read_text())
    assert written["passed"] is False
    failures = written["failures"]
    assert any(f["column"] == column and f["check"].startswith(check) for f in failures), failures
    # The next stage refuses the data, so nothing downstream is written (the good CSV's
    # split, in test_good_csv_passes, writes all three).
    downstream = split_after(tmp_path, raw, report)
    assert_clean_error(downstream, "did not pass validation")
    assert [name for name in DOWNSTREAM if (tmp_path / name).exists()] == []


def test_pii_feature_refused_before_reading(tmp_path: Path) -> None:
    columns = copy.deepcopy(CSV_DATA["columns"])
    columns["x1"]["pii"] = True
    proc, raw, _ = ingest_then_validate(tmp_path, GOOD.encode(), columns=columns)
    assert_clean_error(proc, "PII-flagged", "allow_pii_features")
    assert not raw.exists()


def test_good_csv_passes(tmp_path: Path) -> None:
    proc, raw, report = ingest_then_validate(tmp_path, GOOD.encode())
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(report.read_text())["passed"] is True
    assert len(pd.read_parquet(raw)) == 4
    downstream = split_after(tmp_path, raw, report)
    assert downstream.returncode == 0, downstream.stderr
    assert [name for name in DOWNSTREAM if (tmp_path / name).exists()] == list(DOWNSTREAM)
    assert len(pd.read_parquet(tmp_path / "train.parquet")) == 2
