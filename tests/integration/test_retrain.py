"""`gitml retrain`: a labelled batch joins the training data and an experiment plus report result."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline_repo import BIN, env, run

pytestmark = pytest.mark.integration


def gitml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gitml"), *args], cwd=cwd, env=env(), capture_output=True, text=True
    )


def test_retrain_appends_the_batch_runs_an_experiment_and_reports(
    ran_repo: Path, tmp_path: Path
) -> None:
    run(["git", "add", "-A"], ran_repo)
    run(["git", "commit", "-qm", "baseline results"], ran_repo)
    batch = tmp_path / "batch.parquet"
    made = gitml("data", "generate", "--rows", "600", "--seed", "9", "-o", str(batch), cwd=ran_repo)
    assert made.returncode == 0, made.stderr
    proc = gitml("retrain", "--data", str(batch), cwd=ran_repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = list((ran_repo / "data/external/batches").glob("batch-*.parquet"))
    assert len(stored) == 1 and stored[0].with_name(stored[0].name + ".dvc").exists()
    assert len(pd.read_parquet(ran_repo / "data/raw.parquet")) == 3000 + 600
    report = (ran_repo / "reports/retrain.md").read_text()
    assert "roc_auc" in report
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
    assert not (ran_repo / "data/external/batches").exists()
