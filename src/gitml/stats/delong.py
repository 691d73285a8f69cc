"""DeLong's test for the difference of two correlated ROC AUCs on the same rows.

DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of the two AUCs from the
"structural components" (placement values) of each positive and each negative; Sun & Xu (2014)
compute those from midranks in O(n log n): for positive i,
V10_i = (rank of i among all rows − rank of i among positives) / n_neg, for negative j,
V01_j = 1 − (rank of j among all rows − rank of j among negatives) / n_pos.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special


def midranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks with ties given their average rank (scipy's rankdata(method='average'))."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    # Runs of equal values: each gets the mean of the positions it spans.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


@dataclass(frozen=True)
class DeLongResult:
    """Two AUCs on the same rows, their difference (b − a), its standard error, z, p and CI."""

    auc_a: float
    auc_b: float
    delta: float
    variance: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    alpha: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _components(
    scores: NDArray[np.float64], n_pos: int
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """AUC and the structural components (V10 of positives, V01 of negatives); positives first."""
    n_neg = len(scores) - n_pos
    all_ranks = midranks(scores)
    pos_ranks = midranks(scores[:n_pos])
    neg_ranks = midranks(scores[n_pos:])
    v10 = (all_ranks[:n_pos] - pos_ranks) / n_neg
    v01 = 1.0 - (all_ranks[n_pos:] - neg_ranks) / n_pos
    return float(v10.mean()), v10, v01


def delong_test(
    y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, alpha: float = 0.05
) -> DeLongResult:
    """DeLong's test of AUC(b) − AUC(a), with a normal (Wald) confidence interval.

    Args:
        y_true: binary labels (0/1 or bool).
        score_a: the first scorer (e.g. the baseline); higher means more likely positive.
        score_b: the second scorer (e.g. the candidate).
        alpha: 1 − confidence level of the interval.

    Raises:
        ValueError: when a class is missing or the shapes differ.
    """
    y = np.asarray(y_true).astype(bool)
    a = np.asarray(score_a, dtype=np.float64)
    b = np.asarray(score_b, dtype=np.float64)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError(f"shapes differ: y_true {y.shape}, score_a {a.shape}, score_b {b.shape}")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("DeLong's test needs both classes")
    order = np.r_[np.flatnonzero(y), np.flatnonzero(~y)]
    auc_a, v10_a, v01_a = _components(a[order], n_pos)
    auc_b, v10_b, v01_b = _components(b[order], n_pos)
    # Var(AUC_b − AUC_a) = Var over positives of (V10_b − V10_a) / m + the same over negatives / n.
    d10, d01 = v10_b - v10_a, v01_b - v01_a
    s10 = float(np.var(d10, ddof=1)) if n_pos > 1 else 0.0
    s01 = float(np.var(d01, ddof=1)) if n_neg > 1 else 0.0
    variance = s10 / n_pos + s01 / n_neg
    se = math.sqrt(variance)
    delta = auc_b - auc_a
    if se > 0:
        z = delta / se
        p = float(2 * special.ndtr(-abs(z)))
    else:
        z = 0.0 if delta == 0 else math.copysign(math.inf, delta)
        p = 1.0 if delta == 0 else 0.0
    half = float(special.ndtri(1 - alpha / 2)) * se
    return DeLongResult(auc_a, auc_b, delta, variance, se, z, p, delta - half, delta + half, alpha)
