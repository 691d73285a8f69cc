"""Vectorised weighted metrics of two scorers on the same rows, for many weight vectors at once.

`PairedMetrics` is built once from the labels and both scorers' outputs; `evaluate(weights)` then
computes every metric for a whole block of weight vectors (shape `(B, n)`, e.g. bootstrap counts)
with a handful of array operations and no per-vector Python loop:

- metrics that are ratios of weighted sums (accuracy, F1, log loss, Brier, RMSE, MAE, R², MAPE)
  come from one matrix product `weights @ columns`, where `columns` holds per-row terms;
- ROC AUC is the weighted Mann–Whitney statistic and average precision the weighted mean of
  precision at each positive: the rows are sorted once per scorer, so each weight vector needs only
  cumulative sums and a gather at precomputed tie-aware positions.

Rows are held in a *canonical order* (negatives sorted by the base score, then positives sorted by
the base score); `evaluate` expects its weights in that order (`PairedMetrics.order` maps it to the
caller's rows). For i.i.d. bootstrap weights the order in which they are drawn does not matter.

Each metric is returned as (base values, head − base values): the difference is computed from
per-row differences where it can be, so it keeps its precision when base and head are close.
Nothing here reads files or draws random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Task = Literal["binary", "multiclass", "regression"]

#: The metrics each task supports, by the names conf/gitml.yaml uses.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"),
    "multiclass": ("accuracy", "f1", "log_loss"),
    "regression": ("rmse", "mae", "r2", "mape"),
}

#: Direction of every built-in metric.
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "average_precision": True,
    "accuracy": True,
    "f1": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
}

_EPS = float(np.finfo(np.float64).eps)

Pair = tuple[NDArray[np.float64], NDArray[np.float64]]


def _ratio(
    num: NDArray[np.float64], den: NDArray[np.float64], undefined: float = 0.0
) -> NDArray[np.float64]:
    """num / den, and `undefined` where den is 0 (0 is sklearn's zero_division for F1)."""
    out = np.full(np.broadcast(num, den).shape, undefined)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class _Ranking:
    """One scorer's sort of the rows, and the tie-aware positions its rank metrics gather at."""

    neg_perm: NDArray[np.intp] | None  # canonical negatives -> this scorer's ascending order
    pos_perm: NDArray[np.intp] | None  # canonical positives -> this scorer's ascending order
    below: NDArray[np.intp]  # per positive (sorted): negatives with a strictly lower score
    below_or_tied: NDArray[np.intp] | None  # ... with a lower or equal score (None: no ties)
    pos_run_start: NDArray[np.intp] | None  # first positive of each positive's tie run (None: none)

    @classmethod
    def build(
        cls, neg_scores: NDArray[np.float64], pos_scores: NDArray[np.float64], identity: bool
    ) -> _Ranking:
        if identity:
            neg_perm = pos_perm = None
            neg_sorted, pos_sorted = neg_scores, pos_scores
        else:
            neg_perm = np.argsort(neg_scores, kind="stable")
            pos_perm = np.argsort(pos_scores, kind="stable")
            neg_sorted, pos_sorted = neg_scores[neg_perm], pos_scores[pos_perm]
        below = np.searchsorted(neg_sorted, pos_sorted, side="left")
        upto = np.searchsorted(neg_sorted, pos_sorted, side="right")
        run = np.searchsorted(pos_sorted, pos_sorted, side="left")
        return cls(
            neg_perm,
            pos_perm,
            below,
            upto if np.any(upto != below) else None,
            run if np.any(run != np.arange(len(run))) else None,
        )

    def auc_ap(
        self, w_neg: NDArray[np.generic], w_pos: NDArray[np.generic], dtype: type[np.floating]
    ) -> Pair:
        """ROC AUC and average precision for each row of the (B, n_neg) and (B, n_pos) weights."""
        if self.neg_perm is not None:
            w_neg = np.take(w_neg, self.neg_perm, axis=1)
        if self.pos_perm is not None:
            w_pos = np.take(w_pos, self.pos_perm, axis=1)
        cum_neg = cumsum_exclusive(w_neg, dtype)  # cum_neg[:, k]: weight of the k lowest negatives
        cum_pos = cumsum_exclusive(w_pos, dtype)
        total_neg = cum_neg[:, -1].astype(np.float64)
        total_pos = cum_pos[:, -1].astype(np.float64)
        w_pos = w_pos.astype(dtype, copy=False)
        neg_below = np.take(cum_neg, self.below, axis=1)
        # Mann–Whitney: each positive beats the negatives below it and ties with half the equal ones.
        if self.below_or_tied is None:
            beaten = neg_below
        else:
            beaten = (neg_below + np.take(cum_neg, self.below_or_tied, axis=1)) * dtype(0.5)
        u = (w_pos * beaten).sum(axis=1, dtype=np.float64)
        auc = _ratio(u, total_pos * total_neg, math.nan)
        # Average precision: precision at each positive's score (everything scored >= it).
        if self.pos_run_start is None:
            pos_below = cum_pos[:, :-1]
        else:
            pos_below = np.take(cum_pos, self.pos_run_start, axis=1)
        tp = total_pos.astype(dtype)[:, None] - pos_below
        selected = tp + (total_neg.astype(dtype)[:, None] - neg_below)
        precision = np.divide(tp, selected, out=np.zeros_like(tp), where=selected > 0)
        ap = _ratio((w_pos * precision).sum(axis=1, dtype=np.float64), total_pos, math.nan)
        return auc, ap


_SCAN = 16  # width of the blocks a cumulative sum is computed in by one matrix product


def cumsum_exclusive(w: NDArray[np.generic], dtype: type[np.floating]) -> NDArray[np.floating]:
    """Cumulative sums along rows, shifted: out[:, k] = w[:, :k].sum(axis=1), k = 0..n.

    numpy's cumsum is a sequential loop (~7 ns per element); here each run of 16 elements is
    summed by a product with a triangular matrix (BLAS) and the runs' offsets by a cumsum 16
    times shorter: 3–4 times faster, and exact for integer weights whose sums stay below 2**24
    (float32) or 2**53 (float64).
    """
    b, n = w.shape
    runs = n // _SCAN + 1  # at least one padding element, so that out[:, n] is the total
    buf = np.zeros((b, runs * _SCAN), dtype=dtype)
    buf[:, :n] = w
    flat = buf.reshape(b * runs, _SCAN)
    within = (flat @ np.triu(np.ones((_SCAN, _SCAN), dtype=dtype), k=1)).reshape(b, runs, _SCAN)
    totals = within[:, :, -1] + flat.reshape(b, runs, _SCAN)[:, :, -1]
    offsets = np.cumsum(totals, axis=1)
    within[:, 1:, :] += offsets[:, :-1, None]
    return within.reshape(b, runs * _SCAN)[:, : n + 1]


class PairedMetrics:
    """Built-in metrics of a base and a head scorer on the same rows, for blocks of weights.

    Args:
        task: "binary" (scores are the positive class's probability, labels 0/1 or bool),
            "multiclass" (scores are (n, K) probabilities, labels are class indices 0..K-1) or
            "regression" (scores are predictions).
        y_true: labels or targets.
        score_base: the baseline's scores.
        score_head: the candidate's scores.
        metrics: names from `TASK_METRICS[task]`.
        threshold: binary decision threshold for accuracy and F1 (`score >= threshold`).
        decisions: binary 0/1 decisions of (base, head) for accuracy and F1, when each scorer
            has its own threshold (overrides `threshold`).
    """

    def __init__(
        self,
        task: Task,
        y_true: ArrayLike,
        score_base: ArrayLike,
        score_head: ArrayLike,
        metrics: Sequence[str],
        threshold: float = 0.5,
        decisions: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> None:
        unknown = [m for m in metrics if m not in TASK_METRICS[task]]
        if unknown:
            raise ValueError(
                f"metrics {unknown} are not built in for task '{task}' "
                f"(built in: {', '.join(TASK_METRICS[task])})"
            )
        self.task = task
        self.metrics = tuple(metrics)
        y = np.asarray(y_true)
        base = np.asarray(score_base, dtype=np.float64)
        head = np.asarray(score_head, dtype=np.float64)
        if base.shape != head.shape or base.shape[0] != y.shape[0]:
            raise ValueError(
                f"shapes differ: y_true {y.shape}, score_base {base.shape}, score_head {head.shape}"
            )
        self.n = int(y.shape[0])
        self._rankings: tuple[_Ranking, _Ranking] | None = None
        if task == "binary":
            self._init_binary(y, base, head, threshold, decisions)
        elif task == "multiclass":
            self._init_multiclass(y, base, head)
        else:
            self._init_regression(y.astype(np.float64), base, head)

    # -- construction ---------------------------------------------------------------------------

    def _init_binary(
        self,
        y: NDArray[np.generic],
        base: NDArray[np.float64],
        head: NDArray[np.float64],
        t: float,
        decisions: tuple[ArrayLike, ArrayLike] | None,
    ) -> None:
        if base.ndim != 1:
            raise ValueError("binary scores must be one probability per row (the positive class)")
        labels = np.unique(y)
        if not np.all(np.isin(labels, [0, 1])):
            raise ValueError(f"binary labels must be 0/1 or bool, got {labels[:5].tolist()}")
        pos = y.astype(bool)
        neg_idx, pos_idx = np.flatnonzero(~pos), np.flatnonzero(pos)
        neg_idx = neg_idx[np.argsort(base[neg_idx], kind="stable")]
        pos_idx = pos_idx[np.argsort(base[pos_idx], kind="stable")]
        self.order = np.concatenate([neg_idx, pos_idx])
        self.n_neg = len(neg_idx)
        if {"roc_auc", "average_precision"} & set(self.metrics):
            self._rankings = (
                _Ranking.build(base[neg_idx], base[pos_idx], identity=True),
                _Ranking.build(head[neg_idx], head[pos_idx], identity=False),
            )
        yy = pos[self.order].astype(np.float64)
        b, h = base[self.order], head[self.order]
        if decisions is None:
            pb, ph = (b >= t).astype(np.float64), (h >= t).astype(np.float64)
        else:
            pb, ph = (np.asarray(d, dtype=np.float64)[self.order] for d in decisions)
        ll_b, ll_h = _binary_log_loss(yy, b), _binary_log_loss(yy, h)
        br_b, br_h = (b - yy) ** 2, (h - yy) ** 2
        self._columns = np.column_stack(
            [np.ones(self.n), yy, pb, yy * pb, ph, yy * ph, ll_b, ll_h - ll_b, br_b, br_h - br_b]
        )

    def _init_multiclass(
        self, y: NDArray[np.generic], base: NDArray[np.float64], head: NDArray[np.float64]
    ) -> None:
        if base.ndim != 2:
            raise ValueError("multiclass scores must be an (n, K) probability matrix")
        k = base.shape[1]
        codes = y.astype(np.intp)
        if not np.array_equal(codes, y) or codes.min(initial=0) < 0 or codes.max(initial=0) >= k:
            raise ValueError(f"multiclass labels must be class indices 0..{k - 1}")
        self.order = np.arange(self.n)
        self.k = k
        rows = np.arange(self.n)
        onehot = np.zeros((self.n, k))
        onehot[rows, codes] = 1.0
        pred_b = np.zeros((self.n, k))
        pred_b[rows, np.argmax(base, axis=1)] = 1.0
        pred_h = np.zeros((self.n, k))
        pred_h[rows, np.argmax(head, axis=1)] = 1.0
        ll_b = -np.log(np.clip(base[rows, codes], _EPS, 1 - _EPS))
        ll_h = -np.log(np.clip(head[rows, codes], _EPS, 1 - _EPS))
        correct_b = (onehot * pred_b).sum(axis=1)
        correct_h = (onehot * pred_h).sum(axis=1)
        self._columns = np.column_stack(
            [
                np.ones(self.n),
                correct_b,
                correct_h - correct_b,
                ll_b,
                ll_h - ll_b,
                onehot,
                pred_b,
                onehot * pred_b,
                pred_h,
                onehot * pred_h,
            ]
        )

    def _init_regression(
        self, y: NDArray[np.float64], base: NDArray[np.float64], head: NDArray[np.float64]
    ) -> None:
        if base.ndim != 1:
            raise ValueError("regression predictions must be one value per row")
        self.order = np.arange(self.n)
        # Centre and scale so that float32 sums keep their precision; the metrics are rescaled.
        scale = float(np.std(y)) or 1.0
        self._scale = scale
        yc = (y - np.mean(y)) / scale
        eb, eh = (y - base) / scale, (y - head) / scale
        denom = np.maximum(np.abs(y), _EPS)
        ape_b, ape_h = np.abs(y - base) / denom, np.abs(y - head) / denom
        self._columns = np.column_stack(
            [
                np.ones(self.n),
                eb**2,
                eh**2 - eb**2,
                np.abs(eb),
                np.abs(eh) - np.abs(eb),
                ape_b,
                ape_h - ape_b,
                yc,
                yc**2,
            ]
        )

    # -- evaluation -----------------------------------------------------------------------------

    def evaluate(self, weights: NDArray[np.generic]) -> dict[str, Pair]:
        """Every metric for each row of `weights` (shape (B, n), canonical order).

        Integer weights up to about 2**24 in total are summed exactly in float32; pass float64
        weights for full double precision.

        Returns:
            Per metric: (base values, head − base values), each of shape (B,).
        """
        weights = np.atleast_2d(weights)
        dtype: type[np.floating] = np.float64 if weights.dtype == np.float64 else np.float32
        sums = (weights.astype(dtype, copy=False) @ self._columns.astype(dtype)).astype(np.float64)
        if self.task == "binary":
            out = self._binary(sums)
            if self._rankings is not None:
                w_neg, w_pos = weights[:, : self.n_neg], weights[:, self.n_neg :]
                auc_b, ap_b = self._rankings[0].auc_ap(w_neg, w_pos, dtype)
                auc_h, ap_h = self._rankings[1].auc_ap(w_neg, w_pos, dtype)
                out["roc_auc"] = (auc_b, auc_h - auc_b)
                out["average_precision"] = (ap_b, ap_h - ap_b)
        elif self.task == "multiclass":
            out = self._multiclass(sums)
        else:
            out = self._regression(sums)
        return {m: out[m] for m in self.metrics}

    @staticmethod
    def _binary(s: NDArray[np.float64]) -> dict[str, Pair]:
        total, pos = s[:, 0], s[:, 1]
        pred_b, tp_b, pred_h, tp_h = s[:, 2], s[:, 3], s[:, 4], s[:, 5]
        acc_b = _ratio(total - pos - pred_b + 2 * tp_b, total)
        acc_h = _ratio(total - pos - pred_h + 2 * tp_h, total)
        f1_b = _ratio(2 * tp_b, pred_b + pos)
        f1_h = _ratio(2 * tp_h, pred_h + pos)
        return {
            "accuracy": (acc_b, acc_h - acc_b),
            "f1": (f1_b, f1_h - f1_b),
            "log_loss": (_ratio(s[:, 6], total), _ratio(s[:, 7], total)),
            "brier": (_ratio(s[:, 8], total), _ratio(s[:, 9], total)),
        }

    def _multiclass(self, s: NDArray[np.float64]) -> dict[str, Pair]:
        total = s[:, 0]
        k = self.k
        true, pred_b, tp_b, pred_h, tp_h = (s[:, 5 + i * k : 5 + (i + 1) * k] for i in range(5))

        def macro_f1(pred: NDArray[np.float64], tp: NDArray[np.float64]) -> NDArray[np.float64]:
            present = (true + pred) > 0  # sklearn averages over the labels that occur
            f1 = _ratio(2 * tp, true + pred)
            return _ratio((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64))

        f1_b, f1_h = macro_f1(pred_b, tp_b), macro_f1(pred_h, tp_h)
        return {
            "accuracy": (_ratio(s[:, 1], total), _ratio(s[:, 2], total)),
            "log_loss": (_ratio(s[:, 3], total), _ratio(s[:, 4], total)),
            "f1": (f1_b, f1_h - f1_b),
        }

    def _regression(self, s: NDArray[np.float64]) -> dict[str, Pair]:
        total = s[:, 0]
        scale = self._scale
        mse_b, mse_h = _ratio(s[:, 1], total), _ratio(s[:, 1] + s[:, 2], total)
        rmse_b, rmse_h = np.sqrt(mse_b) * scale, np.sqrt(mse_h) * scale
        mean_yc = _ratio(s[:, 7], total)
        sst = s[:, 8] - total * mean_yc**2
        r2_b = 1 - _ratio(s[:, 1], sst)
        return {
            "rmse": (rmse_b, rmse_h - rmse_b),
            "mae": (_ratio(s[:, 3], total) * scale, _ratio(s[:, 4], total) * scale),
            "r2": (r2_b, _ratio(-s[:, 2], sst)),
            "mape": (_ratio(s[:, 5], total), _ratio(s[:, 6], total)),
        }


def _binary_log_loss(y: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))
