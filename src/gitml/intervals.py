"""Statistically honest comparisons of two revisions on the same test rows (pure core).

Shared by `gitml report` (statuses and the verdict) and the promotion gates (non-inferiority and
fairness). From two revisions' per-row predictions (paired by `gitml.predictions.pair`):

- every metric's head − base gets a percentile interval from one paired Poisson bootstrap
  (`gitml.stats.paired_bootstrap`, Efron & Tibshirani 1993), seeded; from `normal_min_rows`
  shared rows (and 1,000 rows of every class) its normal approximation from each row's influence
  on the metric (`gitml.stats.paired_normal`, the delta method), which agrees with it there and
  costs O(n log n) instead of resamples × n (docs/statistics.md);
- accuracy and F1 use each revision's own decisions (its own threshold) under the same bootstrap
  weights (same seed, same rows: the weights are identical);
- ROC AUC also gets DeLong's test (DeLong et al. 1988) as a cross-check;
- when both revisions measured their metrics under several estimator seeds (the seed_noise
  stage), the change is judged on the seed means, the interval widened by the spread between
  seeds (`with_seed_means`, `gitml.stats.seeds`), so one seed's luck is not a change;
- the status is "improved"/"regressed" only when the interval excludes zero AND the change reaches
  the policy minimum (`gitml.stats.classify_change`), else "no significant change".

Fairness: group rates with Wilson (1927) intervals, as the evaluate stage writes them into
slices.json, are judged per gap with Newcombe's (1998) interval, on the groups that reach the
policy's minimum rows and positives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from gitml.predictions import Paired
from gitml.stats import (
    NORMAL_MIN_ROWS,
    Rate,
    classify_change,
    delong_test,
    newcombe_interval,
    non_inferior,
    paired_intervals,
)
from gitml.stats.seeds import SeedSpread, seed_means_change
from gitml.stats.weighted import TASK_METRICS

if TYPE_CHECKING:
    from gitml.compare import MetricRule

#: Statuses of an interval comparison (besides compare.py's point statuses).
IMPROVED = "improved"
REGRESSED = "regressed"
NO_SIGNIFICANT_CHANGE = "no significant change"
NOT_COMPARABLE = "not comparable"
#: Metrics judged on each revision's thresholded decisions rather than on its scores.
DECISION_METRICS = ("accuracy", "f1")
#: `MetricInterval.method` of each `gitml.stats` method.
METHOD_NAMES = {"bootstrap": "paired bootstrap", "normal": "normal approximation (delta method)"}


@dataclass(frozen=True)
class Settings:
    """Bootstrap settings (policy `statistics:`).

    `method`: "auto" (the bootstrap, or its normal approximation from `normal_min_rows` shared
    rows), "bootstrap" or "normal".
    """

    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    method: str = "auto"
    normal_min_rows: int = NORMAL_MIN_ROWS

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence


@dataclass(frozen=True)
class MetricInterval:
    """head − base of one metric on shared rows, its interval, status and DeLong's cross-check."""

    metric: str
    base: float
    head: float
    delta: float
    low: float
    high: float
    se: float
    status: str
    rows: int
    resamples: int
    confidence: float
    method: str = "paired bootstrap"
    delong: Mapping[str, float] | None = None
    #: Set when the change is judged on the mean over estimator seeds (`with_seed_means`): then
    #: delta/low/high/se are those of mean(head) − mean(base); base/head stay the trained models'.
    seeds: tuple[int, int] | None = None  # seeds at base, at head
    seed_means: tuple[float, float] | None = None
    seed_sd: tuple[float, float] | None = None
    df: float | None = None  # Welch–Satterthwaite degrees of freedom
    test_se: float | None = None  # the test rows' SE alone (se then includes the seed spread)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: `MetricInterval.method` suffix when the change is judged on seed means.
SEED_MEANS = "mean over estimator seeds"


def seed_values(record: Mapping[str, Any] | None, metric: str) -> SeedSpread | None:
    """A metric's spread over seeds in a seed_noise record (None: not measured there)."""
    metrics = record.get("metrics") if isinstance(record, Mapping) else None
    values = metrics.get(metric) if isinstance(metrics, Mapping) else None
    return SeedSpread.of(values) if isinstance(values, list) else None


def with_seed_means(
    interval: MetricInterval,
    base: SeedSpread | None,
    head: SeedSpread | None,
    rule: MetricRule | None,
) -> MetricInterval:
    """`interval` judged on the mean over estimator seeds, when both sides measured their spread.

    Unchanged when a side did not measure it, or when neither side's metric moves with the seed
    (deterministic estimators: the seed means are the trained models' values, and the test-row
    interval is already the whole story).
    """
    if base is None or head is None or (base.sd == 0 and head.sd == 0):
        return interval
    change = seed_means_change(base, head, interval.se, interval.confidence)
    if not (math.isfinite(change.low) and math.isfinite(change.high)):
        status = NO_SIGNIFICANT_CHANGE
    elif rule is not None:
        status = str(classify_change(change, rule, base.mean))
    else:
        status = NO_SIGNIFICANT_CHANGE
    return replace(
        interval,
        delta=change.estimate,
        low=change.low,
        high=change.high,
        se=change.se,
        status=status,
        method=f"{interval.method} + {SEED_MEANS}",
        seeds=(base.n, head.n),
        seed_means=(base.mean, head.mean),
        seed_sd=(base.sd, head.sd),
        df=change.df,
        test_se=interval.se,
    )


def supported(task: str, names: Sequence[str]) -> list[str]:
    """The metrics of `names` the bootstrap computes for `task`, in the given order."""
    known = TASK_METRICS.get(task, ())
    return [n for n in names if n in known]


def metric_intervals(
    paired: Paired,
    names: Sequence[str],
    rules: Mapping[str, MetricRule],
    settings: Settings = Settings(),
) -> dict[str, MetricInterval]:
    """Interval and status of each metric in `names` the bootstrap supports for the task.

    Metrics without a rule get the interval and status "no significant change" unless their
    interval excludes zero (then improved/regressed by the bootstrap's direction, no minimum).
    """
    wanted = supported(paired.task, names)
    if not wanted or paired.rows == 0:
        return {}
    kw: dict[str, Any] = {
        "n_resamples": settings.resamples,
        "seed": settings.seed,
        "alpha": settings.alpha,
        "method": settings.method,
        "min_rows": settings.normal_min_rows,
    }
    if paired.task == "binary":
        decided = [n for n in wanted if n in DECISION_METRICS]
        decisions = None
        if decided:
            assert paired.base_pred is not None and paired.head_pred is not None
            # Each revision's own decisions (its own threshold): one bootstrap, one set of weights.
            decisions = (paired.base_pred, paired.head_pred)
        changes = paired_intervals(
            paired.y,
            paired.base_score,
            paired.head_score,
            wanted,
            task="binary",
            decisions=decisions,
            **kw,
        )
    else:
        changes = paired_intervals(
            paired.y,
            paired.base_score,
            paired.head_score,
            wanted,
            task="regression" if paired.task == "regression" else "multiclass",
            **kw,
        )
    out: dict[str, MetricInterval] = {}
    for name in wanted:
        change = changes[name]
        rule = rules.get(name)
        delta = change.delta
        if not (math.isfinite(delta.low) and math.isfinite(delta.high)):
            status = NO_SIGNIFICANT_CHANGE
        elif rule is not None:
            status = str(classify_change(delta, rule, change.base.estimate))
        else:
            status = NO_SIGNIFICANT_CHANGE
        delong = None
        if name == "roc_auc" and paired.task == "binary":
            delong = _delong(paired, settings.alpha)
        out[name] = MetricInterval(
            metric=name,
            base=change.base.estimate,
            head=change.head.estimate,
            delta=delta.estimate,
            low=delta.low,
            high=delta.high,
            se=change.se,
            status=status,
            rows=paired.rows,
            resamples=change.n_resamples,
            confidence=settings.confidence,
            method=METHOD_NAMES.get(change.method, change.method),
            delong=delong,
        )
    return out


def _delong(paired: Paired, alpha: float) -> dict[str, float] | None:
    try:
        d = delong_test(paired.y, paired.base_score, paired.head_score, alpha=alpha)
    except ValueError:  # a class is missing
        return None
    return {
        "delta": d.delta,
        "se": d.se,
        "z": d.z,
        "p_value": d.p_value,
        "low": d.ci_low,
        "high": d.ci_high,
    }


def is_non_inferior(interval: MetricInterval, rule: MetricRule) -> bool:
    """Whether the head loses no more than the rule's tolerance, judged on the interval's bound."""
    return non_inferior((interval.low, interval.high), rule.tolerance, rule.higher_is_better)


# -- fairness ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapJudgement:
    """One fairness gap among the groups with enough data, judged against its limit."""

    statistic: str  # selection_rate | tpr | fpr
    high_group: str | None
    low_group: str | None
    estimate: float | None
    low: float | None
    high: float | None
    limit: float
    passed: bool
    insufficient: tuple[str, ...]  # groups left out for too few rows or positives
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Each fairness statistic of the policy and the group rates whose gap it is.
FAIRNESS_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "equalized_odds_difference": ("tpr", "fpr"),
}


def _rate(raw: Any) -> Rate | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        successes, trials = int(raw["successes"]), int(raw["trials"])
        low, high = float(raw["low"]), float(raw["high"])
    except (KeyError, TypeError, ValueError):
        return None
    estimate = successes / trials if trials else math.nan
    return Rate(successes, trials, estimate, low, high)


def judge_gap(
    groups: Mapping[str, Any],
    statistic: str,
    limit: float,
    min_rows: int,
    min_positives: int,
) -> GapJudgement | None:
    """The largest gap of `statistic` among sufficient groups, failing only when its LOWER bound
    exceeds `limit` (the evidence shows a gap over the limit, not merely a noisy estimate).

    None when `groups` (slices.json `intervals.groups`) cannot be read.
    """
    usable: list[tuple[str, Rate]] = []
    left_out: list[str] = []
    for name in sorted(groups):
        g = groups[name]
        if not isinstance(g, Mapping):
            return None
        r = _rate(g.get(statistic))
        if r is None:
            return None
        if int(g.get("rows", 0)) < min_rows or int(g.get("positives", 0)) < min_positives:
            left_out.append(name)
        elif r.trials > 0:
            usable.append((name, r))
    if len(usable) < 2:
        detail = "fewer than two groups with enough data"
        return GapJudgement(
            statistic, None, None, None, None, None, limit, True, tuple(left_out), detail
        )
    usable.sort(key=lambda x: x[1].estimate)
    (lo_name, lo), (hi_name, hi) = usable[0], usable[-1]
    d, low, high = newcombe_interval(hi, lo)
    passed = low <= limit + 1e-12
    verb = "<=" if passed else ">"
    detail = (
        f"{statistic} gap {d:.4f} [{low:.4f}, {high:.4f}] ({hi_name} vs {lo_name}); "
        f"lower bound {verb} {limit:g}"
    )
    return GapJudgement(
        statistic, hi_name, lo_name, d, low, high, limit, passed, tuple(left_out), detail
    )
