"""Vectorised weighted metrics of two scorers on the same rows, for many weight vectors at once.

`PairedMetrics` is built once from the labels and both scorers' outputs; `evaluate(weights)` then
computes every metric for a whole block of weight vectors (shape `(B, n)`, e.g. bootstrap counts;
`evaluate_columns` takes them as `(n, B)`, one vector per column, the layout the bootstrap draws)
with a handful of array operations and no per-vector Python loop:

- metrics that are ratios of weighted sums (accuracy, F1, log loss, Brier, RMSE, MAE, R², MAPE)
  come from one matrix product `weights.T @ columns`, where `columns` holds per-row terms;
- ROC AUC is the weighted Mann–Whitney statistic and average precision the weighted mean of
  precision at each positive. Both depend on the weights only through the weight of the positives
  at each distinct positive score and of the negatives between or tied with consecutive ones: one
  sparse 0/1 product per scorer (built once from its sort) gives those cell sums, and one
  cumulative sum over the cells does the rest. With one weight vector per column every step moves
  whole contiguous rows of B weights.

Rows are held in a *canonical order* (the base scorer's cell order: its sparse product reads the
weights sequentially, with no gather); `evaluate` expects its weights in that order
(`PairedMetrics.order` maps it to the caller's rows). For i.i.d. bootstrap weights the order in
which they are drawn does not matter.

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
from scipy import sparse

Task = Literal["binary", "multiclass", "regression"]

#: The metrics each task supports, by the names conf/gitml.yaml uses.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"),
    "multiclass": ("roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"),
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
Float = type[np.float32] | type[np.float64]

#: Above this many rows a float32 sum of Poisson counts could pass 2**24 and lose exactness.
FLOAT32_MAX_ROWS = 1 << 23


def _ratio(
    num: NDArray[np.float64], den: NDArray[np.float64], undefined: float = 0.0
) -> NDArray[np.float64]:
    """num / den, and `undefined` where den is 0 (0 is sklearn's zero_division for F1)."""
    out = np.full(np.broadcast(num, den).shape, undefined)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _score_cells(
    scores: NDArray[np.float64], positive: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], int, bool]:
    """Each row's output row in one scorer's ranking (see `_Ranking`), R and whether there are ties."""
    values, run = np.unique(scores[positive], return_inverse=True)
    n_runs = len(values)
    neg_scores = scores[~positive]
    below = np.searchsorted(values, neg_scores, side="left")  # positive scores < the negative
    tied = values[np.minimum(below, n_runs - 1)] == neg_scores if n_runs else below < 0
    ties = bool(tied.any())
    cell = np.empty(len(scores), dtype=np.int64)
    # Slot s holds negative cell s (row 2s) and at most one run of positives (row 2s + 1).
    cell[positive] = 2 * (2 * run if ties else run) + 1
    cell[~positive] = 2 * (2 * below + tied if ties else below)
    return cell, n_runs, ties


@dataclass(frozen=True)
class _Ranking:
    """One scorer's ranking of the rows as a sparse 0/1 matrix that sums weights by score cell.

    With v_0 < … < v_{R−1} the distinct scores of the positives, the negatives fall in cells:
    strictly below v_0, equal to v_0 (only when some negative ties a positive), strictly between
    v_0 and v_1, …, above v_{R−1}. Slot s of the matrix's output holds the weight of negative
    cell s and of the positives at the v_r that slot s stands for. One sparse product per block of
    weights (every row touched once, in any order) then leaves one cumulative sum over the slots,
    negatives and positives side by side: nothing is sorted or gathered per resample.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64] | None  # the rows in cell order (None: they already are)
    n_runs: int  # R: distinct scores among the positives
    n_slots: int
    ties: bool  # whether a negative ties a positive's score

    @classmethod
    def build(cls, scores: NDArray[np.float64], positive: NDArray[np.bool_]) -> _Ranking:
        cell, n_runs, ties = _score_cells(scores, positive)
        n_slots = 2 * n_runs + 1 if ties else n_runs + 1
        indices = np.argsort(cell, kind="stable")
        indptr = np.zeros(2 * n_slots + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=2 * n_slots), out=indptr[1:])
        in_order = bool(np.array_equal(indices, np.arange(len(indices))))
        return cls(indptr, None if in_order else indices, n_runs, n_slots, ties)

    def auc_ap(self, weights: NDArray[np.generic], converted: NDArray[np.floating]) -> Pair:
        """ROC AUC and average precision for each column of the (n, B) weights.

        `converted` is `weights` in the float type to sum in (used as is when the rows are
        already in cell order).
        """
        dtype = converted.dtype.type
        if self.indices is None:
            w = converted
        else:
            # Rows in cell order first (a gather of whole rows of small integers,
            # cache-friendly), so that the sparse product reads them sequentially.
            w = np.take(weights, self.indices, axis=0).astype(dtype, copy=False)
        n, b = w.shape
        shape = (len(self.indptr) - 1, n)
        sequential = np.arange(n, dtype=np.int64)
        csr = sparse.csr_matrix((np.ones(n, dtype), sequential, self.indptr), shape)
        slots = (csr @ w).reshape(self.n_slots, 2 * b)  # [negatives | positives] per slot
        cum = cumsum_exclusive(slots, dtype)
        cum_neg, cum_pos = cum[:, :b], cum[:, b:]
        total_neg, total_pos = cum_neg[-1], cum_pos[-1]
        r = self.n_runs
        step = 2 if self.ties else 1
        pos_w = slots[0 : step * r : step, b:]  # weight of the positives at each v_r
        tp = total_pos - cum_pos[0 : step * r : step]  # positives scored >= v_r
        if self.ties:
            neg_below = cum_neg[1 : 2 * r : 2]
            beaten = (neg_below + cum_neg[2 : 2 * r + 1 : 2]) * dtype(0.5)
        else:
            neg_below = beaten = cum_neg[1 : r + 1]
        # Mann–Whitney: each positive beats the negatives below it and ties with half the equal ones.
        u = np.einsum("rb,rb->b", pos_w, beaten, dtype=np.float64)
        auc = _ratio(u, total_pos.astype(np.float64) * total_neg, math.nan)
        # Average precision: precision at each positive score (everything scored >= it). Where
        # nothing is selected there is no positive either (pos_w is 0), so any finite value does.
        selected = np.subtract(total_neg, neg_below)
        selected += tp
        np.maximum(selected, np.finfo(dtype).tiny, out=selected)
        np.divide(tp, selected, out=tp)
        ap = _ratio(np.einsum("rb,rb->b", pos_w, tp, dtype=np.float64), total_pos, math.nan)
        return auc, ap


_SCAN = 32  # rows per run of a cumulative sum


def cumsum_exclusive(w: NDArray[np.generic], dtype: Float) -> NDArray[np.floating]:
    """Cumulative sums down the columns, shifted: out[k] = w[:k].sum(axis=0), k = 0..n.

    The weights are laid out one resample per *column* (shape (n, B)), so every step works on
    contiguous rows. numpy's `cumsum(axis=0)` walks each column separately (strided, ~7 ns per
    element); here the rows are cut into runs of 32, summed within every run at once by 31
    vectorised additions of one row of each run to the next, and the runs' offsets by a cumsum 32
    times shorter: 3–4 times faster, and exact for integer weights whose sums stay below 2**24
    (float32) or 2**53 (float64).
    """
    n, b = w.shape
    runs = n // _SCAN + 1  # n + 1 outputs: the leading zero row shifts the sums by one
    buf = np.zeros((runs * _SCAN, b), dtype=dtype)
    buf[1 : n + 1] = w
    x = buf.reshape(runs, _SCAN, b)
    for k in range(1, _SCAN):
        x[:, k, :] += x[:, k - 1, :]
    offsets = np.cumsum(x[:, -1, :], axis=0)
    x[1:] += offsets[:-1, None, :]
    return buf[: n + 1]


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
        self._class_rankings: list[tuple[_Ranking, _Ranking]] = []
        if task == "binary":
            self._init_binary(y, base, head, threshold, decisions)
        elif task == "multiclass":
            self._init_multiclass(y, base, head)
        else:
            self._init_regression(y.astype(np.float64), base, head)
        # Columns of integers in [-1, 1] (counts, 0/1 indicators) sum exactly in float32 under
        # integer weights; real-valued ones (log loss, squared errors) are summed in float64:
        # a float32 accumulation of them drifts by ~1e-6 relative over a few thousand rows.
        cols = self._columns
        self._exact = np.all((cols == np.round(cols)) & (np.abs(cols) <= 1), axis=0)
        self._exact_cols32 = np.ascontiguousarray(cols[:, self._exact], dtype=np.float32)
        self._real_cols = np.ascontiguousarray(cols[:, ~self._exact])

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
        ranked = bool({"roc_auc", "average_precision"} & set(self.metrics))
        # Canonical order: the base scorer's cell order, so its ranking needs no gather.
        cell = _score_cells(base, pos)[0] if ranked else np.zeros(self.n, dtype=np.int64)
        self.order = np.argsort(cell, kind="stable")
        yy = pos[self.order].astype(np.float64)
        b, h = base[self.order], head[self.order]
        if ranked:
            positive = yy.astype(bool)
            self._rankings = (_Ranking.build(b, positive), _Ranking.build(h, positive))
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
        br_b = ((base - onehot) ** 2).sum(axis=1)
        br_h = ((head - onehot) ** 2).sum(axis=1)
        if {"roc_auc", "average_precision"} & set(self.metrics):
            # One-vs-rest per class, macro-averaged (sklearn's multi_class="ovr" / "macro").
            self._class_rankings = [
                (_Ranking.build(base[:, c], codes == c), _Ranking.build(head[:, c], codes == c))
                for c in range(k)
            ]
        self._columns = np.column_stack(
            [
                np.ones(self.n),
                correct_b,
                correct_h - correct_b,
                ll_b,
                ll_h - ll_b,
                br_b,
                br_h - br_b,
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
        # Centre and scale so that the sums stay well conditioned; the metrics are rescaled.
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

        Integer weights up to about 2**24 in total: counts are summed exactly in float32, the
        real-valued columns (log loss, squared errors) in float64. `evaluate_columns` takes the
        weights transposed (one weight vector per column), the layout the bootstrap draws them in.

        Returns:
            Per metric: (base values, head − base values), each of shape (B,).
        """
        return self.evaluate_columns(np.ascontiguousarray(np.atleast_2d(weights).T))

    def evaluate_columns(self, weights: NDArray[np.generic]) -> dict[str, Pair]:
        """Every metric for each column of `weights` (shape (n, B), canonical order).

        Returns:
            Per metric: (base values, head − base values), each of shape (B,).
        """
        if weights.ndim != 2 or weights.shape[0] != self.n:
            raise ValueError(f"weights must have shape ({self.n}, B), got {weights.shape}")
        w: NDArray[np.floating]
        if weights.dtype != np.float64 and self.n <= FLOAT32_MAX_ROWS:
            w = weights.astype(np.float32, copy=False)
            sums = np.empty((weights.shape[1], self._columns.shape[1]))
            sums[:, self._exact] = w.T @ self._exact_cols32
            if self._real_cols.shape[1]:
                sums[:, ~self._exact] = weights.T.astype(np.float64) @ self._real_cols
        else:
            w = weights.astype(np.float64, copy=False)
            sums = w.T @ self._columns
        if self.task == "binary":
            out = self._binary(sums)
            if self._rankings is not None:
                auc_b, ap_b = self._rankings[0].auc_ap(weights, w)
                auc_h, ap_h = self._rankings[1].auc_ap(weights, w)
                out["roc_auc"] = (auc_b, auc_h - auc_b)
                out["average_precision"] = (ap_b, ap_h - ap_b)
        elif self.task == "multiclass":
            out = self._multiclass(sums)
            if self._class_rankings:
                per_class = [
                    (base.auc_ap(weights, w), head.auc_ap(weights, w))
                    for base, head in self._class_rankings
                ]
                for j, name in enumerate(("roc_auc", "average_precision")):
                    b = np.mean([pb[j] for pb, _ in per_class], axis=0)
                    h = np.mean([ph[j] for _, ph in per_class], axis=0)
                    out[name] = (b, h - b)
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
        true, pred_b, tp_b, pred_h, tp_h = (s[:, 7 + i * k : 7 + (i + 1) * k] for i in range(5))

        def macro_f1(pred: NDArray[np.float64], tp: NDArray[np.float64]) -> NDArray[np.float64]:
            present = (true + pred) > 0  # sklearn averages over the labels that occur
            f1 = _ratio(2 * tp, true + pred)
            return _ratio((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64))

        f1_b, f1_h = macro_f1(pred_b, tp_b), macro_f1(pred_h, tp_h)
        return {
            "accuracy": (_ratio(s[:, 1], total), _ratio(s[:, 2], total)),
            "log_loss": (_ratio(s[:, 3], total), _ratio(s[:, 4], total)),
            "brier": (_ratio(s[:, 5], total), _ratio(s[:, 6], total)),
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
