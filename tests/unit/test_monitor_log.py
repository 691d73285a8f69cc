"""The monitor's prediction-log reader (the server's format, rotation, bad lines) and label join."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from gitml.config import DataConfig, load_params
from gitml.contract import InputContract
from gitml.errors import GitmlError
from gitml.monitor.core import Inputs, Monitor
from gitml.monitor.io import BatchSource
from gitml.monitor.labels import LabelJoin
from gitml.policy.monitor import MonitorPolicy
from gitml.profile import build_profile
from gitml.serve.predlog import PredictionLog, dumps_line

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"x": "numeric", "c": "categorical"}


def line(rid: str, xs: list[float], status: int = 200, **more: Any) -> str:
    inputs = [{"x": x, "c": "a"} for x in xs] if status == 200 else None
    record: dict[str, Any] = {"request_id": rid, "status": status, "inputs": inputs}
    if status == 200:
        record["score"] = [x / 10 for x in xs]
        record["outputs"] = {"predictions": [int(x > 5) for x in xs]}
    return dumps_line({**record, **more})


def read(path: Path, **kw: Any) -> tuple[pd.DataFrame, BatchSource]:
    source = BatchSource(path, KINDS, log=True, **kw)
    return pd.concat(list(source), ignore_index=True), source


def test_rotated_logs_are_read_oldest_first_one_row_per_input_row(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.jsonl", rotate_bytes=1024, keep=9)
    for i in range(12):
        log.write([line(f"r{i}", [float(i), i + 0.5][: 1 + i % 2])])
    log.write([line("bad", [], status=422)])
    log.close()
    assert (tmp_path / "p.jsonl.1").is_file()
    frame, source = read(tmp_path / "p.jsonl", chunk_rows=5)
    expected = [(f"r{i}", k) for i in range(12) for k in range(1 + i % 2)]
    assert list(zip(frame["request_id"], frame["row"], strict=True)) == expected
    assert frame["score"].tolist() == [
        x / 10 for i in range(12) for x in [float(i), i + 0.5][: 1 + i % 2]
    ]
    assert frame["prediction"].tolist() == [int(x > 5) for x in frame["x"]]
    assert source.log_summary["requests"] == 13 and source.log_summary["rejected"] == 1
    assert source.log_summary["rows"] == len(expected)
    assert len(expected) / 2 <= (source.total_rows or 0) <= len(expected) * 2  # the progress bar's
    assert set(source.columns) == {"x", "c", "score", "prediction", "request_id", "row"}
    # Naming one rotated file reads that file alone.
    alone, _ = read(tmp_path / "p.jsonl.1")
    assert 0 < len(alone) < len(frame)


def test_the_older_one_row_per_line_format_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    rows = [{"inputs": {"x": 1.0, "c": "a"}, "score": 0.2}, {"inputs": {"x": 2.0}, "score": None}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame, _ = read(path)
    assert frame["x"].tolist() == [1.0, 2.0] and frame["score"].iloc[0] == 0.2
    assert np.isnan(frame["score"].iloc[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops\n", "is not JSON"),
        ("[1, 2]\n", "is not a JSON object"),
        ('{"status": 200, "inputs": [1]}\n', "has no 'inputs' list of row objects"),
        ('{"inputs": [{"x": 1}], "score": [0.1, 0.2]}\n', "has 1 rows but its 'score'"),
    ],
)
def test_a_bad_line_names_its_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(line("ok", [1.0]) + "\n" + text)
    with pytest.raises(GitmlError) as caught:
        read(path)
    assert f"{path}:3: the prediction log line {message}" in caught.value.message


def test_a_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GitmlError, match="prediction log"):
        BatchSource(tmp_path / "none.jsonl", KINDS, log=True)


def test_label_join_by_request_and_row_counts_what_it_could_not_join() -> None:
    labels = pd.DataFrame(
        {"request_id": ["a", "a", "b", "zz"], "row": [0, 1, 0, 0], "y": [1.0, 0.0, None, 1.0]}
    )
    join = LabelJoin.from_frame(labels, "y", "labels.csv")
    chunk = pd.DataFrame(
        {"request_id": ["a", "a", "a", "b"], "row": [0, 1, 2, 0], "x": [1, 2, 3, 4]}
    )
    out = join.apply(chunk)
    assert out["y"].tolist() == [1, 0, None, None]  # whole floats become ints
    assert join.summary() == {
        "labels_file": "labels.csv",
        "key": ["request_id", "row"],
        "labels": 3,
        "joined_rows": 2,
        "rows_without_label": 2,
        "labels_without_row": 1,
        "labels_without_value": 1,
    }


def test_label_join_without_a_row_column_labels_row_zero() -> None:
    join = LabelJoin.from_frame(pd.DataFrame({"request_id": [7], "y": ["yes"]}), "y", "l.csv")
    out = join.apply(pd.DataFrame({"request_id": ["7", "7"], "row": [0, 1]}))
    assert out["y"].tolist() == ["yes", None]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"id": ["a"], "y": [1]}), "no 'request_id' column"),
        (pd.DataFrame({"request_id": ["a"], "label": [1]}), "no 'y' column"),
        (pd.DataFrame({"request_id": ["a", "a"], "y": [1, 0]}), "row 0 twice"),
        (pd.DataFrame({"request_id": [None], "y": [1]}), "rows without a 'request_id'"),
    ],
)
def test_label_join_errors(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(GitmlError, match=message):
        LabelJoin.from_frame(frame, "y", "l.csv")


def test_undeclared_columns_in_the_monitor_result() -> None:
    params = load_params(ROOT / "params.yaml")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(20, 60, 200), "promo": "x", "score": 0.5})
    profile = build_profile(frame, ["age"], [])
    for policy_value, passed in (("warn", True), ("fail", False)):
        policy = MonitorPolicy.parse({"quality": {"undeclared": policy_value, "schema": False}})
        monitor = Monitor(Inputs(profile=profile, policy=policy, data=params.data))
        monitor.update(frame[["age"]])
        monitor.see_columns(frame.columns)  # what a reader that skips unused columns reports
        quality = monitor.result()["quality"]
        assert quality["undeclared_columns"] == ["promo"] and quality["passed"] is passed


def dated_diabetes() -> tuple[pd.DataFrame, list[str], dict[str, Any], DataConfig]:
    """scikit-learn's diabetes table declared with a time column `date` (role: time) that
    serving does not need: the table, its features, the column declarations and the config."""
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    features = [str(c) for c in diabetes.columns if c != "target"]
    columns = {
        "date": {"dtype": "datetime", "role": "time", "nullable": False},
        **{name: {"dtype": "float64", "role": "feature"} for name in features},
        "target": {"dtype": "float64", "role": "target"},
    }
    config = DataConfig.parse(
        {"source": "csv", "path": "data/external/diabetes.csv", "target": "target",
         "task": "regression", "time_column": "date",
         "read_options": {"na_values": ["?"]}, "columns": columns}
    )  # fmt: skip
    return diabetes, features, columns, config


def test_a_context_column_some_requests_did_not_send_is_not_reported_as_null(
    tmp_path: Path,
) -> None:
    """diabetes with a declared time column: requests that did not send `date` (serving needs only
    the features) are not null dates; a date sent missing and a feature sent null still are."""
    diabetes, features, _, config = dated_diabetes()
    profile = build_profile(diabetes.iloc[:300], features, [])
    rows = records(diabetes[features].iloc[300:310])
    rows[9]["bmi"] = None  # a feature sent null

    def request(rid: str, inputs: list[dict[str, Any]], dates: list[Any] | None) -> str:
        record: dict[str, Any] = {"request_id": rid, "status": 200, "inputs": inputs}
        record["score"] = [150.0] * len(inputs)
        if dates is not None:
            record["context"] = [{"date": d} for d in dates]
        return dumps_line(record)

    path = tmp_path / "p.jsonl"
    lines = [
        request("no-date", rows[0:4], None),  # only the features: what serving requires
        request("dated", rows[4:6], ["1990-01-01", "1990-04-01"]),
        request("date-missing", rows[6:7], ["?"]),  # the contract's missing marker: sent missing
        request("no-date-2", rows[7:10], None),
    ]
    path.write_text("".join(lines), encoding="utf-8")
    contract = InputContract.from_read_options("csv", config.read_options)
    source = BatchSource(path, dict.fromkeys(features, "numeric"), log=True, contract=contract)
    policy = MonitorPolicy.parse({})
    monitor = Monitor(Inputs(profile=profile, policy=policy, data=config))
    for chunk in source:
        monitor.update(chunk)
    quality = monitor.result()["quality"]
    found = {(f["column"], f["check"]): f["failures"] for f in quality["schema_failures"]}
    assert found == {("bmi", "null values"): 1, ("date", "null values"): 1}, found
    assert not quality["passed"]

    # Not one request sent `date`: nothing about it, as for a CSV batch without the column.
    path.write_text(request("a", rows[:9], None), encoding="utf-8")
    monitor = Monitor(Inputs(profile=profile, policy=policy, data=config))
    for chunk in BatchSource(path, dict.fromkeys(features, "numeric"), log=True, contract=contract):
        monitor.update(chunk)
    assert monitor.result()["quality"]["schema_failures"] == []


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: float(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_column_named_twice_is_read_once(tmp_path: Path, suffix: str) -> None:
    """`gitml monitor --labels target --score-column prediction` on a regression's scored batch
    names `prediction` twice (as the score and as the predicted value): a CSV chunk then held two
    `prediction` columns and the input contract's cleaning raised an AttributeError traceback."""
    diabetes = load_diabetes(as_frame=True).frame.head(200)
    batch = diabetes.assign(prediction=diabetes["target"] * 0.9)
    path = tmp_path / f"scored.{suffix}"
    batch.to_csv(path, index=False) if suffix == "csv" else batch.to_parquet(path)
    contract = InputContract.from_read_options("csv", {"na_values": ["?"]})
    kinds = dict.fromkeys(["bmi", "bp"], "numeric")
    extra = ("prediction", "target", "prediction")
    chunks = list(BatchSource(path, kinds, extra=extra, contract=contract))
    frame = pd.concat(chunks, ignore_index=True)
    assert list(frame.columns) == ["bmi", "bp", "prediction", "target"]
    assert np.allclose(frame["prediction"], batch["prediction"])


def test_a_context_column_some_rows_of_one_request_did_not_send_is_logged_absent(
    tmp_path: Path,
) -> None:
    """One request mixing rows with and without `date` (role: time): serve logs the rows that
    did not send it without `date` in their context, so the monitor does not count them as null
    dates; a row that sent `"date": null` stays a null."""
    from gitml import scoring
    from gitml.modeling import Signature
    from gitml.serve.worker import _row_objects

    diabetes, features, columns, config = dated_diabetes()
    signature = Signature(
        [{"name": f, "dtype": "float64"} for f in features], "target", "regression", [], None,
        "md5", "ridge", "Ridge",
    )  # fmt: skip
    rows = records(diabetes[features].iloc[300:306])
    rows[1]["date"] = "1990-01-01"
    rows[2]["date"] = None  # sent null
    raw, _ = scoring.columns_from_payload({"dataframe_records": rows}, signature)
    spec = scoring.ContextSpec.from_columns(
        [{"name": n, **c} for n, c in columns.items()]  # type: ignore[dict-item]
    )
    context = scoring.context_columns(raw, spec, len(rows))
    logged = _row_objects(context, ["date"])
    assert logged == [{}, {"date": "1990-01-01"}, {"date": None}, {}, {}, {}]

    inputs = records(diabetes[features].iloc[300:306])  # serve logs the features as inputs
    record = {"request_id": "r", "status": 200, "inputs": inputs, "score": [150.0] * 6}
    record["context"] = logged
    path = tmp_path / "p.jsonl"
    path.write_text(dumps_line(record), encoding="utf-8")
    profile = build_profile(diabetes.iloc[:300], features, [])
    source = BatchSource(path, dict.fromkeys(features, "numeric"), log=True)
    monitor = Monitor(Inputs(profile=profile, policy=MonitorPolicy.parse({}), data=config))
    for chunk in source:
        monitor.update(chunk)
    quality = monitor.result()["quality"]
    found = {(f["column"], f["check"]): f["failures"] for f in quality["schema_failures"]}
    assert found == {("date", "null values"): 1}, found
