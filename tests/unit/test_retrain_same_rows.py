"""`gitml retrain` judges champion and challenger on the same rows as `gitml report` judges a change:
by the paired-bootstrap interval of each metric, so a couple of rows on a small batch is noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from gitml.policy import load_policy
from gitml.predictions import row_ids
from gitml.report.api import settings
from gitml.report.metrics import diff_metrics, verdict
from gitml.retrain import SameRows, Scored, judge_same_rows, model_outputs

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT)  # conf/gitml.yaml: its metric rules and `statistics:` settings
FRAME = load_breast_cancer(as_frame=True).frame
FEATURES = [c for c in FRAME.columns if c != "target"]
ORDER = np.random.default_rng(0).permutation(len(FRAME))
TRAIN = FRAME.iloc[ORDER[:69]]
HELD = FRAME.iloc[ORDER[69:]].reset_index(drop=True)  # 500 rows neither model was trained on
#: The champion sees 12 features, the challenger 10 (it is the better one on the held-out rows).
CHAMPION, CHALLENGER = FEATURES[:12], FEATURES[:10]


def fitted(features: list[str]) -> Pipeline:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5))
    return model.fit(TRAIN[features], TRAIN["target"])


MODELS = {"champion": fitted(CHAMPION), "challenger": fitted(CHALLENGER)}


def scored(name: str, features: list[str], rows: pd.DataFrame) -> Scored:
    outputs = model_outputs(
        MODELS[name],
        rows[features],
        rows["target"].to_numpy(),
        task="binary",
        positive_class=1,
        threshold=None,
        ids=row_ids(rows, []),
    )
    return Scored(name, *outputs)


def same_rows(rows: pd.DataFrame) -> SameRows:
    return SameRows(
        "data/test.parquet",
        len(rows),
        "0" * 32,
        scored("challenger", CHALLENGER, rows),
        scored("champion", CHAMPION, rows),
    )


def right(name: str, features: list[str]) -> pd.Series:
    return pd.Series(MODELS[name].predict(HELD[features]) == HELD["target"].to_numpy())


def proba(name: str, features: list[str]) -> np.ndarray:
    return np.asarray(MODELS[name].predict_proba(HELD[features])[:, 1])


def test_two_rows_better_out_of_30_is_no_significant_change() -> None:
    # 28 rows on which both models are right with nearly the same probability, and 2 rows only
    # the challenger gets right: the models differ on 2 rows out of 30.
    both = right("champion", CHAMPION) & right("challenger", CHALLENGER)
    only_challenger = ~right("champion", CHAMPION) & right("challenger", CHALLENGER)
    apart = pd.Series(np.abs(proba("champion", CHAMPION) - proba("challenger", CHALLENGER)))
    agree = apart[both].sort_values(kind="stable").index[:28]
    rows = pd.concat([HELD.loc[agree], HELD[only_challenger].iloc[:2]], ignore_index=True)
    same = same_rows(rows)
    assert same.champion is not None
    assert same.challenger.metrics["accuracy"] - same.champion.metrics["accuracy"] == (
        pytest.approx(2 / 30)
    )
    # The point values alone would call it an improvement (what reports/retrain.md used to say).
    points = diff_metrics(same.champion.metrics, same.challenger.metrics, POLICY.metrics)
    assert verdict(points, True).status == "improved"

    metrics, judged, summary = judge_same_rows(same, POLICY.metrics, settings(POLICY))
    assert summary.mode == "bootstrap" and summary.rows == 30
    assert summary.confidence == POLICY.statistics.confidence
    accuracy = next(m for m in metrics if m.name == "accuracy")
    assert accuracy.status == "no significant change"
    assert accuracy.interval.low <= 0 < accuracy.interval.high
    assert "improved" not in {m.status for m in metrics}
    assert judged.status == "no_significant_change" and judged.passed


def test_a_clearly_better_challenger_on_500_rows_is_improved() -> None:
    metrics, judged, summary = judge_same_rows(same_rows(HELD), POLICY.metrics, settings(POLICY))
    assert summary.mode == "bootstrap" and summary.rows == 500
    statuses = {m.name: m.status for m in metrics}
    assert statuses["accuracy"] == statuses["roc_auc"] == "improved", statuses
    assert all(m.interval.low > 0 for m in metrics if m.name in ("accuracy", "roc_auc"))
    assert judged.status == "improved" and judged.passed


def test_without_per_row_outputs_the_point_values_are_judged() -> None:
    same = same_rows(HELD)
    assert same.champion is not None
    bare = SameRows(
        same.path,
        same.rows,
        same.md5,
        same.challenger,
        Scored(same.champion.label, same.champion.metrics),
    )
    metrics, judged, summary = judge_same_rows(bare, POLICY.metrics, settings(POLICY))
    assert summary.mode == "point" and "point values" in summary.note
    assert all(m.interval is None for m in metrics)
    assert judged == verdict(
        diff_metrics(same.champion.metrics, same.challenger.metrics, POLICY.metrics), True
    )
