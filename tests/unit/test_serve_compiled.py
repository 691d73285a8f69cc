"""The compiled runtime in process: the column fast path, same scores as skops, verification."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from gitml import scoring
from gitml.compile import compile_pipeline
from gitml.errors import GitmlError
from gitml.fileio import md5_bytes, write_bytes, write_json
from gitml.lockfile import dir_md5
from gitml.modeling import prepare_features
from gitml.policy import Outputs
from gitml.serve import bundle as b
from tests.serve_support import BuiltModel, build_model

TRUSTED = yaml.safe_load((Path(__file__).resolve().parents[2] / "conf/gitml.yaml").read_text())[
    "trusted_types"
]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    """A fitted model with missing incomes and regions, its compiled model, and a dvc.lock
    that ties them (the compile stage's deps and outs), in a project-like root."""
    made = build_model(
        tmp_path_factory.mktemp("compiled"), n_train=800, n_rows=300, nullable=("income", "region")
    )
    frame = prepare_features(made.rows, made.signature.features)
    result = compile_pipeline(made.model, made.signature.features, frame, TOLERANCE)
    assert result.model is not None, result.record
    root = made.root
    write_bytes(root / "models/compiled/model.onnx", result.model)
    write_json(root / "reports/compile.json", result.record)
    lock = {
        "schema": "2.0",
        "stages": {
            "compile": {
                "cmd": "python -m stages.compile",
                "deps": [
                    {"path": "models/model.skops", "md5": md5_bytes(made.model_path.read_bytes())}
                ],
                "outs": [
                    {
                        "path": "models/compiled",
                        "md5": dir_md5({"model.onnx": md5_bytes(result.model)}),
                    },
                    {
                        "path": "reports/compile.json",
                        "md5": md5_bytes((root / "reports/compile.json").read_bytes()),
                    },
                ],
            }
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    return made


def load(built: BuiltModel, runtime: str, root: Path | None = None) -> b.ModelBundle:
    bundle = b.from_file(built.model_path, TRUSTED, "classifier")
    return b.with_runtime(bundle, runtime, root or built.root, Outputs())


def columns(built: BuiltModel) -> scoring.Columns:
    rows = built.rows
    return scoring.validate({c: rows[c] for c in rows.columns}, built.signature)


def test_columns_fast_path_feeds_what_the_frame_path_feeds(built: BuiltModel) -> None:
    bundle = load(built, "onnx")
    session = bundle.compiled.session
    cols = columns(built)
    assert any(np.isnan(cols["income"])) and any(not isinstance(v, str) for v in cols["region"])
    labels, proba = session.predict_columns(cols)
    ref_labels, ref_proba = session.predict(prepare_features(built.rows, built.signature.features))
    assert (labels == ref_labels).all() and (proba == ref_proba).all()


@pytest.mark.parametrize("threshold", [None, 0.2])
def test_onnx_scores_like_skops_with_the_signature_threshold(
    built: BuiltModel, threshold: float | None
) -> None:
    skops, onnx = load(built, "skops"), load(built, "onnx")
    assert (skops.runtime, onnx.runtime) == ("skops", "onnx")
    sig = dataclasses.replace(built.signature, threshold=threshold)
    skops, onnx = (
        dataclasses.replace(skops, signature=sig),
        dataclasses.replace(onnx, signature=sig),
    )
    cols = columns(built)
    a, o = skops.score(cols), onnx.score(cols)
    assert o.classes == a.classes and o.predictions.tolist() == a.predictions.tolist()
    assert o.probabilities is not None and a.probabilities is not None
    assert o.probabilities.shape == a.probabilities.shape
    assert np.abs(o.probabilities - a.probabilities).max() <= TOLERANCE
    argmax = np.asarray(a.classes, dtype=object)[np.argmax(a.probabilities, axis=1)]
    # the threshold decides the labels (on both runtimes), not the most probable class
    assert (a.predictions.tolist() != argmax.tolist()) == (threshold is not None)


def test_a_tampered_compiled_model_falls_back_or_refuses(built: BuiltModel, tmp_path: Path) -> None:
    root = tmp_path / "root"
    for rel in ("models/compiled/model.onnx", "reports/compile.json", "dvc.lock"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((built.root / rel).read_bytes())
    assert load(built, "auto", root).runtime == "onnx"
    onnx = root / "models/compiled/model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    assert load(built, "auto", root).runtime == "skops"
    with pytest.raises(GitmlError) as caught:
        load(built, "onnx", root)
    text = caught.value.render()
    assert "does not match dvc.lock" in text and "\n\n" not in text.strip()


def test_a_record_that_says_not_compiled_is_not_served(built: BuiltModel, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "models/compiled").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "models/compiled/model.onnx").write_bytes(
        (built.root / "models/compiled/model.onnx").read_bytes()
    )
    record = json.loads((built.root / "reports/compile.json").read_text())
    record.update(compiled=False, reason="labels differ")
    (root / "reports/compile.json").write_text(json.dumps(record))
    lock = yaml.safe_load((built.root / "dvc.lock").read_text())
    lock["stages"]["compile"]["outs"][1]["md5"] = md5_bytes(
        (root / "reports/compile.json").read_bytes()
    )
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert load(built, "auto", root).runtime == "skops"
    with pytest.raises(GitmlError, match="did not compile it"):
        load(built, "onnx", root)


def test_a_compiled_model_of_another_skops_file_is_not_used(
    built: BuiltModel, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "models").mkdir(parents=True)
    lock = yaml.safe_load((built.root / "dvc.lock").read_text())
    lock["stages"]["compile"]["deps"][0]["md5"] = "0" * 32
    for rel in ("models/compiled/model.onnx", "reports/compile.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((built.root / rel).read_bytes())
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    with pytest.raises(GitmlError, match="not from the served model"):
        load(built, "onnx", root)


def test_unknown_runtime_is_a_user_error(built: BuiltModel) -> None:
    with pytest.raises(GitmlError, match="Unknown runtime"):
        load(built, "tensorrt")
