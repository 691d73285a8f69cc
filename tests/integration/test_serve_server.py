"""A real `gitml serve` on 127.0.0.1: load, validation, protocols, log, SIGTERM, replay."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from gitml.serve.predlog import read_lines
from tests.serve_support import (
    GITML,
    BuiltModel,
    Server,
    build_model,
    in_process,
    records,
    start_server,
)

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve_server")]
# uvicorn drains, runs the shutdown hooks, then re-raises the SIGTERM it caught.
GRACEFUL = (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    return build_model(tmp_path_factory.mktemp("serve-model"))


@pytest.fixture(scope="module")
def server(built: BuiltModel, tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = start_server(built, tmp_path_factory.mktemp("serve-log") / "predictions.jsonl")
    yield srv
    assert srv.stop() in GRACEFUL
    assert "prediction log closed" in srv.log.with_suffix(".stderr").read_text()


def _log_by_id(log: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for _, rec in read_lines(log):
        out.setdefault(rec["request_id"], []).append(rec)
    return out


async def _load(url: str, rows: list[dict[str, Any]], clients: int, prefix: str) -> list[Any]:
    """Send one request per row from `clients` concurrent clients; results in row order."""
    results: list[Any] = [None] * len(rows)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(rows)):
        queue.put_nowait(i)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                i = queue.get_nowait()
                r = await http.post(
                    "/invocations?probabilities=true",
                    json={"dataframe_records": [rows[i]]},
                    headers={"X-Request-ID": f"{prefix}-{i}"},
                )
                results[i] = (r.status_code, r.json(), dict(r.headers))

    await asyncio.gather(*(client() for _ in range(clients)))
    return results


def test_load_2000_requests_32_clients_match_in_process_and_log_and_replay(
    server: Server, built: BuiltModel
) -> None:
    rows = records(built.rows)
    results = asyncio.run(_load(server.url, rows, clients=32, prefix="load"))
    assert all(r is not None and r[0] == 200 for r in results), [r for r in results if r[0] != 200]
    preds, proba = in_process(built, built.rows)
    served = np.array([r[1]["predictions"][0] for r in results])
    served_proba = np.array([r[1]["probabilities"][0] for r in results])
    assert (served == preds).all()
    np.testing.assert_allclose(served_proba, proba, rtol=0, atol=1e-12)
    assert {r[2]["x-request-id"] for r in results} == {f"load-{i}" for i in range(len(rows))}
    assert {r[2]["x-model-version"] for r in results} == {"local"}

    by_id = _log_by_id(server.log)
    load_ids = {k for k in by_id if k.startswith("load-")}
    assert load_ids == {f"load-{i}" for i in range(len(rows))}
    assert all(len(by_id[k]) == 1 for k in load_ids)  # exactly one line per request
    line = by_id["load-7"][0]
    assert line["status"] == 200 and line["model_digest"] == results[7][2]["x-model-digest"]
    assert line["outputs"]["predictions"] == results[7][1]["predictions"]

    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'gitml_requests_total{endpoint="invocations",model_version="local",status="200"}' in (
        metrics
    )
    assert "gitml_batch_rows_bucket" in metrics

    replay = subprocess.run(
        [
            GITML,
            "replay",
            str(server.log),
            "--model",
            str(built.model_path),
            "--root",
            str(built.root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "(100.00%)" in replay.stdout and " 0 mismatched" in replay.stdout


def _row(built: BuiltModel, **changes: Any) -> dict[str, Any]:
    row = records(built.rows.head(1))[0]
    row.update(changes)
    return row


BAD_CASES: list[tuple[str, Any, str, int, str]] = [
    ("missing column", "drop:age", "application/json", 422, "age"),
    ("wrong type", {"age": "forty"}, "application/json", 422, "age"),
    ("unseen category", {"region": "atlantis"}, "application/json", 422, "region"),
    ("null in non-nullable", {"debt_to_income": None}, "application/json", 422, "debt_to_income"),
    ("not a whole number", {"open_accounts": 2.5}, "application/json", 422, "open_accounts"),
    ("number for a category", {"region": 3.5}, "application/json", 422, "region"),
    ("malformed json", b'{"dataframe_records": [', "application/json", 400, "Malformed JSON"),
    ("malformed csv", b'age,income\n1,2,3,4\n"unterminated', "text/csv", 400, "CSV"),
    ("unknown key", {"__body__": {"rows": []}}, "application/json", 400, "rows"),
    ("unsupported type", b"age=1", "application/x-www-form-urlencoded", 415, "content type"),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_inputs_get_their_4xx_naming_the_field(
    server: Server, built: BuiltModel, case: tuple[str, Any, str, int, str]
) -> None:
    _, change, ctype, status, needle = case
    if isinstance(change, bytes):
        body = change
    elif change == "drop:age":
        row = _row(built)
        del row["age"]
        body = json.dumps({"dataframe_records": [row]}).encode()
    elif "__body__" in change:
        body = json.dumps(change["__body__"]).encode()
    else:
        body = json.dumps({"dataframe_records": [_row(built, **change)]}).encode()
    r = httpx.post(f"{server.url}/invocations", content=body, headers={"content-type": ctype})
    assert r.status_code == status, r.text
    assert needle in r.json()["message"]
    assert r.headers["x-model-name"] and r.headers["x-request-id"]


def test_oversized_payload_is_413(server: Server) -> None:
    body = b'{"inputs": [' + b"1," * 600_000 + b"1]}"
    r = httpx.post(
        f"{server.url}/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "limit" in r.json()["message"]


def test_every_mlflow_format_and_csv_give_the_same_answer(
    server: Server, built: BuiltModel
) -> None:
    frame = built.rows.head(5)
    recs = records(frame)
    cols = list(frame.columns)
    bodies = [
        {"dataframe_split": {"columns": cols, "data": [[r[c] for c in cols] for r in recs]}},
        {"dataframe_records": recs},
        {"instances": recs},
        {"inputs": {c: [r[c] for r in recs] for c in cols}},
        {"inputs": recs, "params": {"probabilities": True}},
    ]
    expected = in_process(built, frame)[0].tolist()
    for body in bodies:
        r = httpx.post(f"{server.url}/invocations", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
    assert "probabilities" in r.json()
    csv = frame.to_csv(index=False)
    r = httpx.post(f"{server.url}/invocations", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["predictions"] == expected


def test_health_metadata_headers_and_v2(server: Server, built: BuiltModel) -> None:
    url = server.url
    assert httpx.get(f"{url}/ping").status_code == 200
    health = httpx.get(f"{url}/health", headers={"X-Request-ID": "abc-123"})
    assert health.json()["status"] == "ready" and health.headers["x-request-id"] == "abc-123"
    generated = httpx.get(f"{url}/health").headers["x-request-id"]
    assert len(generated) == 32
    meta = httpx.get(f"{url}/metadata").json()
    assert meta["digest"] == health.headers["x-model-digest"] and meta["version"] == "local"
    assert [f["name"] for f in meta["signature"]["features"]] == built.signature.feature_names
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    name = meta["artifact"]
    model_meta = httpx.get(f"{url}/v2/models/{name}").json()
    assert [i["name"] for i in model_meta["inputs"]] == built.signature.feature_names
    assert httpx.get(f"{url}/v2/models/{name}/ready").json()["ready"] is True
    assert httpx.get(f"{url}/v2/models/nope").status_code == 404
    frame = built.rows.head(3)
    inputs = [
        {
            "name": c,
            "shape": [3],
            "datatype": "BYTES" if frame[c].dtype == "string" else "FP64",
            "data": records(frame[[c]]) and [r[c] for r in records(frame)],
        }
        for c in frame.columns
    ]
    r = httpx.post(f"{url}/v2/models/{name}/infer", json={"id": "q1", "inputs": inputs})
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert r.json()["id"] == "q1"
    preds, proba = in_process(built, frame)
    assert out["predict"]["data"] == preds.tolist()
    np.testing.assert_allclose(
        np.reshape(out["predict_proba"]["data"], out["predict_proba"]["shape"]), proba, atol=1e-12
    )
    bad = httpx.post(f"{url}/v2/models/{name}/infer", json={"inputs": inputs[1:]})
    assert bad.status_code == 422 and bad.json()["field"] == frame.columns[0]
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/invocations", "/v2/models/{name}/infer", "/metrics"} <= set(spec["paths"])


def test_schemathesis_finds_no_server_errors(server: Server) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=server.url)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} {response.text[:200]}"
                )
            case.validate_response(response, checks=[not_a_server_error])

        check()
    assert not failures


def test_sigterm_under_load_leaves_a_complete_valid_log(built: BuiltModel, tmp_path: Path) -> None:
    srv = start_server(built, tmp_path / "predictions.jsonl")
    rows = records(built.rows.head(400))
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            for i in range(k, len(rows), 8):
                if stop.is_set():
                    return
                rid = f"term-{i}"
                try:
                    r = http.post(
                        "/invocations",
                        json={"dataframe_records": [rows[i]]},
                        headers={"X-Request-ID": rid},
                    )
                except httpx.TransportError:
                    return  # the server closed the connection while stopping
                if r.status_code == 200:
                    with lock:
                        answered.append(rid)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    while True:  # wait (bounded by the clients' own work) until the load is under way
        with lock:
            if len(answered) >= 50 or not any(t.is_alive() for t in threads):
                break
        threading.Event().wait(0.01)
    code = srv.stop()
    stop.set()
    for t in threads:
        t.join(60)
    assert code in GRACEFUL
    assert "prediction log closed" in srv.log.with_suffix(".stderr").read_text()
    lines = list(read_lines(srv.log))  # raises on a torn or non-JSON line
    logged = {rec["request_id"] for _, rec in lines}
    assert set(answered) <= logged  # every answered request was logged before its answer
    assert len(logged) == len(lines)
    assert len(answered) >= 50
