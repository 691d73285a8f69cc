"""After the registry flow: `gitml serve --stage production` (live follow, replay) and `gitml monitor`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from gitml.data.synthetic import SCENARIOS
from gitml.modeling import load_model, load_signature, prepare_features
from tests.pipeline_repo import BIN, commit_all, copy_repo, dvc, env, run
from tests.pipeline_repo import gitml_ok as gitml
from tests.serve_support import free_port, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve-registry")]
TRUSTED = yaml.safe_load((Path(__file__).resolve().parents[2] / "conf/gitml.yaml").read_text())[
    "trusted_types"
]


@pytest.fixture(scope="module")
def production_repo(ran_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's results registered as v1.0.0 and promoted to staging, then production,
    with a bare git remote and a local-directory DVC remote on disk."""
    tmp = tmp_path_factory.mktemp("production")
    repo = copy_repo(ran_template, tmp / "repo")
    policy = yaml.safe_load((repo / "conf/gitml.yaml").read_text())
    policy["serve"]["follow_poll_seconds"] = 1
    policy["metrics"]["roc_auc"]["floor"] = 0.6  # 3,000 rows of training data in this test
    (repo / "conf/gitml.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    commit_all(repo, "baseline results")
    run(["git", "init", "-q", "--bare", str(tmp / "origin.git")], tmp)
    run(["git", "remote", "add", "origin", str(tmp / "origin.git")], repo)
    run(["git", "push", "-q", "origin", "main"], repo)
    dvc("remote", "add", "-d", "storage", str(tmp / "dvc-store"), cwd=repo)
    commit_all(repo, "dvc remote")
    dvc("push", cwd=repo)
    gitml("model", "register", "--version", "v1.0.0", cwd=repo)
    gitml("model", "promote", "v1.0.0", "--to", "staging", cwd=repo)
    gitml("model", "promote", "v1.0.0", "--to", "production", cwd=repo)
    return repo


@pytest.mark.parametrize("scenario", ["none", "shifted_numeric", "new_category", "covariate"])
def test_monitor_production_flags_exactly_the_injected_columns(
    production_repo: Path, tmp_path: Path, scenario: str
) -> None:
    batch, out = tmp_path / "batch.parquet", tmp_path / "monitor.json"
    gitml(
        "data",
        "generate",
        "--scenario",
        scenario,
        "--rows",
        "5000",
        "--seed",
        "77",
        "-o",
        str(batch),
        cwd=production_repo,
    )
    gitml(
        "monitor",
        "--stage",
        "production",
        "--current",
        str(batch),
        "--format",
        "json",
        "-o",
        str(out),
        cwd=production_repo,
    )
    result = json.loads(out.read_text())
    assert set(result["drifted_columns"]) == set(SCENARIOS[scenario].drifted_columns), result
    assert result["reference_rows"] == 2400  # the profile split saved at v1.0.0's commit
    # The version's own importance (reports/importance.json at its commit) names the critical
    # features: the three the model relies on most, debt_to_income first.
    recorded = json.loads((production_repo / "reports/importance.json").read_text())
    top = sorted(
        (n for n in recorded if recorded[n]["mean"] > 0), key=lambda n: -recorded[n]["mean"]
    )
    assert result["policy"]["critical_by_importance"] == top[:3]
    assert top[0] == "debt_to_income"
    injected = set(SCENARIOS[scenario].drifted_columns)
    assert result["dataset_drift"] == bool(injected & set(top[:3]))  # all below drift_share 0.5
    if scenario == "shifted_numeric":
        assert result["dataset_drift"] and result["critical_drifted"] == ["debt_to_income"]


def test_serve_production_follows_a_promotion_and_replays(
    production_repo: Path, tmp_path: Path
) -> None:
    ran_repo = production_repo
    model_v1 = load_model(ran_repo / "models/model.skops", TRUSTED)
    sig = load_signature(ran_repo / "models/signature.json")
    rows = pd.read_parquet(ran_repo / "data/test.parquet").head(8)
    records = rows[sig.feature_names].astype(object).where(rows[sig.feature_names].notna(), None)
    payload = {"dataframe_records": records.to_dict(orient="records")}

    port, log = free_port(), tmp_path / "predictions.jsonl"
    stderr = open(tmp_path / "serve.stderr", "wb")  # noqa: SIM115 - closed after the server
    server = subprocess.Popen(
        [
            str(BIN / "gitml"),
            "serve",
            "--stage",
            "production",
            "--follow-stage",
            "--port",
            str(port),
            "--log",
            str(log),
            "--root",
            str(ran_repo),
        ],
        cwd=ran_repo,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        health = wait_ready(server, url, tmp_path / "serve.stderr", deadline=120)
        assert health["version"] == "v1.0.0", health
        meta = httpx.get(f"{url}/metadata", timeout=10).json()
        assert meta["version"] == "v1.0.0" and meta["stage"] == "production"
        answer = httpx.post(f"{url}/invocations", json=payload, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Model-Version"] == "v1.0.0"
        expected = model_v1.predict(prepare_features(rows, sig.features)).tolist()
        assert answer.json()["predictions"] == expected

        # A new model is trained, registered and promoted (forced: gates are tested elsewhere).
        dvc("exp", "run", "-S", "model.learning_rate=0.2", "-S", "model.max_iter=60", cwd=ran_repo)
        commit_all(ran_repo, "faster learning rate")
        dvc("push", cwd=ran_repo)
        gitml("model", "register", "--version", "v1.1.0", cwd=ran_repo)
        gitml(
            "model",
            "promote",
            "v1.1.0",
            "--to",
            "staging",
            "--force",
            "--reason",
            "test of live reload",
            cwd=ran_repo,
        )
        gitml(
            "model",
            "promote",
            "v1.1.0",
            "--to",
            "production",
            "--force",
            "--reason",
            "test of live reload",
            cwd=ran_repo,
        )
        model_v2 = load_model(ran_repo / "models/model.skops", TRUSTED)
        # Requests keep flowing while the server polls the registry (follow_poll_seconds: 1)
        # and swaps models; each must be answered, by v1.0.0 until the swap, then by v1.1.0.
        statuses, versions, reply = [], [], None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and versions[-1:] != ["v1.1.0"]:
            reply = httpx.post(f"{url}/invocations", json=payload, timeout=30)
            statuses.append(reply.status_code)
            versions.append(reply.headers.get("X-Model-Version"))
            time.sleep(0.05)  # polling interval, bounded by the deadline above
        assert versions[-1:] == ["v1.1.0"], (tmp_path / "serve.stderr").read_text()
        assert set(statuses) == {200}, "requests were dropped during the swap"
        assert set(versions[:-1]) <= {"v1.0.0"}, versions
        assert reply is not None
        assert (
            reply.json()["predictions"]
            == model_v2.predict(prepare_features(rows, sig.features)).tolist()
        )
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ready" and health["version"] == "v1.1.0", health
    finally:
        server.terminate()
        server.wait(60)
        stderr.close()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    n = len(statuses) + 1  # the first request, then the ones around the swap
    assert [r["model_version"] for r in logged] == ["v1.0.0"] * (n - 1) + ["v1.1.0"]
    replay = gitml("replay", str(log), "--root", str(ran_repo), cwd=ran_repo)
    assert replay.stdout.strip().splitlines()[-1] == (
        f"replayed {n} predictions from {n} lines: {n} matched (100.00%), "
        "0 mismatched, 0 rejected requests skipped"
    )
