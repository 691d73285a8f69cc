"""The workflows' decisions (src/gitml/ci.py) and the simulation's expression engine (pure)."""

from __future__ import annotations

import json

import pytest

from gitml.ci import (
    example_row,
    expand_sweep,
    find_marked_comment,
    lock_md5,
    model_changed,
    open_prs_with_prefix,
    outputs,
    parse_json_pages,
)
from gitml.errors import GitmlError
from tests.workflow_sim import _parse_env_file, condition, evaluate, interpolate

pytestmark = pytest.mark.unit

MODEL = "models/model.skops"


def lock(md5: str | None) -> dict:
    outs = [{"path": "models/signature.json", "md5": "sig"}]
    if md5:
        outs.append({"path": MODEL, "md5": md5, "size": 10})
    return {"schema": "2.0", "stages": {"train": {"cmd": "x", "outs": outs}}}


def test_lock_md5_finds_the_output_in_any_stage() -> None:
    assert lock_md5(lock("abc"), MODEL) == "abc"
    assert lock_md5(lock(None), MODEL) is None
    assert lock_md5(None, MODEL) is None
    assert lock_md5({"stages": "broken"}, MODEL) is None


@pytest.mark.parametrize(
    ("base", "head", "changed"),
    [
        ("abc", "abc", False),
        ("abc", "def", True),
        (None, "abc", True),  # the first model
        ("abc", None, False),  # nothing to register
    ],
)
def test_model_changed(base: str | None, head: str | None, changed: bool) -> None:
    assert model_changed(lock(base), lock(head), MODEL) is changed


def test_model_changed_without_a_base_commit() -> None:
    assert model_changed(None, lock("abc"), MODEL) is True


def test_parse_json_pages_reads_paginated_and_slurped_output() -> None:
    assert parse_json_pages('[{"id": 1}]\n[{"id": 2}][]') == [{"id": 1}, {"id": 2}]
    assert parse_json_pages('[[{"id": 1}], [{"id": 2}]]') == [{"id": 1}, {"id": 2}]
    with pytest.raises(ValueError):
        parse_json_pages('{"id": 1}')


def test_find_marked_comment_prefers_the_bot_and_ignores_quotes_by_others() -> None:
    marker = "<!-- gitml-report -->"
    comments = [
        {"id": 1, "body": "no marker", "user": {"login": "github-actions[bot]"}},
        {"id": 2, "body": f"quoting {marker}", "user": {"login": "alice"}},
        {"id": 3, "body": f"{marker}\n## gitml report", "user": {"login": "github-actions[bot]"}},
    ]
    assert find_marked_comment(comments, marker, "github-actions[bot]") == 3
    assert find_marked_comment(comments, marker) == 2
    assert find_marked_comment(comments[:1], marker) is None


def test_open_prs_with_prefix() -> None:
    prs = [
        {"number": 4, "headRefName": "feature/x", "state": "OPEN"},
        {"number": 5, "headRefName": "gitml/retrain/9", "state": "OPEN"},
        {"number": 6, "headRefName": "gitml/retrain/8", "state": "MERGED"},
    ]
    assert [p["number"] for p in open_prs_with_prefix(prs, "gitml/retrain/")] == [5]
    assert open_prs_with_prefix(prs[:1], "gitml/retrain/") == []


def test_expand_sweep_is_the_cartesian_product() -> None:
    assert expand_sweep("model.max_depth=3,5 model=random_forest") == [
        "model.max_depth=3 model=random_forest",
        "model.max_depth=5 model=random_forest",
    ]
    assert len(expand_sweep("a=1,2,3 b=x,y +c=0.1,0.2")) == 12


@pytest.mark.parametrize(
    "spec", ["", "model.max_depth", "a=1;rm -rf /", "a=$(id)", "a=`id`", "a='1'", "a=1,2 b="]
)
def test_expand_sweep_refuses_anything_but_plain_overrides(spec: str) -> None:
    with pytest.raises(GitmlError):
        expand_sweep(spec)


def test_expand_sweep_respects_the_matrix_limit() -> None:
    with pytest.raises(GitmlError, match="matrix limit"):
        expand_sweep("a=1,2,3,4,5,6,7,8,9 b=1,2,3,4,5,6,7,8,9 c=1,2,3,4")


def test_example_row_follows_the_signature() -> None:
    signature = {
        "features": [
            {"name": "age", "dtype": "int64"},
            {"name": "income", "dtype": "float64"},
            {"name": "region", "dtype": "category", "categories": ["north", "south"]},
            {"name": "flag", "dtype": "bool"},
        ]
    }
    assert example_row(signature) == {"age": 1, "income": 1.0, "region": "north", "flag": False}


def test_outputs_format() -> None:
    assert outputs(changed=True, path="m") == "changed=true\npath=m\n"
    with pytest.raises(ValueError):
        outputs(body="two\nlines")


OK = {"success": True, "failure": False}
FAILED = {"success": False, "failure": True}
CTX = {
    "github": {"event_name": "push", "ref": "refs/heads/main", "event": {"before": "abc"}},
    "steps": {"report": {"outcome": "success", "outputs": {"regressed": "false"}}},
    "inputs": {"stage": "", "n": 3},
    "vars": {},
}


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("github.event_name == 'push' && github.ref == 'refs/heads/main'", True),
        ("github.event_name == 'pull_request' || steps.report.outputs.regressed == 'false'", True),
        ("!cancelled() && steps.missing.outputs.x == 'true'", False),
        ("inputs.stage || 'production'", "production"),
        ("vars.PORT || '8080'", "8080"),
        ("contains('Hello', 'ell') && startsWith(github.ref, 'refs/heads/')", True),
        ("format('{0}-{1}', 'a', inputs.n)", "a-3"),
        ("fromJSON('{\"include\": [1]}')", {"include": [1]}),
        ("'it''s'", "it's"),
    ],
)
def test_expressions(expr: str, value: object) -> None:
    assert evaluate(expr, CTX, OK) == value


def test_conditions_are_implicitly_success_and() -> None:
    assert condition("github.event_name == 'push'", CTX, OK) is True
    assert condition("github.event_name == 'push'", CTX, FAILED) is False
    assert condition("${{ always() && github.event_name == 'push' }}", CTX, FAILED) is True
    assert condition(None, CTX, FAILED) is False


def test_interpolation_and_env_files() -> None:
    assert interpolate("x=${{ github.event.before }} y=${{ inputs.none }}", CTX, OK) == "x=abc y="
    text = "a=1\nbody<<EOF\nline 1\nline 2\nEOF\nb=c=d\n"
    assert _parse_env_file(text) == {"a": "1", "body": "line 1\nline 2", "b": "c=d"}
    assert json.loads(interpolate("${{ toJSON(steps.report.outputs) }}", CTX, OK)) == {
        "regressed": "false"
    }
