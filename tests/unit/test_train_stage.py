"""The train stage warns when the fitted model learned nothing (a constant output on its rows)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from gitml.config import Params, load_params
from gitml.fileio import write_parquet
from stages import train as train_stage
from stages.train import constant_model, constant_model_advice, fit
from tests import params_support

pytestmark = pytest.mark.unit


def composed(model: str, data: str) -> Params:
    return params_support.composed(f"model={model}", f"data={data}")


def rows(params: Params, n: int) -> pd.DataFrame:
    frame = params_support.shipped_table(params)
    return frame.sample(n=n, random_state=0) if n < len(frame) else frame


@pytest.mark.parametrize(
    ("model", "data", "n", "learned"),
    [
        # scikit-learn's breast cancer table: 60 rows cannot give min_samples_leaf=50 a split
        ("hist_gradient_boosting", "breast_cancer", 60, False),
        ("hist_gradient_boosting", "breast_cancer", 569, True),
        ("random_forest", "breast_cancer", 60, True),
        # its diabetes table, a regression: min_samples_leaf=20 on 30 rows
        ("hist_gradient_boosting_regressor", "diabetes", 30, False),
        ("hist_gradient_boosting_regressor", "diabetes", 442, True),
        ("ridge", "diabetes", 30, True),
    ],
)
def test_a_model_that_learned_nothing_is_told_apart(
    model: str, data: str, n: int, learned: bool
) -> None:
    params = composed(model, data)
    frame = rows(params, n)
    pipeline = fit(frame, params.data, params.model)
    assert constant_model(pipeline, frame, params.data) is not learned


def test_the_advice_names_the_setting_that_blocked_every_split() -> None:
    boosting = constant_model_advice(
        60, composed("hist_gradient_boosting", "breast_cancer").model, "binary"
    )
    assert "min_samples_leaf: 50 leaves no split on 60 training rows" in boosting
    assert "-S model.min_samples_leaf=15" in boosting and "-S model=random_forest" in boosting
    assert "more rows" not in boosting


def test_the_advice_never_suggests_what_already_ran() -> None:
    """statsmodels' china_smoking (8 rows) on random_forest_regressor was told to try
    random_forest_regressor and to set min_samples_leaf to the 5 it had."""
    forest = composed("random_forest_regressor", "diabetes").model
    advice = constant_model_advice(6, forest, "regression")
    assert "-S model=ridge" in advice and "model=random_forest_regressor" not in advice
    assert "min_samples_leaf: 5 leaves no split on 6 training rows" in advice
    assert "min_samples_leaf=1)" in advice and "more rows: 6 training rows" in advice
    ridge = constant_model_advice(60, composed("ridge", "diabetes").model, "regression")
    assert "leaves no split" not in ridge and "-S model=random_forest_regressor" in ridge
    classifier = composed("random_forest", "breast_cancer").model
    assert "-S model=logistic_regression" in constant_model_advice(9, classifier, "binary")


def test_the_stage_warns_and_still_writes_the_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = params_support.project_params(tmp_path, "data=breast_cancer")
    write_parquet(tmp_path / "train.parquet", rows(load_params(path), 60))
    paths = {k: str(tmp_path / f) for k, f in [("model", "m.skops"), ("signature", "s.json")]}
    with caplog.at_level(logging.WARNING):
        train_stage.run(str(path), str(tmp_path / "train.parquet"), **paths)
    assert "learned nothing" in caplog.text
    assert (tmp_path / "m.skops").stat().st_size > 0
