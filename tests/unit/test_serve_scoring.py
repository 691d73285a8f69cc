"""Pure parts of serving: payload parsing, validation, the log, the batcher, the serve policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitml import scoring
from gitml.errors import GitmlError
from gitml.modeling import Signature
from gitml.policy.serve import ServePolicy
from gitml.scoring import InputError
from gitml.serve.batcher import Job, MicroBatcher
from gitml.serve.predlog import PredictionLog, dumps_line, log_files, read_lines
from gitml.serve.replay import compare

pytestmark = pytest.mark.unit

SIG = Signature(
    features=[
        {"name": "age", "dtype": "int64", "kind": "numeric", "nullable": False},
        {"name": "income", "dtype": "float64", "kind": "numeric", "nullable": True},
        {
            "name": "region",
            "dtype": "category",
            "kind": "categorical",
            "nullable": False,
            "categories": ["north", "south"],
        },
    ],
    target="y",
    task="binary",
    classes=[0, 1],
    positive_class=1,
    training_data_md5="",
    model="m",
    estimator="e",
)
ROW = {"age": 30, "income": 1.5, "region": "north"}


def cols(**changes: Any) -> dict[str, list[Any]]:
    row = {**ROW, **changes}
    return {k: [v] for k, v in row.items() if v != "DROP"}


def test_every_mlflow_format_parses_to_the_same_columns() -> None:
    names = list(ROW)
    payloads = [
        {"dataframe_split": {"columns": names, "data": [[ROW[n] for n in names]]}},
        {"dataframe_records": [ROW]},
        {"instances": [ROW]},
        {"inputs": {n: [v] for n, v in ROW.items()}},
        {"inputs": [[ROW[n] for n in names]], "params": {"probabilities": True}},
    ]
    for payload in payloads:
        raw, params = scoring.columns_from_payload(payload, SIG)
        out = scoring.validate(raw, SIG)
        assert out["age"].tolist() == [30.0] and out["region"].tolist() == ["north"]
    assert params == {"probabilities": True}


@pytest.mark.parametrize(
    ("columns", "field", "status", "needle"),
    [
        (cols(age="DROP"), "age", 422, "Missing"),
        (cols(age="x"), "age", 422, "int64"),
        (cols(age=True), "age", 422, "int64"),
        (cols(age=1.5), "age", 422, "whole"),
        (cols(age=None), "age", 422, "not nullable"),
        (cols(age=float("inf")), "age", 422, "finite"),
        (cols(region="west"), "region", 422, "unseen"),
        (cols(region=2.5), "region", 422, "category"),
        (cols(region=None), "region", 422, "not nullable"),
        ({"age": [], "income": [], "region": []}, None, 400, "no rows"),
    ],
)
def test_validation_names_the_field(
    columns: dict[str, list[Any]], field: str | None, status: int, needle: str
) -> None:
    with pytest.raises(InputError) as err:
        scoring.validate(columns, SIG)
    assert err.value.field == field and err.value.status == status
    assert needle in err.value.message


def test_nullable_and_unknown_mode_pass_through() -> None:
    out = scoring.validate(cols(income=None, region="west"), SIG, unknown_categories="unknown")
    assert np.isnan(out["income"][0]) and out["region"][0] == "west"


def test_typed_series_fast_path_matches_python_values() -> None:
    frame = pd.DataFrame(
        {
            "age": [1, 2],
            "income": [np.nan, 2.0],
            "region": pd.array(["north", "south"], dtype="string"),
        }
    )
    out = scoring.validate({c: frame[c] for c in frame.columns}, SIG)
    assert out["age"].tolist() == [1.0, 2.0] and out["region"].tolist() == ["north", "south"]
    with pytest.raises(InputError, match="unseen"):
        scoring.validate(
            {
                "age": frame["age"],
                "income": frame["income"],
                "region": pd.Series(["north", "east"]),
            },
            SIG,
        )


@pytest.mark.parametrize(
    "payload",
    [
        [1],
        {"rows": []},
        {"dataframe_records": [ROW], "inputs": [ROW]},
        {"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}},
        {"dataframe_records": {"age": [1]}},
        {"inputs": [ROW], "params": 3},
    ],
)
def test_malformed_payloads_are_400(payload: Any) -> None:
    with pytest.raises(InputError) as err:
        scoring.columns_from_payload(payload, SIG)
    assert err.value.status == 400


def test_malformed_json_and_csv_are_400() -> None:
    with pytest.raises(InputError, match="line 1, column"):
        scoring.parse_json(b'{"a": ')
    with pytest.raises(InputError, match="CSV"):
        scoring.columns_from_csv(b'a,b\n1,2,3\n"x')


def test_v2_tensors_are_columns() -> None:
    body = {
        "inputs": [
            {"name": "age", "shape": [2, 1], "datatype": "INT64", "data": [[1], [2]]},
            {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["north", "south"]},
        ]
    }
    assert scoring.columns_from_v2(body) == {"age": [1, 2], "region": ["north", "south"]}
    body["inputs"][1]["shape"] = [3]
    with pytest.raises(InputError, match="shape"):
        scoring.columns_from_v2(body)


def test_concat_and_records_round_trip() -> None:
    a = scoring.validate(cols(), SIG)
    b = scoring.validate(cols(age=40, income=None), SIG)
    both = scoring.concat_columns([a, b])
    recs = scoring.to_records(both)
    assert recs[1] == {"age": 40.0, "income": None, "region": "north"}
    again = scoring.validate({k: [r[k] for r in recs] for k in recs[0]}, SIG)
    assert np.array_equal(again["age"], both["age"])


def test_log_rotates_by_size_and_never_tears_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    plog = PredictionLog(path, rotate_bytes=2048, keep=2)
    for i in range(100):
        plog.write([dumps_line({"request_id": str(i), "x": "y" * 50})])
    plog.close()
    files = log_files(path)
    assert [f.name for f in files] == ["log.jsonl.2", "log.jsonl.1", "log.jsonl"]
    ids = [rec["request_id"] for f in files for _, rec in read_lines(f)]
    assert ids == [str(i) for i in range(100 - len(ids), 100)]  # oldest rotated away, in order
    assert all(f.stat().st_size <= 2048 for f in files)
    (tmp_path / "torn.jsonl").write_text('{"a": 1}\n{"b": ')
    with pytest.raises(ValueError, match="torn"):
        list(read_lines(tmp_path / "torn.jsonl"))


def test_batcher_merges_concurrent_jobs_and_splits_results() -> None:
    seen: list[int] = []

    def process(jobs: Sequence[Job]) -> list[Any]:
        seen.append(len(jobs))
        return [ValueError("bad") if j.payload == "bad" else j.payload * 2 for j in jobs]

    async def main() -> tuple[list[Any], Any]:
        batcher = MicroBatcher(process, max_rows=8, max_wait_ms=5)
        batcher.start()
        first = await batcher.submit(Job(1, 1, "a"))  # alone: dispatched at once
        results = await asyncio.gather(
            *(batcher.submit(Job(i, 1, str(i))) for i in range(20)),
            batcher.submit(Job("bad", 1, "x")),
            return_exceptions=True,
        )
        await batcher.close()
        return [first, *results], batcher

    results, batcher = asyncio.run(main())
    assert results[0] == 2 and results[1:21] == [i * 2 for i in range(20)]
    assert isinstance(results[21], ValueError)
    assert seen[0] == 1 and max(seen) <= 8 and sum(seen) == 22 and len(seen) < 22
    assert batcher.jobs == 22


def test_replay_compare() -> None:
    scores = scoring.Scores(np.array([1], dtype=object), np.array([[0.25, 0.75]]), [0, 1])
    assert compare({"predictions": [1], "probabilities": [[0.25, 0.75]]}, scores, 1e-12) is None
    assert "predictions" in (
        compare({"predictions": [0], "probabilities": [[0.25, 0.75]]}, scores, 1e-12) or ""
    )
    assert compare({"predictions": [1], "probabilities": [[0.3, 0.7]]}, scores, 1e-12)


def test_serve_policy_parses_and_rejects_with_the_key() -> None:
    policy = ServePolicy.parse({"max_batch_size": 64, "log": {"path": "x.jsonl"}})
    assert policy.max_batch_size == 64 and policy.log.path == "x.jsonl"
    assert ServePolicy.parse(None) == ServePolicy()
    with pytest.raises(GitmlError, match=r"serve\.max_bach_size"):
        ServePolicy.parse({"max_bach_size": 1})
    with pytest.raises(GitmlError, match="unknown_categories"):
        ServePolicy.parse({"unknown_categories": "ignore"})
    assert json.loads(dumps_line({"a": 1})) == {"a": 1}


def test_model_frame_equals_prepare_features() -> None:
    from gitml.modeling import prepare_features

    for region in (["north", None, "south"], [None, None, None], ["north", "south", "north"]):
        raw = {"age": [1, 2, 3], "income": [None, 2.5, 3.0], "region": region}
        sig = Signature(
            **{**SIG.__dict__, "features": [{**f, "nullable": True} for f in SIG.features]}
        )
        columns = scoring.validate(raw, sig)
        expected = prepare_features(pd.DataFrame(columns), sig.features)
        pd.testing.assert_frame_equal(scoring.model_frame(columns, sig.features), expected)


def test_list_and_series_validation_agree() -> None:
    raw = {"age": [1, 2, 3], "income": [None, 2.5, 3.0], "region": ["north", "south", "north"]}
    from_lists = scoring.validate(raw, SIG)
    frame = pd.DataFrame(raw).astype({"region": "string"})
    from_series = scoring.validate({c: frame[c] for c in frame.columns}, SIG)
    for name in raw:
        np.testing.assert_array_equal(from_lists[name], from_series[name])
    with pytest.raises(InputError, match="rows 0, 2") as err:
        scoring.validate({**raw, "age": [1.5, 2, 3.5]}, SIG)
    assert err.value.field == "age"
    with pytest.raises(InputError, match="finite"):  # an integer beyond float range
        scoring.validate({**raw, "age": [10**400, 2, 3]}, SIG)


def test_query_flag_is_strictly_true_or_false() -> None:
    from gitml.serve.handlers import query_flag

    assert query_flag("probabilities=true", "probabilities")
    assert query_flag("a=1&probabilities=true", "probabilities")
    assert not query_flag("probabilities=false", "probabilities") and not query_flag("", "x")
    for text in ("maybe", "Yes", "1", "0"):
        with pytest.raises(InputError) as err:
            query_flag(f"probabilities={text}", "probabilities")
        assert err.value.status == 422 and err.value.field == "probabilities"


@pytest.mark.parametrize("typed", [False, True], ids=["lists", "series"])
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"age": [1963.5, 2, 3, 4, 5]}, "row 0 has 1963.5"),
        ({"age": [1963.5] * 6}, "rows 0, 1, 2 and 3 more have 1963.5"),
        ({"age": [1, float("inf"), float("inf"), 4, 5]}, "rows 1, 2 are infinite"),
        ({"age": [1, 2, 3, 4, float("inf")]}, "row 4 is infinite"),
        ({"age": [None, None, 3, 4, 5]}, "rows 0, 1 are missing"),
        ({"age": [1, 2, 3, 4, 2**70]}, "row 4 has"),
        ({"age": [2**70, 2**70, 3, 4, 5]}, "rows 0, 1 have"),
    ],
)
def test_row_hints_agree_with_their_verb(
    changes: dict[str, list[Any]], expected: str, typed: bool
) -> None:
    raw: dict[str, Any] = {"income": [1.0] * 5, "region": ["north"] * 5, **changes}
    n = len(raw["age"])
    raw = {k: (v * n)[:n] if len(v) != n else v for k, v in raw.items()}
    if typed:
        raw = {
            k: pd.Series(v, dtype="float64" if k != "region" else "string") for k, v in raw.items()
        }
    with pytest.raises(InputError) as err:
        scoring.validate(raw, SIG)
    assert expected in err.value.message, err.value.message


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("home_ownership,income", ["home_ownership", "income"]),
        (" a , b ,", ["a", "b"]),
        ('"name with, comma",income', ["name with, comma", "income"]),
        ("", []),
        (None, []),
    ],
)
def test_keep_takes_csv_quoted_names(text: str | None, names: list[str]) -> None:
    """`--keep` split on every comma, so a column whose name holds one could not be kept."""
    from gitml.serve.batch import column_list

    assert column_list(text) == names
