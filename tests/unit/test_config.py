"""The params loader: unknown/missing keys, bad choices and PII features fail with clear errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from gitml.config import Params, files_under, inline_schema, load_params, with_schema
from gitml.errors import GitmlError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw() -> dict:
    return inline_schema(yaml.safe_load((ROOT / "params.yaml").read_text()), files_under(ROOT))


def test_committed_params_parse(raw: dict) -> None:
    params = Params.parse(raw)
    assert params.data.target == "default"
    assert "gender" in params.data.sensitive
    assert "applicant_id" not in params.data.feature_names
    assert params.model.kwargs["_target_"].startswith("sklearn.")
    assert "preprocessing" not in params.model.kwargs and "name" not in params.model.kwargs


def test_unknown_key_names_path_and_suggests(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["columns"]["age"]["nulable"] = True
    with pytest.raises(GitmlError) as info:
        Params.parse(bad)
    assert "data.columns.age.nulable" in str(info.value)
    assert "nullable" in str(info.value)


def test_unknown_top_level_section(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["evaluat"] = {}
    with pytest.raises(GitmlError, match="Did you mean 'evaluate'"):
        Params.parse(bad)


def test_bad_dtype_choice(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["columns"]["age"]["dtype"] = "integer"
    with pytest.raises(GitmlError, match=r"data\.columns\.age\.dtype"):
        Params.parse(bad)


def test_pii_feature_refused_unless_allowed(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["columns"]["applicant_id"]["role"] = "feature"
    with pytest.raises(GitmlError, match="PII-flagged column"):
        Params.parse(bad)
    bad["data"]["allow_pii_features"] = True
    assert "applicant_id" in Params.parse(bad).data.feature_names


def test_target_must_be_declared(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["target"] = "defaulted"
    with pytest.raises(GitmlError, match="no column of that name"):
        Params.parse(bad)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(GitmlError, match="does not exist"):
        load_params(tmp_path / "params.yaml")


def test_invalid_yaml_points_at_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\ndata: [unclosed\n")
    with pytest.raises(GitmlError, match="line"):
        load_params(path)


def test_the_string_false_does_not_allow_pii_features(raw: dict) -> None:
    """Regression: `bool("false")` is True, so a quoted "false" used to let a PII column in."""
    bad = copy.deepcopy(raw)
    bad["data"]["columns"]["applicant_id"]["role"] = "feature"
    bad["data"]["allow_pii_features"] = "false"
    with pytest.raises(GitmlError) as info:
        Params.parse(bad)
    assert "'data.allow_pii_features' must be true or false, not 'false'." in str(info.value)


@pytest.mark.parametrize(
    ("column", "key", "value"),
    [("applicant_id", "pii", "false"), ("age", "nullable", "no"), ("gender", "pii", 0)],
)
def test_column_flags_must_be_real_booleans(
    raw: dict, column: str, key: str, value: object
) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["columns"][column][key] = value
    with pytest.raises(GitmlError) as info:
        Params.parse(bad)
    assert f"'data.columns.{column}.{key}' must be true or false, not {value!r}." in str(info.value)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("seed", "42", "'seed' must be an integer, not '42'."),
        ("split.test_size", 1.0, "'split.test_size' must lie strictly between 0.0 and 1.0"),
        ("split.method", "stratifed", "Did you mean 'stratified'?"),
        ("evaluate.curve_points", 1, "'evaluate.curve_points' must be at least 2, not 1."),
        ("model.preprocessing.categorical", "one_hot", "Did you mean 'onehot'?"),
        ("model.preprocessing.scale_numerics", True, "Did you mean 'scale_numeric'?"),
        ("data.columns.income.role", "features", "Did you mean 'feature'?"),
        ("data.columns", {}, "'data.columns' must declare at least one column."),
    ],
)
def test_bad_values_name_their_full_path(
    raw: dict, path: str, value: object, expected: str
) -> None:
    bad = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = bad
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(GitmlError) as info:
        Params.parse(bad)
    assert info.value.message.startswith("params.yaml: ")
    assert expected in info.value.render()
    assert "conf/" in (info.value.hint or "")


def test_missing_sections_are_named_together(raw: dict) -> None:
    bad = {k: v for k, v in raw.items() if k not in ("seed", "split")}
    with pytest.raises(GitmlError, match=r"missing key\(s\) seed, split\."):
        Params.parse(bad)


def test_model_without_target_is_refused(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    del bad["model"]["_target_"]
    with pytest.raises(GitmlError, match="'model' has no '_target_'"):
        Params.parse(bad)


def _project(tmp_path: Path, schema: str | None) -> Path:
    """params.yaml naming conf/schema/synthetic_credit.yaml, with that file holding `schema`."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text(), encoding="utf-8")
    if schema is not None:
        (tmp_path / "conf/schema").mkdir(parents=True)
        (tmp_path / "conf/schema/synthetic_credit.yaml").write_text(schema, encoding="utf-8")
    return tmp_path / "params.yaml"


def test_columns_come_from_the_schema_file_next_to_params(tmp_path: Path) -> None:
    text = (ROOT / "conf/schema/synthetic_credit.yaml").read_text()
    params = load_params(_project(tmp_path, text.replace("max: 100}", "max: 99}")))
    assert params.data.schema == "conf/schema/synthetic_credit.yaml"
    assert params.data.column("age").max == 99
    assert [c.name for c in params.data.columns] == list(yaml.safe_load(text)["columns"])


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, "data.schema names 'conf/schema/synthetic_credit.yaml', which does not exist"),
        ("columns: [age\n", "'conf/schema/synthetic_credit.yaml' is not valid YAML at line 2"),
        ("age: {dtype: int64, role: feature}\n", "must hold exactly one key, `columns:`"),
    ],
)
def test_a_missing_or_broken_schema_file_is_one_error(
    tmp_path: Path, schema: str | None, expected: str
) -> None:
    with pytest.raises(GitmlError, match=expected):
        load_params(_project(tmp_path, schema))


def test_a_bad_declaration_in_the_schema_file_names_its_key(tmp_path: Path) -> None:
    text = (ROOT / "conf/schema/synthetic_credit.yaml").read_text()
    path = _project(tmp_path, text.replace("age: {dtype: int64", "age: {dtype: integer"))
    with pytest.raises(GitmlError) as info:
        load_params(path)
    assert "data.columns.age.dtype" in info.value.render()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"schema": "/etc/schema.yaml"}, "not a path inside the project"),
        ({"schema": "../other/schema.yaml"}, "not a path inside the project"),
        ({"columns": {"age": {"dtype": "int64", "role": "feature"}}}, "sets both data.schema"),
    ],
)
def test_schema_paths_stay_in_the_project_and_columns_live_in_one_place(
    tmp_path: Path, change: dict, expected: str
) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(change)
    with pytest.raises(GitmlError, match=expected):
        Params.parse(with_schema(raw, files_under(ROOT)))


def test_unread_schema_is_refused_by_parse() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    with pytest.raises(GitmlError, match=r"name the schema file .*, but it was not read"):
        Params.parse(raw)
