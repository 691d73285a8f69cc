"""OIP v2 `outputs`: an output the served model does not have is a 400 naming it, in process."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from gitml.modeling import Signature
from gitml.policy.serve import ServePolicy
from gitml.serve.app import create_app
from gitml.serve.bundle import ModelBundle

pytestmark = pytest.mark.unit


def regressor() -> tuple[ModelBundle, list[dict[str, object]]]:
    """A linear regression on scikit-learn's diabetes table, bundled as the server loads one."""
    frame = load_diabetes(as_frame=True).frame
    features = [str(c) for c in frame.columns if c != "target"]
    model = LinearRegression().fit(frame[features], frame["target"])
    signature = Signature(
        features=[
            {"name": n, "dtype": "float64", "kind": "numeric", "nullable": False} for n in features
        ],
        target="target",
        task="regression",
        classes=[],
        positive_class=None,
        training_data_md5="",
        model="linear",
        estimator="LinearRegression",
    )
    bundle = ModelBundle(model, signature, "regressor", "v1.0.0", "0" * 32)
    inputs = [
        {"name": n, "shape": [2], "datatype": "FP64", "data": frame[n].iloc[:2].tolist()}
        for n in features
    ]
    return bundle, inputs


def test_v2_asking_a_regressor_for_probabilities_is_a_400_listing_its_outputs() -> None:
    bundle, inputs = regressor()
    app = create_app(bundle, ServePolicy(), log_path="")
    with TestClient(app) as client:
        url = "/v2/models/regressor/infer"
        bad = client.post(url, json={"inputs": inputs, "outputs": [{"name": "predict_proba"}]})
        assert bad.status_code == 400, bad.text
        message = bad.json()["error"]
        assert "'predict_proba'" in message and "outputs are predict " in message, message
        unknown = client.post(url, json={"inputs": inputs, "outputs": [{"name": "nope"}]})
        assert unknown.status_code == 400 and "'nope'" in unknown.json()["error"]
        ok = client.post(url, json={"inputs": inputs, "outputs": [{"name": "predict"}]})
        assert ok.status_code == 200, ok.text
        assert [o["name"] for o in ok.json()["outputs"]] == ["predict"]
        every = client.post(url, json={"inputs": inputs})
        assert [o["name"] for o in every.json()["outputs"]] == ["predict"]
