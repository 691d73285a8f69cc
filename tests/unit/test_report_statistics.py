"""Issue 13 wiring: thresholds, per-row predictions, interval statuses in the report, interval gates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import f1_score, roc_curve

from gitml.compare import Evidence, MetricRule, evaluate_gates
from gitml.intervals import NOT_COMPARABLE, Settings
from gitml.policy import load_policy, parse_policy
from gitml.predictions import pair, predictions_frame, row_ids, slice_intervals
from gitml.report.core import Snapshot, build_report
from gitml.thresholds import choose_threshold

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
RULES = {
    "roc_auc": MetricRule(True, 0.002, 0.0, 0.005, None),
    "accuracy": MetricRule(True, 0.002, 0.0, 0.01, None),
    "log_loss": MetricRule(False, 0.002, 0.0, 0.01, None),
}
FAST = Settings(resamples=300, seed=0)


def scores(n: int, seed: int, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(0, 1.2, n))))
    return y, s


# -- thresholds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_threshold_maximises_f1_over_every_cut(seed: int) -> None:
    y, s = scores(800, seed)
    t = choose_threshold(y, s, "f1")
    best = max(f1_score(y, s >= c) for c in np.unique(s))
    assert f1_score(y, s >= t) == pytest.approx(best)


def test_youden_cost_and_precision_strategies() -> None:
    y, s = scores(1000, 3)
    fpr, tpr, _cuts = roc_curve(y, s)
    j = tpr - fpr
    t = choose_threshold(y, s, "youden")
    pred = s >= t
    assert pred[y == 1].mean() - pred[y == 0].mean() == pytest.approx(j.max())
    # Cost: false negatives 5x as costly pushes the threshold down.
    cheap = choose_threshold(y, s, "cost", cost_fp=1, cost_fn=1)
    costly = choose_threshold(y, s, "cost", cost_fp=1, cost_fn=5)
    assert costly < cheap
    t = choose_threshold(y, s, "precision_at", precision=0.8)
    pred = s >= t
    assert y[pred].mean() >= 0.8
    assert choose_threshold(y, s, "fixed", value=0.37) == 0.37


# -- predictions and pairing ------------------------------------------------------------------


def _frame(y: np.ndarray, s: np.ndarray, t: float, ids: np.ndarray) -> pd.DataFrame:
    proba = np.c_[1 - s, s]
    pred = (s >= t).astype(int)
    sensitive = pd.DataFrame({"g": np.where(np.arange(len(y)) % 3 == 0, "a", "b")})
    return predictions_frame(ids, y, proba, pred, sensitive, [0, 1])


def test_pairing_is_by_row_id_not_order() -> None:
    y, s = scores(200, 4)
    ids = row_ids(pd.DataFrame({"id": [f"r{i}" for i in range(200)]}), ["id"])
    base = _frame(y, s, 0.5, ids)
    shuffled = base.sample(frac=1.0, random_state=1)
    paired = pair(base, shuffled)
    assert not isinstance(paired, str)
    np.testing.assert_array_equal(paired.base_score, paired.head_score)
    other = _frame(y, s, 0.5, ids + np.uint64(1))
    assert "differ" in str(pair(base, other))


def _snap(label: str, frame: pd.DataFrame | None, y: np.ndarray, s: np.ndarray) -> Snapshot:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    metrics = {
        "roc_auc": roc_auc_score(y, s),
        "accuracy": accuracy_score(y, s >= 0.5),
        "log_loss": log_loss(y, s),
    }
    return Snapshot(label, None, metrics=metrics, predictions=frame, signature={"threshold": 0.5})


def test_report_status_is_no_significant_change_for_noise_and_falls_back_without_rows() -> None:
    y, s = scores(600, 5)
    ids = np.arange(600, dtype=np.uint64)
    noise = np.clip(s + np.random.default_rng(9).normal(0, 0.01, 600), 1e-6, 1 - 1e-6)
    base, head = (
        _snap("b", _frame(y, s, 0.5, ids), y, s),
        _snap("h", _frame(y, noise, 0.5, ids), y, noise),
    )
    report = build_report(base, head, RULES, primary_metric="roc_auc", top_k=3, statistics=FAST)
    assert report.intervals.mode == "bootstrap"
    roc = next(m for m in report.metrics if m.name == "roc_auc")
    assert roc.status == "no significant change" and roc.interval.low < 0 < roc.interval.high
    assert roc.interval.delong is not None and roc.interval.delong["low"] < 0
    assert report.verdict.status == "no_significant_change" and report.verdict.passed
    old = _snap("b", None, y, s)
    point = build_report(old, head, RULES, primary_metric="roc_auc", top_k=3, statistics=FAST)
    assert point.intervals.mode == "point"
    assert any("missing at b" in n and "point values" in n for n in point.notes)
    other = _snap("h", _frame(y, noise, 0.5, ids + np.uint64(7)), y, noise)
    apart = build_report(base, other, RULES, primary_metric="roc_auc", top_k=3, statistics=FAST)
    assert {m.status for m in apart.metrics} == {NOT_COMPARABLE}
    assert apart.verdict.status == "not_comparable"


def test_a_real_regression_fails_the_report() -> None:
    y, s = scores(3000, 6, signal=1.5)
    _, worse = scores(3000, 6, signal=0.6)  # same labels (same seed), weaker scorer
    ids = np.arange(3000, dtype=np.uint64)
    base, head = (
        _snap("b", _frame(y, s, 0.5, ids), y, s),
        _snap("h", _frame(y, worse, 0.5, ids), y, worse),
    )
    report = build_report(base, head, RULES, primary_metric="roc_auc", top_k=3, statistics=FAST)
    roc = next(m for m in report.metrics if m.name == "roc_auc")
    assert roc.status == "regressed" and roc.interval.high < 0
    assert not report.verdict.passed


# -- slices and gates ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_slice_rates_match_fairlearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    y = (rng.random(n) < 0.2).astype(int)
    p = (rng.random(n) < 0.3).astype(int)
    g = rng.choice(["female", "male", "nonbinary"], n, p=[0.48, 0.48, 0.04])
    got = slice_intervals(y, p, g)["groups"]
    frame = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    ).by_group
    for group, row in frame.iterrows():
        assert got[group]["selection_rate"]["estimate"] == pytest.approx(row["sr"])
        assert got[group]["tpr"]["estimate"] == pytest.approx(row["tpr"])
        assert got[group]["fpr"]["estimate"] == pytest.approx(row["fpr"])
        low, high = got[group]["tpr"]["low"], got[group]["tpr"]["high"]
        assert low <= row["tpr"] <= high


def _gates(extra: str = "") -> object:
    return parse_policy(
        {
            "artifact": "a",
            "registry": {"stages": ["staging"]},
            "metrics": {"roc_auc": {"higher_is_better": True, "tolerance": 0.005}},
            "gates": {
                "metrics": ["roc_auc"],
                "fairness": {"demographic_parity_difference": 0.10},
                "min_group": {"rows": 100, "positives": 20},
                **({"insufficient": extra} if extra else {}),
            },
        }
    )


def test_small_group_is_insufficient_data_and_the_policy_decides() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    g = rng.choice(["a", "b", "tiny"], n, p=[0.49, 0.49, 0.02])
    y = (rng.random(n) < 0.2).astype(int)
    p = np.where(g == "tiny", 1, (rng.random(n) < 0.2).astype(int))  # tiny: everyone selected
    slices = {"g": {"demographic_parity_difference": 0.8, "intervals": slice_intervals(y, p, g)}}
    for choice, passed in (("pass", True), ("fail", False)):
        policy = _gates(choice)
        result = evaluate_gates(
            policy.gates, policy.metrics, Evidence({"roc_auc": 0.8}, slices), None, FAST
        ).results[-1]
        assert result.passed is passed
        assert "insufficient data: tiny" in result.detail and result.status == "insufficient data"


def test_fairness_gap_fails_only_when_its_lower_bound_exceeds_the_limit() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    g = rng.choice(["a", "b"], n)
    y = (rng.random(n) < 0.3).astype(int)
    gap = 0.25
    p = (rng.random(n) < np.where(g == "a", 0.2 + gap, 0.2)).astype(int)
    slices = {"g": {"intervals": slice_intervals(y, p, g)}}
    policy = _gates()
    result = evaluate_gates(
        policy.gates, policy.metrics, Evidence({"roc_auc": 0.8}, slices), None, FAST
    )
    fair = result.results[-1]
    assert not fair.passed and fair.interval["gaps"][0]["low"] > 0.10
    # A noisy gap whose point estimate is over the limit but whose interval reaches below it passes.
    g2 = np.repeat(["a", "b"], 130)
    y2 = np.tile(np.r_[np.ones(40), np.zeros(90)], 2).astype(int)
    p2 = np.r_[np.ones(60), np.zeros(70), np.ones(45), np.zeros(85)].astype(int)
    loose = {"g": {"intervals": slice_intervals(y2, p2, g2)}}
    fair2 = evaluate_gates(
        policy.gates, policy.metrics, Evidence({"roc_auc": 0.8}, loose), None, FAST
    ).results[-1]
    gap2 = fair2.interval["gaps"][0]
    assert gap2["estimate"] > 0.10 and gap2["low"] <= 0.10 and fair2.passed


def test_metric_gate_is_non_inferiority_on_the_interval_bound() -> None:
    y, s = scores(4000, 8, signal=1.5)
    ids = np.arange(4000, dtype=np.uint64)
    policy = _gates()
    champion = Evidence({"roc_auc": 0.8}, predictions=_frame(y, s, 0.5, ids))
    same = Evidence({"roc_auc": 0.8}, predictions=_frame(y, s, 0.5, ids))
    _, worse = scores(4000, 8, signal=1.2)
    bad = Evidence({"roc_auc": 0.7}, predictions=_frame(y, worse, 0.5, ids))
    ok = evaluate_gates(policy.gates, policy.metrics, same, champion, FAST).results[0]
    assert ok.passed and ok.interval is not None and "CI" in ok.detail
    no = evaluate_gates(policy.gates, policy.metrics, bad, champion, FAST).results[0]
    assert not no.passed and no.interval["low"] < -0.005
    plain = evaluate_gates(policy.gates, policy.metrics, Evidence({"roc_auc": 0.8}), champion, FAST)
    assert "point values" in plain.results[0].detail


def test_the_default_project_passes_its_own_gates_with_the_reason() -> None:
    """On the committed 20,000-row outputs, `nonbinary` (79 test rows) is insufficient data."""
    policy = load_policy(ROOT)
    read = lambda p: json.loads((ROOT / p).read_text())  # noqa: E731
    evidence = Evidence(
        read("reports/metrics.json"), read("reports/slices.json"), read("reports/validation.json")
    )
    report = evaluate_gates(policy.gates, policy.metrics, evidence, None, FAST)
    assert report.passed, report.failures
    eod = next(r for r in report.results if r.gate == "gender equalized_odds_difference")
    assert "insufficient data: nonbinary" in eod.detail


def test_default_threshold_strategy_is_f1_and_stored_in_the_signature() -> None:
    sig = json.loads((ROOT / "models/signature.json").read_text())
    assert sig["threshold_strategy"] == "f1" and 0 < sig["threshold"] < 0.5
    metrics = json.loads((ROOT / "reports/metrics.json").read_text())
    assert metrics["f1"] > 0.2  # at 0.5 the default model predicted ~1% positives (F1 0.09)


# -- the threshold in training and scoring ----------------------------------------------------


def test_threshold_is_chosen_on_training_rows_only_and_used_by_scoring(tmp_path: Path) -> None:
    from gitml import scoring
    from gitml.config import load_params
    from gitml.data.synthetic import generate
    from gitml.modeling import Signature, feature_specs
    from gitml.schema import coerce
    from stages.train import choose, fit

    p = load_params(ROOT / "params.yaml")
    frame = coerce(generate(1500, seed=3), p.data)
    train, test_a, test_b = frame.iloc[:1000], frame.iloc[1000:1250], frame.iloc[1250:]
    first = choose(train, p)
    assert first is not None and first == choose(train.copy(), p)  # seeded, deterministic
    # The test split never enters: two different test sets, one training set, one threshold.
    assert not set(test_a.index) & set(train.index) and not set(test_b.index) & set(train.index)
    model = fit(train, p.data, p.model)
    sig = Signature(feature_specs(p.data), p.data.target, "binary", [0, 1], 1, "", "m", "e")
    columns = {f["name"]: test_a[f["name"]].to_numpy() for f in sig.features}
    row = {k: v[:1] for k, v in columns.items()}
    s0 = scoring.score(model, sig, row).probabilities[0, 1]
    for cut, expected in ((s0 - 1e-9, 1), (s0 + 1e-9, 0)):
        with_cut = Signature(**{**sig.__dict__, "threshold": cut, "threshold_strategy": "fixed"})
        assert scoring.score(model, with_cut, row).predictions[0] == expected


def test_a_regression_task_is_judged_with_intervals_not_called_not_comparable() -> None:
    """Two regressors on scikit-learn's diabetes data: the predictions pair as a regression
    (they have no label_positive column), every metric gets a paired interval, and removing the
    two most informative features is a regression of rmse that the report names."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    x, y = load_diabetes(return_X_y=True)
    xtr, ytr, xte, yte = x[:300], y[:300], x[300:], y[300:]
    keep = [0, 1, 3, 4, 5, 6, 7, 9]  # without bmi (2) and s5 (8)
    ids = np.arange(len(yte), dtype=np.uint64)

    def snap(label: str, cols: list[int]) -> Snapshot:
        pred = Ridge(alpha=0.1).fit(xtr[:, cols], ytr).predict(xte[:, cols])
        frame = predictions_frame(ids, yte, pred, pred, pd.DataFrame(), [])
        metrics = {
            "rmse": float(np.sqrt(mean_squared_error(yte, pred))),
            "mae": float(mean_absolute_error(yte, pred)),
            "r2": float(r2_score(yte, pred)),
        }
        return Snapshot(label, None, metrics=metrics, predictions=frame, signature={})

    full, fewer = snap("full", list(range(10))), snap("fewer", keep)
    paired = pair(full.predictions, fewer.predictions)
    assert not isinstance(paired, str) and paired.task == "regression", paired
    policy = load_policy(ROOT)
    report = build_report(
        full, fewer, policy.metrics, primary_metric="rmse", top_k=3, statistics=FAST
    )
    rows = {m.name: m for m in report.metrics}
    assert all(rows[n].interval is not None for n in ("rmse", "mae", "r2")), rows
    assert rows["rmse"].interval.base == pytest.approx(full.metrics["rmse"], rel=1e-9)
    assert rows["rmse"].status == "regressed" and report.verdict.status == "regressed"
