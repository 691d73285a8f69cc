"""Target leakage: a feature that gives the target away on every labelled row (pure).

A copy or an encoding of the label (`churned` next to a 0/1 target built from it, `2 * label +
1`) scores perfectly in training and testing and is useless in production, where it is not known
before the label. Found in the validate stage, which warns: whether the column is known at
prediction time is the user's call (declare it `role: ignore` if not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from gitml.config import DataConfig

#: A feature with at most this many values (or twice the classes) that fixes the class of every
#: row is a copy or an encoding of the label; more values than that may simply be an id.
MAX_CODES = 10
#: |Pearson r| at or above this between a numeric feature and a regression target: a copy.
COPY_CORRELATION = 0.9999
#: Fewer labelled rows than this say nothing either way.
MIN_ROWS = 20


def leaking_features(frame: pd.DataFrame, data: DataConfig) -> list[str]:
    """The features that give the target away on every labelled row of `frame`, as messages."""
    target = frame[data.target]
    known = target.notna().to_numpy()
    y = target[known]
    if len(y) < MIN_ROWS or y.nunique() < 2:
        return []
    found = []
    for name in data.feature_names:
        if name not in frame.columns:
            continue
        x = frame.loc[known, name]
        present = x.notna().to_numpy()
        if present.sum() < MIN_ROWS:
            continue
        x, yy = x[present], y[present]
        if data.task == "regression":
            if x.dtype.kind not in "iuf" or x.nunique() < 3 or yy.nunique() < 3:
                continue
            r = abs(float(x.astype(float).corr(yy.astype(float))))
            if r >= COPY_CORRELATION:
                found.append(
                    f"feature '{name}' follows the target '{data.target}' exactly (|r| = {r:.5f} "
                    f"on {len(x)} rows)"
                )
            continue
        codes = x.nunique()
        if codes > max(MAX_CODES, 2 * yy.nunique()) or codes * 5 > len(x):
            continue
        if (yy.groupby(x.to_numpy(), sort=False).nunique() == 1).all():
            found.append(
                f"feature '{name}' ({codes} values) fixes the target '{data.target}' on every one "
                f"of its {len(x)} rows"
            )
    return found
