"""Report-level noise study: seed-only reruns are "no significant change", a real gain is detected.

Built from per-row predictions and seed_noise records through the report's own verdict
(`build_report` with the project's policy rules and bootstrap settings), not from 20 DVC runs;
tests/integration/test_seed_noise.py runs the stage itself in DVC.
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
from stages.seed_noise import refit_seeds

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUNS = 20
REFITS = 4


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=2000, n_features=8, n_informative=5, n_redundant=0, random_state=0
    )
    return x[:1200], y[:1200], x[1200:], y[1200:]


def metric_values(model: RandomForestClassifier, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    proba = model.predict_proba(x)
    s, pred = proba[:, 1], (proba[:, 1] >= 0.5).astype(int)
    return {
        "roc_auc": roc_auc_score(y, s),
        "average_precision": average_precision_score(y, s),
        "accuracy": accuracy_score(y, pred),
        "f1": f1_score(y, pred),
        "log_loss": log_loss(y, proba),
        "brier": brier_score_loss(y, s),
    }


def snapshot(
    label: str,
    seed: int,
    xtr: np.ndarray,
    ytr: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    refits: int = REFITS,
) -> Snapshot:
    """A revision as the pipeline leaves it: metrics, per-row predictions and the seed_noise
    record (the same metrics under `REFITS` other seeds, derived as the stage derives them)."""
    model = fit(xtr, ytr, seed)
    proba = model.predict_proba(x)
    pred = (proba[:, 1] >= 0.5).astype(int)
    ids = np.arange(len(y), dtype=np.uint64)
    frame = predictions_frame(ids, y, proba, pred, pd.DataFrame(), [0, 1])
    metrics = metric_values(model, x, y)
    seeds = [seed, *refit_seeds(seed, refits)]
    per_seed = [metrics] + [metric_values(fit(xtr, ytr, s), x, y) for s in seeds[1:]]
    record = {"seeds": seeds, "metrics": {k: [m[k] for m in per_seed] for k in metrics}}
    return Snapshot(
        label,
        None,
        metrics=metrics,
        predictions=frame,
        signature={"threshold": 0.5},
        seed_noise=record if refits else None,
    )


def fit(x: np.ndarray, y: np.ndarray, seed: int) -> RandomForestClassifier:
    model = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed, n_jobs=1)
    return model.fit(x, y)


def test_seed_noise_is_no_significant_change_and_a_real_feature_is_detected() -> None:
    policy = load_policy(ROOT)
    stats = settings(policy)
    xtr, ytr, xte, yte = data()
    judge = lambda b, h: build_report(  # noqa: E731
        b, h, policy.metrics, primary_metric="roc_auc", top_k=3, statistics=stats
    )
    base = snapshot("base", 0, xtr, ytr, xte, yte)
    noise = [judge(base, snapshot("head", s, xtr, ytr, xte, yte)) for s in range(1, RUNS + 1)]
    # The whole verdict, over all six metrics, each judged on the mean over seeds.
    verdicts = [r.verdict.status for r in noise]
    assert verdicts.count("no_significant_change") >= 18, verdicts
    assert all("mean over estimator seeds" in " ".join(r.notes) for r in noise)

    without = np.s_[:, 1:]  # drop column 0 (informative with this random_state)
    detected = 0
    for seed in range(RUNS):
        b = snapshot("base", seed, xtr[without], ytr, xte[without], yte)
        h = snapshot("head", seed, xtr, ytr, xte, yte)
        report = judge(b, h)
        roc = next(m for m in report.metrics if m.name == "roc_auc")
        detected += roc.status == "improved" and report.verdict.status == "improved"
    assert detected >= 19


def test_without_seed_records_the_luck_of_one_seed_is_called_a_change() -> None:
    """The same 20 seed-only runs judged on the trained models alone (no seed_noise records):
    the forests' calibration differs beyond the test rows' noise, so a verdict on one seed per
    side fails the noise study. This is what the seed_noise stage fixes."""
    policy = load_policy(ROOT)
    stats = settings(policy)
    xtr, ytr, xte, yte = data()
    base = snapshot("base", 0, xtr, ytr, xte, yte, refits=0)
    verdicts = [
        build_report(
            base,
            snapshot("head", s, xtr, ytr, xte, yte, refits=0),
            policy.metrics,
            primary_metric="roc_auc",
            top_k=3,
            statistics=stats,
        ).verdict.status
        for s in range(1, RUNS + 1)
    ]
    assert verdicts.count("no_significant_change") < 18, verdicts
