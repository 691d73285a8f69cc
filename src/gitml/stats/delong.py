"""DeLong's test for the difference of two correlated ROC AUCs on the same rows.

DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of the two AUCs from the
"structural components" (placement values) of each positive and each negative: V10_i, the share
of negatives scored below positive i, and V01_j, the share of positives scored above negative j,
ties counting one half. Sun & Xu (2014) compute them from midranks in O(n log n); here the
positives and the negatives are sorted separately and each group is located in the other's order
by a binary search of sorted keys (the same numbers, `midranks` is kept for reference).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

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


class SortedScores:
    """One scorer's scores of the positives and of the negatives, each sorted once.

    Args:
        positive: which rows are positives.
        scores: every row's score.
    """

    def __init__(self, positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> None:
        self.pos_rows, self.neg_rows = np.flatnonzero(positive), np.flatnonzero(~positive)
        self.pos_order = np.argsort(scores[self.pos_rows])
        self.neg_order = np.argsort(scores[self.neg_rows])
        self.sp = scores[self.pos_rows][self.pos_order]  # positives' scores, ascending
        self.sn = scores[self.neg_rows][self.neg_order]  # negatives' scores, ascending

    def placements(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """DeLong's structural components in row order (positives, then negatives, each as in
        `pos_rows` / `neg_rows`): V10, the share of negatives below each positive, and V01, the
        share of positives above each negative, ties counting one half.

        The searches look up sorted keys, which numpy's binary search does in near-linear time.
        """
        sp, sn = self.sp, self.sn
        m, k = len(sp), len(sn)
        v10, v01 = np.empty(m), np.empty(k)
        v10[self.pos_order] = (
            np.searchsorted(sn, sp, "left") + np.searchsorted(sn, sp, "right")
        ) / (2 * max(k, 1))
        upto = np.searchsorted(sp, sn, "right")
        v01[self.neg_order] = (m - upto + 0.5 * (upto - np.searchsorted(sp, sn, "left"))) / max(
            m, 1
        )
        return v10, v01

    def scatter(self, at_pos: NDArray[Any], at_neg: NDArray[Any]) -> NDArray[np.float64]:
        """Per-row values from values at the positives and negatives in row order."""
        out = np.empty(len(self.pos_rows) + len(self.neg_rows))
        out[self.pos_rows] = at_pos
        out[self.neg_rows] = at_neg
        return out


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
    v10_a, v01_a = SortedScores(y, a).placements()
    v10_b, v01_b = SortedScores(y, b).placements()
    auc_a, auc_b = float(v10_a.mean()), float(v10_b.mean())
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
