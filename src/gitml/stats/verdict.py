"""Verdicts from confidence intervals: improved, regressed or no significant change.

The vocabulary follows `gitml.compare` (a `MetricRule` gives the direction and the policy's
smallest change that counts), with one addition: a change counts only when its confidence
interval excludes zero. The tolerance is judged separately, by `non_inferior`, on the interval's
bound (a non-inferiority test at the interval's confidence level).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # type-only, so gitml.compare can use these statistics without a cycle
    from gitml.compare import MetricRule

#: Slack for float round-off when a change sits exactly on a threshold (as gitml.compare).
EPSILON = 1e-12


class Verdict(StrEnum):
    """The verdict on one metric's change, head (candidate) against base (baseline)."""

    IMPROVED = "improved"
    REGRESSED = "regressed"
    NO_SIGNIFICANT_CHANGE = "no significant change"


class IntervalLike(Protocol):
    """An estimate of head − base with its confidence interval (e.g. `bootstrap.Interval`)."""

    @property
    def estimate(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...


def _bounds(delta_ci: IntervalLike | tuple[float, float]) -> tuple[float, float, float]:
    if isinstance(delta_ci, tuple):
        low, high = delta_ci
        estimate = (low + high) / 2
    else:
        low, high, estimate = delta_ci.low, delta_ci.high, delta_ci.estimate
    if not low <= high:
        raise ValueError(f"interval bounds out of order or not numbers: [{low}, {high}]")
    return float(estimate), float(low), float(high)


def classify_change(
    delta_ci: IntervalLike | tuple[float, float], rule: MetricRule, base: float | None = None
) -> Verdict:
    """Judge head − base from its interval and the metric's rule.

    "improved" (or "regressed") only when the whole interval lies on the better (worse) side of
    zero AND the estimated change reaches the policy minimum: max(min_absolute_change,
    min_relative_change × |base|) (the relative part needs `base`). Anything else is "no
    significant change".

    Args:
        delta_ci: head − base as an interval with its estimate, or (low, high), whose midpoint
            is then the estimate.
        rule: direction and thresholds (conf/gitml.yaml `metrics:`).
        base: the baseline's value, for `min_relative_change`.
    """
    estimate, low, high = _bounds(delta_ci)
    sign = 1.0 if rule.higher_is_better else -1.0
    gain_est = sign * estimate
    gain_low, gain_high = sorted((sign * low, sign * high))
    minimum = max(rule.min_absolute_change, rule.min_relative_change * abs(base or 0.0))
    if gain_low > 0 and gain_est + EPSILON >= minimum:
        return Verdict.IMPROVED
    if gain_high < 0 and -gain_est + EPSILON >= minimum:
        return Verdict.REGRESSED
    return Verdict.NO_SIGNIFICANT_CHANGE


def non_inferior(
    delta_ci: IntervalLike | tuple[float, float], tolerance: float, higher_is_better: bool = True
) -> bool:
    """Whether the head is no worse than the base by more than `tolerance`, judged on the bound.

    The interval's worst bound (low when higher is better, high otherwise) must stay within the
    tolerance: with a 95% two-sided interval, a one-sided non-inferiority test at 2.5%.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    _, low, high = _bounds(delta_ci)
    worst_loss = -low if higher_is_better else high
    return worst_loss <= tolerance + EPSILON
