"""Hardened request parsing: nesting and size bounds, int64 range, strict params, no rows, the log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gitml import scoring
from gitml.scoring import InputError
from gitml.serve.predlog import PredictionLog, read_lines
from tests.unit.test_serve_scoring import ROW, SIG

pytestmark = pytest.mark.unit


def nested(depth: int) -> bytes:
    return ('{"dataframe_records":[{"age":' + "[" * depth + "]" * depth + "}]}").encode()


@pytest.mark.parametrize("depth", [40, 2000, 200_000])
def test_deep_nesting_is_a_400_before_parsing(depth: int) -> None:
    with pytest.raises(InputError) as err:
        scoring.parse_json(nested(depth))
    assert err.value.status == 400 and "nested" in err.value.message
    assert "serve.max_json_depth" in err.value.message


def test_brackets_inside_strings_do_not_count_and_shallow_bodies_parse() -> None:
    text = '"' + "[{" * 500 + '\\"]' + '"'
    body = ('{"dataframe_records":[{"region":' + text + "}]}").encode()
    assert scoring.parse_json(body)["dataframe_records"][0]["region"].startswith("[{")
    rows = {"dataframe_records": [ROW] * 100}  # 101 brackets: scanned, and within the limit
    assert scoring.parse_json(json.dumps(rows).encode()) == rows
    assert scoring.parse_json(nested(28), max_depth=32)


def test_element_count_is_bounded() -> None:
    body = json.dumps({"inputs": [[1, 2, 3]] * 400}).encode()
    with pytest.raises(InputError, match="values; the limit is 1000") as err:
        scoring.parse_json(body, max_elements=1000)
    assert err.value.status == 400
    commas_in_strings = json.dumps({"inputs": ["," * 5000]}).encode()
    assert scoring.parse_json(commas_in_strings, max_elements=1000)


def test_integers_outside_int64_are_422_naming_the_column() -> None:
    raw = {k: [v, v] for k, v in ROW.items()}
    # -2**63 - 1 and 2**63 + 1 round onto the limits as floats: judged on the exact integer.
    for big in (10**30, -(10**19), 2**63, 1e30, -(2**63) - 1, 2**63 + 1):
        with pytest.raises(InputError, match="int64") as err:
            scoring.validate({**raw, "age": [1, big]}, SIG)
        assert err.value.status == 422 and err.value.field == "age"
        assert "row 1" in err.value.message
    edge = scoring.validate({**raw, "age": [2**63 - 1, -(2**63)]}, SIG)
    assert edge["age"].tolist() == [2.0**63, -(2.0**63)]
    frame = pd.DataFrame({**raw, "age": [1.0, 3e19]})
    with pytest.raises(InputError, match="outside that range"):
        scoring.validate({c: frame[c] for c in frame.columns}, SIG)
    ints = pd.DataFrame({**raw, "age": pd.Series([2**63 - 1, 1], dtype="int64")})
    assert len(scoring.validate({c: ints[c] for c in ints.columns}, SIG)["age"]) == 2


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, [], {}])
def test_params_are_strictly_typed(value: Any) -> None:
    _, params = scoring.columns_from_payload(
        {"inputs": [ROW], "params": {"probabilities": value}}, SIG
    )
    with pytest.raises(InputError) as err:
        scoring.param_flag(params, "probabilities")
    assert err.value.status == 422 and err.value.field == "params.probabilities"


def test_params_booleans_and_null_are_accepted() -> None:
    assert scoring.param_flag({"probabilities": True}, "probabilities")
    assert not scoring.param_flag({"probabilities": False}, "probabilities")
    assert not scoring.param_flag({"probabilities": None}, "probabilities")
    for params in ([], 0, False, ""):
        with pytest.raises(InputError):
            scoring.columns_from_payload({"inputs": [ROW], "params": params}, SIG)


def test_duplicate_v2_input_names_are_400() -> None:
    tensor = {"name": "age", "shape": [1], "datatype": "INT64", "data": [1]}
    with pytest.raises(InputError, match="more than once") as err:
        scoring.columns_from_v2({"inputs": [tensor, dict(tensor, data=[2])]})
    assert err.value.status == 400 and err.value.field == "age"


@pytest.mark.parametrize("datatype", [{}, [], None, 64])
def test_a_v2_datatype_that_is_not_a_name_is_400(datatype: Any) -> None:
    # {} used to raise TypeError (unhashable) inside the membership test: a 500.
    tensor = {"name": "age", "shape": [1], "datatype": datatype, "data": [1]}
    with pytest.raises(InputError, match="datatype") as err:
        scoring.columns_from_v2({"inputs": [tensor]})
    assert err.value.status == 400 and err.value.field == "age"


def test_a_row_object_without_a_feature_other_rows_have_is_422() -> None:
    rows = [dict(ROW), {k: v for k, v in ROW.items() if k != "income"}]
    with pytest.raises(InputError, match="Row 1 of 'dataframe_records' has no 'income'") as err:
        scoring.columns_from_payload({"dataframe_records": rows}, SIG)
    assert err.value.status == 422 and err.value.field == "income"
    rows[1]["income"] = None  # an explicit null is a missing value
    raw, _ = scoring.columns_from_payload({"dataframe_records": rows}, SIG)
    assert raw["income"][1] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_records": []},
        {"instances": []},
        {"inputs": {}},
        {"inputs": {"age": [], "region": []}},
        {"dataframe_split": {"columns": ["age"], "data": []}},
    ],
)
def test_empty_input_says_no_rows(payload: Any) -> None:
    with pytest.raises(InputError, match="no rows") as err:
        raw, _ = scoring.columns_from_payload(payload, SIG)
        scoring.validate(raw, SIG)
    assert err.value.status == 400


def test_empty_v2_and_csv_say_no_rows() -> None:
    for payload in (
        {"inputs": []},
        {"inputs": [{"name": "age", "shape": [0], "datatype": "INT64", "data": []}]},
    ):
        with pytest.raises(InputError, match="no rows"):
            scoring.columns_from_v2(payload)
    for body in (b"", b"age,income,region\n"):
        with pytest.raises(InputError, match="no rows"):
            scoring.columns_from_csv(body)


def test_log_reopens_after_delete_and_external_rotation(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.jsonl"
    plog = PredictionLog(path, 1 << 20, 3)
    plog.write(['{"n": 1}\n'])
    path.unlink()
    plog.write(['{"n": 2}\n'])
    assert [r["n"] for _, r in read_lines(path)] == [2]
    os.rename(path, tmp_path / "logs" / "p.jsonl.old")  # logrotate's default (create) mode
    plog.write(['{"n": 3}\n'])
    assert [r["n"] for _, r in read_lines(path)] == [3]
    os.rename(path, tmp_path / "logs" / "p.jsonl.hup")
    plog.reopen()  # SIGHUP: a new file at once, before the next write
    assert path.exists() and path.stat().st_size == 0
    plog.write(['{"n": 4}\n'])
    plog.close()
    assert [r["n"] for _, r in read_lines(path)] == [4]
    assert [r["n"] for _, r in read_lines(tmp_path / "logs" / "p.jsonl.old")] == [2]


def test_a_json_integer_past_int64_stays_exact_and_is_refused() -> None:
    # orjson reads -9223372036854775809 as the float -2**63, which fits int64: scored, silently.
    body = json.dumps({"dataframe_records": [{**ROW, "age": -(2**63) - 1}]}).encode()
    payload = scoring.parse_json(body)
    assert payload["dataframe_records"][0]["age"] == -(2**63) - 1
    raw, _ = scoring.columns_from_payload(payload, SIG)
    with pytest.raises(InputError, match="int64"):
        scoring.validate(raw, SIG)
    assert scoring.parse_json(b'{"x": 1234567890123456789}') == {"x": 1234567890123456789}
