"""Issue 14: a real `gitml serve` under hostile input, internal errors, SIGTERM, log rotation."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gitml.serve.predlog import read_lines
from tests.serve_support import GITML, BuiltModel, Server, build_model, records, start_server

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve_hardening")]
GRACEFUL = (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    return build_model(tmp_path_factory.mktemp("harden-model"), n_train=600, n_rows=200)


@pytest.fixture(scope="module")
def server(built: BuiltModel, tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = start_server(built, tmp_path_factory.mktemp("harden-log") / "predictions.jsonl")
    yield srv
    assert srv.stop() in GRACEFUL


def _stderr(srv: Server) -> str:
    return srv.log.with_suffix(".stderr").read_text()


def _metric(url: str, endpoint: str, status: int) -> float:
    text = httpx.get(f"{url}/metrics").text
    for line in text.splitlines():
        if line.startswith("gitml_requests_total{") and (
            f'endpoint="{endpoint}"' in line and f'status="{status}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _row(built: BuiltModel, **changes: Any) -> dict[str, Any]:
    return {**records(built.rows.head(1))[0], **changes}


def _v2_inputs(built: BuiltModel) -> list[dict[str, Any]]:
    row = _row(built)
    return [
        {
            "name": name,
            "shape": [1],
            "datatype": "BYTES" if isinstance(value, str) else "FP64",
            "data": [value],
        }
        for name, value in row.items()
    ]


def test_deeply_nested_json_is_a_counted_logged_400(server: Server, built: BuiltModel) -> None:
    body = ('{"dataframe_records":[{"age":' + "[" * 2000 + "]" * 2000 + "}]}").encode()
    name = httpx.get(f"{server.url}/metadata").json()["artifact"]
    before = _metric(server.url, "invocations", 400), _metric(server.url, "v2_infer", 400)
    for path, rid in (("/invocations", "deep-1"), (f"/v2/models/{name}/infer", "deep-2")):
        r = httpx.post(
            server.url + path,
            content=body,
            headers={"content-type": "application/json", "x-request-id": rid},
        )
        assert r.status_code == 400, r.text
        assert "nested 2003 levels deep" in r.text and "max_json_depth" in r.text
    assert _metric(server.url, "invocations", 400) == before[0] + 1
    assert _metric(server.url, "v2_infer", 400) == before[1] + 1
    logged = {rec["request_id"]: rec for _, rec in read_lines(server.log)}
    assert logged["deep-1"]["status"] == 400 and logged["deep-2"]["status"] == 400
    assert "Traceback" not in _stderr(server)


def test_out_of_range_untyped_duplicate_and_empty_inputs_are_refused(
    server: Server, built: BuiltModel
) -> None:
    url = server.url
    name = httpx.get(f"{url}/metadata").json()["artifact"]
    big = httpx.post(
        f"{url}/invocations",
        content=b'{"dataframe_records": ['
        + json.dumps(_row(built))[:-1].encode()
        + b', "age": 1000000000000000000000000000000}]}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 422 and big.json()["field"] == "age", big.text
    assert "int64" in big.json()["message"]
    yes = httpx.post(
        f"{url}/invocations",
        json={"dataframe_records": [_row(built)], "params": {"probabilities": "yes"}},
    )
    assert yes.status_code == 422 and yes.json()["field"] == "params.probabilities", yes.text
    assert (
        httpx.post(
            f"{url}/invocations?probabilities=yes", json={"inputs": [_row(built)]}
        ).status_code
        == 422
    )
    inputs = _v2_inputs(built)
    dup = httpx.post(f"{url}/v2/models/{name}/infer", json={"inputs": [*inputs, inputs[0]]})
    assert dup.status_code == 400 and "more than once" in dup.json()["error"], dup.text
    empty = httpx.post(f"{url}/invocations", json={"dataframe_records": []})
    assert empty.status_code == 400 and "no rows" in empty.json()["message"], empty.text
    ok = httpx.post(
        f"{url}/invocations",
        json={"dataframe_records": [_row(built)], "params": {"probabilities": True}},
    )
    assert ok.status_code == 200 and "probabilities" in ok.json()


def test_an_internal_error_is_a_generic_counted_logged_500(
    built: BuiltModel, tmp_path: Path
) -> None:
    # A real model whose signature lies: 'region' declared numeric, so its encoder fails.
    root = tmp_path / "missigned"
    shutil.copytree(built.root, root)
    sig_path = root / "models" / "signature.json"
    sig = json.loads(sig_path.read_text())
    for feature in sig["features"]:
        if feature["name"] == "region":
            feature.update(kind="numeric", dtype="float64", nullable=True)
            feature.pop("categories", None)
    sig_path.write_text(json.dumps(sig))
    missigned = BuiltModel(root, root / "models" / "model.skops", None, built.signature, built.rows)
    srv = start_server(missigned, tmp_path / "predictions.jsonl")
    try:
        row = _row(built, region=1.0)
        r = httpx.post(
            f"{srv.url}/invocations",
            json={"dataframe_records": [row]},
            headers={"x-request-id": "boom-1"},
        )
        assert r.status_code == 500
        assert r.json()["request_id"] == "boom-1" and "Traceback" not in r.text
        assert r.json()["error_code"] == "INTERNAL_ERROR" and r.headers["x-request-id"] == "boom-1"
        assert _metric(srv.url, "invocations", 500) == 1
        logged = {rec["request_id"]: rec for _, rec in read_lines(srv.log)}
        assert logged["boom-1"]["status"] == 500
    finally:
        assert srv.stop() in GRACEFUL
    err = _stderr(srv)
    assert "boom-1" in err and "Traceback" not in err


def _hammer(url: str, body: bytes, ready: threading.Barrier, out: dict[str, list[Any]]) -> None:
    """One kept-alive client, idle 50 ms between requests, that sends without first checking
    whether the server closed the connection (as wrk does): a server that closes an idle
    kept-alive connection on SIGTERM instead of answering one more request with
    `Connection: close` resets it (BrokenPipe/ConnectionReset, or no answer)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    conn.connect()
    sent = 0
    while True:
        if sent == 5:
            ready.wait(60)
        assert conn.sock is not None
        try:
            conn.request("POST", "/invocations", body, {"content-type": "application/json"})
            response = conn.getresponse()
            response.read()
        except (ConnectionResetError, BrokenPipeError) as exc:
            out["resets"].append(repr(exc))
            return
        except http.client.RemoteDisconnected as exc:
            out["unanswered"].append(repr(exc))
            return
        sent += 1
        out["statuses"].append(response.status)
        time.sleep(0.05)  # idle between requests, as most kept-alive clients are
        if response.getheader("connection", "").lower() == "close":
            out["clean"].append("Connection: close")
            conn.close()
            return


def test_sigterm_under_keepalive_load_resets_no_connection(
    built: BuiltModel, tmp_path: Path
) -> None:
    srv = start_server(built, tmp_path / "predictions.jsonl")
    body = json.dumps({"dataframe_records": records(built.rows.head(2))}).encode()
    out: dict[str, list[Any]] = {"resets": [], "unanswered": [], "clean": [], "statuses": []}
    clients = 8
    ready = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(target=_hammer, args=(srv.url, body, ready, out)) for _ in range(clients)
    ]
    for t in threads:
        t.start()
    ready.wait(60)  # every client has a kept-alive connection and is mid-stream
    code = srv.stop()
    for t in threads:
        t.join(60)
    assert code in GRACEFUL
    assert out["resets"] == [] and out["unanswered"] == []
    assert len(out["clean"]) == clients
    assert set(out["statuses"]) == {200} and len(out["statuses"]) >= 5 * clients


def test_log_deleted_or_rotated_mid_run_keeps_every_line(built: BuiltModel, tmp_path: Path) -> None:
    srv = start_server(built, tmp_path / "predictions.jsonl")
    row = {"dataframe_records": [_row(built)]}

    def post(rid: str) -> None:
        r = httpx.post(f"{srv.url}/invocations", json=row, headers={"x-request-id": rid})
        assert r.status_code == 200

    def ids(path: Path) -> list[str]:
        return [rec["request_id"] for _, rec in read_lines(path)]

    try:
        post("a")
        srv.log.unlink()
        post("b")
        assert ids(srv.log) == ["b"]
        os.rename(srv.log, tmp_path / "rotated.1")  # logrotate (create mode), no signal
        post("c")
        assert ids(srv.log) == ["c"]
        os.rename(srv.log, tmp_path / "rotated.2")
        srv.proc.send_signal(signal.SIGHUP)  # postrotate: the server reopens, and lives on
        post("d")
        assert ids(srv.log) == ["d"] and ids(tmp_path / "rotated.1") == ["b"]
    finally:
        assert srv.stop() in GRACEFUL


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "no signature"])
@pytest.mark.parametrize("command", ["serve", "predict"])
def test_a_broken_local_model_is_one_paragraph_and_exit_2(
    built: BuiltModel, tmp_path: Path, damage: str, command: str
) -> None:
    model = tmp_path / "models" / "model.skops"
    model.parent.mkdir()
    data = built.model_path.read_bytes()
    model.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b""}.get(
            damage, data
        )
    )
    if damage != "no signature":
        shutil.copy(built.model_path.with_name("signature.json"), model.with_name("signature.json"))
    args = ["serve", "--port", "1"] if command == "serve" else ["predict", "x.csv", "-o", "y.csv"]
    done = subprocess.run(
        [GITML, *args, "--model", str(model), "--root", str(built.root)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_schemathesis_all_checks_find_nothing(server: Server, tmp_path: Path) -> None:
    """Every status and content type the server answers is in its OpenAPI spec (all checks)."""
    done = subprocess.run(
        [
            str(Path(GITML).with_name("st")),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "15",
            "--seed",
            "14",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # its cache directory goes there
    )
    assert done.returncode == 0, done.stdout[-4000:]
