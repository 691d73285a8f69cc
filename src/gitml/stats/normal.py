"""Large-sample normal intervals for the change of a metric, from each row's influence on it.

Every built-in metric θ(w) is a smooth function of row weights w (all ones for the test set as it
is). Its gradient at w = 1, g_k = ∂θ/∂w_k (the empirical influence function divided by n), gives
the variance the Poisson bootstrap estimates by simulation: with independent weights of variance
one, Var*(θ(w)) ≈ Var(Σ_k g_k w_k) = Σ_k g_k², and the bootstrap distribution of θ(w) − θ(1) tends
to the normal one with that variance (the delta method; Efron 1982, *The Jackknife, the Bootstrap
and Other Resampling Plans*, ch. 6, "infinitesimal jackknife"). The interval of head − base uses
the paired gradient g_head − g_base, so it accounts for the scorers' correlation as the paired
bootstrap does. For ROC AUC this variance is DeLong's (1988) up to a factor (m − 1)/m per class.

The gradients are exact (no simulation) and take O(n log n) time: sums for accuracy, F1, log loss,
Brier, RMSE, MAE, R², MAPE (ratios of weighted sums); placement values (DeLong's structural
components) for ROC AUC; cumulative sums over the positives' scores for average precision.

`paired_intervals` uses these intervals only where the two agree: at least `NORMAL_MIN_ROWS` rows
and, for classifiers, `NORMAL_MIN_CLASS_ROWS` rows of every class (tests/unit/test_stats_normal.py
compares both at that size); smaller or more skewed test sets get the paired bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from gitml.stats.bootstrap import Interval, MetricChange, infer_task, paired_bootstrap
from gitml.stats.delong import SortedScores
from gitml.stats.weighted import HIGHER_IS_BETTER, TASK_METRICS, Task

#: Rows from which `paired_intervals(method="auto")` uses the normal interval.
NORMAL_MIN_ROWS = 200_000
#: ... provided every class (binary: positives and negatives) has at least this many rows.
NORMAL_MIN_CLASS_ROWS = 1_000

Method = Literal["auto", "bootstrap", "normal"]

_EPS = float(np.finfo(np.float64).eps)

#: Per metric: (base value, head value, base gradient, head gradient).
Gradients = dict[str, tuple[float, float, NDArray[np.float64], NDArray[np.float64]]]


def _mean_grad(values: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
    """A mean and its gradient with respect to the row weights."""
    mean = float(values.mean())
    return mean, (values - mean) / len(values)


def _ratio_grad(num: NDArray[np.float64], den: NDArray[np.float64]) -> tuple[float, NDArray[Any]]:
    """Σ num / Σ den and its gradient (0 and no gradient when Σ den is 0, as sklearn's F1)."""
    total = float(den.sum())
    if total == 0:
        return 0.0, np.zeros(len(num))
    value = float(num.sum()) / total
    return value, (num - value * den) / total


def _auc_grad(r: SortedScores) -> tuple[float, NDArray[Any]]:
    """ROC AUC (ties count one half) and its gradient, from DeLong's placement values."""
    m, k = len(r.sp), len(r.sn)
    if m == 0 or k == 0:
        return math.nan, np.zeros(m + k)
    v10, v01 = r.placements()
    auc = float(v10.mean())
    return auc, r.scatter((v10 - auc) / m, (v01 - auc) / k)


def _ap_grad(r: SortedScores) -> tuple[float, NDArray[Any]]:
    """Average precision (sklearn's step-wise sum) and its gradient.

    AP(w) = Σ_{i positive} w_i·prec_i(w) / W_pos with prec_i = TP_i / K_i, the weight of the
    positives and of all rows scored >= s_i. Its derivative by w_k at w = 1 is
    ([k positive]·(prec(s_k) − AP) + Σ_{i positive, s_i <= s_k} ([k positive] − prec_i) / K_i) / m.
    """
    sp, sn = r.sp, r.sn
    m, n = len(sp), len(sp) + len(sn)
    if m == 0 or m == n:
        return (math.nan if m == 0 else 1.0), np.zeros(n)
    starts = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]])  # runs of equal positive scores
    values, counts = sp[starts], np.diff(np.r_[starts, m])
    run = np.repeat(np.arange(len(starts)), counts)  # each sorted positive's run
    tp = m - np.concatenate([[0], np.cumsum(counts)[:-1]])  # positives scored >= each value
    k_at = tp + (len(sn) - np.searchsorted(sn, values, "left"))
    prec = tp / k_at
    ap = float((counts * prec).sum() / m)
    a = np.concatenate([[0.0], np.cumsum(counts / k_at)])
    b = np.concatenate([[0.0], np.cumsum(counts * prec / k_at)])
    # Runs scored at or below each row: a positive's own run and those before it.
    at_pos = prec[run] - ap + a[run + 1] - b[run + 1]
    at_neg = -b[np.searchsorted(values, sn, "right")]
    pos_grad, neg_grad = np.empty(m), np.empty(len(sn))
    pos_grad[r.pos_order], neg_grad[r.neg_order] = at_pos / m, at_neg / m
    return ap, r.scatter(pos_grad, neg_grad)


def _binary(
    y: NDArray[Any],
    base: NDArray[np.float64],
    head: NDArray[np.float64],
    metrics: Sequence[str],
    decisions: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> Gradients:
    pos = y.astype(bool)
    yy = pos.astype(np.float64)
    out: Gradients = {}
    cache: dict[int, SortedScores] = {}

    def sorted_by(which: int, score: NDArray[np.float64]) -> SortedScores:
        if which not in cache:
            cache[which] = SortedScores(pos, score)
        return cache[which]

    for name in metrics:
        per: list[tuple[float, NDArray[np.float64]]] = []
        for which, (score, pred) in enumerate(((base, decisions[0]), (head, decisions[1]))):
            if name == "roc_auc":
                per.append(_auc_grad(sorted_by(which, score)))
            elif name == "average_precision":
                per.append(_ap_grad(sorted_by(which, score)))
            elif name == "accuracy":
                per.append(_mean_grad((pred == yy).astype(np.float64)))
            elif name == "f1":
                per.append(_ratio_grad(2 * yy * pred, yy + pred))
            elif name == "log_loss":
                p = np.clip(score, _EPS, 1 - _EPS)
                per.append(_mean_grad(-(yy * np.log(p) + (1 - yy) * np.log1p(-p))))
            else:  # brier
                per.append(_mean_grad((score - yy) ** 2))
        (vb, gb), (vh, gh) = per
        out[name] = (vb, vh, gb, gh)
    return out


def _macro_f1(
    codes: NDArray[np.intp], pred: NDArray[np.intp], k: int
) -> tuple[float, NDArray[np.float64]]:
    """sklearn's macro F1 (over the labels that occur) and its gradient."""
    n = len(codes)
    true_c = np.bincount(codes, minlength=k).astype(np.float64)
    pred_c = np.bincount(pred, minlength=k).astype(np.float64)
    tp_c = np.bincount(codes[codes == pred], minlength=k).astype(np.float64)
    den = true_c + pred_c
    present = den > 0
    f1 = np.divide(2 * tp_c, den, out=np.zeros(k), where=present)
    inv = np.divide(1.0, den, out=np.zeros(k), where=present)
    # Row k only enters the sums of its true class and its predicted class.
    hit = codes == pred
    grad = np.where(
        hit,
        (2 - 2 * f1[codes]) * inv[codes],
        -f1[codes] * inv[codes] - f1[pred] * inv[pred],
    )
    n_present = int(present.sum())
    if n_present == 0:
        return 0.0, np.zeros(n)
    return float(f1[present].mean()), grad / n_present


def _multiclass(
    y: NDArray[Any], base: NDArray[np.float64], head: NDArray[np.float64], metrics: Sequence[str]
) -> Gradients:
    k = base.shape[1]
    codes = y.astype(np.intp)
    rows = np.arange(len(codes))
    out: Gradients = {}
    onehot = (codes[:, None] == np.arange(k)[None, :]).astype(np.float64)
    for name in metrics:
        per: list[tuple[float, NDArray[np.float64]]] = []
        for proba in (base, head):
            pred = np.argmax(proba, axis=1)
            if name == "accuracy":
                per.append(_mean_grad((pred == codes).astype(np.float64)))
            elif name == "log_loss":
                per.append(_mean_grad(-np.log(np.clip(proba[rows, codes], _EPS, 1 - _EPS))))
            elif name == "brier":
                per.append(_mean_grad(((proba - onehot) ** 2).sum(axis=1)))
            elif name in ("roc_auc", "average_precision"):  # one-vs-rest, macro
                grad = _auc_grad if name == "roc_auc" else _ap_grad
                found = [grad(SortedScores(codes == c, proba[:, c])) for c in range(k)]
                per.append(
                    (float(np.mean([v for v, _ in found])), np.mean([g for _, g in found], axis=0))
                )
            else:  # f1 (macro)
                per.append(_macro_f1(codes, pred, k))
        (vb, gb), (vh, gh) = per
        out[name] = (vb, vh, gb, gh)
    return out


def _regression(
    y: NDArray[np.float64],
    base: NDArray[np.float64],
    head: NDArray[np.float64],
    metrics: Sequence[str],
) -> Gradients:
    n = len(y)
    centred = (y - y.mean()) ** 2
    var, var_grad = float(centred.mean()), (centred - centred.mean()) / n
    out: Gradients = {}
    for name in metrics:
        per: list[tuple[float, NDArray[np.float64]]] = []
        for pred in (base, head):
            err = y - pred
            if name == "rmse":
                mse, g = _mean_grad(err**2)
                rmse = math.sqrt(mse)
                per.append((rmse, g / (2 * rmse) if rmse > 0 else np.zeros(n)))
            elif name == "mae":
                per.append(_mean_grad(np.abs(err)))
            elif name == "mape":
                per.append(_mean_grad(np.abs(err) / np.maximum(np.abs(y), _EPS)))
            else:  # r2 = 1 − MSE / Var(y)
                mse, g = _mean_grad(err**2)
                if var == 0:
                    per.append((math.nan, np.zeros(n)))
                else:
                    per.append((1 - mse / var, -(g - (mse / var) * var_grad) / var))
        (vb, gb), (vh, gh) = per
        out[name] = (vb, vh, gb, gh)
    return out


def gradients(
    task: Task,
    y_true: ArrayLike,
    score_base: ArrayLike,
    score_head: ArrayLike,
    metrics: Sequence[str],
    threshold: float = 0.5,
    decisions: tuple[ArrayLike, ArrayLike] | None = None,
) -> Gradients:
    """Each metric's base and head values and their gradients with respect to the row weights.

    Same arguments as `gitml.stats.weighted.PairedMetrics`; the gradients are in the caller's
    row order.
    """
    unknown = [m for m in metrics if m not in TASK_METRICS[task]]
    if unknown:
        raise ValueError(
            f"metrics {unknown} are not built in for task '{task}' "
            f"(built in: {', '.join(TASK_METRICS[task])})"
        )
    y = np.asarray(y_true)
    base = np.asarray(score_base, dtype=np.float64)
    head = np.asarray(score_head, dtype=np.float64)
    if base.shape != head.shape or base.shape[0] != y.shape[0]:
        raise ValueError(
            f"shapes differ: y_true {y.shape}, score_base {base.shape}, score_head {head.shape}"
        )
    if task == "binary":
        if base.ndim != 1:
            raise ValueError("binary scores must be one probability per row (the positive class)")
        if decisions is None:
            pair = ((base >= threshold).astype(np.float64), (head >= threshold).astype(np.float64))
        else:
            pair = (
                np.asarray(decisions[0], dtype=np.float64),
                np.asarray(decisions[1], dtype=np.float64),
            )
        return _binary(y, base, head, metrics, pair)
    if task == "multiclass":
        if base.ndim != 2:
            raise ValueError("multiclass scores must be an (n, K) probability matrix")
        return _multiclass(y, base, head, metrics)
    return _regression(y.astype(np.float64), base, head, metrics)


def paired_normal(
    y_true: ArrayLike,
    score_base: ArrayLike,
    score_head: ArrayLike,
    metrics: Sequence[str],
    alpha: float = 0.05,
    *,
    task: Task | None = None,
    threshold: float = 0.5,
    decisions: tuple[ArrayLike, ArrayLike] | None = None,
) -> dict[str, MetricChange]:
    """Base, head and head − base of each built-in metric with normal (delta-method) intervals.

    The arguments are those of `paired_bootstrap` (built-in metric names only). Each interval is
    estimate ± z·se with se² = Σ_k g_k² (see the module docstring); `n_resamples` is 0 and
    `method` "normal".
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    score = np.asarray(score_base, dtype=np.float64)
    task = task or infer_task(score, metrics)
    if np.asarray(y_true).shape[0] == 0:
        raise ValueError("no rows to judge")
    grads = gradients(task, y_true, score, score_head, metrics, threshold, decisions)
    z = float(special.ndtri(1 - alpha / 2))

    def interval(estimate: float, grad: NDArray[np.float64]) -> tuple[Interval, float]:
        se = math.sqrt(float(np.einsum("i,i->", grad, grad)))
        return Interval(estimate, estimate - z * se, estimate + z * se), se

    out: dict[str, MetricChange] = {}
    for name in metrics:
        vb, vh, gb, gh = grads[name]
        base_ci, _ = interval(vb, gb)
        head_ci, _ = interval(vh, gh)
        delta_ci, se = interval(vh - vb, gh - gb)
        out[name] = MetricChange(
            metric=name,
            base=base_ci,
            head=head_ci,
            delta=delta_ci,
            se=se,
            higher_is_better=HIGHER_IS_BETTER.get(name),
            n_resamples=0,
            alpha=alpha,
            method="normal",
        )
    return out


def normal_applies(
    y_true: ArrayLike,
    task: Task,
    n_classes: int = 2,
    min_rows: int = NORMAL_MIN_ROWS,
    min_class_rows: int = NORMAL_MIN_CLASS_ROWS,
) -> bool:
    """Whether the test set is large enough for the normal interval to stand in for the bootstrap.

    At least `min_rows` rows and, for a classifier, `min_class_rows` rows of each of its classes.
    """
    y = np.asarray(y_true)
    if y.shape[0] < min_rows:
        return False
    if task == "regression":
        return True
    counts = np.bincount(y.astype(np.intp), minlength=n_classes)
    return bool(len(counts) == n_classes and counts.min() >= min_class_rows)


def paired_intervals(
    y_true: ArrayLike,
    score_base: ArrayLike,
    score_head: ArrayLike,
    metrics: Sequence[str],
    *,
    method: Method = "auto",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    task: Task | None = None,
    threshold: float = 0.5,
    decisions: tuple[ArrayLike, ArrayLike] | None = None,
    min_rows: int = NORMAL_MIN_ROWS,
    min_class_rows: int = NORMAL_MIN_CLASS_ROWS,
) -> dict[str, MetricChange]:
    """The paired bootstrap, or on a large test set its normal approximation (`method="auto"`).

    "auto" takes the normal interval when `normal_applies` (at least `min_rows` rows and
    `min_class_rows` of every class), else the bootstrap; "bootstrap" and "normal" force one.
    Each `MetricChange.method` says which was used.
    """
    if method not in ("auto", "bootstrap", "normal"):
        raise ValueError(f"method must be auto, bootstrap or normal, got {method!r}")
    score = np.asarray(score_base, dtype=np.float64)
    task = task or infer_task(score, metrics)
    if method == "auto":
        n_classes = score.shape[1] if task == "multiclass" else 2
        large = normal_applies(y_true, task, n_classes, min_rows, min_class_rows)
        method = "normal" if large else "bootstrap"
    if method == "normal":
        return paired_normal(
            y_true,
            score,
            score_head,
            metrics,
            alpha,
            task=task,
            threshold=threshold,
            decisions=decisions,
        )
    return paired_bootstrap(
        y_true,
        score,
        score_head,
        metrics,
        n_resamples,
        seed,
        alpha,
        task=task,
        threshold=threshold,
        decisions=decisions,
    )
