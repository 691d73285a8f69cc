"""The split stage keeps only rows whose target is known."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from gitml.config import ColumnSpec, DataConfig, load_params
from gitml.data.synthetic import generate
from gitml.errors import GitmlError
from gitml.schema import coerce, labelled, validate_frame
from stages.split import run, split_frame
from stages.train import fit

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_rows_without_a_target_are_left_out_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"x": range(6), "y": [1.5, np.nan, 2.0, np.nan, 3.0, 4.0]})
    y = ColumnSpec("y", "float64", "target", nullable=True)
    with caplog.at_level(logging.WARNING):
        kept = labelled(frame, y)
    assert kept["x"].tolist() == [0, 2, 4, 5]
    assert "2 of 6 rows have no 'y'" in caplog.text
    assert labelled(kept, y) is kept  # nothing missing: the same frame
    with pytest.raises(GitmlError, match="Every row's target 'y' is missing"):
        labelled(frame.assign(y=np.nan), y)


def blank_targets() -> tuple[pd.DataFrame, DataConfig]:
    """scikit-learn's breast-cancer table with every 9th 0/1 target blank, as read_csv gives it
    (float64: 0.0, 1.0, NaN), declared as `gitml data init` declares it (nullable int64)."""
    raw = load_breast_cancer(as_frame=True).frame
    raw["target"] = raw["target"].astype("float64")
    raw.loc[raw.index[::9], "target"] = np.nan
    columns = tuple(ColumnSpec(c, "float64", "feature") for c in raw.columns if c != "target")
    target = ColumnSpec("target", "int64", "target", nullable=True, categories=(0, 1))
    data = DataConfig(
        source="csv", target="target", task="binary", positive_class=1, columns=(*columns, target)
    )
    return raw, data


def test_a_nullable_int_target_keeps_its_dtype_and_the_model_its_int_classes() -> None:
    raw, data = blank_targets()
    assert validate_frame(raw, data).passed
    kept = labelled(coerce(raw, data), data.column("target"))
    assert len(kept) == len(raw) - 64 and kept["target"].dtype == np.int64
    model = load_params(ROOT / "params.yaml").model
    classes = fit(kept, data, model).classes_
    assert classes.dtype == np.int64 and classes.tolist() == [0, 1]


def test_a_fraction_in_an_int_target_is_a_validation_error_not_truncated() -> None:
    raw, data = blank_targets()
    raw.loc[[1, 2], "target"] = 0.5
    result = validate_frame(raw, data)
    assert not result.passed
    assert result.failures == [
        {"column": "target", "check": "whole numbers (int64)", "failures": 2, "examples": [0.5]}
    ]
    # non-nullable int64: pandera's coercion alone would truncate 0.5 to 0 and pass
    strict = dataclasses.replace(
        data,
        columns=tuple(
            dataclasses.replace(c, nullable=False) if c.name == "target" else c
            for c in data.columns
        ),
    )
    assert [f["check"] for f in validate_frame(raw.dropna(), strict).failures] == [
        "whole numbers (int64)"
    ]
    with pytest.raises(GitmlError, match=r"holds 0\.5, which is not a whole number"):
        labelled(coerce(raw, data), data.column("target"))


def test_a_time_split_that_hides_a_class_from_training_is_refused() -> None:
    """Rows ordered by class (penguins: Chinstrap last) put a whole class after the cut."""
    params = load_params(ROOT / "params.yaml")
    data = params.data
    frame = generate(200, seed=1).sort_values(data.time_column).reset_index(drop=True)
    frame[data.target] = (frame.index >= 170).astype(int)  # class 1 only in the latest rows
    time = dataclasses.replace(params.split, method="time", test_size=0.2)
    with pytest.raises(GitmlError, match=r"class\(es\) 1 of target 'default' only in the test"):
        split_frame(frame, data, time, 0)
    frame.loc[5, data.target] = 1  # one earlier row of class 1: the model can learn it
    train, test = split_frame(frame, data, time, 0)
    assert len(train) == 160 and set(train[data.target]) == {0, 1} == set(test[data.target])


def test_the_split_is_named_for_what_it_did(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log line names the split: a regression under split=stratified gets a random one."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["data"] = {**raw["data"], "task": "regression", "positive_class": None}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    schema = tmp_path / raw["data"]["schema"]
    schema.parent.mkdir(parents=True)
    schema.write_text((ROOT / raw["data"]["schema"]).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "validation.json").write_text('{"passed": true}', encoding="utf-8")
    generate(200, seed=1).to_parquet(tmp_path / "raw.parquet")
    out = [str(tmp_path / n) for n in ("train.parquet", "test.parquet", "profile.json")]
    with caplog.at_level(logging.INFO):
        run(
            str(tmp_path / "params.yaml"),
            str(tmp_path / "raw.parquet"),
            str(tmp_path / "validation.json"),
            *out,
        )
    assert "random split: 160 train / 40 test rows" in caplog.text
    assert "stratified" not in caplog.text


def test_the_split_warns_of_a_tiny_test_set_and_of_a_class_missing_from_it() -> None:
    """Iris plus two 'rare' rows: a 10% stratified split puts both in training (one line says
    so); a 20-row table gets a 4-row test set (one line says its metrics are noise)."""
    from sklearn.datasets import load_iris

    from stages.split import split_warnings

    iris = load_iris(as_frame=True).frame
    iris["target"] = iris["target"].map(dict(enumerate(["setosa", "versicolor", "virginica"])))
    frame = pd.concat([iris, iris.iloc[:2].assign(target="rare")], ignore_index=True)
    data = DataConfig(
        source="csv",
        target="target",
        task="multiclass",
        columns=(
            *(ColumnSpec(str(c), "float64", "feature") for c in iris.columns[:-1]),
            ColumnSpec("target", "string", "target"),
        ),
    )
    split = dataclasses.replace(load_params(ROOT / "params.yaml").split, test_size=0.1)
    train, test = split_frame(frame, data, split, 0)
    assert "rare" not in set(test["target"])
    assert split_warnings(train, test, data, split)[1:] == [
        "class 'rare' has 2 rows: none is in the test set, so its metrics cannot be measured; "
        "add rows or merge it"
    ]
    split = dataclasses.replace(split, test_size=0.2)
    train, test = split_frame(iris.sample(20, random_state=0), data, split, 0)
    (only,) = split_warnings(train, test, data, split)
    assert only.startswith("the test set has only 4 rows: metrics on so few rows are noise")
    assert "-S split.test_size=" in only
