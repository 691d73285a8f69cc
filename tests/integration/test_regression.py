"""Regression end to end: the real pipeline on the diabetes data, serving one row, monitoring decay."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from gitml.modeling import load_signature
from tests.pipeline_repo import BIN, dvc, env
from tests.serve_support import BuiltModel, records, start_server

pytestmark = pytest.mark.integration


def gitml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gitml"), *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=300
    )


def read(repo: Path, rel: str) -> object:
    return json.loads((repo / rel).read_text(encoding="utf-8"))


def feature_names(repo: Path) -> list[str]:
    return load_signature(repo / "models/signature.json").feature_names


def test_regression_pipeline_serves_predictions_and_monitors_decay(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    repo = pipeline_repo
    dvc(
        "exp",
        "run",
        "-S",
        "data=diabetes",
        "-S",
        "model=hist_gradient_boosting_regressor",
        "-S",
        "model.max_iter=60",
        cwd=repo,
    )

    # The regressor is compiled to ONNX, with its predictions checked against scikit-learn's.
    compiled = read(repo, "reports/compile.json")
    assert isinstance(compiled, dict) and compiled["compiled"] is True, compiled
    assert compiled["parity"]["rows"] == 89 and compiled["parity"]["within_tolerance"]
    assert (repo / "models" / "compiled" / "model.onnx").stat().st_size == compiled["bytes"]

    # Metrics, slices, plots and the model card of a regression.
    metrics = read(repo, "reports/metrics.json")
    assert isinstance(metrics, dict) and list(metrics) == ["rmse", "mae", "r2", "mape"]
    assert 20 < metrics["rmse"] < 120 and metrics["mae"] <= metrics["rmse"]
    assert 0.0 < metrics["r2"] < 1.0
    slices = read(repo, "reports/slices.json")
    assert isinstance(slices, dict) and set(slices) == {"sex"}
    groups = slices["sex"]["groups"]
    assert set(groups) == {"1", "2"} and sum(g["count"] for g in groups.values()) == 89
    maes = [g["mae"] for g in groups.values()]
    assert slices["sex"]["mae_gap"] == pytest.approx(max(maes) - min(maes))
    scatter = read(repo, "reports/plots/predicted_actual.json")
    residuals = read(repo, "reports/plots/residuals.json")
    assert (
        isinstance(scatter, list)
        and len(scatter) == 89
        and set(scatter[0])
        == {
            "actual",
            "predicted",
        }
    )
    assert isinstance(residuals, list) and residuals[0]["residual"] == pytest.approx(
        scatter[0]["actual"] - scatter[0]["predicted"], abs=1e-5
    )
    for unused in ("roc", "prc", "confusion", "calibration"):
        assert read(repo, f"reports/plots/{unused}.json") == []
    shown = dvc("plots", "show", "--json", cwd=repo)
    assert "predicted_actual.json" in shown.stdout
    card = (repo / "reports/model_card.md").read_text(encoding="utf-8")
    assert "regression of `progression` (the model predicts a number; no probabilities)" in card
    assert "| rmse | " in card and "MAE gap **" in card and "| group | count | MAE | RMSE |" in card
    # What drives the predictions: contributions to the predicted value, all 89 test rows
    drivers = read(repo, "reports/contributions.json")
    assert isinstance(drivers, dict) and drivers["explained"] and drivers["output"] == "prediction"
    assert drivers["sample"] == {"rows": 89, "of": 89, "seed": 42}
    (summary,) = drivers["outputs"]
    assert summary["class"] is None and len(summary["features"]) == len(feature_names(repo))
    assert "of each input feature to the predicted `progression`, over 89 of the 89" in card
    top = summary["features"][0]
    assert f"| {top['feature']} | {top['mean_abs']:.4f} | {100 * top['share']:.1f}% |" in card
    signature = load_signature(repo / "models/signature.json")
    assert signature.task == "regression" and signature.classes == []
    assert signature.positive_class is None

    # `gitml report` reads the regression metrics with rmse as the primary metric.
    report = gitml("report", "--format", "json", cwd=repo)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["primary_metric"] == "rmse"

    # Serving: one row over MLflow's /invocations and OIP v2, predictions only.
    test = pd.read_parquet(repo / "data/test.parquet")
    row = test[signature.feature_names].head(1)
    built = BuiltModel(repo, repo / "models/model.skops", None, signature, row)
    server = start_server(built, tmp_path / "predictions.jsonl")
    try:
        answer = httpx.post(
            f"{server.url}/invocations?probabilities=true",
            json={"dataframe_records": records(row)},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"predictions"} and isinstance(body["predictions"][0], float)
        name = httpx.get(f"{server.url}/metadata").json()["artifact"]
        inputs = [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [float(row[c].iloc[0])]}
            for c in signature.feature_names
        ]
        v2 = httpx.post(f"{server.url}/v2/models/{name}/infer", json={"inputs": inputs}, timeout=30)
        assert v2.status_code == 200, v2.text
        outputs = v2.json()["outputs"]
        assert [o["name"] for o in outputs] == ["predict"]
        assert outputs[0]["datatype"] == "FP64"
        assert outputs[0]["data"] == pytest.approx(body["predictions"])
    finally:
        assert server.stop() in (0, -15)  # uvicorn exits on SIGTERM, gracefully
    logged = json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])
    assert logged["score"] == pytest.approx(body["predictions"])

    # `gitml predict` writes the prediction column (no probability columns).
    predicted = gitml(
        "predict", "--model", "models/model.skops", "data/test.parquet", "-o", "pred.csv", cwd=repo
    )
    assert predicted.returncode == 0, predicted.stderr
    out = pd.read_csv(repo / "pred.csv")
    assert list(out.columns) == ["prediction", "model_version"] and len(out) == 89
    assert out["prediction"].iloc[0] == pytest.approx(body["predictions"][0])

    # Monitoring with labels: the same labels reproduce the recorded RMSE; shifted labels decay.
    conf_path = repo / "conf/gitml.yaml"
    conf = yaml.safe_load(conf_path.read_text(encoding="utf-8"))
    conf["monitor"]["decay"]["rmse"] = 5.0
    conf_path.write_text(yaml.safe_dump(conf), encoding="utf-8")
    batch = test.assign(score=out["prediction"])
    for label, shift in (("steady", 0.0), ("shifted", 60.0)):
        batch.assign(progression=test["progression"] + shift).to_csv(
            repo / f"{label}.csv", index=False
        )
    results = {}
    for label in ("steady", "shifted"):
        done = gitml(
            "monitor",
            "--profile",
            "data/profile.json",
            "--current",
            f"{label}.csv",
            "--labels",
            "progression",
            "--params",
            "params.yaml",
            "--metrics",
            "reports/metrics.json",
            "--format",
            "json",
            cwd=repo,
        )
        assert done.returncode == 0, done.stderr
        results[label] = json.loads(done.stdout)
    steady, shifted = results["steady"], results["shifted"]
    assert steady["prediction"] is not None and not steady["prediction_drift"]
    rmse = steady["metrics"]["metrics"]["rmse"]
    assert rmse["current"] == pytest.approx(metrics["rmse"], rel=1e-6) and not steady["decay"]
    assert shifted["decay"] and shifted["metrics"]["metrics"]["rmse"]["decayed"]
    assert shifted["metrics"]["metrics"]["rmse"]["loss"] > 5.0
