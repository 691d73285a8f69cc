"""Statistics for honest verdicts: paired bootstrap, DeLong, Wilson/Newcombe intervals, verdicts.

`paired_intervals` picks the paired bootstrap or, on large test sets, its normal (delta-method)
approximation (`gitml.stats.normal`). Pure: numpy and scipy only (plus threadpoolctl, to keep BLAS single-threaded during the
bootstrap); nothing here reads files, git, the clock or global random state. See
docs/statistics.md for the methods and their references.
"""

from gitml.stats.bootstrap import Interval, MetricChange, paired_bootstrap, poisson_weights
from gitml.stats.delong import DeLongResult, delong_test, midranks
from gitml.stats.normal import (
    NORMAL_MIN_CLASS_ROWS,
    NORMAL_MIN_ROWS,
    normal_applies,
    paired_intervals,
    paired_normal,
)
from gitml.stats.proportions import (
    Gap,
    GroupRates,
    Rate,
    group_rates,
    largest_gap,
    newcombe_interval,
    rate,
    wilson_interval,
)
from gitml.stats.verdict import Verdict, classify_change, non_inferior
from gitml.stats.weighted import HIGHER_IS_BETTER, TASK_METRICS, PairedMetrics

__all__ = [
    "HIGHER_IS_BETTER",
    "NORMAL_MIN_CLASS_ROWS",
    "NORMAL_MIN_ROWS",
    "TASK_METRICS",
    "DeLongResult",
    "Gap",
    "GroupRates",
    "Interval",
    "MetricChange",
    "PairedMetrics",
    "Rate",
    "Verdict",
    "classify_change",
    "delong_test",
    "group_rates",
    "largest_gap",
    "midranks",
    "newcombe_interval",
    "non_inferior",
    "normal_applies",
    "paired_bootstrap",
    "paired_intervals",
    "paired_normal",
    "poisson_weights",
    "rate",
    "wilson_interval",
]
