"""A change judged on the mean over estimator seeds: test-row noise plus the spread between seeds.

The paired bootstrap answers "do these two fitted models differ on the population the test rows
come from?". Two fits of the same configuration that differ only in the estimator's seed
(bagging, feature sampling, early-stopping splits) do differ, mostly in calibration: a random
forest's log loss moves by about as much between seeds as a real change would. A reviewer asks
about the change, not about the luck of one seed, so when both revisions carry their metric under
several estimator seeds (the `seed_noise` stage) the change is judged on the means:

    Δ̄ = mean(head seeds) − mean(base seeds)
    SE² = SE²(test rows, paired) + s²_base / n_base + s²_head / n_head

with a Student t quantile on Welch–Satterthwaite degrees of freedom (Welch 1947; Satterthwaite
1946), the test-row part counted as known. The test-row SE of the single models stands in for
that of the means: averaging seeds only removes seed-by-row noise, so this errs wide.

Pure: numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class SeedSpread:
    """One revision's metric under `n` estimator seeds: mean and sample standard deviation."""

    n: int
    mean: float
    sd: float

    @classmethod
    def of(cls, values: Sequence[float]) -> SeedSpread | None:
        """The spread of `values` (None when fewer than two finite values: not measured)."""
        v = np.asarray([x for x in values if isinstance(x, int | float)], dtype="float64")
        if len(v) < 2 or not np.all(np.isfinite(v)):
            return None
        return cls(len(v), float(v.mean()), float(v.std(ddof=1)))


@dataclass(frozen=True)
class SeedMeansChange:
    """head − base of the seed means, with its interval."""

    estimate: float
    low: float
    high: float
    se: float
    df: float  # Welch–Satterthwaite degrees of freedom (inf: no spread between seeds)


def seed_means_change(
    base: SeedSpread, head: SeedSpread, test_se: float, confidence: float = 0.95
) -> SeedMeansChange:
    """The interval of mean(head) − mean(base), from the test rows' SE and both seed spreads."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not (math.isfinite(test_se) and test_se >= 0):
        raise ValueError(f"test_se must be a finite number >= 0, got {test_se}")
    vb, vh = base.sd**2 / base.n, head.sd**2 / head.n
    var = test_se**2 + vb + vh
    tail = vb**2 / (base.n - 1) + vh**2 / (head.n - 1)
    df = var**2 / tail if tail > 0 else math.inf
    # scipy.special's quantiles (what scipy.stats.norm/t.ppf call), so importing this module
    # does not import scipy.stats (~0.5 s for every command that compares metrics).
    level = 0.5 + confidence / 2
    q = float(special.ndtri(level) if math.isinf(df) else special.stdtrit(df, level))
    se = math.sqrt(var)
    estimate = head.mean - base.mean
    return SeedMeansChange(estimate, estimate - q * se, estimate + q * se, se, df)
