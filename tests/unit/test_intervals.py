"""The statistics core (gitml.stats) against sklearn, fairlearn, closed forms and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy import special
from sklearn import metrics as skm

from gitml.compare import MetricRule
from gitml.stats import (
    Interval,
    PairedMetrics,
    Verdict,
    classify_change,
    delong_test,
    group_rates,
    largest_gap,
    midranks,
    newcombe_interval,
    non_inferior,
    paired_bootstrap,
    poisson_weights,
    rate,
    wilson_interval,
)
from gitml.stats.weighted import TASK_METRICS, cumsum_exclusive

pytestmark = pytest.mark.unit

BINARY = ["roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"]


def _binary_data(rng: np.random.Generator, n: int, decimals: int | None = None):
    y = rng.integers(0, 2, n)
    base = special.expit(1.0 * y + rng.normal(size=n) - 0.3)
    head = special.expit(1.3 * y + rng.normal(size=n) - 0.3)
    if decimals is not None:  # ties, within and across classes
        base, head = np.round(base, decimals), np.round(head, decimals)
    return y, base, head


def _in_rows(paired: PairedMetrics, w_canonical: np.ndarray) -> np.ndarray:
    """Canonical-order weights back in the caller's row order."""
    w = np.empty(paired.n)
    w[paired.order] = w_canonical
    return w


# -- vectorised metrics against sklearn ----------------------------------------------------------


@pytest.mark.parametrize("decimals", [None, 2, 1])
def test_binary_metrics_match_sklearn_under_bootstrap_counts(decimals: int | None) -> None:
    rng = np.random.default_rng(11)
    y, base, head = _binary_data(rng, 1500, decimals)
    paired = PairedMetrics("binary", y, base, head, BINARY, threshold=0.5)
    weights = poisson_weights(rng, (6, paired.n))
    got = paired.evaluate(weights)
    for i in range(len(weights)):
        w = _in_rows(paired, weights[i])
        for which, score in ((0, base), (1, head)):
            pred = (score >= 0.5).astype(int)
            expected = {
                "roc_auc": skm.roc_auc_score(y, score, sample_weight=w),
                "average_precision": skm.average_precision_score(y, score, sample_weight=w),
                "accuracy": skm.accuracy_score(y, pred, sample_weight=w),
                "f1": skm.f1_score(y, pred, sample_weight=w),
                "log_loss": skm.log_loss(y, score, sample_weight=w),
                "brier": skm.brier_score_loss(y, score, sample_weight=w),
            }
            for name, value in expected.items():
                b, d = got[name]
                assert b[i] + which * d[i] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_multiclass_and_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    n, k = 900, 4
    y = rng.integers(0, k, n)
    logits_b = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    logits_h = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    pb, ph = special.softmax(logits_b, axis=1), special.softmax(logits_h, axis=1)
    paired = PairedMetrics("multiclass", y, pb, ph, list(TASK_METRICS["multiclass"]))
    weights = poisson_weights(rng, (4, n))
    got = paired.evaluate(weights)
    for i in range(4):
        w = _in_rows(paired, weights[i])
        for which, proba in ((0, pb), (1, ph)):
            pred = proba.argmax(axis=1)
            expected = {
                "accuracy": skm.accuracy_score(y, pred, sample_weight=w),
                "f1": skm.f1_score(y, pred, average="macro", sample_weight=w),
                "log_loss": skm.log_loss(y, proba, sample_weight=w, labels=range(k)),
                "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", sample_weight=w),
                "average_precision": skm.average_precision_score(
                    np.eye(k)[y], proba, average="macro", sample_weight=w
                ),
                "brier": float(np.average(((proba - np.eye(k)[y]) ** 2).sum(axis=1), weights=w)),
            }
            for name, value in expected.items():
                b, d = got[name]
                assert b[i] + which * d[i] == pytest.approx(value, rel=1e-6), name

    target = 50 + 10 * rng.normal(size=n)
    pred_b = target + rng.normal(scale=4, size=n)
    pred_h = target + rng.normal(scale=3, size=n)
    paired = PairedMetrics("regression", target, pred_b, pred_h, ["rmse", "mae", "r2", "mape"])
    got = paired.evaluate(weights)
    for i in range(4):
        w = _in_rows(paired, weights[i])
        for which, pred in ((0, pred_b), (1, pred_h)):
            expected = {
                "rmse": math.sqrt(skm.mean_squared_error(target, pred, sample_weight=w)),
                "mae": skm.mean_absolute_error(target, pred, sample_weight=w),
                "r2": skm.r2_score(target, pred, sample_weight=w),
                "mape": skm.mean_absolute_percentage_error(target, pred, sample_weight=w),
            }
            for name, value in expected.items():
                b, d = got[name]
                assert b[i] + which * d[i] == pytest.approx(value, rel=1e-5), name


def test_blocked_cumsum_is_exact() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 15, 16, 17, 1000):
        w = poisson_weights(rng, (n, 3))  # one weight vector per column
        expected = np.concatenate([np.zeros((1, 3)), np.cumsum(w, axis=0)], axis=0)
        for dtype in (np.float32, np.float64):
            assert np.array_equal(cumsum_exclusive(w, dtype), expected)


def test_poisson_weights_have_mean_and_variance_one() -> None:
    w = poisson_weights(np.random.default_rng(1), (100, 10_000))
    assert w.mean() == pytest.approx(1.0, abs=0.003)
    assert w.var() == pytest.approx(1.0, abs=0.005)
    assert (w == 0).mean() == pytest.approx(math.exp(-1), abs=0.002)


# -- paired bootstrap ------------------------------------------------------------------------------


def test_point_estimates_equal_sklearn_and_results_are_seeded() -> None:
    rng = np.random.default_rng(3)
    y, base, head = _binary_data(rng, 800, decimals=2)
    result = paired_bootstrap(y, base, head, BINARY, n_resamples=200, seed=7)
    assert result["roc_auc"].base.estimate == pytest.approx(skm.roc_auc_score(y, base), abs=1e-12)
    assert result["roc_auc"].head.estimate == pytest.approx(skm.roc_auc_score(y, head), abs=1e-12)
    assert result["log_loss"].delta.estimate == pytest.approx(
        skm.log_loss(y, head) - skm.log_loss(y, base), abs=1e-12
    )
    again = paired_bootstrap(y, base, head, BINARY, n_resamples=200, seed=7)
    other = paired_bootstrap(y, base, head, BINARY, n_resamples=200, seed=8)
    assert again == result
    assert other["roc_auc"].delta != result["roc_auc"].delta
    for change in result.values():
        assert change.delta.low <= change.delta.estimate <= change.delta.high
        assert change.n_resamples == 200


def test_a_custom_metric_function_gives_the_builtin_interval() -> None:
    rng = np.random.default_rng(4)
    y, base, head = _binary_data(rng, 300)

    def accuracy(y_true, score, sample_weight):
        return skm.accuracy_score(y_true, score >= 0.5, sample_weight=sample_weight)

    result = paired_bootstrap(
        y, base, head, ["accuracy", ("acc_fn", accuracy)], n_resamples=100, seed=1
    )
    builtin, custom = result["accuracy"], result["acc_fn"]
    assert custom.delta.estimate == pytest.approx(builtin.delta.estimate)
    assert custom.delta.low == pytest.approx(builtin.delta.low)
    assert custom.delta.high == pytest.approx(builtin.delta.high)


def test_unknown_metric_and_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="not built in"):
        paired_bootstrap([0, 1], [0.2, 0.8], [0.3, 0.7], ["rmse_typo"], task="binary")
    with pytest.raises(ValueError, match="shapes differ"):
        paired_bootstrap([0, 1, 1], [0.2, 0.8], [0.3, 0.7], ["roc_auc"])


def test_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    # Binormal scorers: score = d * y + noise, noise ~ N(0, 1) correlated 0.5 between the two
    # scorers (paired). Population AUC = Phi(d / sqrt(2)); accuracy at threshold t =
    # pi * (1 - Phi(t - d)) + (1 - pi) * Phi(t).
    d_a, d_b, t, prevalence = 1.0, 1.3, 0.6, 0.4
    true_auc = special.ndtr(d_b / math.sqrt(2)) - special.ndtr(d_a / math.sqrt(2))

    def accuracy(d: float) -> float:
        return prevalence * (1 - special.ndtr(t - d)) + (1 - prevalence) * special.ndtr(t)

    true_acc = accuracy(d_b) - accuracy(d_a)
    rng = np.random.default_rng(2024)
    cov = [[1.0, 0.5], [0.5, 1.0]]
    reps, n = 400, 300
    covered = {"roc_auc": 0, "accuracy": 0}
    for rep in range(reps):
        y = (rng.random(n) < prevalence).astype(int)
        noise = rng.multivariate_normal([0, 0], cov, size=n)
        a, b = d_a * y + noise[:, 0], d_b * y + noise[:, 1]
        result = paired_bootstrap(
            y, a, b, ["roc_auc", "accuracy"], n_resamples=500, seed=rep, threshold=t
        )
        for name, truth in (("roc_auc", true_auc), ("accuracy", true_acc)):
            covered[name] += result[name].delta.low <= truth <= result[name].delta.high
    for name, hits in covered.items():
        assert 0.92 <= hits / reps <= 0.98, f"{name}: coverage {hits / reps:.3f}"


# -- DeLong ----------------------------------------------------------------------------------------


def _naive_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """O(n^2) DeLong from the definition: placement values with 1/2 for ties."""
    pos, neg = y == 1, y == 0
    comps = []
    for s in (a, b):
        psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        comps.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    (v10a, v01a, auc_a), (v10b, v01b, auc_b) = comps
    var = np.var(v10b - v10a, ddof=1) / pos.sum() + np.var(v01b - v01a, ddof=1) / neg.sum()
    return auc_a, auc_b, var


def test_delong_matches_its_definition_with_ties() -> None:
    rng = np.random.default_rng(8)
    y, a, b = _binary_data(rng, 400, decimals=1)
    result = delong_test(y, a, b)
    auc_a, auc_b, var = _naive_delong(y, a, b)
    assert result.auc_a == pytest.approx(skm.roc_auc_score(y, a), abs=1e-12)
    assert result.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert result.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert result.variance == pytest.approx(var, rel=1e-10)
    assert result.p_value == pytest.approx(2 * special.ndtr(-abs(result.z)))
    assert result.ci_low < result.delta < result.ci_high
    x = rng.integers(0, 5, 50).astype(float)
    from scipy.stats import rankdata

    assert np.array_equal(midranks(x), rankdata(x))


def test_delong_variance_agrees_with_the_bootstrap_on_a_large_sample() -> None:
    rng = np.random.default_rng(21)
    n = 6000
    y = (rng.random(n) < 0.3).astype(int)
    noise = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n)
    a, b = 1.0 * y + noise[:, 0], 1.2 * y + noise[:, 1]
    delong = delong_test(y, a, b)
    boot = paired_bootstrap(y, a, b, ["roc_auc"], n_resamples=3000, seed=5)["roc_auc"]
    assert boot.se**2 == pytest.approx(delong.variance, rel=0.10)
    assert boot.delta.estimate == pytest.approx(delong.delta, abs=1e-12)


# -- proportions and group rates -------------------------------------------------------------------


@pytest.mark.parametrize("successes,n", [(0, 10), (1, 10), (5, 10), (10, 10), (37, 250), (1, 1)])
def test_wilson_interval_solves_the_score_equation(successes: int, n: int) -> None:
    # The Wilson bounds are the roots p of (p_hat - p)^2 = z^2 p (1 - p) / n.
    try:
        from statsmodels.stats.proportion import proportion_confint
    except ImportError:
        proportion_confint = None
    z = special.ndtri(0.975)
    p_hat = successes / n
    qa, qb, qc = 1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat
    roots = sorted(np.roots([qa, qb, qc]).real)
    low, high = wilson_interval(successes, n)
    assert (low, high) == pytest.approx((max(0.0, roots[0]), min(1.0, roots[1])), abs=1e-12)
    if proportion_confint is not None:
        assert (low, high) == pytest.approx(proportion_confint(successes, n, method="wilson"))


def test_wilson_and_newcombe_reproduce_the_published_examples() -> None:
    # Newcombe (1998), Statistics in Medicine 17: 81/263 (Wilson) and method 10 for two examples.
    r = rate(81, 263)
    assert (round(r.low, 4), round(r.high, 4)) == (0.2553, 0.3662)
    _, low, high = newcombe_interval(rate(56, 70), rate(48, 80))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    _, low, high = newcombe_interval(rate(9, 10), rate(3, 10))
    assert (round(low, 4), round(high, 4)) == (0.1705, 0.8090)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_group_rates_match_fairlearn_and_flag_small_groups() -> None:
    rng = np.random.default_rng(9)
    n = 2000
    groups = rng.choice(["a", "b", "c", "tiny"], size=n, p=[0.5, 0.3, 0.19, 0.01])
    y = (rng.random(n) < 0.4).astype(int)
    pred = (rng.random(n) < np.where(groups == "a", 0.5, 0.3)).astype(int)
    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
    ).by_group
    rates = group_rates(y, pred, groups, min_rows=30, min_positives=10)
    assert [r.group for r in rates] == ["a", "b", "c", "tiny"]
    for r in rates:
        oracle = frame.loc[r.group]
        assert r.rows == oracle["count"]
        for name in ("selection_rate", "tpr", "fpr"):
            got = getattr(r, name)
            assert got.estimate == pytest.approx(oracle[name], abs=1e-12)
            assert (got.low, got.high) == wilson_interval(got.successes, got.trials)
    status = {r.group: r.status for r in rates}
    assert status == {"a": "ok", "b": "ok", "c": "ok", "tiny": "insufficient data"}
    gap = largest_gap(rates, "selection_rate")
    assert gap is not None and gap.high_group == "a" and gap.low_group in ("b", "c")
    sr = frame["selection_rate"].drop("tiny")
    assert gap.estimate == pytest.approx(sr.max() - sr.min(), abs=1e-12)
    assert gap.low > 0  # a real gap of 0.2 on hundreds of rows


# -- verdicts --------------------------------------------------------------------------------------

AUC_RULE = MetricRule(higher_is_better=True, min_absolute_change=0.002, tolerance=0.005)
LOSS_RULE = MetricRule(higher_is_better=False, min_absolute_change=0.002, tolerance=0.01)


@pytest.mark.parametrize(
    "interval,rule,expected",
    [
        (Interval(0.010, 0.004, 0.016), AUC_RULE, Verdict.IMPROVED),
        (Interval(0.010, -0.001, 0.021), AUC_RULE, Verdict.NO_SIGNIFICANT_CHANGE),  # spans 0
        (Interval(0.001, 0.0005, 0.0015), AUC_RULE, Verdict.NO_SIGNIFICANT_CHANGE),  # too small
        (Interval(-0.010, -0.016, -0.004), AUC_RULE, Verdict.REGRESSED),
        (Interval(-0.010, -0.016, -0.004), LOSS_RULE, Verdict.IMPROVED),  # loss went down
        (Interval(0.010, 0.004, 0.016), LOSS_RULE, Verdict.REGRESSED),
        ((0.004, 0.016), AUC_RULE, Verdict.IMPROVED),
    ],
)
def test_classify_change(interval, rule: MetricRule, expected: Verdict) -> None:
    assert classify_change(interval, rule) == expected


def test_classify_change_uses_the_relative_minimum_with_a_base() -> None:
    rule = MetricRule(min_absolute_change=0.0, min_relative_change=0.05)
    ci = Interval(0.03, 0.01, 0.05)
    assert classify_change(ci, rule, base=0.5) == Verdict.IMPROVED  # needs 0.025
    assert classify_change(ci, rule, base=0.8) == Verdict.NO_SIGNIFICANT_CHANGE  # needs 0.04


def test_non_inferior_is_judged_on_the_worst_bound() -> None:
    assert non_inferior(Interval(-0.001, -0.004, 0.002), 0.005, higher_is_better=True)
    assert not non_inferior(Interval(-0.001, -0.006, 0.004), 0.005, higher_is_better=True)
    assert non_inferior(Interval(0.002, -0.003, 0.009), 0.01, higher_is_better=False)
    assert not non_inferior(Interval(0.002, -0.003, 0.012), 0.01, higher_is_better=False)
    with pytest.raises(ValueError):
        non_inferior((0.1, -0.1), 0.01)
