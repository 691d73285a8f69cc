"""Drift statistics against scipy's reference functions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst
from scipy.spatial import distance

from gitml.monitor import stats
from gitml.profile import QUANTILE_LEVELS

pytestmark = pytest.mark.unit


def binned_w1(reference: np.ndarray, current: np.ndarray) -> float:
    """Normalised W1 the streaming way: reference quantiles only, current in two chunks."""
    bins = stats.QuantileBins.from_quantiles(np.quantile(reference, QUANTILE_LEVELS))
    counts = np.zeros(bins.n_bins)
    gaps = np.zeros(bins.n_bins)
    for part in np.array_split(current, 2):
        idx = bins.bin_index(part)
        counts += np.bincount(idx, minlength=bins.n_bins)
        gaps += np.bincount(idx, weights=np.abs(bins.anchors()[idx] - part), minlength=bins.n_bins)
    return stats.wasserstein_from_bins(bins, counts, gaps) / max(np.std(reference), 0.001)


SAMPLERS = {
    "normal": lambda rng, n, shift: rng.normal(shift, 1.0, n),
    "lognormal": lambda rng, n, shift: np.exp(rng.normal(shift, 0.6, n)),
    "poisson": lambda rng, n, shift: rng.poisson(3.0 + 4 * shift, n).astype(float),
    "beta": lambda rng, n, shift: rng.beta(2.2, 4.5, n) + shift / 3,
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3, 2.0])
def test_wasserstein_from_quantiles_matches_scipy(name: str, shift: float) -> None:
    rng = np.random.default_rng(7)
    ref = SAMPLERS[name](rng, 20_000, 0.0)
    cur = SAMPLERS[name](rng, 5_000, shift)
    exact = sst.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    assert stats.wasserstein_norm(ref, cur) == pytest.approx(exact, rel=1e-12)
    # The reference is known only by 1,001 quantiles: the error is bounded by about 1/1000 of
    # its range over its std, far below the 0.1 threshold.
    assert binned_w1(ref, cur) == pytest.approx(exact, abs=0.006)


def test_wasserstein_outside_the_reference_range_is_exact() -> None:
    ref = np.arange(1001, dtype=float)  # quantiles are exactly 0..1000: a uniform on [0, 1000]
    cur = np.array([-50.0, 2000.0, 2500.0])
    # W1 = integral of |F_ref - F_cur|, by hand: below 0, across the uniform [0, 1000] (where
    # F_cur = 1/3), then [1000, 2000) and [2000, 2500).
    value = binned_w1(ref, cur) * np.std(ref)
    expected = 50 / 3 + 1000 * 5 / 18 + 1000 * 2 / 3 + 500 / 3
    assert value == pytest.approx(expected, rel=1e-6)


def test_constant_reference_uses_the_std_floor() -> None:
    ref = np.full(5000, 3.0)
    cur = np.full(100, 3.5)
    assert binned_w1(ref, cur) == pytest.approx(0.5 / 0.001)


def test_jensenshannon_is_scipys_to_the_last_bit_with_natural_log() -> None:
    # gitml repeats scipy's arithmetic rather than import scipy.spatial (~0.15 s per monitor run):
    # the same bits, on cells with zeros, one-sided cells and shares that do not sum to 1 exactly.
    rng = np.random.default_rng(7)
    cases = [(np.array([50, 30, 20, 0]), np.array([10, 30, 40, 20])), ([1, 0], [0, 1])]
    for n in (2, 3, 7, 40, 300):
        for _ in range(20):
            ref = rng.integers(0, 1000, n) * (rng.random(n) > 0.2)
            cur = rng.integers(0, 10**7, n) * (rng.random(n) > 0.2)
            if ref.sum() and cur.sum():
                cases.append((ref, cur))
    for ref, cur in cases:
        ref_shares, cur_shares = stats.shares(ref), stats.shares(cur)
        assert stats.jensenshannon(ref, cur) == float(
            distance.jensenshannon(ref_shares, cur_shares)
        ), (ref, cur)
    assert stats.jensenshannon([1, 0], [0, 1]) == pytest.approx(np.sqrt(np.log(2)))


def test_psi_fills_empty_cells_like_evidently() -> None:
    ref = np.array([0.5, 0.5, 0.0])
    cur = np.array([0.25, 0.25, 0.5])
    filled = np.array([0.5, 0.5, 0.0001])
    expected = np.sum((filled - cur) * np.log(filled / cur))
    assert stats.psi(ref, cur) == pytest.approx(expected)
    assert stats.psi([10, 20], [10, 20]) == 0.0


def test_chi2_contingency_matches_scipy_and_the_z_test() -> None:
    ref = np.array([120, 40, 0, 40])
    cur = np.array([90, 60, 0, 50])
    got = stats.chi2_contingency_test(ref, cur)
    expected = sst.chi2_contingency(np.array([[120, 40, 40], [90, 60, 50]]), correction=False)
    assert got.score == pytest.approx(expected.statistic)
    assert got.p_value == pytest.approx(expected.pvalue)
    # 2 x 2: the same p-value as the two-proportion z-test Evidently uses for binary columns.
    n1, n2, x1, x2 = 300, 200, 120, 95
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    two = stats.chi2_contingency_test(np.array([x1, n1 - x1]), np.array([x2, n2 - x2]))
    assert two.p_value == pytest.approx(2 * (1 - sst.norm.cdf(abs(z))))
    assert stats.chi2_contingency_test([5, 0], [7, 0]).p_value == 1.0


@pytest.mark.parametrize("discrete", [False, True])
def test_ks_from_counts_matches_ks_2samp(discrete: bool) -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(0, 1, 700)
    cur = rng.normal(0.05, 1, 25_000)
    if discrete:
        ref, cur = np.round(ref * 3), np.round(cur * 3)
    values, counts = np.unique(ref, return_counts=True)
    le = np.array([(cur <= v).sum() for v in values])
    lt = np.array([(cur < v).sum() for v in values])
    got = stats.ks_from_counts(counts, le, lt, len(cur))
    expected = sst.ks_2samp(ref, cur)  # asymptotic: more than 10,000 rows on one side
    assert got.score == pytest.approx(expected.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    a, b = rng.normal(0, 1, 40), rng.normal(0.5, 1, 50)
    asymp = sst.ks_2samp(a, b, method="asymp")
    assert stats.ks_pvalue(asymp.statistic, 40, 50) == pytest.approx(asymp.pvalue, rel=1e-12)


def test_corrections_match_scipy() -> None:
    p = np.array([0.001, 0.04, 0.03, 0.5, 0.012, 0.2])
    assert np.allclose(stats.bonferroni(p), np.minimum(1, p * 6))
    assert np.allclose(stats.benjamini_hochberg(p), sst.false_discovery_control(p))
    assert np.allclose(stats.adjust(p, "none"), p)
    assert stats.adjust([], "fdr").size == 0
