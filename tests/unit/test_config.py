"""The params loader: unknown/missing keys, bad choices and PII features fail with clear errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from gitml.config import Params, load_params
from gitml.errors import GitmlError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


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
