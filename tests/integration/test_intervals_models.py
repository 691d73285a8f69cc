"""gitml.stats on real models: seed noise is not significant, an informative feature is.

40 random-forest fits: ~10 s idle, ~30 s on a busy machine, hence integration, not unit.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from gitml.compare import MetricRule
from gitml.stats import Verdict, classify_change, paired_bootstrap

pytestmark = pytest.mark.integration


def test_seed_noise_is_not_significant_and_a_real_feature_is() -> None:
    """Models differing only in their seed: no significant change; with an informative feature:
    improved (the interval is about the test rows; the forests are large enough that their
    seeds change the AUC less than the test sample's noise)."""
    x, y = make_classification(
        n_samples=2000, n_features=8, n_informative=5, n_redundant=0, random_state=0
    )
    x_tr, x_te, y_tr, y_te = x[:1200], x[1200:], y[:1200], y[1200:]
    drop = 0  # the informative feature the baseline of the "signal" runs lacks
    rule = MetricRule(higher_is_better=True, min_absolute_change=0.002)

    def fit(cols: list[int], seed: int) -> np.ndarray:
        model = RandomForestClassifier(n_estimators=150, max_depth=6, random_state=seed, n_jobs=1)
        return model.fit(x_tr[:, cols], y_tr).predict_proba(x_te[:, cols])[:, 1]

    all_cols = list(range(x.shape[1]))
    fewer = [c for c in all_cols if c != drop]
    reference = fit(all_cols, 0)
    noise, signal = [], []
    for seed in range(1, 21):
        head = fit(all_cols, seed)
        noise.append(
            classify_change(
                paired_bootstrap(y_te, reference, head, ["roc_auc"], 300, seed)["roc_auc"].delta,
                rule,
            )
        )
        base = fit(fewer, seed)
        signal.append(
            classify_change(
                paired_bootstrap(y_te, base, head, ["roc_auc"], 300, seed)["roc_auc"].delta, rule
            )
        )
    assert noise.count(Verdict.NO_SIGNIFICANT_CHANGE) >= 18, noise
    assert signal.count(Verdict.IMPROVED) >= 19, signal
