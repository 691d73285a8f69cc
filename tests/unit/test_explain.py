"""Contributions (gitml.explain): additivity against the raw output, one-hot aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from gitml import scoring
from gitml.explain import Explainer, aggregate, background_from_profile, column_owners, raw_output
from gitml.profile import build_profile

pytestmark = pytest.mark.unit
FEATURES = ["x1", "x2", "color", "size"]
SPECS = [
    {"name": "x1", "kind": "numeric"},
    {"name": "x2", "kind": "numeric"},
    {"name": "color", "kind": "categorical"},
    {"name": "size", "kind": "categorical"},
]


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue", "black"], size=n).astype(object),
            "size": rng.choice(["s", "m", "l"], size=n).astype(object),
        }
    )
    x.loc[x.index[::7], "x2"] = np.nan  # missing values follow the trees' default branch
    logit = x["x1"] + np.where(x["color"] == "red", 1.5, 0) - np.where(x["size"] == "l", 1, 0)
    y = (logit + rng.normal(scale=0.5, size=n) > 0.3).astype(int).to_numpy()
    return x, y


def _pipeline(estimator: object, categorical: str) -> Pipeline:
    cat: object = (
        OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        if categorical == "onehot"
        else OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
        )
    )
    num: object = "passthrough"
    pre = ColumnTransformer(
        [("numeric", num, ["x1", "x2"]), ("categorical", cat, ["color", "size"])],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])


@pytest.mark.parametrize("categorical", ["native", "onehot"])
def test_hgb_contributions_add_up_to_the_log_odds(categorical: str) -> None:
    x, y = _data()
    kwargs = {"categorical_features": [False, False, True, True]} if categorical == "native" else {}
    model = _pipeline(
        HistGradientBoostingClassifier(max_iter=40, max_depth=3, random_state=0, **kwargs),
        "ordinal" if categorical == "native" else "onehot",
    ).fit(x, y)
    found = Explainer(model, FEATURES, 1).explain(x)
    assert found.values.shape == (len(x), 4) and found.output == "log-odds"
    total = found.base + found.values.sum(axis=1)
    assert np.abs(total - model.decision_function(x)).max() < 1e-6
    # the features the label depends on matter most; explanations are deterministic
    top = list(found.mean_abs())[:2]
    assert set(top) == {"x1", "color"}
    again = Explainer(model, FEATURES, 1).explain(x)
    assert np.array_equal(again.values, found.values)


def test_negative_positive_class_flips_the_sign() -> None:
    x, y = _data()
    model = _pipeline(HistGradientBoostingClassifier(max_iter=20), "onehot").fit(x, y)
    pos = Explainer(model, FEATURES, 1).explain(x)
    neg = Explainer(model, FEATURES, 0).explain(x)
    assert np.allclose(neg.values, -pos.values) and np.allclose(neg.base, -pos.base)
    assert np.allclose(neg.base + neg.values.sum(1), raw_output(model, x, 0), atol=1e-6)


def test_one_hot_columns_are_summed_into_their_feature() -> None:
    x, y = _data()
    model = _pipeline(
        RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), "onehot"
    )
    model.fit(x.fillna(0.0), y)
    pre = model[:-1]
    n_out = pre.transform(x.fillna(0.0)).shape[1]
    owners = column_owners(pre, n_out, FEATURES)
    # two numeric columns, then four colours and three sizes
    assert owners.tolist() == [0, 1, 2, 2, 2, 2, 3, 3, 3]
    values = np.arange(2 * n_out, dtype=float).reshape(2, n_out)
    summed = aggregate(values, owners, 4)
    assert summed[0].tolist() == [0, 1, 2 + 3 + 4 + 5, 6 + 7 + 8]
    found = Explainer(model, FEATURES, 1).explain(x.fillna(0.0))
    proba = model.predict_proba(x.fillna(0.0))[:, 1]
    assert found.output == "log-odds" or np.allclose(found.base + found.values.sum(1), proba)


def test_model_agnostic_explainer_is_additive_with_a_profile_background() -> None:
    x, y = _data()
    x = x.fillna(0.0)
    pipe = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), ["x1", "x2"]),
                        ("categorical", OneHotEncoder(sparse_output=False), ["color", "size"]),
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    ).fit(x, y)
    profile = build_profile(x, ["x1", "x2"], ["color", "size"])
    background = background_from_profile(profile, SPECS, rows=16)
    assert background is not None and len(background) == 16
    assert background_from_profile(profile, SPECS, rows=16).equals(background)  # deterministic
    found = Explainer(pipe, FEATURES, 1, background).explain(x.iloc[:20])
    assert (
        np.abs(found.base + found.values.sum(1) - pipe.decision_function(x.iloc[:20])).max() < 1e-6
    )


def test_context_spec_and_columns() -> None:
    spec = scoring.ContextSpec.from_columns(
        [
            {"name": "age", "role": "feature", "pii": False},
            {"name": "email", "role": "id", "pii": True},
            {"name": "gender", "role": "sensitive", "pii": False},
            {"name": "y", "role": "target", "pii": False},
            {"name": "junk", "role": "ignore", "pii": False},
        ]
    )
    assert spec.logged == ("gender",) and spec.pii == ("email",) and spec.pii_features == ()
    raw = {"age": [1, 2], "email": ["a@x", None], "gender": ["f", "m"], "junk": [1, 2]}
    assert scoring.context_columns(raw, spec, 2) == {"gender": ["f", "m"], "email": ["a@x", None]}
    with pytest.raises(scoring.InputError, match="plain values"):
        scoring.context_columns({"gender": [{"a": 1}, "m"]}, spec, 2)
