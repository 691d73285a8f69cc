"""gitml's drift numbers against Evidently's, recorded on small data by its own run.

Evidently cannot be a test dependency (it does not import with pandas 3), so
`benchmarks/monitor_crosscheck.py` runs it in the benchmark venv on seeded tables and records its
per-column values in golden/evidently_small.json. Here the same tables are regenerated and gitml's
drift core is run on them: KS p-values and Jensen-Shannon distances must equal Evidently's, the
quantile-profile Wasserstein distance must be within its approximation, and the one deliberate
difference, chi-square, must be the contingency test where Evidently runs goodness-of-fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sst

from benchmarks.monitor_crosscheck import METHODS, checksum, comparable, gitml_columns, tables

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("monitor_evidently")]

GOLDEN = json.loads((Path(__file__).parent / "golden" / "evidently_small.json").read_text())
CASES = {case["rows"]: case for case in GOLDEN["cases"]}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> dict:
    rows = request.param
    reference, current = tables(rows)
    recorded = CASES[rows]
    # A changed generator (or numpy stream) would make every comparison below meaningless.
    assert checksum(reference) == recorded["reference_sha256"], "regenerate the golden file"
    assert checksum(current) == recorded["current_sha256"], "regenerate the golden file"
    return {
        "rows": rows,
        "reference": reference,
        "current": current,
        "evidently": recorded["columns"],
        "gitml": gitml_columns(reference, current),
    }


def test_every_column_uses_evidentlys_method(case: dict) -> None:
    for name, theirs in case["evidently"].items():
        assert case["gitml"][name]["method"] == METHODS[theirs["method"]], name
        assert case["gitml"][name]["threshold"] == pytest.approx(theirs["threshold"]), name


def test_ks_p_values_equal_evidentlys(case: dict) -> None:
    ks = [n for n, c in case["gitml"].items() if c["method"] == "ks"]
    assert ks or case["rows"] > 1000
    for name in ks:
        theirs = case["evidently"][name]
        assert case["gitml"][name]["p_value"] == pytest.approx(theirs["value"], rel=1e-9, abs=0)
        assert case["gitml"][name]["drifted"] == theirs["drifted"], name


def test_distances_match_evidentlys(case: dict) -> None:
    for name, ours in case["gitml"].items():
        theirs = case["evidently"][name]
        if ours["method"] == "jensenshannon":  # exact category/value counts on both sides
            assert ours["score"] == pytest.approx(theirs["value"], rel=1e-9), name
        elif ours["method"] == "wasserstein":  # the profile's 1,001 quantiles, not the table
            assert ours["score"] == pytest.approx(theirs["value"], abs=0.005), name
        else:
            continue
        assert ours["drifted"] == theirs["drifted"], name


def _counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(reference.dropna()) | set(current.dropna()))
    ref, cur = reference.value_counts(), current.value_counts()
    return (
        np.array([ref.get(k, 0) for k in keys], float),
        np.array([cur.get(k, 0) for k in keys], float),
    )


def test_chi2_is_the_contingency_test_where_evidently_runs_goodness_of_fit(case: dict) -> None:
    chi2 = [n for n, c in case["gitml"].items() if c["method"] == "chi2"]
    assert chi2 or case["rows"] > 1000
    for name in chi2:
        ref, cur = _counts(case["reference"][name], case["current"][name])
        # Evidently's number is scipy's goodness-of-fit test with the reference shares as exact.
        gof = sst.chisquare(cur, ref * cur.sum() / ref.sum()).pvalue
        assert case["evidently"][name]["value"] == pytest.approx(gof, rel=1e-9), name
        # gitml's is the test of homogeneity on the same 2 x k table of counts.
        homogeneity = sst.chi2_contingency(np.vstack([ref, cur]), correction=False).pvalue
        assert case["gitml"][name]["p_value"] == pytest.approx(homogeneity, rel=1e-9), name
        # Counting the reference's own sampling noise can only make the evidence weaker.
        assert comparable(case["gitml"][name]) >= case["evidently"][name]["value"], name


def test_undrifted_categoricals_are_not_flagged_where_evidently_flags_them() -> None:
    """cat_1..cat_4 never drift; at 200 rows Evidently's goodness-of-fit flags every one."""
    reference, current = tables(200)
    ours = gitml_columns(reference, current)
    theirs = CASES[200]["columns"]
    undrifted = ["cat_1", "cat_2", "cat_3", "cat_4"]
    assert all(theirs[n]["drifted"] for n in undrifted)
    assert not any(ours[n]["drifted"] for n in undrifted)
    assert ours["cat_0"]["drifted"] and theirs["cat_0"]["drifted"]
