"""Training/serving skew: a CSV with `?` for missing, declared with read_options.na_values.

A real temp repo trains on the messy file through DVC; then the raw rows, `?` included, go to
`gitml serve` (JSON and CSV bodies) and `gitml predict` (file and --stream) and must score
exactly as training read them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from gitml.config import load_params
from gitml.data.sources import read_table
from gitml.data.synthetic import generate
from gitml.modeling import load_model, load_signature, prepare_features
from gitml.policy import load_policy
from gitml.schema import coerce
from tests.pipeline_repo import dvc, run
from tests.serve_support import GITML, BuiltModel, start_server

pytestmark = pytest.mark.integration


def _messy_repo(repo: Path) -> pd.DataFrame:
    """Write conf/data/messy.yaml, its schema and its CSV (every 14th income and home_ownership
    is '?')."""
    conf = (repo / "conf/data/synthetic_credit.yaml").read_text(encoding="utf-8")
    conf = (
        conf.replace("name: synthetic_credit", "name: messy")
        .replace("source: synthetic_credit", "source: csv")
        .replace("path: null", "path: data/external/messy.csv")
        .replace("read_options: {}", 'read_options: {na_values: ["?"]}')
        .replace("n_rows: 20000", "n_rows: null")
        .replace("schema: conf/schema/synthetic_credit.yaml", "schema: conf/schema/messy.yaml")
    )
    (repo / "conf/data/messy.yaml").write_text(conf, encoding="utf-8")
    schema = (repo / "conf/schema/synthetic_credit.yaml").read_text(encoding="utf-8")
    schema = schema.replace(
        "home_ownership: {dtype: category, role: feature, nullable: false",
        "home_ownership: {dtype: category, role: feature, nullable: true",
    )
    (repo / "conf/schema/messy.yaml").write_text(schema, encoding="utf-8")
    frame = generate(2500, seed=5).astype(object)
    frame.loc[frame.index[::14], "income"] = "?"
    frame.loc[frame.index[3::14], "home_ownership"] = "?"
    frame.to_csv(repo / "data/external/messy.csv", index=False)
    return frame


def test_rows_with_markers_score_as_training_read_them(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = pipeline_repo
    messy = _messy_repo(repo)
    dvc("add", "data/external/messy.csv", cwd=repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "messy data"], repo)
    # Up to `train`: the model and its signature are all this test scores with.
    dvc("exp", "run", "-S", "data=messy", "-S", "model.max_iter=30", "train", cwd=repo)

    sig = load_signature(repo / "models/signature.json")
    assert "?" in sig.contract.missing_values
    params = load_params(repo / "params.yaml")
    model = load_model(repo / "models/model.skops", load_policy(repo).trusted_types)
    raw = messy.head(60)
    src = tmp_path / "raw.csv"
    raw.to_csv(src, index=False)
    trained_view = coerce(read_table(src, "csv", params.data.read_options), params.data)
    expected = model.predict_proba(prepare_features(trained_view, sig.features))
    assert trained_view["home_ownership"].isna().sum() > 0  # training saw '?' as missing

    rows = json.loads(raw[["applicant_id", *sig.feature_names]].to_json(orient="records"))
    assert any(r["income"] == "?" for r in rows) and any(r["home_ownership"] == "?" for r in rows)
    built = BuiltModel(repo, repo / "models/model.skops", model, sig, raw)
    server = start_server(built, tmp_path / "predictions.jsonl")
    try:
        url = f"{server.url}/invocations?probabilities=true"
        r = httpx.post(url, json={"dataframe_records": rows})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["probabilities"], expected, atol=1e-12)
        one = [httpx.post(url, json={"dataframe_records": [row]}) for row in rows[:16]]
        assert all(x.status_code == 200 for x in one), [x.text for x in one]
        got = [x.json()["probabilities"][0] for x in one]
        np.testing.assert_allclose(got, expected[:16], atol=1e-12)
        body = raw.to_csv(index=False)
        r = httpx.post(url, content=body, headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["probabilities"], expected, atol=1e-12)
    finally:
        server.stop()

    base = [GITML, "predict", "--model", str(repo / "models/model.skops"), "--root", str(repo)]
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        [*base, str(src), "-o", str(out), "--id-column", "applicant_id", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(out)
    assert scored["applicant_id"].tolist() == raw["applicant_id"].tolist()
    np.testing.assert_allclose(scored[["probability_0", "probability_1"]], expected, atol=1e-12)
    proc = subprocess.run(
        [*base, "--stream"],
        input="".join(json.dumps(r) + "\n" for r in rows),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    lines = [json.loads(x)["probabilities"] for x in proc.stdout.splitlines()]
    np.testing.assert_allclose([[p["0"], p["1"]] for p in lines], expected, atol=1e-12)
