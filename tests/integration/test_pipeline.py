"""The pipeline through real DVC in temp git repos: reproducibility, declarations, experiments."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.pipeline_repo import dvc, run

pytestmark = pytest.mark.integration


def exps(repo: Path) -> list[dict]:
    """Experiments of the workspace baseline from `dvc exp show --json`, flattened."""
    out = []
    for entry in json.loads(dvc("exp", "show", "--json", cwd=repo).stdout):
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if data.get("metrics"):
                    out.append(
                        {
                            "name": rev.get("name"),
                            "params": data["params"],
                            "metrics": data["metrics"],
                        }
                    )
    return out


def test_rerun_gives_identical_bytes_and_declarations_are_seen(ran_repo: Path) -> None:
    lock = (ran_repo / "dvc.lock").read_bytes()
    dvc("repro", "-f", cwd=ran_repo)
    assert (ran_repo / "dvc.lock").read_bytes() == lock, "a forced rerun changed dvc.lock"
    metrics = json.loads(dvc("metrics", "show", "--json", cwd=ran_repo).stdout)
    files = next(iter(metrics.values()))["data"]
    assert 0.5 < files["reports/metrics.json"]["data"]["roc_auc"] <= 1.0
    # slices and importance are plain outputs (fewer `dvc exp show` columns), still written
    assert set(files) == {"reports/metrics.json"}
    assert "gender" in json.loads((ran_repo / "reports/slices.json").read_text())
    plots = dvc("plots", "show", "--json", cwd=ran_repo).stdout
    for name in ("ROC", "Precision-recall", "Confusion matrix", "Calibration"):
        assert name in plots
    # The dvc.yaml `artifacts:` entry is what `dvc artifacts` (and GTO) resolve a version tag to.
    run(["git", "add", "-A"], ran_repo)
    run(["git", "commit", "-qm", "trained"], ran_repo)
    run(["git", "tag", "-a", "classifier@v0.0.1", "-m", "Registering artifact"], ran_repo)
    from dvc.api import artifacts_show

    shown = artifacts_show("classifier", version="v0.0.1", repo=str(ran_repo))
    assert shown["path"] == "models/model.skops"


def test_override_experiment_is_recorded(ran_repo: Path) -> None:
    dvc("exp", "run", "-S", "model=random_forest", "-S", "model.n_estimators=20", cwd=ran_repo)
    params = yaml.safe_load((ran_repo / "params.yaml").read_text())
    assert params["model"]["name"] == "random_forest" and params["model"]["n_estimators"] == 20
    recorded = exps(ran_repo)
    forest = [
        e
        for e in recorded
        if e["params"]["params.yaml"]["data"]["model"]["name"] == "random_forest"
    ]
    assert forest and forest[0]["metrics"]["reports/metrics.json"]["data"]["roc_auc"] > 0.5


def _user_csv(path: Path, rows: int = 400, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 10, rows)
    frame = pd.DataFrame(
        {
            "x1": x1.round(3),
            "x2": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(0, 1, rows).round(3)),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "label": (x1 + rng.normal(0, 5, rows) > 0).astype(int),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def test_user_csv_declared_in_a_data_config(pipeline_repo: Path) -> None:
    _user_csv(pipeline_repo / "data/external/example.csv")
    dvc("add", "data/external/example.csv", cwd=pipeline_repo)
    run(["git", "add", "-A"], pipeline_repo)
    run(["git", "commit", "-qm", "add user data"], pipeline_repo)
    dvc("exp", "run", "-S", "data=csv", "-S", "model=logistic_regression", cwd=pipeline_repo)
    metrics = json.loads((pipeline_repo / "reports/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.8
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    deps = {d["path"] for d in lock["stages"]["ingest"]["deps"]}
    assert "data/external" in deps


def test_bad_user_data_stops_at_validate_and_writes_nothing_downstream(pipeline_repo: Path) -> None:
    csv = pipeline_repo / "data/external/example.csv"
    _user_csv(csv)
    frame = pd.read_csv(csv)
    frame.loc[3, "x1"] = 1e6
    frame.loc[5, "colour"] = "purple"
    frame.to_csv(csv, index=False)
    proc = dvc("exp", "run", "-S", "data=csv", cwd=pipeline_repo, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "does not match its declared schema" in text and "purple" in text
    assert "Traceback" not in text
    report = json.loads((pipeline_repo / "reports/validation.json").read_text())
    assert report["passed"] is False
    assert {f["column"] for f in report["failures"]} == {"x1", "colour"}
    for out in ("data/train.parquet", "data/test.parquet", "models/model.skops"):
        assert not (pipeline_repo / out).exists(), out
    assert run(["git", "status", "--porcelain", "reports/metrics.json"], pipeline_repo).stdout == ""


@pytest.mark.parametrize(
    ("override", "needle"),
    [("model=random_forst", "random_forst"), ("model.n_estimaters=3", "n_estimaters")],
)
def test_config_typo_is_refused_before_anything_runs(
    pipeline_repo: Path, override: str, needle: str
) -> None:
    proc = dvc("exp", "run", "-S", override, cwd=pipeline_repo, check=False)
    assert proc.returncode != 0
    assert needle in proc.stdout + proc.stderr
    assert not (pipeline_repo / "data/raw.parquet").exists()
