"""Per-source batches in ingest (errors name the file) and the report's comparability check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitml.compare import MetricRule
from gitml.config import files_under, inline_schema
from gitml.data.synthetic import generate
from gitml.errors import GitmlError
from gitml.report.comparable import comparability, evaluation_rows
from gitml.report.core import Snapshot, build_report
from stages import ingest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def params(tmp_path: Path) -> Path:
    raw = inline_schema(yaml.safe_load((ROOT / "params.yaml").read_text()), files_under(ROOT))
    raw["data"]["n_rows"] = 40
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_ingest_appends_only_its_sources_batches(params: Path, tmp_path: Path) -> None:
    batches = tmp_path / "batches"
    (batches / "synthetic_credit").mkdir(parents=True)
    (batches / "census").mkdir()
    generate(10, seed=3).to_parquet(batches / "synthetic_credit" / "a.parquet", index=False)
    pd.DataFrame({"x": [1, 2]}).to_csv(batches / "census" / "other.csv", index=False)
    out = tmp_path / "raw.parquet"
    ingest.run(str(params), str(out), str(batches))
    assert len(pd.read_parquet(out)) == 40 + 10


def test_ingest_names_a_failing_batch_file(params: Path, tmp_path: Path) -> None:
    folder = tmp_path / "batches" / "synthetic_credit"
    folder.mkdir(parents=True)
    generate(10, seed=3).drop(columns=["income"]).to_csv(folder / "bad.csv", index=False)
    with pytest.raises(GitmlError) as info:
        ingest.run(str(params), str(tmp_path / "raw.parquet"), str(tmp_path / "batches"))
    assert (
        f"'{folder / 'bad.csv'}'" in info.value.render() and "lacks income" in info.value.render()
    )


def test_ingest_refuses_batches_of_no_source(params: Path, tmp_path: Path) -> None:
    batches = tmp_path / "batches"
    batches.mkdir()
    generate(10, seed=3).to_parquet(batches / "loose.parquet", index=False)
    with pytest.raises(GitmlError) as info:
        ingest.run(str(params), str(tmp_path / "raw.parquet"), str(batches))
    assert "loose.parquet" in info.value.render() and "synthetic_credit" in info.value.render()


def lock(test_md5: str) -> dict:
    return {"stages": {"evaluate": {
        "deps": [{"path": "data/test.parquet", "md5": test_md5}, {"path": "models/m", "md5": "m"}],
        "outs": [{"path": "reports/metrics.json", "md5": "x"}],
    }}}  # fmt: skip


def test_comparability_names_each_difference() -> None:
    a = {"data": {"name": "synthetic_credit", "target": "default", "task": "binary"}}
    b = {"data": {"name": "census", "target": "income", "task": "binary"}}
    rows_a = evaluation_rows(lock("aaaa1111"), "reports/metrics.json", 4000)
    rows_b = evaluation_rows(lock("bbbb2222"), "reports/metrics.json", 3200)
    assert rows_a is not None and rows_a.files == {"data/test.parquet": "aaaa1111"}
    found = comparability(a, b, rows_a, rows_b)
    assert not found.comparable
    assert found.reasons == (
        "dataset differs: synthetic_credit vs census",
        "target differs: default vs income",
        "test rows differ: 4,000 vs 3,200 (md5 aaaa1111 vs bbbb2222)",
    )
    assert comparability(a, a, rows_a, rows_a).comparable
    assert comparability(a, {}, rows_a, None).comparable  # unknown is not held against it


def test_not_comparable_report_gives_no_verdict() -> None:
    rules = {"roc_auc": MetricRule(True, 0.002, 0.0, 0.005, 0.7)}
    base = Snapshot("main", "a" * 40, {"roc_auc": 0.9}, {"data": {"name": "a"}}, lock("1"))
    head = Snapshot("workspace", None, {"roc_auc": 0.65}, {"data": {"name": "b"}}, lock("2"))
    report = build_report(base, head, rules, primary_metric="roc_auc", top_k=5)
    assert report.verdict.status == "not_comparable" and report.verdict.passed
    assert report.verdict.headline == "⚠️ Not comparable"
    assert report.verdict.reasons[0] == "dataset differs: a vs b"
    assert "breaks its floor" in report.verdict.reasons[-1]  # floors are absolute: still named
    assert [m.status for m in report.metrics] == ["not_comparable"]
    same = Snapshot("workspace", None, {"roc_auc": 0.65}, {"data": {"name": "a"}}, lock("1"))
    judged = build_report(base, same, rules, primary_metric="roc_auc", top_k=5)
    assert judged.verdict.status == "regressed" and judged.comparability.comparable
