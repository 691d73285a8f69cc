"""A feature that gives the target away (a copy or an encoding of the label) is found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gitml.config import DataConfig, Params, files_under, with_schema
from gitml.data.sources import load_source
from gitml.leakage import leaking_features
from gitml.schema import coerce

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def data_of(name: str) -> tuple[DataConfig, pd.DataFrame]:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=[f"data={name}"])
    OmegaConf.resolve(cfg)
    params = Params.parse(with_schema(OmegaConf.to_container(cfg), files_under(ROOT)))
    return params.data, coerce(load_source(params.data, params.seed), params.data)


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
    import logging
    import shutil

    import yaml

    from gitml.fileio import write_parquet
    from stages import validate

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=["data=diabetes"])
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(OmegaConf.to_container(cfg, resolve=True)))
    data, frame = data_of("diabetes")
    y, bmi = frame[data.target], frame["bmi"]  # the target, rescaled into bmi's declared range
    copy = (y - y.min()) / (y.max() - y.min()) * (bmi.max() - bmi.min()) + bmi.min()
    write_parquet(tmp_path / "raw.parquet", frame.assign(bmi=copy))
    with caplog.at_level(logging.INFO):
        validate.run(str(params), str(tmp_path / "raw.parquet"), str(tmp_path / "v.json"))
    assert "rows passed" in caplog.text
    assert "feature 'bmi' follows the target" in caplog.text
    assert "declare it role: ignore in conf/schema/diabetes.yaml" in caplog.text
