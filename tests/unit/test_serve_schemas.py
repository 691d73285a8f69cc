"""The scoring routes' request schemas agree with the validator, body by body (no server).

Each body is judged twice: by the schema (`jsonschema`, Draft 2020-12) and by what the server
runs (`gitml.scoring`: parse, layout, validate). They must agree: a schema-valid body scores and
a schema-invalid one is refused. The integration suite adds schemathesis against a real server.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import jsonschema
import pytest

from gitml import scoring
from gitml.contract import InputContract
from gitml.scoring import ContextSpec, InputError
from gitml.serve import schemas
from tests.unit.test_serve_scoring import ROW, SIG

pytestmark = pytest.mark.unit
CONTEXT = ContextSpec(logged=("applicant_id",))


def server_accepts(body: dict[str, Any]) -> bool:
    try:
        raw, params = scoring.columns_from_payload(
            scoring.parse_json(json.dumps(body).encode()), SIG
        )
        scoring.param_flag(params, "probabilities")
        scoring.param_flag(params, "explain")
        columns = scoring.validate(raw, SIG)
        scoring.context_columns(raw, CONTEXT, scoring.n_rows(columns))
    except InputError:
        return False
    return True


def schema_accepts(body: dict[str, Any]) -> bool:
    schema = schemas.invocations_schema(SIG, CONTEXT)
    return jsonschema.Draft202012Validator(schema).is_valid(body)


BODIES = [
    {"dataframe_records": [ROW]},
    {"dataframe_records": [ROW, {**ROW, "income": None}]},
    {"dataframe_records": [{**ROW, "applicant_id": "A-1"}]},
    {"dataframe_records": [ROW, {"age": 3, "region": "south"}]},  # a row lacks income
    {"dataframe_records": [{**ROW, "age": 2**63}]},
    {"dataframe_records": [{**ROW, "age": -(2**63) - 1}]},
    {"dataframe_records": [{**ROW, "age": 1.5}]},
    {"dataframe_records": [{**ROW, "income": int(sys.float_info.max)}]},
    {"dataframe_records": [{**ROW, "age": None}]},  # not nullable
    {"dataframe_records": [{**ROW, "region": "west"}]},
    {"dataframe_records": [{**ROW, "income": "1.5"}]},
    {"dataframe_records": [{**ROW, "applicant_id": [1]}]},  # a context value must be plain
    {"dataframe_records": []},
    {"dataframe_split": {"columns": ["age", "income", "region"], "data": [[1, None, "south"]]}},
    {"dataframe_split": {"columns": ["age", "income"], "data": [[1, None]]}},
    {"dataframe_split": {"columns": ["age", "income", "region"], "data": [[1, None]]}},
    {"instances": [ROW], "params": {"probabilities": True}},
    {"inputs": [ROW], "params": None},
    {"inputs": [ROW], "params": {"probabilities": "yes"}},
    {"dataframe_records": [ROW], "instances": [ROW]},
]


@pytest.mark.parametrize("body", BODIES, ids=[json.dumps(b)[:60] for b in BODIES])
def test_the_schema_allows_exactly_what_scores(body: dict[str, Any]) -> None:
    assert schema_accepts(body) == server_accepts(body)


def test_nullable_columns_take_the_contracts_markers() -> None:
    contract = InputContract(missing_values=("?",))
    nullable = {"name": "income", "dtype": "float64", "kind": "numeric", "nullable": True}
    strict = {**nullable, "nullable": False}
    assert jsonschema.Draft202012Validator(schemas.feature_schema(nullable, contract)).is_valid("?")
    assert not jsonschema.Draft202012Validator(schemas.feature_schema(strict, contract)).is_valid(
        "?"
    )


def test_the_csv_pattern_matches_a_valid_body_and_not_a_bad_one() -> None:
    schema = schemas.csv_schema(SIG)
    assert schema is not None
    pattern = re.compile(schema["pattern"])
    assert pattern.search("age,income,region\n30,1.5,north\n-2,,south\n")
    assert not pattern.search("age,income,region\n30,1.5,west\n")
    assert not pattern.search("age,region,income\n30,north,1.5\n")
    good = scoring.validate(
        scoring.columns_from_csv(b"age,income,region\n30,1.5,north\n-2,,south\n"), SIG
    )
    assert scoring.n_rows(good) == 2


def test_an_integer_past_float64_is_refused_though_the_schema_has_no_bound() -> None:
    # The one documented gap: a bound at float64's limit, written in decimal, cannot agree with a
    # binary parser, so float columns are unbounded in the schema; the validator refuses integers
    # whose float() would round back into range.
    body = {"dataframe_records": [{**ROW, "income": -int(sys.float_info.max) - 1}]}
    assert schema_accepts(body) and not server_accepts(body)
