"""One end-to-end matrix on real datasets shipped with scikit-learn (nothing is downloaded).

Per dataset, as a user runs it: `gitml data init` on the file (no hand-written column
declaration), `dvc exp run -S data=<name>` (a small model), `gitml model register` and promote
to staging and production (local tags only: the repo has no remote), `gitml serve --stage
production` on 127.0.0.1 with one-row requests holding nulls, `gitml predict` on a file and as a
stream with `--id-column`, `gitml monitor --log <the server's log> --labels <late labels>` and
`gitml retrain` on the labelled rows. Those rows are held out of the declared file. The gitml
commands but serve and retrain run in-process (`gitml_inproc`: the real CLI, no start-up).

Datasets: (a) a penguins-like multiclass table (wine, with missing numbers and a categorical
with nulls), (b) diabetes (regression), (c) a messy binary CSV built from breast_cancer (`?`
markers, stray blanks, mixed-case categories, an id and an e-mail column).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.metrics import roc_auc_score

from gitml.config import DataConfig, data_section, files_under, with_schema
from gitml.modeling import load_signature
from tests.integration.registry_repo import gitml_inproc as cli
from tests.integration.test_regression import gitml
from tests.pipeline_repo import dvc, run
from tests.serve_support import BuiltModel, records, start_server

pytestmark = pytest.mark.integration

#: Rows held out of the declared file: served, predicted, labelled late, then retrained on.
HELD = 24


def wine_with_nulls() -> pd.DataFrame:
    """Wine as a penguins-like table: missing measurements and a categorical with nulls."""
    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    wine.columns = [c.replace("/", "_") for c in wine.columns]
    n = len(wine)
    rng = np.random.default_rng(1)
    wine.insert(0, "sample_id", [f"W{i:04d}" for i in range(n)])
    wine["island"] = rng.choice(["Biscoe", "Dream", "Torgersen"], n).astype(object)
    for column in ("alcohol", "magnesium", "hue", "island"):
        wine.loc[rng.random(n) < 0.08, column] = None
    return wine


def diabetes() -> pd.DataFrame:
    """scikit-learn's diabetes table (unscaled) with a patient id."""
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    frame.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(frame))])
    return frame


def messy_breast_cancer() -> pd.DataFrame:
    """breast_cancer as text: `?` markers, stray blanks, mixed-case categories, an id, e-mails."""
    bc = load_breast_cancer(as_frame=True).frame
    n = len(bc)
    rng = np.random.default_rng(2)
    out = pd.DataFrame({"record_id": [f"BC-{i:05d}" for i in range(n)]})
    for column in bc.columns.drop("target"):
        out[column.replace(" ", "_")] = bc[column].astype(str)
    out["mean_radius"] = out["mean_radius"].where(rng.random(n) > 0.05, "?")
    out.loc[rng.random(n) < 0.03, "worst_area"] = " ? "
    out["mean_texture"] = " " + out["mean_texture"]  # a stray leading blank on every value
    out["clinic"] = rng.choice(["North", "north", "SOUTH", " south", "south "], n)
    out["contact_email"] = [f"patient{i}@example.org" for i in range(n)]
    out["diagnosis"] = np.where(bc["target"] == 1, "benign", "malignant")
    return out


def split_held(table: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffled rows: the declared part, and `k` held-out rows inside its observed ranges.

    `gitml data init` declares the observed min/max of each numeric column, so a later batch
    beyond them fails validation (docs/data.md): rows holding a column's extreme stay declared.
    """
    table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    numbers = table.apply(pd.to_numeric, errors="coerce")
    numbers = numbers.loc[:, numbers.notna().any()]
    extremes = set(numbers.idxmin()) | set(numbers.idxmax())
    held = [i for i in table.index if i not in extremes][-k:]
    return table.drop(index=held), table.loc[held]


@dataclass(frozen=True)
class Case:
    """One dataset of the matrix and what the flow must find on it."""

    name: str
    build: Callable[[], pd.DataFrame]
    target: str
    id_column: str
    task: str
    overrides: tuple[str, ...]
    pii: tuple[str, ...] = ()


CASES = [
    Case(
        "penguins_like",
        wine_with_nulls,
        "cultivar",
        "sample_id",
        "multiclass",
        ("model.n_estimators=20",),
    ),
    Case(
        "diabetes_table",
        diabetes,
        "progression",
        "patient_id",
        "regression",
        ("model.n_estimators=20",),  # random_forest_regressor: data init selects it (442 rows)
    ),
    Case(
        "breast_messy",
        messy_breast_cancer,
        "diagnosis",
        "record_id",
        "binary",
        ("model.n_estimators=20",),
        pii=("contact_email",),
    ),
]


def promote(repo: Path, version: str, stage: str) -> bool:
    """Promote with local tags only; where a gate refuses, force it with a reason (True)."""
    args = ("model", "promote", version, "--to", stage, "--no-push", "--no-fetch")
    proc = cli(*args, cwd=repo)
    forced = proc.returncode == 1
    if forced:
        assert "FAIL" in proc.stdout and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        proc = cli(*args, "--force", "--reason", "matrix test: gate refused", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return forced


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix(case: Case, pipeline_repo: Path, tmp_path: Path) -> None:
    repo = pipeline_repo
    table = case.build()
    declared, held = split_held(table, HELD)
    rel = f"data/external/{case.name}.csv"
    declared.to_csv(repo / rel, index=False)

    # 1. Declare the file: the config is inferred, PII is never a feature.
    init = cli("data", "init", str(repo / rel), "--target", case.target, cwd=repo)
    assert init.returncode == 0, init.stdout + init.stderr
    assert f"dvc exp run -S data={case.name}" in init.stdout
    raw = data_section(yaml.safe_load((repo / f"conf/data/{case.name}.yaml").read_text()))
    assert raw["schema"] == f"conf/schema/{case.name}.yaml" and "columns" not in raw
    config = DataConfig.parse(with_schema({"data": raw}, files_under(repo))["data"])
    assert config.task == case.task and config.target == case.target and config.path == rel
    assert config.column(case.id_column).role == "id"
    for name in case.pii:
        assert config.column(name).pii and config.column(name).role != "feature"
    run(["git", "commit", "-qm", f"declare {case.name}"], repo)

    # 2. Train on it.
    overrides = [a for o in (f"data={case.name}", *case.overrides) for a in ("-S", o)]
    dvc("exp", "run", *overrides, cwd=repo)
    validation = json.loads((repo / "reports/validation.json").read_text())
    assert validation["passed"] and validation["rows"] == len(declared)
    sig = load_signature(repo / "models/signature.json")
    assert sig.task == case.task and case.id_column not in sig.feature_names
    assert not set(case.pii) & set(sig.feature_names)
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    compiled = json.loads((repo / "reports/compile.json").read_text())
    assert compiled["compiled"] and compiled["parity"]["within_tolerance"], compiled
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", f"train on {case.name}"], repo)

    # 3. Register and promote through both stages (local tags: no remote is touched).
    reg = cli("model", "register", "--version", "v1.0.0", "--no-push", "--no-fetch", cwd=repo)
    assert reg.returncode == 0, reg.stdout + reg.stderr
    forced = [promote(repo, "v1.0.0", stage) for stage in ("staging", "production")]
    shown = json.loads(cli("model", "show", "--json", cwd=repo).stdout)
    assert shown["stages"] == {"staging": "v1.0.0", "production": "v1.0.0"}
    history = json.loads(cli("model", "history", "--json", cwd=repo).stdout)
    assigned = [h for h in history if h["event"] == "assign"]
    assert [(h["stage"], h["forced"], not h["gates_passed"]) for h in assigned] == [
        ("staging", forced[0], forced[0]), ("production", forced[1], forced[1]),
    ]  # fmt: skip
    assert run(["git", "tag", "-l"], repo).stdout.split() == [
        "classifier#production#2", "classifier#staging#1", "classifier@v1.0.0",
    ]  # fmt: skip

    # The held-out rows, read as the pipeline reads the file (its inferred read options).
    held_csv = tmp_path / "held.csv"
    held.to_csv(held_csv, index=False)
    rows = pd.read_csv(held_csv, **dict(config.read_options))
    ids = rows[case.id_column].tolist()
    features = sig.feature_names
    nullable = {c.name for c in config.columns if c.nullable}
    may_be_null = sorted(nullable & set(features))
    never_null = sorted(set(features) - nullable)

    # 4. Serve, one row per request, with nulls: a null where the contract allows one scores
    # (every third row gets one more), elsewhere it is refused with a 422 naming the column
    # (every third row, another one); never a 5xx.
    log = tmp_path / "predictions.jsonl"
    built = BuiltModel(repo, repo / "models/model.skops", None, sig, rows[features])
    server = start_server(built, log, source=("--stage", "production"))
    served: dict[str, tuple[Any, Any]] = {}  # request id -> (label, served output)
    refused = 0
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for i, row in enumerate(records(rows.drop(columns=[case.target]))):
                if i % 3 == 1 and may_be_null:
                    row[may_be_null[i % len(may_be_null)]] = None
                elif i % 3 == 2:
                    row[never_null[i % len(never_null)]] = None
                has_null = {c for c in features if row[c] is None}
                reply = http.post(
                    "/invocations?probabilities=true",
                    json={"dataframe_records": [row]},
                    headers={"X-Request-ID": f"req-{i}"},
                )
                assert reply.status_code < 500, reply.text
                if has_null <= nullable:
                    assert reply.status_code == 200, (has_null, reply.text)
                    served[f"req-{i}"] = (rows[case.target].iloc[i], reply.json())
                else:
                    assert reply.status_code == 422, reply.text
                    assert reply.json()["field"] in has_null - nullable
                    refused += 1
    finally:
        assert server.stop() in (0, -15)
    assert len(served) == HELD - refused and refused == HELD // 3
    logged = log.read_text(encoding="utf-8")
    assert len(logged.splitlines()) == HELD
    first = json.loads(logged.splitlines()[0])
    assert (first["model_version"], first["model_stage"]) == ("v1.0.0", "production")
    for name in case.pii:
        assert name not in logged and "@example.org" not in logged

    # 5. Predict the held-out file (without its labels) and the same rows as a stream.
    unlabelled = tmp_path / "unlabelled.csv"
    held.drop(columns=[case.target]).to_csv(unlabelled, index=False)
    out = tmp_path / "predictions.csv"
    batch = cli(
        "predict", "--model", str(repo / "models/model.skops"), str(unlabelled), "-o", str(out),
        "--id-column", case.id_column, "--no-progress", cwd=repo,
    )  # fmt: skip
    assert batch.returncode == 0, batch.stdout + batch.stderr
    predicted = pd.read_csv(out, dtype={case.id_column: str})
    assert predicted.columns[0] == case.id_column and len(predicted) == HELD
    assert predicted[case.id_column].tolist() == ids
    assert predicted["prediction"].notna().all()
    lines = [json.dumps(r) for r in records(rows[[case.id_column, *features]])]
    streamed = cli(
        "predict", "--stream", "--model", str(repo / "models/model.skops"),
        "--id-column", case.id_column, cwd=repo, input="".join(f"{line}\n" for line in lines),
    )  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    answers = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert [a[case.id_column] for a in answers] == ids
    np.testing.assert_equal([a["prediction"] for a in answers], predicted["prediction"].tolist())

    # 6. Monitor the server's log against the production version, with late labels for the
    # served rows (one label for a request the log does not have).
    some_label = next(iter(served.values()))[0]
    labels = pd.DataFrame(
        [(rid, 0, label) for rid, (label, _) in served.items()] + [("req-404", 0, some_label)],
        columns=["request_id", "row", case.target],
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    monitored = cli(
        "monitor", "--stage", "production", "--log", str(log), "--labels",
        str(tmp_path / "labels.csv"), "--format", "json", "-o", str(tmp_path / "monitor.json"),
        cwd=repo,
    )  # fmt: skip
    assert monitored.returncode == 0, monitored.stdout + monitored.stderr
    report = json.loads((tmp_path / "monitor.json").read_text())
    assert report["rows"] == len(served)
    join = report["metrics"]["join"]
    assert join["joined_rows"] == len(served) and join["labels_without_row"] == 1
    y = np.array([label for label, _ in served.values()])
    if case.task == "regression":
        p = np.array([answer["predictions"][0] for _, answer in served.values()])
        rmse = report["metrics"]["metrics"]["rmse"]
        assert rmse["current"] == pytest.approx(math.sqrt(np.mean((p - y) ** 2)), rel=1e-9)
        assert rmse["recorded"] == pytest.approx(metrics["rmse"])
    elif case.task == "binary":  # decisions at the threshold the train stage chose
        p = np.array([answer["predictions"][0] for _, answer in served.values()])
        accuracy = report["metrics"]["metrics"]["accuracy"]
        assert accuracy["current"] == pytest.approx(np.mean(p == y), abs=1e-12)
        assert accuracy["recorded"] == pytest.approx(metrics["accuracy"])
        positive = list(sig.classes).index(sig.positive_class)
        score = [answer["probabilities"][0][positive] for _, answer in served.values()]
        auc = report["metrics"]["metrics"]["roc_auc"]["current"]
        assert auc == pytest.approx(roc_auc_score(y == sig.positive_class, score), abs=1e-12)
    else:  # multiclass: judged by the predicted class
        p = np.array([answer["predictions"][0] for _, answer in served.values()])
        accuracy = report["metrics"]["metrics"]["accuracy"]
        assert accuracy["current"] == pytest.approx(np.mean(p == y), abs=1e-12)
        assert accuracy["recorded"] == pytest.approx(metrics["accuracy"])
        assert report["metrics"]["labelled_rows"] == len(served)

    # 7. Retrain on the held-out rows with their labels, in the file's own format.
    retrained = gitml("retrain", "--data", str(held_csv), cwd=repo)
    assert retrained.returncode == 0, retrained.stdout + retrained.stderr
    assert f"for data config {case.name}; report against v1.0.0" in retrained.stdout
    validation = json.loads((repo / "reports/validation.json").read_text())
    assert validation["passed"] and validation["rows"] == len(table)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["name"] == case.name
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"]
    committed = yaml.safe_load(run(["git", "show", "HEAD:dvc.lock"], repo).stdout)
    assert lock != committed["stages"]["train"]["outs"]  # a new model, on more rows
    # Champion and challenger on the held-out rows the new split put in its test set.
    test = pd.read_parquet(repo / "data/test.parquet")
    in_test = test[test[case.id_column].isin(ids)]
    text = (repo / "reports/retrain.md").read_text(encoding="utf-8")
    assert text.startswith("<!-- gitml-report -->\n## gitml retrain: "), text[:300]
    if case.task == "regression" or in_test[case.target].nunique() > 1:
        assert f"Both models scored on the same {len(in_test)} rows" in text, text[:1200]
        assert "| Metric | champion v1.0.0 | challenger (this experiment) | Δ |" in text
        for name in (m for m, v in metrics.items() if isinstance(v, int | float)):
            assert f"| `{name}` " in text, name
    else:
        assert "too few batch rows landed in the test split" in text
