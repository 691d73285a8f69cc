"""Choosing a binary decision threshold on held-out scores (pure: numpy only, no IO).

A prediction is positive when `score >= threshold`. Every strategy but `fixed` looks at each
distinct score as a candidate cut, computes the confusion counts there with one cumulative sum,
and picks the best cut; the threshold returned is the midpoint between the chosen score and the
next lower distinct score (rounded to 6 digits), so rows scored near the cut on new data are not
decided by floating-point noise. Ties between equally good cuts go to the higher threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cuts:
    """Confusion counts at every distinct score, highest score first (positive: score >= cut)."""

    scores: np.ndarray  # distinct scores, descending
    tp: np.ndarray
    fp: np.ndarray
    positives: int
    negatives: int

    @classmethod
    def of(cls, y_true: ArrayLike, score: ArrayLike) -> Cuts:
        y = np.asarray(y_true).astype(bool)
        s = np.asarray(score, dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        s, y = s[order], y[order]
        last = np.r_[s[1:] != s[:-1], True]  # the last row of each run of equal scores
        tp = np.cumsum(y)[last]
        fp = np.cumsum(~y)[last]
        return cls(s[last], tp, fp, int(y.sum()), int((~y).sum()))


def _midpoint(cuts: Cuts, i: int) -> float:
    """The threshold between distinct score i and the next lower one (0 below the lowest)."""
    lower = cuts.scores[i + 1] if i + 1 < len(cuts.scores) else 0.0
    return round(float((cuts.scores[i] + lower) / 2), 6)


def choose_threshold(
    y_true: ArrayLike,
    score: ArrayLike,
    strategy: str,
    *,
    value: float = 0.5,
    precision: float | None = None,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
) -> float:
    """The decision threshold for `strategy` on held-out labels and positive-class scores.

    Args:
        y_true: 0/1 labels (1 = positive class).
        score: the model's probability of the positive class.
        strategy: fixed (returns `value`), f1, youden, precision_at or cost.
        value: the fixed threshold.
        precision: the precision `precision_at` must reach.
        cost_fp: cost of a false positive (`cost`).
        cost_fn: cost of a false negative (`cost`).
    """
    if strategy == "fixed":
        return float(value)
    cuts = Cuts.of(y_true, score)
    if len(cuts.scores) == 0 or cuts.positives == 0 or cuts.negatives == 0:
        log.warning("threshold: the validation slice lacks a class; using %s", value)
        return float(value)
    tp, fp = cuts.tp.astype(np.float64), cuts.fp.astype(np.float64)
    fn = cuts.positives - tp
    if strategy == "f1":
        objective = 2 * tp / (2 * tp + fp + fn)
    elif strategy == "youden":
        objective = tp / cuts.positives - fp / cuts.negatives
    elif strategy == "cost":
        objective = -(cost_fp * fp + cost_fn * fn)
    elif strategy == "precision_at":
        if precision is None:
            raise ValueError("precision_at needs a precision")
        reached = tp / np.maximum(tp + fp, 1.0) >= precision - 1e-12
        if not reached.any():
            best = int(np.argmax(tp / np.maximum(tp + fp, 1.0)))
            log.warning(
                "threshold: no cut reaches precision %.3f; using the most precise one", precision
            )
            return _midpoint(cuts, best)
        # The lowest cut that reaches it: the most recall at that precision.
        return _midpoint(cuts, int(np.flatnonzero(reached)[-1]))
    else:
        raise ValueError(f"unknown threshold strategy '{strategy}'")
    return _midpoint(cuts, int(np.argmax(objective)))
