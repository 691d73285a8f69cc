"""A real `gitml serve` on 127.0.0.1: explanations, PII kept out of the log, context columns."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from gitml.config import files_under, inline_schema
from gitml.explain import raw_output
from gitml.modeling import prepare_features
from gitml.serve.predlog import read_lines
from tests.serve_support import GITML, ROOT, BuiltModel, build_model, records, start_server

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve_explain_privacy")]
KEY = "test-secret-key-0123456789"
EMAILS = ["ann@example.org", "bob@example.org", "cyd@example.org"]


def _project(built: BuiltModel, dest: Path, pii: str) -> BuiltModel:
    """The built model in a root whose params.yaml declares an e-mail (id, PII) and a
    sensitive, non-PII gender column, and whose policy logs PII as `pii`."""
    dest.mkdir(parents=True, exist_ok=True)
    params = inline_schema(
        yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")), files_under(ROOT)
    )
    columns = params["data"]["columns"]
    columns["email"] = {"dtype": "string", "role": "id", "nullable": False, "pii": True}
    columns["gender"] = {**columns["gender"], "pii": False}
    (dest / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    conf = yaml.safe_load((ROOT / "conf" / "gitml.yaml").read_text(encoding="utf-8"))
    conf["serve"]["log"]["pii"] = pii
    (dest / "conf").mkdir(exist_ok=True)
    (dest / "conf" / "gitml.yaml").write_text(yaml.safe_dump(conf), encoding="utf-8")
    return dataclasses.replace(built, root=dest)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    return build_model(tmp_path_factory.mktemp("explain-model"), n_rows=40)


def _rows(built: BuiltModel) -> list[dict[str, Any]]:
    rows = records(built.rows.iloc[:3])
    for row, email, gender in zip(rows, EMAILS, ["female", "male", "nonbinary"], strict=True):
        row["email"] = email
        row["gender"] = gender
    return rows


def _check_additive(built: BuiltModel, rows: list[dict[str, Any]], contrib: Any, base: Any) -> None:
    frame = prepare_features(built.rows.iloc[: len(rows)], built.signature.features)
    raw = raw_output(built.model, frame, built.signature.positive_class)
    total = np.asarray(base) + np.asarray(contrib).sum(axis=1)
    assert np.allclose(total, raw, atol=1e-6, rtol=0)


def test_explain_context_and_pii_drop(built: BuiltModel, tmp_path: Path) -> None:
    project = _project(built, tmp_path / "drop", "drop")
    server = start_server(project, tmp_path / "drop.jsonl")
    try:
        rows = _rows(built)
        names = built.signature.feature_names
        r = httpx.post(
            f"{server.url}/invocations?explain=true",
            json={"dataframe_records": rows},
            headers={"X-Request-ID": "explain-1"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["explained_output"] == "log-odds"
        assert [sorted(c) for c in body["contributions"]] == [sorted(names)] * 3
        contrib = [[c[n] for n in names] for c in body["contributions"]]
        _check_additive(built, rows, contrib, body["base_values"])

        v2 = {
            "inputs": [
                {"name": k, "shape": [3], "datatype": "BYTES", "data": [row[k] for row in rows]}
                for k in rows[0]
            ],
            "parameters": {"explain": True},
        }
        r = httpx.post(
            f"{server.url}/v2/models/{project.signature.model or 'model'}/infer", json=v2
        )
        if r.status_code == 404:  # the served name comes from the policy's artifact
            name = r.json()["error"].split("serves '")[1].rstrip("'.")
            r = httpx.post(f"{server.url}/v2/models/{name}/infer", json=v2, timeout=60)
        assert r.status_code == 200, r.text
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        tensor = outputs["contributions"]
        assert tensor["shape"] == [3, len(names)] and tensor["parameters"]["features"] == names
        contrib2 = np.asarray(tensor["data"]).reshape(3, len(names))
        _check_additive(built, rows, contrib2, outputs["base_value"]["data"])
        assert np.allclose(contrib2, contrib, atol=1e-9)
    finally:
        server.stop()
    text = server.log.read_text(encoding="utf-8")
    for email in EMAILS:
        assert email not in text
    lines = [rec for _, rec in read_lines(server.log)]
    assert len(lines) == 2 and all(rec["status"] == 200 for rec in lines)
    for rec in lines:
        # the sensitive column is logged as context, never as model input
        assert [row["gender"] for row in rec["context"]] == ["female", "male", "nonbinary"]
        assert all("gender" not in row and "email" not in row for row in rec["inputs"])
        assert "pii_hmac" not in rec


def test_pii_hash_logs_the_hmac_only(built: BuiltModel, tmp_path: Path) -> None:
    project = _project(built, tmp_path / "hash", "hash")
    refused = subprocess.run(
        [GITML, "serve", "--model", str(project.model_path), "--root", str(project.root)],
        env={k: v for k, v in os.environ.items() if k != "GITML_LOG_PII_KEY"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr
    assert "GITML_LOG_PII_KEY" in refused.stderr and "Traceback" not in refused.stderr
    os.environ["GITML_LOG_PII_KEY"] = KEY
    try:
        server = start_server(project, tmp_path / "hash.jsonl")
    finally:
        del os.environ["GITML_LOG_PII_KEY"]
    try:
        r = httpx.post(
            f"{server.url}/invocations", json={"dataframe_records": _rows(built)}, timeout=60
        )
        assert r.status_code == 200, r.text
        assert "contributions" not in r.json()
    finally:
        server.stop()
    text = server.log.read_text(encoding="utf-8")
    for email in EMAILS:
        assert email not in text
        assert hmac.new(KEY.encode(), email.encode(), hashlib.sha256).hexdigest() in text
    (rec,) = [rec for _, rec in read_lines(server.log)]
    assert [row["email"] for row in rec["pii_hmac"]] == [
        hmac.new(KEY.encode(), e.encode(), hashlib.sha256).hexdigest() for e in EMAILS
    ]


def test_monitor_group_metrics_from_logged_context_and_late_labels(
    built: BuiltModel, tmp_path: Path
) -> None:
    import pandas as pd

    from gitml.config import load_params
    from gitml.monitor.core import Inputs, analyse
    from gitml.monitor.io import BatchSource
    from gitml.monitor.labels import LabelJoin
    from gitml.monitor.render import render
    from gitml.profile import build_profile

    project = _project(built, tmp_path / "mon", "drop")
    server = start_server(project, tmp_path / "mon.jsonl")
    genders = ["female", "male", "nonbinary", "female", "male", "female"]
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for i in range(6):
                row = {**records(built.rows.iloc[i : i + 1])[0], "gender": genders[i]}
                r = http.post(
                    "/invocations",
                    json={"dataframe_records": [row]},
                    headers={"X-Request-ID": f"g{i}"},
                )
                assert r.status_code == 200, r.text
    finally:
        server.stop()
    data = load_params(project.root / "params.yaml").data
    kinds = {f["name"]: f["kind"] for f in built.signature.features} | {"gender": "categorical"}
    profile = build_profile(
        built.rows,
        [n for n, k in kinds.items() if k == "numeric"],
        [n for n, k in kinds.items() if k == "categorical" and n != "gender"],
    )
    labels = pd.DataFrame({"request_id": [f"g{i}" for i in range(5)], "default": [1, 0, 0, 1, 1]})
    join = LabelJoin.from_frame(labels, "default", "labels")
    source = BatchSource(
        server.log, kinds, extra=("score", "default", "request_id", "row"), log=True
    )
    inputs = Inputs(profile=profile, data=data, labels="default", label_join=join)
    result = analyse(source, inputs)
    groups = {g["group"]: g for g in result["groups"]["gender"]["groups"]}
    # five labelled rows (the sixth request has no label yet): female 2, male 2, nonbinary 1
    assert {k: (g["rows"], g["positives"]) for k, g in groups.items()} == {
        "female": (2, 2),
        "male": (2, 1),
        "nonbinary": (1, 0),
    }
    assert all(g["status"] == "insufficient data" for g in groups.values())
    assert groups["female"]["tpr"]["trials"] == 2 and groups["male"]["fpr"]["trials"] == 1
    text = render(result, "md")
    assert "### Groups" in text and "| nonbinary | 1 | 0 |" in text
    assert "<h2>Groups</h2>" in render(result, "html")


def test_predict_explain_adds_contribution_columns(built: BuiltModel, tmp_path: Path) -> None:
    import pandas as pd

    src = tmp_path / "in.csv"
    built.rows.iloc[:25].to_csv(src, index=False)
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [
            GITML,
            "predict",
            "--model",
            str(built.model_path),
            "--root",
            str(built.root),
            str(src),
            "-o",
            str(out),
            "--explain",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out)
    names = built.signature.feature_names
    contrib = frame[[f"contrib_{n}" for n in names]].to_numpy()
    x = prepare_features(built.rows.iloc[:25], built.signature.features)
    raw = raw_output(built.model, x, built.signature.positive_class)
    assert np.abs(frame["contrib_base"].to_numpy() + contrib.sum(axis=1) - raw).max() < 1e-6
