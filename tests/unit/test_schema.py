"""Lazy schema validation: each kind of bad data is reported by column and check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from gitml.config import ColumnSpec, DataConfig, load_params
from gitml.data.synthetic import generate
from gitml.schema import coerce, validate_frame

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("schema")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data() -> DataConfig:
    return load_params(ROOT / "params.yaml").data


@pytest.fixture
def frame() -> pd.DataFrame:
    return generate(500, seed=11)


def problems(frame: pd.DataFrame, data: DataConfig) -> set[tuple[str, str]]:
    result = validate_frame(frame, data)
    assert not result.passed
    return {(f["column"], f["check"].split("(")[0]) for f in result.failures}


def test_clean_data_passes(frame: pd.DataFrame, data: DataConfig) -> None:
    result = validate_frame(frame, data)
    assert result.passed and result.rows == 500 and result.failures == []
    assert result.columns["income"]["nulls"] == int(frame["income"].isna().sum())


def test_missing_and_extra_columns(frame: pd.DataFrame, data: DataConfig) -> None:
    frame = frame.drop(columns=["region"]).assign(shoe_size=42)
    assert problems(frame, data) == {
        ("region", "missing column"),
        ("shoe_size", "undeclared column"),
    }


def test_wrong_dtype_reported_once_with_example(frame: pd.DataFrame, data: DataConfig) -> None:
    frame["age"] = frame["age"].astype(str)
    frame.loc[3, "age"] = "forty"
    result = validate_frame(frame, data)
    assert [(f["column"], f["check"]) for f in result.failures] == [("age", "dtype int64")]
    assert result.failures[0]["examples"] == ["forty"]


def test_out_of_range(frame: pd.DataFrame, data: DataConfig) -> None:
    frame.loc[[1, 2], "age"] = [150, 12]
    result = validate_frame(frame, data)
    row = next(f for f in result.failures if f["column"] == "age")
    assert row["check"].startswith("in_range") and row["failures"] == 2
    assert sorted(row["examples"]) == [12, 150]


def test_unseen_category(frame: pd.DataFrame, data: DataConfig) -> None:
    frame.loc[0, "region"] = "atlantis"
    assert ("region", "isin") in problems(frame, data)


def test_all_null_column_on_nullable(frame: pd.DataFrame, data: DataConfig) -> None:
    frame["income"] = float("nan")
    assert ("income", "every value is null") in problems(frame, data)


def test_an_ignored_column_may_be_empty(frame: pd.DataFrame, data: DataConfig) -> None:
    """statsmodels' fertility has empty year columns; data init declares them role: ignore."""
    columns = [*data.columns, ColumnSpec("2013", "string", "ignore", nullable=True)]
    data = dataclasses.replace(data, columns=tuple(columns))
    frame["2013"] = pd.Series([None] * len(frame), dtype="object")
    assert validate_frame(frame, data).passed


def test_null_in_non_nullable(frame: pd.DataFrame, data: DataConfig) -> None:
    frame["loan_amount"] = frame["loan_amount"].astype(float)
    frame.loc[4, "loan_amount"] = float("nan")
    assert ("loan_amount", "null values") in problems(frame, data)


def test_target_with_one_class(frame: pd.DataFrame, data: DataConfig) -> None:
    frame["default"] = 0
    assert ("default", "the target has only one class") in problems(frame, data)


def test_coerce_gives_storage_dtypes(frame: pd.DataFrame, data: DataConfig) -> None:
    out = coerce(frame.astype({"age": "float64"}), data)
    assert out["age"].dtype == "int64"
    assert out["region"].dtype == "string"
    assert out["application_date"].dtype == "datetime64[ns]"
