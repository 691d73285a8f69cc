"""The normal (delta-method) intervals of gitml.stats.normal: exact gradients, agreement with the
paired bootstrap where `paired_intervals` uses them, coverage, and the report's wiring."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from gitml.compare import MetricRule
from gitml.intervals import Settings, metric_intervals
from gitml.predictions import Paired
from gitml.stats import (
    NORMAL_MIN_CLASS_ROWS,
    NORMAL_MIN_ROWS,
    PairedMetrics,
    delong_test,
    paired_bootstrap,
    paired_intervals,
    paired_normal,
)
from gitml.stats.normal import gradients
from gitml.stats.weighted import TASK_METRICS

pytestmark = pytest.mark.unit

BINARY = ["roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"]


def _binary(rng: np.random.Generator, n: int, prevalence: float = 0.3, decimals: int | None = None):
    y = (rng.random(n) < prevalence).astype(int)
    noise = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n)
    base = special.expit(1.0 * (2 * y - 1) + noise[:, 0] - 0.5)
    head = special.expit(1.2 * (2 * y - 1) + noise[:, 1] - 0.5)
    if decimals is not None:  # ties within and across classes
        base, head = np.round(base, decimals), np.round(head, decimals)
    return y, base, head


def _weighted(paired: PairedMetrics, w: np.ndarray) -> dict[str, tuple[float, float]]:
    """(base, head) of every metric under row weights `w` (caller's order), float64 throughout."""
    got = paired.evaluate(w[paired.order][None, :].astype(np.float64))
    return {m: (float(b[0]), float(b[0] + d[0])) for m, (b, d) in got.items()}


def _check_gradients(task, y, base, head, metrics, rng, **kw) -> None:
    """Values equal the vectorised metrics (checked against sklearn elsewhere); directional
    derivatives equal central finite differences; gradients sum to 0 (scale invariance)."""
    grads = gradients(task, y, base, head, metrics, **kw)
    paired = PairedMetrics(task, y, base, head, metrics, **kw)
    point = _weighted(paired, np.ones(len(y)))
    eps = 1e-6
    for _ in range(3):
        v = rng.normal(size=len(y))
        up, down = _weighted(paired, 1 + eps * v), _weighted(paired, 1 - eps * v)
        for name in metrics:
            vb, vh, gb, gh = grads[name]
            assert (vb, vh) == pytest.approx(point[name], rel=1e-9, abs=1e-12), name
            for side, g in ((0, gb), (1, gh)):
                numeric = (up[name][side] - down[name][side]) / (2 * eps)
                assert g @ v == pytest.approx(numeric, rel=1e-4, abs=1e-8), (name, side)
                assert abs(g.sum()) < 1e-12, name


@pytest.mark.parametrize("decimals", [None, 1])
def test_binary_gradients_are_the_derivatives_of_the_weighted_metrics(decimals) -> None:
    rng = np.random.default_rng(1)
    y, base, head = _binary(rng, 500, decimals=decimals)
    _check_gradients("binary", y, base, head, BINARY, rng, threshold=0.4)
    decisions = ((base >= 0.3).astype(int), (head >= 0.6).astype(int))
    _check_gradients("binary", y, base, head, ["accuracy", "f1"], rng, decisions=decisions)


def test_multiclass_and_regression_gradients_are_the_derivatives() -> None:
    rng = np.random.default_rng(2)
    n, k = 600, 4
    y = rng.integers(0, k, n)
    pb = special.softmax(rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y], axis=1)
    ph = special.softmax(rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y], axis=1)
    _check_gradients("multiclass", y, pb, ph, list(TASK_METRICS["multiclass"]), rng)
    target = 50 + 10 * rng.normal(size=n)
    pred_b, pred_h = target + rng.normal(scale=4, size=n), target + rng.normal(scale=3, size=n)
    _check_gradients("regression", target, pred_b, pred_h, ["rmse", "mae", "r2", "mape"], rng)


def test_auc_variance_is_delongs() -> None:
    rng = np.random.default_rng(3)
    y, a, b = _binary(rng, 5000, decimals=2)
    normal = paired_normal(y, a, b, ["roc_auc"])["roc_auc"]
    delong = delong_test(y, a, b)
    assert normal.delta.estimate == pytest.approx(delong.delta, abs=1e-12)
    # The influence-function variance is DeLong's with 1/m instead of 1/(m - 1) per class.
    assert normal.se**2 == pytest.approx(delong.variance, rel=2e-3)


def _agree(normal, boot, tolerance: float) -> None:
    """Both intervals (delta, base, head) agree to `tolerance` × the bootstrap's width."""
    for name, b in boot.items():
        n = normal[name]
        assert n.se == pytest.approx(b.se, rel=0.1), name
        for which in ("delta", "base", "head"):
            ni, bi = getattr(n, which), getattr(b, which)
            width = bi.high - bi.low
            assert ni.estimate == pytest.approx(bi.estimate, abs=1e-9), (name, which)
            assert abs(ni.low - bi.low) <= tolerance * width, (name, which, ni, bi)
            assert abs(ni.high - bi.high) <= tolerance * width, (name, which, ni, bi)


def test_normal_intervals_agree_with_the_bootstrap_where_auto_uses_them() -> None:
    # The smallest test set "auto" judges with the normal interval: NORMAL_MIN_ROWS rows, about
    # 2 * NORMAL_MIN_CLASS_ROWS positives (1%), scores with ties (3 decimals).
    rng = np.random.default_rng(4)
    n = NORMAL_MIN_ROWS
    y, base, head = _binary(rng, n, prevalence=2 * NORMAL_MIN_CLASS_ROWS / n, decimals=3)
    kw = {"decisions": ((base >= 0.2).astype(int), (head >= 0.25).astype(int))}
    auto = paired_intervals(y, base, head, BINARY, **kw)
    assert {c.method for c in auto.values()} == {"normal"}
    boot = paired_bootstrap(y, base, head, BINARY, n_resamples=1000, seed=1, **kw)
    # Within 10% of the bootstrap interval's width (its 1,000 resamples alone put 2-5% Monte Carlo
    # noise on each bound; the rest is the skew the percentile interval keeps, largest for the
    # base and head losses at 1% prevalence).
    _agree(auto, boot, tolerance=0.1)

    k = 3
    codes = rng.integers(0, k, n)
    pb = special.softmax(rng.normal(size=(n, k)) + 0.5 * np.eye(k)[codes], axis=1)
    ph = special.softmax(rng.normal(size=(n, k)) + 0.6 * np.eye(k)[codes], axis=1)
    names = list(TASK_METRICS["multiclass"])
    auto = paired_intervals(codes, pb, ph, names)
    assert {c.method for c in auto.values()} == {"normal"}
    _agree(auto, paired_bootstrap(codes, pb, ph, names, n_resamples=1000, seed=2), 0.1)


def test_normal_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    # As the bootstrap's coverage test (test_intervals.py), at 2,000 rows, far below the size
    # where "auto" uses it: binormal scores, population AUC Phi(d / sqrt(2)).
    d_a, d_b, t, prevalence = 1.0, 1.3, 0.6, 0.4
    true_auc = special.ndtr(d_b / math.sqrt(2)) - special.ndtr(d_a / math.sqrt(2))

    def accuracy(d: float) -> float:
        return prevalence * (1 - special.ndtr(t - d)) + (1 - prevalence) * special.ndtr(t)

    truth = {"roc_auc": true_auc, "accuracy": accuracy(d_b) - accuracy(d_a)}
    rng = np.random.default_rng(2025)
    reps, n = 400, 2000
    covered = dict.fromkeys(truth, 0)
    for _ in range(reps):
        y = (rng.random(n) < prevalence).astype(int)
        noise = rng.multivariate_normal([0, 0], [[1.0, 0.5], [0.5, 1.0]], size=n)
        result = paired_normal(
            y, d_a * y + noise[:, 0], d_b * y + noise[:, 1], list(truth), threshold=t
        )
        for name, value in truth.items():
            covered[name] += result[name].delta.low <= value <= result[name].delta.high
    for name, hits in covered.items():
        assert 0.92 <= hits / reps <= 0.98, f"{name}: coverage {hits / reps:.3f}"


def test_paired_intervals_chooses_by_size_and_class_counts() -> None:
    rng = np.random.default_rng(5)
    y, base, head = _binary(rng, 3000, prevalence=0.1)
    small = paired_intervals(y, base, head, ["roc_auc"], n_resamples=200)
    assert small["roc_auc"].method == "bootstrap" and small["roc_auc"].n_resamples == 200
    lowered = paired_intervals(y, base, head, ["roc_auc"], min_rows=3000, min_class_rows=100)
    assert lowered["roc_auc"].method == "normal" and lowered["roc_auc"].n_resamples == 0
    # Too few positives (about 300 < 1,000): still the bootstrap.
    few = paired_intervals(y, base, head, ["roc_auc"], n_resamples=200, min_rows=3000)
    assert few["roc_auc"].method == "bootstrap"
    forced = paired_intervals(y, base, head, ["roc_auc"], method="normal")
    assert forced == lowered
    again = paired_intervals(y, base, head, ["roc_auc"], method="normal")
    assert again == forced  # deterministic
    with pytest.raises(ValueError, match="method"):
        paired_intervals(y, base, head, ["roc_auc"], method="jackknife")  # type: ignore[arg-type]


def test_metric_intervals_record_the_method() -> None:
    rng = np.random.default_rng(6)
    y, base, head = _binary(rng, 4000, prevalence=0.4)
    preds = ((base >= 0.5).astype(int), (head >= 0.5).astype(int))
    paired = Paired("binary", y, base, head, *preds)
    rules = {"roc_auc": MetricRule(True, 0.002, 0.0, 0.005, None)}
    boot = metric_intervals(paired, ["roc_auc", "f1"], rules, Settings(resamples=200))
    normal = metric_intervals(paired, ["roc_auc", "f1"], rules, Settings(normal_min_rows=4000))
    assert boot["roc_auc"].method == "paired bootstrap" and boot["roc_auc"].resamples == 200
    for name in ("roc_auc", "f1"):
        n, b = normal[name], boot[name]
        assert n.method == "normal approximation (delta method)" and n.resamples == 0
        assert n.delta == pytest.approx(b.delta, abs=1e-12)
        assert n.se == pytest.approx(b.se, rel=0.2)
    assert normal["roc_auc"].delong is not None
    assert normal["roc_auc"].se == pytest.approx(normal["roc_auc"].delong["se"], rel=1e-2)
