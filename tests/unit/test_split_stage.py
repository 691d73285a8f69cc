"""The split stage keeps only rows whose target is known."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.config import load_params
from gitml.data.synthetic import generate
from gitml.errors import GitmlError
from stages.split import labelled, split_frame

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_rows_without_a_target_are_left_out_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"x": range(6), "y": [1.5, np.nan, 2.0, np.nan, 3.0, 4.0]})
    with caplog.at_level(logging.WARNING):
        kept = labelled(frame, "y")
    assert kept["x"].tolist() == [0, 2, 4, 5]
    assert "2 of 6 rows have no 'y'" in caplog.text
    assert labelled(kept, "y") is kept  # nothing missing: the same frame
    with pytest.raises(GitmlError, match="Every row's target 'y' is missing"):
        labelled(frame.assign(y=np.nan), "y")


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
