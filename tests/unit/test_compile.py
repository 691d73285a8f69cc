"""The compile stage: every model option converts to ONNX with scoring parity, deterministically."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hydra.utils import get_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline

from gitml import onnx as onnx_adapter
from gitml import scoring
from gitml.compile import MODEL_FILE, compile_pipeline
from gitml.config import Params
from gitml.data.sources import load_source
from gitml.data.synthetic import generate
from gitml.errors import GitmlError
from gitml.fileio import write_bytes, write_json, write_parquet
from gitml.modeling import Signature, dumps_model, feature_specs, prepare_features
from gitml.policy import CompilePolicy, parse_policy
from gitml.schema import coerce
from gitml.serve.compiled import CompiledModel
from stages import compile as stage
from stages.train import fit
from tests import params_support

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("compile")]
ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
UNSEEN = "never-seen-category"
TOLERANCE = CompilePolicy().tolerance


def _option(name: str) -> dict:
    return yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())


OPTIONS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
REGRESSORS = [m for m in OPTIONS if is_regressor(get_class(_option(m)["_target_"])())]
CLASSIFIERS = [m for m in OPTIONS if m not in REGRESSORS]
NATIVE = [m for m in CLASSIFIERS if _option(m)["preprocessing"]["categorical"] == "native"]


def composed(option: str, data: str = "synthetic_credit") -> Params:
    return params_support.composed(f"model={option}", f"data={data}")


def test_the_options_cover_both_kinds_of_estimator() -> None:
    assert "hist_gradient_boosting" in NATIVE
    assert {"ridge", "hist_gradient_boosting_regressor"} <= set(REGRESSORS)


@pytest.fixture(scope="module", params=CLASSIFIERS)
def trained(request: pytest.FixtureRequest) -> tuple[Params, Pipeline, bytes]:
    """Each classifier option trained on 2,000 synthetic rows, and its compiled bytes."""
    params = composed(request.param)
    pipeline = fit(coerce(generate(2000, seed=3), params.data), params.data, params.model)
    return params, pipeline, onnx_adapter.convert(pipeline, feature_specs(params.data))


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    params = composed("ridge", "diabetes")
    return coerce(load_source(params.data, params.seed), params.data)


@pytest.fixture(scope="module", params=REGRESSORS)
def regressor(
    request: pytest.FixtureRequest, diabetes: pd.DataFrame
) -> tuple[Params, Pipeline, bytes]:
    """Each regressor option trained on 342 rows of scikit-learn's diabetes table."""
    params = composed(request.param, "diabetes")
    pipeline = fit(diabetes.iloc[:342], params.data, params.model)
    return params, pipeline, onnx_adapter.convert(pipeline, feature_specs(params.data))


def agree(pipeline: Pipeline, data: bytes, specs: list, rows: pd.DataFrame) -> None:
    x = prepare_features(rows, specs)
    labels, proba = onnx_adapter.Runtime.load(data, specs).predict(x)
    if proba is None:
        expected = pipeline.predict(x)
        assert (np.abs(labels - expected) <= TOLERANCE * np.maximum(1, np.abs(expected))).all()
        return
    assert (labels == pipeline.predict(x)).all()
    assert np.abs(proba - pipeline.predict_proba(x)).max() <= TOLERANCE


def test_every_model_option_compiles_with_parity_on_a_test_split(trained) -> None:
    params, pipeline, _ = trained
    specs = feature_specs(params.data)
    test = coerce(generate(600, seed=4), params.data)
    x = prepare_features(test, specs)
    result = compile_pipeline(pipeline, specs, x, TOLERANCE)
    assert result.record["compiled"], result.record["reason"]
    assert result.model is not None and result.record["parity"]["labels_identical"]
    assert result.record["parity"]["max_abs_diff_proba"] <= TOLERANCE
    assert result.record["parity"]["rows"] == 600
    assert set(result.record["versions"]) == {"onnx", "onnxruntime", "skl2onnx", "sklearn"}
    assert x["income"].isna().any(), "the test split exercises missing values"


def test_every_regressor_option_compiles_with_parity_on_held_out_rows(
    regressor, diabetes: pd.DataFrame
) -> None:
    params, pipeline, data = regressor
    specs = feature_specs(params.data)
    x = prepare_features(diabetes.iloc[342:], specs)
    result = compile_pipeline(pipeline, specs, x, TOLERANCE)
    assert result.record["compiled"], result.record["reason"]
    assert result.model == data
    check = result.record["parity"]
    assert check["rows"] == 100 and check["within_tolerance"]
    assert check["max_rel_diff_prediction"] <= TOLERANCE
    assert "labels_identical" not in check and "max_abs_diff_proba" not in check


def test_generated_rows_score_the_same_with_a_compiled_regressor(regressor) -> None:
    agree_on_generated_rows(*regressor)


def test_a_regressor_outside_the_tolerance_is_recorded_not_compiled(
    diabetes: pd.DataFrame,
) -> None:
    # The forest runs in float32 in ONNX: ~1e-7 of relative error, above a 1e-12 tolerance.
    params = composed("random_forest_regressor", "diabetes")
    pipeline = fit(diabetes.iloc[:342], params.data, params.model)
    x = prepare_features(diabetes.iloc[342:], feature_specs(params.data))
    result = compile_pipeline(pipeline, feature_specs(params.data), x, 1e-12)
    assert result.model is None and not result.record["compiled"]
    assert result.record["reason"].startswith("predictions differ by up to")
    assert 1e-12 < result.record["parity"]["max_rel_diff_prediction"] <= TOLERANCE


def rows_strategy(params: Params) -> st.SearchStrategy[pd.DataFrame]:
    """Valid rows of the data contract: nulls where nullable, categories incl. unseen ones."""
    columns = {}
    for col in params.data.features:
        if col.is_numeric:
            low = float(col.min) if col.min is not None else -1e6
            high = float(col.max) if col.max is not None else 1e6
            values: st.SearchStrategy = st.floats(low, high, allow_nan=False)
            if col.dtype == "int64":
                values = st.integers(int(low), int(min(high, 1e6))).map(float)
        else:
            values = st.sampled_from([*map(str, col.categories or ()), UNSEEN])
        columns[col.name] = st.one_of(st.none(), values) if col.nullable else values
    row = st.fixed_dictionaries(columns)
    return st.lists(row, min_size=1, max_size=40).map(pd.DataFrame)


def agree_on_generated_rows(params: Params, pipeline: Pipeline, data: bytes) -> None:
    """Both runtimes agree on 25 hypothesis-generated sets of valid rows."""
    specs = feature_specs(params.data)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows_strategy(params))
    def check(rows: pd.DataFrame) -> None:
        agree(pipeline, data, specs, rows)

    check()


def test_generated_rows_score_the_same_in_both_runtimes(trained) -> None:
    agree_on_generated_rows(*trained)


@pytest.mark.parametrize("trained", NATIVE, indirect=True)
def test_native_categorical_splits_are_compiled(trained) -> None:
    _, pipeline, data = trained
    assert any(
        bool(n["is_categorical"]) and not n["is_leaf"]
        for it in pipeline.steps[-1][1]._predictors
        for p in it
        for n in p.nodes
    ), "the default model splits on categories natively"
    assert onnx_adapter.opsets(data)["ai.onnx.ml"] == onnx_adapter.TREE_ENSEMBLE_ML_OPSET


def stage_inputs(tmp: Path, pipeline: Pipeline, params: Params) -> dict[str, str]:
    specs = feature_specs(params.data)
    write_bytes(tmp / "model.skops", dumps_model(pipeline))
    sig = Signature(specs, params.data.target, "binary", [0, 1], 1, "", params.model.name, "")
    write_json(tmp / "signature.json", sig.to_dict())
    write_parquet(tmp / "test.parquet", coerce(generate(300, seed=5), params.data))
    return {
        "policy": str(CONF / "gitml.yaml"),
        "model": str(tmp / "model.skops"),
        "signature": str(tmp / "signature.json"),
        "test": str(tmp / "test.parquet"),
    }


def test_stage_output_is_byte_identical_across_runs(tmp_path: Path) -> None:
    params = composed("hist_gradient_boosting")
    pipeline = fit(coerce(generate(1000, seed=6), params.data), params.data, params.model)
    args = stage_inputs(tmp_path, pipeline, params)
    outputs = []
    for run in ("a", "b"):
        stage.run(
            **args, out=str(tmp_path / run / "compiled"), record=str(tmp_path / run / "r.json")
        )
        model = (tmp_path / run / "compiled" / MODEL_FILE).read_bytes()
        outputs.append((model, (tmp_path / run / "r.json").read_bytes()))
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0][1])["compiled"] is True


def test_an_unsupported_estimator_is_recorded_not_compiled(tmp_path: Path) -> None:
    params = composed("logistic_regression")
    base = fit(coerce(generate(500, seed=7), params.data), params.data, params.model)
    pre: ColumnTransformer = base.steps[0][1]
    x = prepare_features(coerce(generate(500, seed=7), params.data), feature_specs(params.data))
    y = coerce(generate(500, seed=7), params.data)[params.data.target].to_numpy()
    pipeline = Pipeline(
        [("preprocess", pre), ("model", NearestCentroid().fit(pre.transform(x), y))]
    )
    args = stage_inputs(tmp_path, pipeline, params)
    out = tmp_path / "compiled"
    out.mkdir()
    (out / MODEL_FILE).write_bytes(b"stale")  # a previous run's model must not survive
    argv = [part for key, value in args.items() for part in (f"--{key}", value)]
    stage.main([*argv, "--out", str(out), "--record", str(tmp_path / "r.json")])
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["compiled"] is False
    assert "NearestCentroid" in record["reason"] and record["estimator"].endswith("NearestCentroid")
    assert list(out.iterdir()) == []


def test_compile_policy_is_validated() -> None:
    base = {"artifact": "classifier", "registry": {"stages": ["staging"]}}
    assert parse_policy(base).compile == CompilePolicy(enabled=True, tolerance=1e-5)
    assert parse_policy({**base, "compile": {"tolerance": 0.001}}).compile.tolerance == 0.001
    with pytest.raises(GitmlError, match="compile"):
        parse_policy({**base, "compile": {"tolerence": 0.001}})
    with pytest.raises(GitmlError, match=r"compile\.enabled"):
        parse_policy({**base, "compile": {"enabled": "yes"}})


def test_compiled_bytes_do_not_depend_on_the_process(tmp_path: Path) -> None:
    """skl2onnx iterates sets (opset imports): two processes with other hash seeds agree."""
    params = composed("hist_gradient_boosting")
    pipeline = fit(coerce(generate(1000, seed=6), params.data), params.data, params.model)
    args = stage_inputs(tmp_path, pipeline, params)
    argv = [part for key, value in args.items() for part in (f"--{key}", value)]
    digests = set()
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run(
            [sys.executable, "-m", "stages.compile", *argv, "--out", str(out / "c"),
             "--record", str(out / "r.json")],
            cwd=ROOT, check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        digests.add((out / "c" / MODEL_FILE).read_bytes() + (out / "r.json").read_bytes())
    assert len(digests) == 1


def test_column_names_that_are_not_onnx_identifiers_compile(diabetes: pd.DataFrame) -> None:
    """statsmodels' fertility has columns '1960'... and 'Indicator Name': skl2onnx renames its
    inputs to '_1960' and 'Indicator_Name', and the runtime feeds them by the graph's names."""
    params = composed("hist_gradient_boosting_regressor", "diabetes")
    features = [c.name for c in params.data.columns if c.role == "feature"]
    rename = {features[0]: "1960", features[1]: "Indicator Name", features[2]: "bmi (kg/m²)"}
    columns = tuple(
        dataclasses.replace(c, name=rename.get(c.name, c.name)) for c in params.data.columns
    )
    data = dataclasses.replace(params.data, columns=columns)
    frame = diabetes.rename(columns=rename)
    pipeline = fit(frame.iloc[:342], data, params.model)
    specs = feature_specs(data)
    result = compile_pipeline(pipeline, specs, prepare_features(frame.iloc[342:], specs), TOLERANCE)
    assert result.record["compiled"], result.record["reason"]
    assert result.model is not None
    runtime = onnx_adapter.Runtime.load(result.model, specs)
    assert (
        runtime.inputs["1960"] == "_1960" and runtime.inputs["Indicator Name"] != "Indicator Name"
    )
    agree(pipeline, result.model, specs, frame.iloc[342:])


@pytest.mark.parametrize("option", CLASSIFIERS)
def test_a_bool_target_compiles_and_serves_true_and_false(option: str) -> None:
    """A True/False target: ONNX outputs its labels as int64 1/0, scikit-learn as bools. The
    parity check compares them as the model's classes, and the compiled serving path answers
    True/False like the skops one."""
    params = composed(option, "breast_cancer")
    target = params.data.target
    columns = tuple(
        dataclasses.replace(c, dtype="bool") if c.name == target else c for c in params.data.columns
    )
    data = dataclasses.replace(params.data, columns=columns, positive_class=True)
    raw = load_source(params.data, params.seed)
    frame = coerce(raw.assign(**{target: raw[target].astype(bool)}), data)
    pipeline = fit(frame.iloc[:400], data, params.model)
    assert pipeline.classes_.tolist() == [False, True]
    specs = feature_specs(data)
    rows = frame.iloc[400:]
    result = compile_pipeline(pipeline, specs, prepare_features(rows, specs), TOLERANCE)
    assert result.record["compiled"], result.record["reason"]
    assert result.model is not None and result.record["parity"]["labels_identical"]

    sig = Signature(
        features=specs,
        target=target,
        task="binary",
        classes=[False, True],
        positive_class=True,
        training_data_md5="test",
        model=params.model.name,
        estimator=params.model.target,
    )
    cols = scoring.validate({c: rows[c] for c in sig.feature_names}, sig)
    session = onnx_adapter.Runtime.load(result.model, specs)
    compiled = CompiledModel(session, "md5", result.record, scoring.model_classes(pipeline, sig))
    served, skops = compiled.score(sig, cols), scoring.score(pipeline, sig, cols)
    assert compiled.classes == [False, True] == served.classes == skops.classes
    assert served.predictions.tolist() == skops.predictions.tolist()
    assert {type(v) for v in scoring.predictions_list(served)} == {bool}


def test_the_named_model_options_are_shipped_and_of_their_kind() -> None:
    """data init, the train stage's advice and the wrong-task error name these options."""
    from gitml.tasks import MODEL_OPTIONS

    assert set(MODEL_OPTIONS["regressor"].names()) <= set(REGRESSORS)
    assert set(MODEL_OPTIONS["classifier"].names()) <= set(CLASSIFIERS)
