"""Mergeable monitor summaries: parts monitored apart and merged in order give the whole's result.

What `gitml monitor --engine dask` relies on: counts (rows, nulls, bins, categories, schema
failures) exactly equal, distances and p-values within 1e-9, the same decisions.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitml.data.synthetic import generate
from gitml.monitor.core import Inputs, Monitor
from gitml.policy.monitor import ColumnRule, MonitorPolicy
from gitml.profile import build_profile

pytestmark = pytest.mark.unit

NUMERIC = [
    "age",
    "income",
    "debt_to_income",
    "credit_history_years",
    "loan_amount",
    "open_accounts",
    "delinquencies_2y",
]
CATEGORICAL = ["employment_type", "region", "home_ownership"]


@cache
def profile(rows: int) -> dict[str, Any]:
    return build_profile(generate(rows, seed=1), NUMERIC, CATEGORICAL)


@cache
def score_profile() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return build_profile(pd.DataFrame({"score": rng.beta(2, 5, 4000)}), ["score"], [])


def batch(rows: int) -> pd.DataFrame:
    frame = generate(rows, seed=31, scenario="covariate")
    rng = np.random.default_rng(5)
    frame["score"] = rng.beta(2, 5, len(frame))
    frame.loc[frame.index[::97], "income"] = np.nan
    return frame


def monitor_parts(inputs: Inputs, frame: pd.DataFrame, cuts: list[int], step: int) -> Monitor:
    """Each part monitored on its own (in chunks of `step`), then merged in order."""
    merged = Monitor(inputs)
    bounds = [0, *cuts, len(frame)]
    for lo, hi in itertools.pairwise(bounds):
        part = Monitor(inputs)
        for start in range(lo, hi, step):
            part.update(frame.iloc[start : min(start + step, hi)])
        merged.merge(part)
    return merged


def whole(inputs: Inputs, frame: pd.DataFrame, step: int) -> Monitor:
    monitor = Monitor(inputs)
    for start in range(0, len(frame), step):
        monitor.update(frame.iloc[start : start + step])
    return monitor


def assert_same(got: Any, want: Any, path: str = "") -> None:
    """Equal, floats within 1e-9 (relative or absolute), recursively."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for key in want:
            assert_same(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True), path
    else:
        assert got == want, path


@pytest.mark.parametrize(
    ("ref_rows", "rows"),
    [(800, 6_000), (20_000, 30_000)],  # small reference (exact samples), large (quantile grid)
)
def test_merged_parts_equal_the_whole(ref_rows: int, rows: int) -> None:
    policy = MonitorPolicy(
        chunk_rows=1_000,
        columns={"open_accounts": ColumnRule(method="psi"), "age": ColumnRule(method="chi2")},
    )
    inputs = Inputs(
        profile=profile(ref_rows),
        policy=policy,
        score_profile=score_profile(),
        labels="default",
        positive_class=1,
    )
    frame = batch(rows)
    want = whole(inputs, frame, 1_000)
    got = monitor_parts(inputs, frame, [rows // 7, rows // 7 + 1, rows // 2], 777)
    assert got.rows == want.rows == rows
    for name, acc in want.accumulators.items():
        other = got.accumulators[name]
        assert (other.rows, other.nulls) == (acc.rows, acc.nulls), name
        if hasattr(acc, "counts") and isinstance(acc.counts, np.ndarray):
            assert np.array_equal(other.counts, acc.counts), name  # type: ignore[union-attr]
    result, expected = got.result(), want.result()
    assert_same(result, expected)
    assert result["drifted_columns"] and result["metrics"]["metrics"]  # the test has teeth


def test_a_part_beyond_the_exact_sample_drops_it_as_the_whole_does() -> None:
    inputs = Inputs(profile=profile(800))
    frame = batch(12_000)  # > 10,000 present values: no exact sample, the whole or merged
    want = whole(inputs, frame, 4_000)
    got = monitor_parts(inputs, frame, [3_000], 3_000)
    assert want.accumulators["debt_to_income"].exact_sample() is None  # type: ignore[union-attr]
    assert got.accumulators["debt_to_income"].exact_sample() is None  # type: ignore[union-attr]
    assert_same(got.result(), want.result())


def test_parts_finishing_in_any_order_merge_to_the_same_bytes() -> None:
    """What `monitor --engine dask` does with summaries as workers finish them: `InOrder` folds
    them in partition order, holding only those that came early, so the report's bytes do not
    depend on which worker was first (merging as they come changes the float sums' rounding)."""
    import json

    from gitml.monitor.partitions import InOrder

    inputs = Inputs(profile=profile(20_000), policy=MonitorPolicy(), score_profile=score_profile())
    frame = batch(30_000)
    cuts = list(range(0, len(frame), 1_500))

    parts = []
    for lo in cuts:
        part = Monitor(inputs)
        part.update(frame.iloc[lo : lo + 1_500])
        parts.append(part)

    def report(monitor: Monitor) -> str:
        return json.dumps(monitor.result(), sort_keys=True, default=str)

    in_order = Monitor(inputs)
    for part in parts:
        in_order.merge(part)
    want = report(in_order)
    arrival = np.random.default_rng(3).permutation(len(cuts)).tolist()
    as_they_come = Monitor(inputs)
    folded = Monitor(inputs)
    fold = InOrder(folded.merge)
    for i in arrival:
        fold.add(i, parts[i])
        as_they_come.merge(parts[i])
    assert fold.following == len(cuts) and not fold.ahead
    assert 1 < fold.most_held < len(cuts)
    assert report(folded) == want
    assert report(as_they_come) != want  # the test has teeth: arrival order changes the bytes
