"""Nulls in nullable columns, through every way in: one row, batched, OIP v2, predict, --stream.

The model declares a nullable categorical (`home_ownership`) and a nullable numeric (`income`)
column and is trained with missing values in both. A row that passes validation must score, with
the in-process pipeline's output, whatever the batcher groups it with.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve_support import (
    GITML,
    BuiltModel,
    Server,
    build_model,
    in_process,
    records,
    start_server,
)

pytestmark = pytest.mark.integration

NULLABLE = ("home_ownership", "income")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    return build_model(tmp_path_factory.mktemp("nulls-model"), n_rows=200, nullable=NULLABLE)


@pytest.fixture(scope="module")
def server(built: BuiltModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(built, tmp_path_factory.mktemp("nulls-log") / "predictions.jsonl")
    yield srv
    srv.stop()


def _frame(rows: list[dict[str, Any]], built: BuiltModel) -> pd.DataFrame:
    """Row objects as the storage-typed frame the in-process pipeline gets."""
    frame = pd.DataFrame.from_records(rows, columns=built.signature.feature_names)
    return frame.astype(built.rows.dtypes.to_dict())


def _predict(
    built: BuiltModel, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GITML, "predict", "--model", str(built.model_path), "--root", str(built.root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _null_row(built: BuiltModel, *columns: str) -> dict[str, Any]:
    row = records(built.rows.head(1))[0]
    for name in columns:
        row[name] = None
    return row


def _v2_body(rows: list[dict[str, Any]], built: BuiltModel) -> dict[str, Any]:
    inputs = []
    for spec in built.signature.features:
        data = [r[spec["name"]] for r in rows]
        kind = "BYTES" if spec["kind"] == "categorical" else "FP64"
        inputs.append({"name": spec["name"], "shape": [len(rows)], "datatype": kind, "data": data})
    return {"inputs": inputs}


def test_one_row_with_a_null_category_is_scored_like_in_process(
    server: Server, built: BuiltModel
) -> None:
    row = _null_row(built, "home_ownership")
    _, proba = in_process(built, _frame([row], built))
    r = httpx.post(
        f"{server.url}/invocations?probabilities=true", json={"dataframe_records": [row]}
    )
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["probabilities"], proba, atol=1e-12)
    name = httpx.get(f"{server.url}/metadata").json()["artifact"]
    r = httpx.post(f"{server.url}/v2/models/{name}/infer", json=_v2_body([row], built))
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    np.testing.assert_allclose(out["predict_proba"]["data"], proba.ravel(), atol=1e-12)


def test_null_in_a_non_nullable_column_is_422_naming_it(server: Server, built: BuiltModel) -> None:
    r = httpx.post(
        f"{server.url}/invocations", json={"dataframe_records": [_null_row(built, "region")]}
    )
    assert r.status_code == 422 and r.json()["field"] == "region"


def test_stream_and_one_row_chunks_score_rows_with_nulls(built: BuiltModel, tmp_path: Path) -> None:
    rows = [_null_row(built, "home_ownership"), _null_row(built, *NULLABLE), _null_row(built)]
    _, proba = in_process(built, _frame(rows, built))
    proc = _predict(built, "--stream", stdin="".join(json.dumps(r) + "\n" for r in rows))
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    got = [[o["probabilities"]["0"], o["probabilities"]["1"]] for o in out]
    np.testing.assert_allclose(got, proba, atol=1e-12)
    src = tmp_path / "in.csv"
    _frame(rows, built).to_csv(src, index=False)
    for fmt in (".csv", ".parquet"):
        dst = tmp_path / f"out{fmt}"
        proc = _predict(built, str(src), "-o", str(dst), "--chunk-rows", "1", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        frame = pd.read_csv(dst) if fmt == ".csv" else pd.read_parquet(dst)
        np.testing.assert_allclose(
            frame[["probability_0", "probability_1"]].to_numpy(), proba, atol=1e-12
        )
