"""`gitml retrain`: a labelled batch joins the training data and an experiment plus report result."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitml.fileio import md5_file
from gitml.report.core import fmt
from tests.pipeline_repo import BIN, dvc, env, run

pytestmark = pytest.mark.integration


def gitml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gitml"), *args], cwd=cwd, env=env(), capture_output=True, text=True
    )


def experiments(repo: Path) -> dict[str, dict]:
    """Experiment name -> its metrics, from `dvc exp show --json`."""
    out = {}
    for entry in json.loads(dvc("exp", "show", "--json", cwd=repo).stdout):
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs") or []:
                out[rev["name"]] = rev["data"]["metrics"]["reports/metrics.json"]["data"]
    return out


METRIC_ROW = re.compile(r"^\| `(\w+)` [↑↓] \| ([^|]+) \| ([^|]+) \|")


def test_retrain_appends_the_batch_runs_an_experiment_and_reports(
    ran_repo: Path, tmp_path: Path
) -> None:
    run(["git", "add", "-A"], ran_repo)
    run(["git", "commit", "-qm", "baseline results"], ran_repo)
    base_metrics = json.loads(run(["git", "show", "HEAD:reports/metrics.json"], ran_repo).stdout)
    before = experiments(ran_repo)
    batch = tmp_path / "batch.parquet"
    made = gitml("data", "generate", "--rows", "600", "--seed", "9", "-o", str(batch), cwd=ran_repo)
    assert made.returncode == 0, made.stderr
    proc = gitml("retrain", "--data", str(batch), cwd=ran_repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # The batch is stored under a content name and tracked by DVC (its .dvc file, git-ignored,
    # in the cache), and the pipeline read it.
    stored = list((ran_repo / "data/external/batches/synthetic_credit").glob("batch-*.parquet"))
    assert [p.name for p in stored] == [f"batch-{md5_file(batch)[:8]}.parquet"]
    tracked = yaml.safe_load(stored[0].with_name(stored[0].name + ".dvc").read_text())
    assert tracked["outs"][0]["path"] == stored[0].name
    assert tracked["outs"][0]["md5"] == md5_file(batch) == md5_file(stored[0])
    md5 = tracked["outs"][0]["md5"]
    assert (ran_repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).is_file()
    assert f"/{stored[0].name}" in (stored[0].parent / ".gitignore").read_text().splitlines()
    assert len(pd.read_parquet(ran_repo / "data/raw.parquet")) == 3000 + 600
    assert proc.stdout.strip() == (
        f"stored {stored[0].name} (+600 rows) for data config synthetic_credit; report against "
        f"HEAD (no version in that stage yet): {ran_repo / 'reports/retrain.md'}"
    )

    # One new experiment, whose results are the workspace's.
    head_metrics = json.loads((ran_repo / "reports/metrics.json").read_text())
    after = experiments(ran_repo)
    new = {name: metrics for name, metrics in after.items() if name not in before}
    assert list(new.values()) == [head_metrics], (before, after)

    # The report compares the experiment with HEAD (no production version yet), metric by metric.
    report = (ran_repo / "reports/retrain.md").read_text()
    assert report.splitlines()[0] == "<!-- gitml-report -->"
    assert "**workspace** compared with **HEAD** · primary metric `roc_auc`" in report, report[:600]
    # ... on different test rows (the batch joined the split): no verdict on that part
    assert "## gitml report: ⚠️ Not comparable" in report
    assert "- test rows differ: 600 vs 720 (md5 " in report
    usual = report[report.index("## gitml report:") :]
    rows = {
        m[1]: (m[2].strip(), m[3].strip()) for m in map(METRIC_ROW.match, usual.splitlines()) if m
    }
    assert set(rows) == set(base_metrics) == set(head_metrics), rows
    for name, (base, new_value) in rows.items():
        assert (base, new_value) == (fmt(base_metrics[name]), fmt(head_metrics[name])), name
    assert head_metrics != base_metrics  # 600 more rows: a different model

    again = gitml("retrain", "--data", str(batch), cwd=ran_repo)
    assert again.returncode == 2 and "already stored" in again.stderr


def test_retrain_refuses_a_batch_without_labels(ran_repo: Path, tmp_path: Path) -> None:
    batch = tmp_path / "unlabelled.csv"
    made = gitml("data", "generate", "--rows", "50", "-o", str(batch), cwd=ran_repo)
    assert made.returncode == 0
    pd.read_csv(batch).drop(columns=["default"]).to_csv(batch, index=False)
    proc = gitml("retrain", "--data", str(batch), cwd=ran_repo)
    assert proc.returncode == 2
    assert "does not match the data contract" in proc.stderr and "Traceback" not in proc.stderr
    assert "unlabelled.csv" in proc.stderr and "default" in proc.stderr
    assert not (ran_repo / "data/external/batches").exists()
