"""The synthetic generator: deterministic, realistic, and scenarios drift the declared columns."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from gitml.data.synthetic import SCENARIOS, generate
from gitml.errors import GitmlError

pytestmark = pytest.mark.unit


def test_same_seed_same_frame_other_seed_differs() -> None:
    a, b, c = generate(2000, seed=1), generate(2000, seed=1), generate(2000, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["income"].equals(c["income"])


def test_shape_and_realism() -> None:
    frame = generate(20_000, seed=7)
    assert len(frame) == 20_000
    assert 0.08 < frame["default"].mean() < 0.25
    assert frame["age"].between(18, 85).all()
    assert 0 < frame["income"].isna().mean() < 0.03
    assert frame["application_date"].min() >= pd.Timestamp("2022-01-01")
    # The documented dependency: more debt, more defaults.
    hi = frame["debt_to_income"] > frame["debt_to_income"].median()
    assert frame.loc[hi, "default"].mean() > 1.5 * frame.loc[~hi, "default"].mean()


@pytest.mark.parametrize("name", [s for s in SCENARIOS if SCENARIOS[s].drifted_columns])
def test_scenario_changes_exactly_its_columns(name: str) -> None:
    base = generate(5000, seed=3)
    drifted = generate(5000, seed=3, scenario=name)
    changed = set()
    for col in base.columns.drop(["default", "applicant_id"]):
        if pd.api.types.is_numeric_dtype(base[col]):
            if stats.ks_2samp(base[col].dropna(), drifted[col].dropna()).pvalue < 1e-6:
                changed.add(col)
        elif set(drifted[col].dropna().unique()) != set(base[col].dropna().unique()):
            changed.add(col)
    assert changed == set(SCENARIOS[name].drifted_columns)


def test_concept_drift_keeps_features_changes_target() -> None:
    base, concept = generate(20_000, seed=5), generate(20_000, seed=5, scenario="concept")
    pd.testing.assert_series_equal(base["debt_to_income"], concept["debt_to_income"])

    def gap(frame: pd.DataFrame) -> float:
        hi = frame["debt_to_income"] > 0.5
        return float(frame.loc[hi, "default"].mean() - frame.loc[~hi, "default"].mean())

    assert gap(concept) > gap(base) + 0.1


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(GitmlError, match="Choose one of"):
        generate(10, scenario="bogus")
