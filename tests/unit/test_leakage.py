"""A feature that gives the target away (a copy or an encoding of the label) is found."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.config import DataConfig
from gitml.fileio import write_parquet
from gitml.leakage import leaking_features
from stages import validate
from tests import params_support

pytestmark = pytest.mark.unit


def data_of(name: str) -> tuple[DataConfig, pd.DataFrame]:
    params = params_support.composed(f"data={name}")
    return params.data, params_support.shipped_table(params)


@pytest.mark.parametrize("name", ["breast_cancer", "diabetes", "synthetic_credit"])
def test_the_shipped_datasets_leak_nothing(name: str) -> None:
    data, frame = data_of(name)
    assert leaking_features(frame, data) == []


def test_an_encoded_label_is_found_among_real_features() -> None:
    """my.data-v2's `churned` equalled its 0/1 target; leak.csv had `2 * label + 1`."""
    data, frame = data_of("breast_cancer")
    name = data.feature_names[0]
    labels = frame[data.target].astype(str)
    codes = labels.map({c: 2 * i + 1 for i, c in enumerate(sorted(labels.unique()))})
    leaky = frame.assign(**{name: codes.astype(float)})
    leaky.loc[leaky.index[:7], name] = np.nan  # missing values do not hide it
    [message] = leaking_features(leaky, data)
    assert f"feature '{name}' (2 values) fixes the target" in message
    noisy = leaky.copy()
    noisy.loc[noisy.index[10], name] = 1.0 if noisy.loc[noisy.index[10], name] == 3.0 else 3.0
    assert leaking_features(noisy, data) == []  # one row against it: a strong feature, no copy


def test_a_copied_regression_target_is_found() -> None:
    data, frame = data_of("diabetes")
    name = data.feature_names[2]
    leaky = frame.assign(**{name: frame[data.target] * 3.0 - 2.0})
    [message] = leaking_features(leaky, data)
    assert f"feature '{name}' follows the target" in message


def test_the_validate_stage_warns_and_passes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = params_support.project_params(tmp_path, "data=diabetes")
    data, frame = data_of("diabetes")
    y, bmi = frame[data.target], frame["bmi"]  # the target, rescaled into bmi's declared range
    copy = (y - y.min()) / (y.max() - y.min()) * (bmi.max() - bmi.min()) + bmi.min()
    write_parquet(tmp_path / "raw.parquet", frame.assign(bmi=copy))
    with caplog.at_level(logging.INFO):
        validate.run(str(params), str(tmp_path / "raw.parquet"), str(tmp_path / "v.json"))
    assert "rows passed" in caplog.text
    assert "feature 'bmi' follows the target" in caplog.text
    assert "declare it role: ignore in conf/schema/diabetes.yaml" in caplog.text
