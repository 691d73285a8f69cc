"""Per-row test predictions (the evaluate stage's Parquet output) and pairing them across revisions.

Pure: pandas and numpy only. Each row gets a stable `row_id`: a 64-bit hash of the row's id
columns (role `id` in the data contract) or, when the contract declares none, of every column of
the test split. Two revisions' predictions are paired on (row_id, occurrence), so the same test
rows are compared even when their order differs; rows are *shared* only when both revisions hold
exactly the same rows with the same labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitml.stats import GroupRates, group_rates, largest_gap
from gitml.stats.proportions import RATES

#: Columns every predictions file has (plus `score` or `score_<k>` and the sensitive columns).
BASE_COLUMNS = ("row_id", "label", "prediction")


def row_ids(frame: pd.DataFrame, key_columns: Sequence[str]) -> np.ndarray:
    """A uint64 hash per row of `key_columns` (all columns, sorted by name, when empty)."""
    columns = list(key_columns) or sorted(map(str, frame.columns))
    keys = frame[columns].astype(str)
    return pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64)


def predictions_frame(
    ids: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray,
    pred: np.ndarray,
    sensitive: pd.DataFrame,
    classes: Sequence[Any],
) -> pd.DataFrame:
    """The predictions table: row_id, label, prediction, score(s), then the sensitive columns.

    Binary: `score` is P(positive class) (the last column of `proba`, whose class is
    `classes[1]`), plus 0/1 `label_positive` and `predicted_positive`; multiclass: `score_<k>` per
    class in `classes` order and `label_index` (the label's k); regression: `score` is the
    predicted value.
    """
    y, p = np.asarray(labels), np.asarray(pred)
    out = pd.DataFrame({"row_id": ids, "label": y, "prediction": p})
    if not classes:  # regression: the score is the predicted value
        out["score"] = np.asarray(proba, dtype=np.float64)
    elif len(classes) == 2:
        out["score"] = proba[:, 1].astype(np.float64)
        out["label_positive"] = (y == classes[1]).astype(np.int8)
        out["predicted_positive"] = (p == classes[1]).astype(np.int8)
    else:
        for k in range(proba.shape[1]):
            out[f"score_{k}"] = proba[:, k].astype(np.float64)
        index = {c: k for k, c in enumerate(classes)}
        out["label_index"] = np.asarray([index.get(v, -1) for v in y.tolist()], dtype=np.int64)
    for column in sensitive.columns:
        out[str(column)] = sensitive[column].astype(str).to_numpy()
    return out


@dataclass(frozen=True)
class Paired:
    """Two revisions' predictions on the same rows, aligned (base row i is head row i).

    Binary: `y` is 0/1 (positive class), scores are P(positive), preds are 0/1 decisions at each
    revision's own threshold. Multiclass: `y` is the class index, scores are (n, K), preds None.
    Regression: `y` is the target, scores are the predicted values, preds None.
    """

    task: str  # binary | multiclass | regression
    y: np.ndarray
    base_score: np.ndarray
    head_score: np.ndarray
    base_pred: np.ndarray | None
    head_pred: np.ndarray | None

    @property
    def rows(self) -> int:
        return len(self.y)


def score_columns(frame: pd.DataFrame) -> list[str]:
    """`score` (binary) or `score_0..score_{K-1}` (multiclass)."""
    if "score" in frame.columns:
        return ["score"]
    return sorted(
        (c for c in frame.columns if str(c).startswith("score_")), key=lambda c: int(c[6:])
    )


def pair(base: pd.DataFrame, head: pd.DataFrame) -> Paired | str:
    """Align two predictions tables on (row_id, occurrence); a reason string when they differ."""
    for name, frame in (("base", base), ("head", head)):
        missing = [c for c in BASE_COLUMNS if c not in frame.columns]
        if missing or not score_columns(frame):
            return f"the {name} predictions lack {', '.join(missing) or 'scores'}"
    if score_columns(base) != score_columns(head):
        return "the two revisions score different classes"
    if len(base) != len(head):
        return f"the test sets differ ({len(base):,} rows at base, {len(head):,} at head)"

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        k = frame.assign(_n=frame.groupby("row_id", sort=False).cumcount())
        return k.sort_values(["row_id", "_n"], kind="stable").reset_index(drop=True)

    b, h = keyed(base), keyed(head)
    if not (
        np.array_equal(b["row_id"].to_numpy(), h["row_id"].to_numpy())
        and np.array_equal(b["_n"].to_numpy(), h["_n"].to_numpy())
    ):
        shared = len(np.intersect1d(b["row_id"].to_numpy(), h["row_id"].to_numpy()))
        return f"the test sets differ ({shared:,} of {len(base):,} row ids shared)"
    if not np.array_equal(b["label"].to_numpy(), h["label"].to_numpy()):
        return "the same rows carry different labels at base and head"
    cols = score_columns(base)
    if cols == ["score"]:
        needed = ("label_positive", "predicted_positive")
        binary = [all(c in f.columns for c in needed) for f in (b, h)]
        if not any(binary):  # regression: the score is the predicted value
            y = pd.to_numeric(b["label"], errors="coerce").to_numpy(np.float64)
            if not np.isfinite(y).all():
                return "the regression labels are not all numbers"
            return Paired(
                "regression",
                y,
                b["score"].to_numpy(np.float64),
                h["score"].to_numpy(np.float64),
                None,
                None,
            )
        if not all(binary):
            return "the predictions lack label_positive/predicted_positive"
        if not np.array_equal(b["label_positive"].to_numpy(), h["label_positive"].to_numpy()):
            return "the two revisions define the positive class differently"
        return Paired(
            "binary",
            b["label_positive"].to_numpy(np.int8),
            b["score"].to_numpy(np.float64),
            h["score"].to_numpy(np.float64),
            b["predicted_positive"].to_numpy(np.int8),
            h["predicted_positive"].to_numpy(np.int8),
        )
    if any("label_index" not in f.columns for f in (b, h)):
        return "the predictions lack label_index"
    y = b["label_index"].to_numpy(np.int64)
    if (y < 0).any() or not np.array_equal(y, h["label_index"].to_numpy(np.int64)):
        return "the two revisions order the classes differently"
    return Paired(
        "multiclass", y, b[cols].to_numpy(np.float64), h[cols].to_numpy(np.float64), None, None
    )


def slice_intervals(
    y_pos: np.ndarray, p_pos: np.ndarray, groups: np.ndarray, alpha: float = 0.05
) -> dict[str, Any]:
    """Per-group counts and rates with Wilson intervals, and each rate's largest gap (Newcombe).

    No minimum group size is applied here (the slices file must not depend on the policy): the
    gates judge sufficiency from the counts with `gates.min_group` at promotion time.
    """
    rates = group_rates(y_pos, p_pos, groups, alpha=alpha, min_rows=0, min_positives=0)
    return {
        "confidence": 1 - alpha,
        "groups": {r.group: group_record(r) for r in rates},
        "gaps": {s: _gap(rates, s) for s in RATES},
    }


def group_record(r: GroupRates) -> dict[str, Any]:
    """One group's counts and rates (successes, trials, estimate, low, high) for slices.json."""
    return {
        "rows": r.rows,
        "positives": r.positives,
        "negatives": r.negatives,
        **{s: getattr(r, s).to_dict() for s in RATES},
    }


def _gap(rates: list[GroupRates], statistic: str) -> dict[str, Any] | None:
    gap = largest_gap(rates, statistic)
    return None if gap is None else gap.to_dict()
