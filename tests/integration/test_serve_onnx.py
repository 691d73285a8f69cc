"""Serving and batch scoring with the compiled ONNX model (`--runtime skops|onnx|auto`).

One registered version of the real pipeline (its compile stage wrote models/compiled/model.onnx),
real servers on 127.0.0.1 with each runtime, the registry's `get` on real DVC caches.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.pipeline_repo import BIN, commit_all, copy_repo, dvc, env, run
from tests.pipeline_repo import gitml_ok as gitml
from tests.serve_support import Server, free_port, records, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve-onnx")]
TOLERANCE = 1e-5  # conf/gitml.yaml compile.tolerance: the parity the compile stage checked


@pytest.fixture(scope="module")
def registered(ran_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's results (with the compiled model) registered as v1.0.0, DVC-pushed."""
    tmp = tmp_path_factory.mktemp("onnx-registry")
    repo = copy_repo(ran_template, tmp / "repo")
    assert (repo / "models/compiled/model.onnx").is_file(), "the compile stage wrote no model"
    policy = yaml.safe_load((repo / "conf/gitml.yaml").read_text())
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
    for stage in ("staging", "production"):
        gitml("model", "promote", "v1.0.0", "--to", stage, "--reason", "onnx test", cwd=repo)
    return repo


def serve(repo: Path, log: Path, *args: str) -> Server:
    port = free_port()
    stderr = log.with_suffix(".stderr")
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [str(BIN / "gitml"), "serve", "--port", str(port), "--log", str(log), *args],
            cwd=repo,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, stderr)
    return Server(proc, url, log)


@pytest.fixture(scope="module")
def servers(
    registered: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """v1.0.0 served twice from the registry: `--version v1.0.0 --runtime skops`, and
    `--stage production` with the default runtime (auto: the compiled model, verified)."""
    tmp = tmp_path_factory.mktemp("onnx-servers")
    started: dict[str, Server] = {}
    try:
        started["skops"] = serve(
            registered, tmp / "skops.jsonl", "--version", "v1.0.0", "--runtime", "skops"
        )
        started["auto"] = serve(registered, tmp / "auto.jsonl", "--stage", "production")
        yield started
    finally:
        for server in started.values():
            server.stop()


def rows(repo: Path, n: int = 64) -> list[dict[str, Any]]:
    sig = json.loads((repo / "models/signature.json").read_text())
    names = [f["name"] for f in sig["features"]]
    return records(pd.read_parquet(repo / "data/test.parquet")[names].head(n))


def test_both_runtimes_give_the_same_outputs_over_invocations_and_v2(
    registered: Path, servers: dict[str, Server]
) -> None:
    body = {"dataframe_records": rows(registered)}
    answers = {}
    for runtime, server in servers.items():
        reply = httpx.post(f"{server.url}/invocations?probabilities=true", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        answers[runtime] = reply
    skops, onnx = (answers[k].json() for k in ("skops", "auto"))
    assert answers["skops"].headers["x-model-runtime"] == "skops"
    assert answers["auto"].headers["x-model-runtime"] == "onnx"
    assert onnx["predictions"] == skops["predictions"]
    assert onnx["classes"] == skops["classes"]
    a, b = np.asarray(onnx["probabilities"]), np.asarray(skops["probabilities"])
    assert a.shape == b.shape == (64, len(skops["classes"]))
    assert np.abs(a - b).max() <= TOLERANCE

    tensors = {
        name: [row[name] for row in body["dataframe_records"]]
        for name in body["dataframe_records"][0]
    }
    v2 = {
        "inputs": [
            {"name": k, "shape": [len(v)], "datatype": "BYTES", "data": v}
            for k, v in tensors.items()
        ]
    }
    outs = {}
    for runtime, server in servers.items():
        reply = httpx.post(f"{server.url}/v2/models/classifier/infer", json=v2, timeout=60)
        assert reply.status_code == 200, reply.text
        outs[runtime] = {o["name"]: o for o in reply.json()["outputs"]}
    assert (
        outs["auto"]["predict"]["data"] == outs["skops"]["predict"]["data"] == skops["predictions"]
    )
    assert outs["auto"]["predict_proba"]["shape"] == outs["skops"]["predict_proba"]["shape"]
    diff = np.subtract(
        outs["auto"]["predict_proba"]["data"], outs["skops"]["predict_proba"]["data"]
    )
    assert np.abs(diff).max() <= TOLERANCE


def test_metadata_headers_and_log_name_the_runtime(
    registered: Path, servers: dict[str, Server]
) -> None:
    md5 = hashlib.md5((registered / "models/compiled/model.onnx").read_bytes()).hexdigest()
    for runtime, expected in (("skops", "skops"), ("auto", "onnx")):
        server = servers[runtime]
        reply = httpx.get(f"{server.url}/metadata", timeout=30)
        meta = reply.json()
        assert meta["runtime"] == expected and meta["version"] == "v1.0.0"
        assert reply.headers["x-model-runtime"] == expected
        assert (meta["compiled"] or {}).get("md5") == (md5 if expected == "onnx" else None)
        platform = httpx.get(f"{server.url}/v2/models/classifier", timeout=30).json()["platform"]
        assert platform == ("onnxruntime" if expected == "onnx" else "sklearn-skops")
        httpx.post(
            f"{server.url}/invocations",
            json={"dataframe_records": rows(registered, 3)},
            headers={"X-Request-ID": f"log-{runtime}"},
            timeout=60,
        ).raise_for_status()
    for runtime, expected in (("skops", "skops"), ("auto", "onnx")):
        lines = [json.loads(x) for x in servers[runtime].log.read_text().splitlines()]
        mine = [x for x in lines if x["request_id"] == f"log-{runtime}"]
        assert [x["model_runtime"] for x in mine] == [expected]


def test_replay_reproduces_the_onnx_servers_log(
    registered: Path, servers: dict[str, Server]
) -> None:
    httpx.post(
        f"{servers['auto'].url}/invocations",
        json={"dataframe_records": rows(registered, 20)},
        timeout=60,
    ).raise_for_status()
    proc = gitml("replay", str(servers["auto"].log), cwd=registered)
    assert " 0 mismatched" in proc.stdout and "replayed 0 " not in proc.stdout, proc.stdout


def test_explanations_fall_back_to_skops_and_say_so(
    registered: Path, servers: dict[str, Server]
) -> None:
    pytest.importorskip("shap")
    body = {"dataframe_records": rows(registered, 3)}
    found = {}
    for runtime, server in servers.items():
        reply = httpx.post(f"{server.url}/invocations?explain=true", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        assert reply.json()["explained_with"] == "skops"
        found[runtime] = reply.json()["contributions"]
    assert found["auto"] == found["skops"]  # the same skops model explained both


def test_predict_file_same_with_both_runtimes(registered: Path, tmp_path: Path) -> None:
    test = registered / "data/test.parquet"
    out = {}
    for runtime in ("skops", "onnx"):
        target = tmp_path / f"{runtime}.parquet"
        proc = gitml(
            "predict",
            "--model",
            "models/model.skops",
            "--runtime",
            runtime,
            "--no-progress",
            str(test),
            "-o",
            str(target),
            cwd=registered,
        )
        assert f"(runtime {runtime})" in proc.stderr
        out[runtime] = pd.read_parquet(target)
    assert list(out["onnx"].columns) == list(out["skops"].columns)
    assert out["onnx"]["prediction"].tolist() == out["skops"]["prediction"].tolist()
    proba = [c for c in out["skops"].columns if c.startswith("probability_")]
    assert proba
    diff = out["onnx"][proba].to_numpy() - out["skops"][proba].to_numpy()
    assert np.abs(diff).max() <= TOLERANCE


def test_runtime_onnx_without_a_compiled_model_is_one_paragraph_exit_2(
    ran_template: Path, tmp_path: Path
) -> None:
    repo = copy_repo(ran_template, tmp_path / "repo")
    (repo / "models/compiled/model.onnx").unlink()
    port = str(free_port())
    proc = gitml(
        "serve",
        "--model",
        "models/model.skops",
        "--runtime",
        "onnx",
        "--port",
        port,
        cwd=repo,
        code=2,
    )
    err = proc.stderr.strip()
    assert "Traceback" not in err and "\n\n" not in err, err
    assert "--runtime onnx" in err and "models/compiled/model.onnx" in err, err


def test_get_writes_the_compiled_model_checked_against_dvc_lock(
    registered: Path, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    proc = gitml("model", "get", "v1.0.0", "-o", str(tmp_path / "out"), cwd=registered)
    onnx = tmp_path / "out/compiled/model.onnx"
    assert onnx.read_bytes() == (registered / "models/compiled/model.onnx").read_bytes()
    assert (tmp_path / "out/model.skops").is_file()
    assert "compiled model" in proc.stdout


def test_get_refuses_a_tampered_compiled_model_and_writes_nothing(
    registered: Path, tmp_path: Path
) -> None:
    repo = copy_repo(registered, tmp_path / "repo")
    md5 = hashlib.md5((repo / "models/compiled/model.onnx").read_bytes()).hexdigest()
    cached = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert cached.is_file()
    cached.chmod(0o644)
    cached.write_bytes(cached.read_bytes()[:-8] + b"tampered")
    out = tmp_path / "out"
    out.mkdir()
    proc = gitml("model", "get", "v1.0.0", "-o", str(out), cwd=repo, code=2)
    err = proc.stderr.strip()
    assert "compiled model" in err and "Nothing was written" in err and "Traceback" not in err, err
    assert list(out.rglob("*")) == []
    served = gitml("serve", "--version", "v1.0.0", "--port", str(free_port()), cwd=repo, code=2)
    assert "does not match dvc.lock" in served.stderr, served.stderr
