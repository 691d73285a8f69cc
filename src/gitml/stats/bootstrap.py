"""Paired bootstrap intervals for the change of a metric between two scorers on the same rows.

Each resample gives every row a Poisson(1) weight (the Poisson bootstrap: Hanley & MacGibbon
2006, Chamandy et al. 2012; asymptotically the same as Efron's multinomial resampling, and it can
be drawn block by block). Base and head are scored under the *same* weights, so the interval of
the difference accounts for their correlation (a paired bootstrap). The interval is the
percentile interval of the resampled differences (Efron & Tibshirani 1993, ch. 13).

Resamples are processed in blocks of columns of the (rows × resamples) weight matrix, small enough that the peak memory
stays bounded (about 40 bytes per weight in a block, see `BLOCK_WEIGHTS`), and every built-in metric
of a block is computed at once by `gitml.stats.weighted.PairedMetrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from threadpoolctl import threadpool_limits

from gitml.stats.weighted import HIGHER_IS_BETTER, TASK_METRICS, PairedMetrics, Task

#: Weights per block of resamples (resamples × rows); about 40 bytes each at the peak, so ~340 MB.
BLOCK_WEIGHTS = 1 << 23

#: A metric the bootstrap does not know: f(y_true, score, sample_weight) -> float. It is called
#: twice per resample (slow); the built-in names are vectorised.
MetricFn = Callable[[NDArray[Any], NDArray[Any], NDArray[np.float64]], float]

_TABLE_BITS = 16


def _poisson_table() -> NDArray[np.uint8]:
    """Poisson(1) quantiles at the midpoints of 2**16 equal probability cells (inverse CDF)."""
    cells = (np.arange(1 << _TABLE_BITS) + 0.5) / (1 << _TABLE_BITS)
    cdf = special.pdtr(np.arange(32), 1.0)
    return np.searchsorted(cdf, cells, side="left").astype(np.uint8)


_POISSON = _poisson_table()


def poisson_weights(rng: np.random.Generator, shape: tuple[int, int]) -> NDArray[np.uint8]:
    """Poisson(1) bootstrap weights, drawn by inverse CDF from 16 random bits each.

    The bits are the generator's raw 64-bit output cut in four (uniform and independent, like
    `rng.integers(0, 2**16)`, without its per-value overhead). The quantisation moves no
    probability mass by more than 2**-16 (weights above 7, whose total probability is 1e-5, are
    folded into 7): mean 1 and variance 1 to within 1e-4.
    """
    size = shape[0] * shape[1]
    raw = rng.bit_generator.random_raw(-(-size // 4))
    bits = np.asarray(raw, dtype=np.uint64).view(np.uint16)[:size]
    return _POISSON[bits].reshape(shape)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval [low, high]."""

    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class MetricChange:
    """One metric on the same rows: base, head and the head − base difference with intervals."""

    metric: str
    base: Interval
    head: Interval
    delta: Interval
    se: float  # bootstrap standard error of the difference
    higher_is_better: bool | None
    n_resamples: int  # resamples where the metric was defined (e.g. both classes present)
    alpha: float
    method: str = "bootstrap"  # or "normal" (gitml.stats.normal)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: NDArray[np.float64], alpha: float) -> tuple[float, float]:
    ok = values[np.isfinite(values)]
    if len(ok) == 0:
        return math.nan, math.nan
    low, high = np.quantile(ok, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def infer_task(score: NDArray[Any], metric_names: Sequence[str]) -> Task:
    """Multiclass for (n, K) scores, regression when every metric is a regression one, else binary."""
    if score.ndim == 2:
        return "multiclass"
    if metric_names and all(m in TASK_METRICS["regression"] for m in metric_names):
        return "regression"
    return "binary"


def paired_bootstrap(
    y_true: ArrayLike,
    score_base: ArrayLike,
    score_head: ArrayLike,
    metric_fns: Sequence[str | tuple[str, MetricFn]],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    *,
    task: Task | None = None,
    threshold: float = 0.5,
    decisions: tuple[ArrayLike, ArrayLike] | None = None,
) -> dict[str, MetricChange]:
    """Base, head, difference and percentile intervals of each metric from one paired bootstrap.

    Args:
        y_true: labels (binary 0/1, multiclass 0..K-1) or regression targets.
        score_base: the baseline's scores: P(positive) (binary), (n, K) probabilities
            (multiclass) or predictions (regression).
        score_head: the candidate's scores, same shape.
        metric_fns: built-in names (`TASK_METRICS`), vectorised, or (name, fn) pairs with
            fn(y_true, score, sample_weight) -> float, evaluated per resample.
        n_resamples: bootstrap resamples.
        seed: seed of `numpy.random.default_rng`; the same inputs and seed give the same result.
        alpha: 1 − confidence level of the intervals.
        task: "binary", "multiclass" or "regression"; inferred from the scores' shape and the
            metric names when None.
        threshold: binary decision threshold for accuracy and F1.
        decisions: binary 0/1 decisions of (base, head) for accuracy and F1, when each has its
            own threshold (overrides `threshold`).

    Returns:
        Per metric name, in the order given: its `MetricChange`.
    """
    y = np.asarray(y_true)
    base = np.asarray(score_base, dtype=np.float64)
    head = np.asarray(score_head, dtype=np.float64)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    builtin = [m for m in metric_fns if isinstance(m, str)]
    custom = [m for m in metric_fns if not isinstance(m, str)]
    task = task or infer_task(base, builtin)
    paired = PairedMetrics(task, y, base, head, builtin, threshold=threshold, decisions=decisions)
    n = paired.n
    if n == 0:
        raise ValueError("no rows to bootstrap")

    point = paired.evaluate(np.ones((1, n)))
    point_custom = {
        name: (float(fn(y, base, np.ones(n))), float(fn(y, head, np.ones(n))))
        for name, fn in custom
    }
    base_draws = {m: np.empty(n_resamples) for m in builtin} | {
        name: np.empty(n_resamples) for name, _ in custom
    }
    delta_draws = {m: np.empty(n_resamples) for m in base_draws}
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, BLOCK_WEIGHTS // n))
    # The products here are thin and memory-bound: BLAS threads only contend (5x slower on a
    # busy 2-core machine), so they run single-threaded for the duration.
    with threadpool_limits(limits=1, user_api="blas"):
        _resample(paired, custom, rng, n_resamples, block, base_draws, delta_draws, y, base, head)

    out: dict[str, MetricChange] = {}
    for entry in metric_fns:
        name = entry if isinstance(entry, str) else entry[0]
        if isinstance(entry, str):
            b0, d0 = point[name]
            b_point, d_point = float(b0[0]), float(d0[0])
        else:
            b_point, h_point = point_custom[name]
            d_point = h_point - b_point
        b_draws, d_draws = base_draws[name], delta_draws[name]
        h_draws = b_draws + d_draws
        valid = np.isfinite(d_draws)
        out[name] = MetricChange(
            metric=name,
            base=Interval(b_point, *_percentile(b_draws, alpha)),
            head=Interval(b_point + d_point, *_percentile(h_draws, alpha)),
            delta=Interval(d_point, *_percentile(d_draws, alpha)),
            se=float(np.std(d_draws[valid], ddof=1)) if valid.sum() > 1 else math.nan,
            higher_is_better=HIGHER_IS_BETTER.get(name),
            n_resamples=int(valid.sum()),
            alpha=alpha,
        )
    return out


def _resample(
    paired: PairedMetrics,
    custom: Sequence[tuple[str, MetricFn]],
    rng: np.random.Generator,
    n_resamples: int,
    block: int,
    base_draws: dict[str, NDArray[np.float64]],
    delta_draws: dict[str, NDArray[np.float64]],
    y: NDArray[Any],
    base: NDArray[np.float64],
    head: NDArray[np.float64],
) -> None:
    """Fill the draws of every metric, `block` resamples at a time (one resample per column)."""
    y_canon = y[paired.order]
    base_canon, head_canon = base[paired.order], head[paired.order]
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        weights = poisson_weights(rng, (paired.n, stop - start))
        for name, (b, d) in paired.evaluate_columns(weights).items():
            base_draws[name][start:stop] = b
            delta_draws[name][start:stop] = d
        for name, fn in custom:
            for i, w in enumerate(weights.T.astype(np.float64), start=start):
                b_val = float(fn(y_canon, base_canon, w))
                base_draws[name][i] = b_val
                delta_draws[name][i] = float(fn(y_canon, head_canon, w)) - b_val
