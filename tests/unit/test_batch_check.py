"""A retrain batch that breaks the data contract gets one paragraph with counts and examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml.config import DataConfig
from gitml.data.batches import check_batch
from gitml.errors import GitmlError
from tests import params_support

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def diabetes() -> tuple[DataConfig, object]:
    params = params_support.composed("data=diabetes")
    return params.data, params_support.shipped_table(params).head(60)


def test_a_range_failure_says_rows_and_shows_values(diabetes) -> None:
    """anes96's batch said 'income: in_range(1, 22) (115)': 115 what, and which values?"""
    data, frame = diabetes
    bad = frame.assign(bmi=frame["bmi"] + 1000.0)
    with pytest.raises(GitmlError) as raised:
        check_batch(Path("batch.csv"), bad, data)
    message = raised.value.message
    assert "bmi: in_range(" in message and "fails in 60 rows, e.g. " in message
    assert repr(float(bad["bmi"].iloc[0])) in message


def test_a_missing_column_reads_as_a_sentence(diabetes) -> None:
    data, frame = diabetes
    with pytest.raises(GitmlError) as raised:
        check_batch(Path("batch.csv"), frame.drop(columns=["bmi"]), data)
    assert "'diabetes': it lacks bmi." in raised.value.message
