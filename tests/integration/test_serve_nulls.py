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

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve_nulls")]

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


def test_predict_carries_the_id_and_kept_columns(built: BuiltModel, tmp_path: Path) -> None:
    frame = built.rows.head(30).copy()
    frame.insert(0, "applicant_id", [f"A{k:04d}" for k in range(30)])
    frame["note"] = "x"  # a column that is neither a feature nor kept: not in the output
    _, proba = in_process(built, frame)
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    carry = ("--id-column", "applicant_id", "--keep", "home_ownership,income")
    for fmt in (".csv", ".parquet"):
        dst = tmp_path / f"out{fmt}"
        proc = _predict(
            built, str(src), "-o", str(dst), "--chunk-rows", "7", "--no-progress", *carry
        )
        assert proc.returncode == 0, proc.stderr
        got = pd.read_csv(dst) if fmt == ".csv" else pd.read_parquet(dst)
        assert list(got.columns)[:3] == ["applicant_id", "home_ownership", "income"]
        assert "note" not in got.columns
        assert got["applicant_id"].tolist() == frame["applicant_id"].tolist()
        joined = frame.merge(got, on="applicant_id", suffixes=("", "_out"))
        assert (
            joined["home_ownership"].isna().tolist() == joined["home_ownership_out"].isna().tolist()
        )
        np.testing.assert_allclose(joined["income_out"], frame["income"], equal_nan=True)
        np.testing.assert_allclose(got[["probability_0", "probability_1"]], proba, atol=1e-12)
    lines = [json.dumps(r) for r in records(frame.head(3))]
    proc = _predict(built, "--stream", *carry, stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["applicant_id"] for o in out] == ["A0000", "A0001", "A0002"]
    assert list(out[0])[:4] == ["line", "applicant_id", "home_ownership", "income"]
    proc = _predict(built, "--stream", "--id-column", "prediction", stdin=lines[0] + "\n")
    assert proc.returncode != 0 and "prediction" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- property test


def _row_strategy(built: BuiltModel) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for spec in built.signature.features:
        name = spec["name"]
        if spec["kind"] == "categorical":
            value: st.SearchStrategy[Any] = st.sampled_from(spec["categories"])
        elif spec["dtype"] == "int64":
            value = st.integers(0, 100)
        else:
            value = st.floats(0, 5000, allow_nan=False).map(lambda x: round(x, 3))
        fields[name] = st.one_of(st.none(), value) if spec["nullable"] else value
    return st.fixed_dictionaries(fields)


@pytest.fixture(scope="module")
def bundle(built: BuiltModel) -> Any:
    from gitml.policy import load_policy
    from gitml.serve.bundle import from_file

    return from_file(built.model_path, load_policy(built.root).trusted_types, "classifier")


def test_every_way_in_scores_valid_rows_alike(
    server: Server, built: BuiltModel, bundle: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import io

    from gitml.serve import batch

    name = httpx.get(f"{server.url}/metadata").json()["artifact"]
    work = tmp_path_factory.mktemp("property")

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_row_strategy(built), min_size=1, max_size=4))
    def check(rows: list[dict[str, Any]]) -> None:
        _, proba = in_process(built, _frame(rows, built))
        answers = []
        for row in rows:  # one row per request
            r = httpx.post(
                f"{server.url}/invocations?probabilities=true", json={"dataframe_records": [row]}
            )
            assert r.status_code == 200, r.text
            answers.append(r.json()["probabilities"][0])
        np.testing.assert_allclose(answers, proba, atol=1e-12)
        r = httpx.post(f"{server.url}/invocations?probabilities=true", json={"instances": rows})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["probabilities"], proba, atol=1e-12)
        r = httpx.post(f"{server.url}/v2/models/{name}/infer", json=_v2_body(rows, built))
        assert r.status_code == 200, r.text
        out = {o["name"]: o for o in r.json()["outputs"]}
        np.testing.assert_allclose(out["predict_proba"]["data"], proba.ravel(), atol=1e-12)
        sink = io.StringIO()
        ok, bad = batch.stream(
            bundle, io.StringIO("".join(json.dumps(x) + "\n" for x in rows)), sink
        )
        assert (ok, bad) == (len(rows), 0), sink.getvalue()
        streamed = [json.loads(line)["probabilities"] for line in sink.getvalue().splitlines()]
        np.testing.assert_allclose([[p["0"], p["1"]] for p in streamed], proba, atol=1e-12)
        src, dst = work / "in.csv", work / "out.parquet"
        pd.DataFrame.from_records(rows).to_csv(src, index=False)
        assert batch.predict_file(bundle, src, dst, chunk_rows=1) == len(rows)
        got = pd.read_parquet(dst)[["probability_0", "probability_1"]].to_numpy()
        np.testing.assert_allclose(got, proba, atol=1e-12)

    check()
