"""Drift statistics: pure, vectorised numpy/scipy functions on counts, bins and samples.

The definitions match Evidently's (0.7, `evidently.legacy.calculations.stattests`) so that the
per-column decisions can be cross-checked against it:

- normalised Wasserstein: W1(reference, current) / max(std(reference, ddof=0), 0.001), drift if >=;
- Jensen-Shannon distance: `scipy.spatial.distance.jensenshannon`'s arithmetic (natural log, so
  at most sqrt(ln 2)) on the category shares of each sample, drift if >=;
- PSI: sum((r - c) * ln(r / c)) with empty cells filled as Evidently fills them, drift if >=;
- KS: two-sample Kolmogorov-Smirnov with scipy's `ks_2samp` p-value (exact up to 10,000 rows per
  side, Smirnov's asymptotic distribution beyond), drift if p <= alpha.

One deliberate difference: for categorical columns with a small reference Evidently runs a
chi-square *goodness-of-fit* test that treats the reference shares as exact, which does not hold
its significance level. Here the chi-square test is the *contingency* test on the 2 x k table of
counts (`scipy.stats.chi2_contingency`, without Yates' correction, so that a 2 x 2 table gives the
same p-value as Evidently's two-proportion z-test), drift if p < alpha.

The streaming forms (`wasserstein_from_bins`, `ks_from_counts`) take counts accumulated chunk by
chunk against bins fixed by the reference profile, so a batch never has to be held in memory.

`scipy.stats` is imported inside the functions that use it: importing it costs ~0.5 s, and a large
batch (binned Wasserstein, Jensen-Shannon) never needs it. Jensen-Shannon does not import
`scipy.spatial` either (~0.15 s, and ~0.2 s for `scipy.special`, of every monitor's start-up): it
repeats scipy's few float operations, with the same bits.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STD_FLOOR = 0.001
KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp(method="auto") is exact up to this many rows per side


@dataclass(frozen=True)
class TestResult:
    """One statistic: its value, its p-value (for tests) and the threshold it was judged against."""

    method: str
    score: float
    p_value: float | None = None


# ---------------------------------------------------------------- distances on samples or shares


def wasserstein_norm(reference: np.ndarray, current: np.ndarray) -> float:
    """Normalised Wasserstein distance of two samples (Evidently's `wasserstein`)."""
    norm = max(float(np.std(reference)), STD_FLOOR)
    from scipy import stats

    return float(stats.wasserstein_distance(reference, current)) / norm


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts to shares; an all-zero vector stays all-zero."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else counts


def jensenshannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two count vectors over the same cells."""
    ref, cur = shares(reference_counts), shares(current_counts)
    if ref.sum() == 0 or cur.sum() == 0:
        return float("nan")
    # scipy.spatial.distance.jensenshannon(ref, cur), operation for operation (so bit for bit).
    p, q = ref / np.sum(ref), cur / np.sum(cur)
    m = (p + q) / 2.0
    left = np.array([_rel_entr(x, y) for x, y in zip(p.tolist(), m.tolist(), strict=True)])
    right = np.array([_rel_entr(x, y) for x, y in zip(q.tolist(), m.tolist(), strict=True)])
    return float(np.sqrt((np.sum(left) + np.sum(right)) / 2.0))


def _rel_entr(x: float, y: float) -> float:
    """`scipy.special.rel_entr` (as in scipy 1.17) on one pair, in C doubles as Python's floats are:
    x * log(x / y), through log1p when x and y are close, through two logs when x / y would
    underflow or overflow."""
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x <= 0 or y <= 0:
        return 0.0 if x == 0 and y >= 0 else math.inf
    ratio = x / y
    if 0.5 < ratio < 2:
        return x * math.log1p((x - y) / y)
    if sys.float_info.min < ratio < math.inf:
        return x * math.log(ratio)
    return x * (math.log(x) - math.log(y))


def _fill_zeros(p: np.ndarray) -> np.ndarray:
    """Evidently's PSI zero filling: empty cells get min(nonzero) / 1e6, or 1e-4 if larger."""
    p = p.copy()
    nonzero = p[p != 0]
    if len(nonzero) == 0:
        return p
    smallest = float(nonzero.min())
    p[p == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return p


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same cells."""
    ref = _fill_zeros(shares(reference_counts))
    cur = _fill_zeros(shares(current_counts))
    if ref.sum() == 0 or cur.sum() == 0:
        return float("nan")
    return float(np.sum((ref - cur) * np.log(ref / cur)))


# ---------------------------------------------------------------------------- p-value tests


def chi2_contingency_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> TestResult:
    """Chi-square test of homogeneity on the 2 x k table (cells empty in both samples dropped)."""
    table = np.vstack([np.asarray(reference_counts, float), np.asarray(current_counts, float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return TestResult("chi2", 0.0, 1.0)
    from scipy import stats

    result = stats.chi2_contingency(table, correction=False)
    return TestResult("chi2", float(result.statistic), float(result.pvalue))


def ks_pvalue(d: float, n1: int, n2: int) -> float:
    """Two-sided p-value of a KS statistic, as `scipy.stats.ks_2samp(method="asymp")` has it."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    from scipy import stats

    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def ks_test(reference: np.ndarray, current: np.ndarray) -> TestResult:
    """Two-sample KS test on samples (scipy's `ks_2samp`, method "auto")."""
    from scipy import stats

    result = stats.ks_2samp(reference, current)
    return TestResult("ks", float(result.statistic), float(result.pvalue))


def ks_from_counts(
    reference_counts: np.ndarray,
    current_le: np.ndarray,
    current_lt: np.ndarray,
    n_current: int,
) -> TestResult:
    """KS test from the current sample's counts at the reference's distinct values.

    Args:
        reference_counts: how often each distinct reference value u_k occurs (sorted by u_k).
        current_le: per reference value u_k, how many current values are <= u_k.
        current_lt: per reference value u_k, how many current values are < u_k.
        n_current: the current sample size.

    The supremum of |F_ref - F_cur| over the pooled sample is attained at a reference value or just
    below the next one, so these counts give exactly the statistic scipy computes.
    """
    m = int(np.sum(reference_counts))
    f_ref = np.cumsum(reference_counts) / m
    f_ref_before = np.concatenate([[0.0], f_ref[:-1]])
    at = np.abs(f_ref - np.asarray(current_le) / n_current)
    below = np.abs(f_ref_before - np.asarray(current_lt) / n_current)
    d = float(max(at.max(), below.max()))
    return TestResult("ks", d, ks_pvalue(d, m, n_current))


# ------------------------------------------------------------ Wasserstein from profile quantiles


@dataclass(frozen=True)
class QuantileBins:
    """The reference distribution implied by its quantile function, on the grid of its quantiles.

    The reference CDF is piecewise linear between distinct quantiles (each step of the 1,001-level
    grid carries 1/1000 of the mass) and jumps at repeated quantiles (atoms of discrete columns).
    """

    edges: np.ndarray  # distinct quantiles e_0 < ... < e_J
    cdf_left: np.ndarray  # F_ref just below each edge
    cdf_right: np.ndarray  # F_ref at each edge

    @classmethod
    def from_quantiles(cls, quantiles: Sequence[float]) -> QuantileBins:
        q = np.asarray(quantiles, dtype=float)
        levels = len(q) - 1
        edges, first = np.unique(q, return_index=True)
        last = np.concatenate([first[1:] - 1, [len(q) - 1]])
        if levels == 0:
            return cls(edges, np.zeros(1), np.ones(1))
        return cls(edges, first / levels, last / levels)

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin b of each value: 0 below e_0, b for [e_(b-1), e_b), J+1 at or above e_J."""
        return np.searchsorted(self.edges, values, side="right")

    def anchors(self) -> np.ndarray:
        """The point each bin's gap sum is measured from (its upper edge; e_J for the top bin)."""
        return np.concatenate([self.edges, self.edges[-1:]])

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1


def wasserstein_from_bins(bins: QuantileBins, counts: np.ndarray, gaps: np.ndarray) -> float:
    """W1 between the reference (see QuantileBins) and a sample summarised by bin counts and gaps.

    Args:
        bins: the reference's bins.
        counts: per bin, how many current values fall in it.
        gaps: per bin, the sum of |anchor - x| over its current values (see `QuantileBins.anchors`).

    Computes the integral of |F_ref - F_cur| bin by bin: outside the reference's range exactly,
    inside as |integral of F_ref - integral of F_cur| per bin, which is exact unless the two CDFs
    cross inside a bin (then it can be smaller by at most the bin's width times the CDFs' change
    across it, about 1/1000 of the mass).
    """
    counts = np.asarray(counts, dtype=float)
    gaps = np.asarray(gaps, dtype=float)
    n = counts.sum()
    if n == 0:
        return float("nan")
    outside = (gaps[0] + gaps[-1]) / n
    if len(bins.edges) < 2:
        return float(outside)
    widths = np.diff(bins.edges)
    before = np.cumsum(counts)[:-2]  # values below each inner bin's lower edge
    inner_cur = (before * widths + gaps[1:-1]) / n
    inner_ref = widths * (bins.cdf_right[:-1] + bins.cdf_left[1:]) / 2.0
    return float(outside + np.abs(inner_cur - inner_ref).sum())


# ------------------------------------------------------------------- multiple-testing correction


def bonferroni(p_values: Sequence[float]) -> np.ndarray:
    """Bonferroni-adjusted p-values: min(1, p * m)."""
    p = np.asarray(p_values, dtype=float)
    return np.minimum(1.0, p * len(p))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg (FDR) adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def adjust(p_values: Sequence[float], correction: str) -> np.ndarray:
    """Apply the configured correction: none, bonferroni or fdr."""
    if correction == "bonferroni":
        return bonferroni(p_values)
    if correction == "fdr":
        return benjamini_hochberg(p_values)
    return np.asarray(p_values, dtype=float)
