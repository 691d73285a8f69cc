"""`gitml predict` (files in chunks, and --stream) as a user runs it, against in-process predict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.serve_support import GITML, BuiltModel, build_model, in_process, records

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serve_predict")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    return build_model(tmp_path_factory.mktemp("predict-model"), n_rows=1000)


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


@pytest.mark.parametrize("fmt", [".csv", ".parquet"])
def test_predict_file_in_chunks_equals_in_process(
    built: BuiltModel, tmp_path: Path, fmt: str
) -> None:
    src = tmp_path / f"in{fmt}"
    if fmt == ".csv":
        built.rows.to_csv(src, index=False)
    else:
        built.rows.to_parquet(src, index=False)
    out = tmp_path / f"out{'.parquet' if fmt == '.csv' else '.csv'}"
    proc = _predict(built, str(src), "-o", str(out), "--chunk-rows", "170", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    got = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
    preds, proba = in_process(built, built.rows)
    assert list(got.columns) == ["prediction", "probability_0", "probability_1", "model_version"]
    assert (got["prediction"].to_numpy() == preds).all()
    np.testing.assert_allclose(
        got[["probability_0", "probability_1"]].to_numpy(), proba, atol=1e-12
    )
    assert set(got["model_version"]) == {"local"}


def test_predict_bad_row_fails_naming_rows_and_writes_nothing(
    built: BuiltModel, tmp_path: Path
) -> None:
    frame = built.rows.copy()
    frame["region"] = frame["region"].astype(object)
    frame.loc[450, "region"] = "atlantis"
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    proc = _predict(built, str(src), "-o", str(out), "--chunk-rows", "100", "--no-progress")
    assert proc.returncode == 2
    assert "rows 400-499" in proc.stderr and "region" in proc.stderr and "atlantis" in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_stream_scores_line_by_line(built: BuiltModel) -> None:
    rows = records(built.rows.head(20))
    lines = [json.dumps(r) for r in rows]
    lines.insert(5, '{"age": "old"}')
    proc = _predict(built, "--stream", stdin="\n".join(lines) + "\n")
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == 21 and proc.returncode == 1  # one rejected line
    assert "error" in out[5] and out[5]["line"] == 6
    good = [o for o in out if "error" not in o]
    preds, proba = in_process(built, built.rows.head(20))
    assert [o["prediction"] for o in good] == preds.tolist()
    assert np.allclose([o["probabilities"]["1"] for o in good], proba[:, 1], atol=1e-12)
