"""Model building and safe, deterministic serialisation."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from gitml.config import Params, load_params
from gitml.data.synthetic import generate
from gitml.errors import GitmlError
from gitml.modeling import (
    dumps_model,
    feature_specs,
    loads_model,
    prepare_features,
    untrusted_types,
)
from gitml.schema import coerce
from stages.train import fit

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("modeling")]
ROOT = Path(__file__).resolve().parents[2]
TRUSTED = yaml.safe_load((ROOT / "conf/gitml.yaml").read_text())["trusted_types"]


@pytest.fixture(scope="module")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def frame(params: Params):
    return coerce(generate(800, seed=2), params.data)


def test_same_fit_same_bytes(params: Params, frame) -> None:
    a = dumps_model(fit(frame, params.data, params.model))
    b = dumps_model(fit(frame, params.data, params.model))
    assert hashlib.md5(a).hexdigest() == hashlib.md5(b).hexdigest()


def test_round_trip_predicts_identically(params: Params, frame) -> None:
    model = fit(frame, params.data, params.model)
    loaded = loads_model(dumps_model(model), TRUSTED)
    x = prepare_features(frame, feature_specs(params.data))
    np.testing.assert_array_equal(model.predict_proba(x), loaded.predict_proba(x))


def test_untrusted_type_is_refused(params: Params, frame) -> None:
    data = dumps_model(fit(frame, params.data, params.model))
    assert untrusted_types(data)  # HistGradientBoosting needs reviewed types
    with pytest.raises(GitmlError, match="not on the trusted list"):
        loads_model(data, trusted=[])


def test_bad_hyperparameter_is_a_clear_error(params: Params, frame) -> None:
    model = dataclasses.replace(params.model, kwargs={**params.model.kwargs, "max_iterr": 3})
    with pytest.raises(GitmlError, match="Could not build the estimator"):
        fit(frame, params.data, model)


def test_unknown_category_at_predict_time_is_handled(params: Params, frame) -> None:
    model = fit(frame, params.data, params.model)
    x = prepare_features(frame.head(5), feature_specs(params.data))
    x.loc[x.index[0], "region"] = "atlantis"
    proba = model.predict_proba(x)
    assert np.isfinite(proba).all()
