"""The split stage keeps only rows whose target is known."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from gitml.errors import GitmlError
from stages.split import labelled

pytestmark = pytest.mark.unit


def test_rows_without_a_target_are_left_out_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"x": range(6), "y": [1.5, np.nan, 2.0, np.nan, 3.0, 4.0]})
    with caplog.at_level(logging.WARNING):
        kept = labelled(frame, "y")
    assert kept["x"].tolist() == [0, 2, 4, 5]
    assert "2 of 6 rows have no 'y'" in caplog.text
    assert labelled(kept, "y") is kept  # nothing missing: the same frame
    with pytest.raises(GitmlError, match="Every row's target 'y' is missing"):
        labelled(frame.assign(y=np.nan), "y")
