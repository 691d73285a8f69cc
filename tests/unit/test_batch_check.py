"""A retrain batch that breaks the data contract gets one paragraph with counts and examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gitml.config import DataConfig, Params, files_under, with_schema
from gitml.data.batches import check_batch
from gitml.data.sources import load_source
from gitml.errors import GitmlError
from gitml.schema import coerce

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def diabetes() -> tuple[DataConfig, object]:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("config", overrides=["data=diabetes"])
    OmegaConf.resolve(cfg)
    params = Params.parse(with_schema(OmegaConf.to_container(cfg), files_under(ROOT)))
    return params.data, coerce(load_source(params.data, params.seed), params.data).head(60)


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
