"""The seed-means interval (`gitml.stats.seeds`) and how the report applies it (`with_seed_means`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gitml.compare import MetricRule
from gitml.intervals import MetricInterval, seed_values, with_seed_means
from gitml.stats.seeds import SeedSpread, seed_means_change

LOG_LOSS = MetricRule(
    higher_is_better=False, min_absolute_change=0.002, min_relative_change=0.0, tolerance=0.01
)


def test_the_interval_covers_a_known_difference_95_percent_of_the_time() -> None:
    """400 repetitions of 5 seeds per side with a true difference of 0.01 in the seed means,
    test-row noise of known SE and seed spreads that differ between the sides."""
    rng = np.random.default_rng(7)
    true, test_se, sd_b, sd_h, n = 0.01, 0.002, 0.004, 0.006, 5
    covered = 0
    for _ in range(400):
        base = 0.30 + rng.normal(0, sd_b, n)
        head = 0.30 + true + rng.normal(0, sd_h, n) + rng.normal(0, test_se)
        change = seed_means_change(SeedSpread.of(base), SeedSpread.of(head), test_se)  # type: ignore[arg-type]
        covered += change.low <= true <= change.high
    assert 0.92 <= covered / 400 <= 0.98, covered


def test_the_normal_quantile_would_under_cover_with_five_seeds() -> None:
    """Why the t quantile: with 4 degrees of freedom per side, a z interval covers too little."""
    rng = np.random.default_rng(11)
    z_covered = t_covered = 0
    for _ in range(400):
        base, head = rng.normal(0, 0.005, 5), rng.normal(0, 0.005, 5)
        change = seed_means_change(SeedSpread.of(base), SeedSpread.of(head), 0.0)  # type: ignore[arg-type]
        z_half = 1.959964 * change.se
        z_covered += abs(change.estimate) <= z_half
        t_covered += change.low <= 0 <= change.high
    assert z_covered / 400 < 0.93 <= t_covered / 400


def test_no_spread_is_the_normal_interval_of_the_test_rows() -> None:
    flat = SeedSpread(5, 0.3, 0.0)
    change = seed_means_change(flat, SeedSpread(5, 0.31, 0.0), 0.002)
    assert math.isinf(change.df)
    assert change.high - change.estimate == pytest.approx(1.959964 * 0.002, rel=1e-6)


def test_spread_needs_two_finite_values() -> None:
    assert SeedSpread.of([0.3]) is None
    assert SeedSpread.of([0.3, float("nan")]) is None
    assert SeedSpread.of([0.3, 0.5]) == SeedSpread(2, 0.4, pytest.approx(math.sqrt(0.02)))
    assert seed_values({"metrics": {"log_loss": [0.3, 0.31]}}, "log_loss") is not None
    for broken in (None, [], {"metrics": []}, {"metrics": {"log_loss": "x"}}):
        assert seed_values(broken, "log_loss") is None  # type: ignore[arg-type]


def interval(delta: float, se: float = 0.0015) -> MetricInterval:
    return MetricInterval(
        metric="log_loss",
        base=0.30,
        head=0.30 + delta,
        delta=delta,
        low=delta - 1.96 * se,
        high=delta + 1.96 * se,
        se=se,
        status="regressed" if delta - 1.96 * se > 0 else "no significant change",
        rows=800,
        resamples=1000,
        confidence=0.95,
    )


def test_one_seeds_luck_is_no_longer_a_regression() -> None:
    """Head's trained model drew a worse seed (+0.008), but over 5 seeds the means are close."""
    lucky = interval(0.008)
    assert lucky.status == "regressed"
    base = SeedSpread.of([0.300, 0.306, 0.309, 0.303, 0.311])
    head = SeedSpread.of([0.308, 0.301, 0.305, 0.310, 0.304])
    judged = with_seed_means(lucky, base, head, LOG_LOSS)
    assert judged.status == "no significant change"
    assert judged.seeds == (5, 5) and judged.df is not None and judged.df > 4
    assert judged.low < judged.delta < judged.high
    assert judged.delta == pytest.approx(head.mean - base.mean)  # type: ignore[union-attr]
    assert (judged.base, judged.head) == (lucky.base, lucky.head)
    assert "mean over estimator seeds" in judged.method


def test_a_real_change_survives_the_seed_spread() -> None:
    base = SeedSpread.of([0.300, 0.302, 0.299, 0.301, 0.303])
    head = SeedSpread.of([0.320, 0.318, 0.322, 0.321, 0.319])
    assert with_seed_means(interval(0.02), base, head, LOG_LOSS).status == "regressed"


def test_unchanged_without_both_spreads_or_with_deterministic_estimators() -> None:
    lucky = interval(0.008)
    spread = SeedSpread.of([0.300, 0.306, 0.309])
    assert with_seed_means(lucky, None, spread, LOG_LOSS) is lucky
    assert with_seed_means(lucky, spread, None, LOG_LOSS) is lucky
    flat = SeedSpread(2, 0.30, 0.0)
    assert with_seed_means(lucky, flat, flat, LOG_LOSS) is lucky
