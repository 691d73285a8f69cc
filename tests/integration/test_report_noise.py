"""Report-level noise study: seed-only reruns are "no significant change", a real gain is detected.

Built from per-row predictions through the report's own status function (`build_report` with the
project's policy rules and bootstrap settings), not from 20 DVC runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)

from gitml.policy import load_policy
from gitml.predictions import predictions_frame
from gitml.report.api import settings
from gitml.report.core import Snapshot, build_report

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUNS = 20


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=2000, n_features=8, n_informative=5, n_redundant=0, random_state=0
    )
    return x[:1200], y[:1200], x[1200:], y[1200:]


def snapshot(label: str, model: RandomForestClassifier, x: np.ndarray, y: np.ndarray) -> Snapshot:
    proba = model.predict_proba(x)
    s = proba[:, 1]
    pred = (s >= 0.5).astype(int)
    ids = np.arange(len(y), dtype=np.uint64)
    frame = predictions_frame(ids, y, proba, pred, pd.DataFrame(), [0, 1])
    metrics = {
        "roc_auc": roc_auc_score(y, s),
        "average_precision": average_precision_score(y, s),
        "accuracy": accuracy_score(y, pred),
        "f1": f1_score(y, pred),
        "log_loss": log_loss(y, proba),
        "brier": brier_score_loss(y, s),
    }
    return Snapshot(label, None, metrics=metrics, predictions=frame, signature={"threshold": 0.5})


def fit(x: np.ndarray, y: np.ndarray, seed: int) -> RandomForestClassifier:
    model = RandomForestClassifier(n_estimators=150, max_depth=6, random_state=seed, n_jobs=1)
    return model.fit(x, y)


def test_seed_noise_is_no_significant_change_and_a_real_feature_is_detected() -> None:
    policy = load_policy(ROOT)
    stats = settings(policy)
    xtr, ytr, xte, yte = data()
    judge = lambda b, h: build_report(  # noqa: E731
        b, h, policy.metrics, primary_metric="roc_auc", top_k=3, statistics=stats
    )
    base = snapshot("base", fit(xtr, ytr, 0), xte, yte)
    noise = [
        judge(base, snapshot("head", fit(xtr, ytr, seed), xte, yte)) for seed in range(1, RUNS + 1)
    ]
    # The primary metric's status (several metrics each get their own 5% chance; and seeds do
    # change the model a little, which the test-row interval rightly does not cover).
    primary = [next(m for m in r.metrics if m.name == "roc_auc").status for r in noise]
    assert primary.count("no significant change") >= 18, primary
    # Not asserted: the whole verdict over all six metrics. Seed-only forests differ in their
    # calibration by more than the test rows' noise (log_loss/brier "regressed" in about half the
    # runs, measured): a real difference between two fitted models that the interval, which is
    # about the test sample, correctly reports.

    without = np.s_[:, 1:]  # drop column 0 (informative with this random_state)
    detected = 0
    for seed in range(RUNS):
        b = snapshot("base", fit(xtr[without], ytr, seed), xte[without], yte)
        h = snapshot("head", fit(xtr, ytr, seed), xte, yte)
        report = judge(b, h)
        roc = next(m for m in report.metrics if m.name == "roc_auc")
        detected += roc.status == "improved"
    assert detected >= 19
