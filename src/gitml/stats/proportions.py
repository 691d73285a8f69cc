"""Intervals for proportions and their differences, and per-group rates for fairness slices.

- Wilson (1927) score interval for one proportion: never outside [0, 1], honest near 0 and 1.
- Newcombe (1998), method 10: the interval of p1 − p2 from the two Wilson intervals
  ("hybrid score"), for gaps between groups' rates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

#: Rates a group report carries: (successes, trials) of each.
RATES = ("selection_rate", "tpr", "fpr")


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(special.ndtri(1 - alpha / 2))


@dataclass(frozen=True)
class Rate:
    """A proportion successes / trials with its Wilson interval (nan estimate when trials = 0)."""

    successes: int
    trials: int
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's score interval for a proportion; (0, 1) when n is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = _z(alpha)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exact at the edges (round-off would otherwise leave 1e-17 outside).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def rate(successes: int, trials: int, alpha: float = 0.05) -> Rate:
    """`successes / trials` with its Wilson interval."""
    low, high = wilson_interval(successes, trials, alpha)
    estimate = successes / trials if trials else math.nan
    return Rate(int(successes), int(trials), estimate, low, high)


def newcombe_interval(a: Rate, b: Rate) -> tuple[float, float, float]:
    """Difference a − b of two independent proportions with Newcombe's hybrid score interval.

    The rates' own Wilson intervals set the confidence level.

    Returns:
        (difference, low, high); nan difference and (-1, 1) when either has no trials.
    """
    if a.trials == 0 or b.trials == 0:
        return math.nan, -1.0, 1.0
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return d, max(-1.0, low), min(1.0, high)


@dataclass(frozen=True)
class GroupRates:
    """One group's counts and rates, and whether it has enough data to be judged."""

    group: str
    rows: int
    positives: int
    negatives: int
    selection_rate: Rate
    tpr: Rate
    fpr: Rate
    sufficient: bool
    status: str  # "ok" | "insufficient data"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_rates(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: ArrayLike,
    alpha: float = 0.05,
    min_rows: int = 30,
    min_positives: int = 10,
    min_negatives: int = 0,
) -> list[GroupRates]:
    """Per group (sorted by name): selection rate, TPR and FPR with Wilson intervals.

    A group with fewer than `min_rows` rows, `min_positives` positives or `min_negatives`
    negatives is marked "insufficient data": its rates are still reported, but a gate should not
    judge it.
    """
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    g = np.asarray(groups)
    if not (t.shape == p.shape == g.shape) or t.ndim != 1:
        raise ValueError(f"shapes differ: y_true {t.shape}, y_pred {p.shape}, groups {g.shape}")
    names, codes = np.unique(g.astype(str), return_inverse=True)
    k = len(names)
    rows = np.bincount(codes, minlength=k)
    pos = np.bincount(codes, weights=t, minlength=k).astype(int)
    selected = np.bincount(codes, weights=p, minlength=k).astype(int)
    tp = np.bincount(codes, weights=t & p, minlength=k).astype(int)
    fp = selected - tp
    out = []
    for i, name in enumerate(names):
        neg = int(rows[i] - pos[i])
        ok = rows[i] >= min_rows and pos[i] >= min_positives and neg >= min_negatives
        out.append(
            GroupRates(
                group=str(name),
                rows=int(rows[i]),
                positives=int(pos[i]),
                negatives=neg,
                selection_rate=rate(int(selected[i]), int(rows[i]), alpha),
                tpr=rate(int(tp[i]), int(pos[i]), alpha),
                fpr=rate(int(fp[i]), neg, alpha),
                sufficient=bool(ok),
                status="ok" if ok else "insufficient data",
            )
        )
    return out


@dataclass(frozen=True)
class Gap:
    """The largest difference of one rate between two groups, with Newcombe's interval."""

    statistic: str
    high_group: str
    low_group: str
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def largest_gap(rates: list[GroupRates], statistic: str) -> Gap | None:
    """The gap max − min of `statistic` over the sufficient groups; None with fewer than two.

    The interval is Newcombe's for that pair (it does not correct for having picked the extreme
    pair among several groups).
    """
    if statistic not in RATES:
        raise ValueError(f"unknown rate '{statistic}' (known: {', '.join(RATES)})")
    usable = [
        (r.group, getattr(r, statistic))
        for r in rates
        if r.sufficient and getattr(r, statistic).trials > 0
    ]
    if len(usable) < 2:
        return None
    usable.sort(key=lambda x: x[1].estimate)
    lo, hi = usable[0], usable[-1]
    d, low, high = newcombe_interval(hi[1], lo[1])
    return Gap(statistic, hi[0], lo[0], d, low, high)
