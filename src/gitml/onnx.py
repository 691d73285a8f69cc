"""Adapter to ONNX: convert a fitted pipeline with skl2onnx, run it with onnxruntime.

The only module that imports `onnx`, `skl2onnx` or `onnxruntime`. Two gaps of skl2onnx 1.20 are
closed here by converters registered on import (nothing else in the process converts models):

* `HistGradientBoostingClassifier` (and `...Regressor`, identity link): skl2onnx's own converter fails on onnx >= 1.23 (it passes
  Python bools in an INTS attribute: "Expected an int, got a boolean") and ignores native
  categorical splits (wrong scores). `_convert_hgb` emits one `ai.onnx.ml.TreeEnsemble`
  (opset 5) straight from the fitted predictors, in float64 like scikit-learn: numeric splits
  become BRANCH_LEQ, categorical splits BRANCH_MEMBER over the category codes of one side, with
  missing/unknown codes routed like scikit-learn does.
* `SimpleImputer` on a categorical (string) input with `missing_values=nan`: ONNX strings have no
  NaN, so the model's input contract spells a missing category as `MISSING` (`__missing__`) and
  the imputer is converted as if that string were its missing value.

The ONNX model has one input per feature, named after it, of shape [N, 1]: float64 (float32 for
estimators that compare in float32, the scikit-learn trees and forests) for numeric features,
string for categorical ones. `feeds` builds those inputs from a feature frame.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import sklearn
from onnx import TensorProto, numpy_helper
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from skl2onnx.operator_converters.random_forest import (
    convert_sklearn_random_forest_classifier,
    convert_sklearn_random_forest_regressor_converter,
)
from skl2onnx.shape_calculators.ensemble_shapes import (
    calculate_tree_classifier_output_shapes,
    calculate_tree_regressor_output_shapes,
)
from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.ensemble._forest import BaseForest
from sklearn.ensemble._gb import BaseGradientBoosting
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.tree import BaseDecisionTree

log = logging.getLogger(__name__)

#: How a missing categorical value is spelled in the ONNX model's string inputs.
MISSING = "__missing__"
#: Main ONNX opset; the ai.onnx.ml opset skl2onnx 1.20 converts to (3), and the one a model with
#: a TreeEnsemble node is stamped with (5: BRANCH_MEMBER and float64 leaves).
OPSET = 21
ML_OPSET = 3
TREE_ENSEMBLE_ML_OPSET = 5
PRODUCER = "gitml"

_MEMBER = 6  # TreeEnsemble node mode enumeration: 0 = BRANCH_LEQ, 6 = BRANCH_MEMBER
_LEQ = 0
#: Estimators whose predict casts X to float32: their ONNX numeric inputs are float32 too.
FLOAT32_ESTIMATORS = (BaseDecisionTree, BaseForest, BaseGradientBoosting)


class ConversionGap(Exception):
    """A fitted model this adapter cannot convert faithfully (the compile stage records why)."""


def runtime_versions() -> dict[str, str]:
    """The versions of the libraries that convert and run the model."""
    return {
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "skl2onnx": version("skl2onnx"),
        "sklearn": sklearn.__version__,
    }


# --------------------------------------------------------------------------- converters


def _hgb_nodes(
    model: HistGradientBoostingClassifier | HistGradientBoostingRegressor,
) -> tuple[dict[str, Any], np.ndarray]:
    """The TreeEnsemble attributes of a fitted HGB model, and the constant it adds."""
    k_per_iter = model.n_trees_per_iteration_
    bias = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1).copy()
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    # With categorical features, HGB re-encodes its input: an inner OrdinalEncoder turns the
    # categorical columns (moved first) into codes 0..n-1 of the values seen in training; the
    # trees split on those inner codes. Map them back to input columns and input values.
    columns = np.arange(model.n_features_in_)
    inner_values: list[np.ndarray] = []
    if getattr(model, "_preprocessor", None) is not None:
        mask = np.asarray(model.is_categorical_, dtype=bool)
        columns = np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])
        encoder = model._preprocessor.named_transformers_["encoder"]
        for cats in encoder.categories_:
            cats = np.asarray(cats, dtype=np.float64)
            inner_values.append(cats[~np.isnan(cats)])
    feat: list[int] = []
    modes: list[int] = []
    splits: list[float] = []
    true_ids: list[int] = []
    true_leaf: list[int] = []
    false_ids: list[int] = []
    false_leaf: list[int] = []
    missing_true: list[int] = []
    members: list[float] = []
    roots: list[int] = []
    leaf_target: list[int] = []
    leaf_weight: list[float] = []

    def codes(bitset: np.ndarray) -> list[int]:
        bits = np.unpackbits(np.asarray(bitset, dtype="<u4").view(np.uint8), bitorder="little")
        return [int(i) for i in np.flatnonzero(bits)]

    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes[0]["is_leaf"]:  # a tree without a split adds a constant
                bias[k] += float(nodes[0]["value"])
                continue
            index: dict[int, int] = {}  # HGB node id -> TreeEnsemble node/leaf position
            leaves: dict[int, int] = {}
            for i, node in enumerate(nodes):
                if node["is_leaf"]:
                    leaves[i] = len(leaf_weight) + len(leaves)
                else:
                    index[i] = len(feat) + len(index)
            for i in sorted(leaves):
                leaf_target.append(k)
                leaf_weight.append(float(nodes[i]["value"]))
            roots.append(index[0])
            for i in sorted(index):
                node = nodes[i]
                left, right = int(node["left"]), int(node["right"])
                go_left_missing = bool(node["missing_go_to_left"])
                f = int(node["feature_idx"])
                if node["is_categorical"]:
                    left_codes = codes(predictor.raw_left_cat_bitsets[node["bitset_idx"]])
                    known_codes = codes(known[f_idx_map[f]])
                    # Missing, negative and unknown codes follow the missing direction: test
                    # membership of the other side's known codes so that they all fall through.
                    if go_left_missing:
                        chosen = [c for c in known_codes if c not in set(left_codes)]
                        yes, no = right, left
                    else:
                        chosen = left_codes
                        yes, no = left, right
                    modes.append(_MEMBER)
                    splits.append(0.0)
                    members.extend(float(inner_values[f][c]) for c in chosen)
                    members.append(float("nan"))
                    missing_true.append(0)
                else:
                    yes, no = left, right
                    modes.append(_LEQ)
                    splits.append(float(node["num_threshold"]))
                    missing_true.append(int(go_left_missing))
                feat.append(int(columns[f]))
                true_leaf.append(int(yes in leaves))
                true_ids.append(leaves[yes] if yes in leaves else index[yes])
                false_leaf.append(int(no in leaves))
                false_ids.append(leaves[no] if no in leaves else index[no])
    attrs: dict[str, Any] = {
        "n_targets": k_per_iter,
        "aggregate_function": 1,  # SUM
        "post_transform": 0,  # NONE: the link function is applied after the bias
        "tree_roots": roots,
        "nodes_featureids": feat,
        "nodes_modes": numpy_helper.from_array(np.asarray(modes, dtype=np.uint8)),
        "nodes_splits": numpy_helper.from_array(np.asarray(splits, dtype=np.float64)),
        "nodes_truenodeids": true_ids,
        "nodes_trueleafs": true_leaf,
        "nodes_falsenodeids": false_ids,
        "nodes_falseleafs": false_leaf,
        "nodes_missing_value_tracks_true": missing_true,
        "leaf_targetids": leaf_target,
        "leaf_weights": numpy_helper.from_array(np.asarray(leaf_weight, dtype=np.float64)),
    }
    if members:
        attrs["membership_values"] = numpy_helper.from_array(np.asarray(members, np.float64))
    return attrs, bias


def _hgb_score(scope: Any, operator: Any, container: Any) -> tuple[str, int]:
    """The HGB model's raw score (trees + baseline, float64) as a graph variable; its width."""
    model = operator.raw_operator
    attrs, bias = _hgb_nodes(model)
    if not attrs["tree_roots"]:
        raise ConversionGap("every tree of the model is a single leaf")
    xd = scope.get_unique_variable_name("x64")
    container.add_node("Cast", [operator.inputs[0].full_name], [xd], to=TensorProto.DOUBLE)
    raw = scope.get_unique_variable_name("raw")
    container.add_node(
        "TreeEnsemble",
        [xd],
        [raw],
        op_domain="ai.onnx.ml",
        op_version=ML_OPSET,  # declared for skl2onnx, stamped 5 by `_canonical`
        name=scope.get_unique_operator_name("TreeEnsemble"),
        **attrs,
    )
    bias_name = scope.get_unique_variable_name("bias")
    container.add_initializer(bias_name, TensorProto.DOUBLE, [1, len(bias)], bias.tolist())
    score = scope.get_unique_variable_name("score")
    container.add_node("Add", [raw, bias_name], [score])
    return score, len(bias)


def _cast_to_output(container: Any, value: str, output: Any) -> None:
    """Cast a float64 variable to the declared type of `output` (float or double)."""
    to = TensorProto.DOUBLE if isinstance(output.type, DoubleTensorType) else TensorProto.FLOAT
    container.add_node("Cast", [value], [output.full_name], to=to)


def _convert_hgb(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: HGB classifier -> TreeEnsemble + bias + link + ArgMax (float64)."""
    model = operator.raw_operator
    score, width = _hgb_score(scope, operator, container)
    proba = scope.get_unique_variable_name("proba64")
    if width == 1:
        p1 = scope.get_unique_variable_name("p1")
        container.add_node("Sigmoid", [score], [p1])
        one = scope.get_unique_variable_name("one")
        container.add_initializer(one, TensorProto.DOUBLE, [1, 1], [1.0])
        p0 = scope.get_unique_variable_name("p0")
        container.add_node("Sub", [one, p1], [p0])
        container.add_node("Concat", [p0, p1], [proba], axis=1)
    else:
        container.add_node("Softmax", [score], [proba], axis=1)
    _cast_to_output(container, proba, operator.outputs[1])
    index = scope.get_unique_variable_name("index")
    container.add_node("ArgMax", [proba], [index], axis=1, keepdims=0)
    classes = np.asarray(model.classes_)
    labels = scope.get_unique_variable_name("classes")
    if classes.dtype.kind in "iub":
        container.add_initializer(
            labels, TensorProto.INT64, [len(classes)], classes.astype(np.int64).tolist()
        )
    else:
        container.add_initializer(
            labels, TensorProto.STRING, [len(classes)], [str(c).encode() for c in classes]
        )
    container.add_node("Gather", [labels, index], [operator.outputs[0].full_name], axis=0)


def _convert_hgb_regressor(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: HGB regressor -> TreeEnsemble + bias (identity link only), float64."""
    model = operator.raw_operator
    link = type(model._loss.link).__name__
    if link != "IdentityLink":
        raise ConversionGap(f"HistGradientBoostingRegressor with loss {model.loss!r} ({link})")
    score, _ = _hgb_score(scope, operator, container)
    _cast_to_output(container, score, operator.outputs[0])


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer: exact for float64 inputs, and `MISSING` stands for NaN on strings.

    skl2onnx's Imputer node keeps float32 statistics and onnxruntime has no float64 kernel of
    it, so numeric inputs are imputed with IsNaN + Where and statistics of the input's type.
    """
    op = operator.raw_operator
    if isinstance(operator.inputs[0].type, StringTensorType):
        if isinstance(op.missing_values, str):
            convert_sklearn_imputer(scope, operator, container)
            return
        if op.missing_values is not None and not pd.isna(op.missing_values):
            raise ConversionGap(f"string imputer with missing_values={op.missing_values!r}")
        patched = copy.copy(op)
        patched.missing_values = MISSING
        operator.raw_operator = patched
        try:
            convert_sklearn_imputer(scope, operator, container)
        finally:
            operator.raw_operator = op
        return
    if not (isinstance(op.missing_values, float) and np.isnan(op.missing_values)):
        convert_sklearn_imputer(scope, operator, container)
        return
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    x = concatenate_variables(scope, operator.inputs, container)
    stats = scope.get_unique_variable_name("statistics")
    values = np.asarray(op.statistics_, dtype=np.float64 if double else np.float32)
    container.add_initializer(
        stats,
        TensorProto.DOUBLE if double else TensorProto.FLOAT,
        [1, values.size],
        values.tolist(),
    )
    mask = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [x], [mask])
    container.add_node("Where", [mask, stats, x], [operator.outputs[0].full_name])


def _convert_forest(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's forest converter, plus where each split sends a missing value.

    scikit-learn trees learn a missing-value direction per split (`tree_.missing_go_to_left`);
    skl2onnx 1.20 leaves `nodes_missing_value_tracks_true` at 0, so NaN always went right.
    """
    before = len(container.nodes)
    model = operator.raw_operator
    if hasattr(model, "classes_"):
        convert_sklearn_random_forest_classifier(scope, operator, container)
    else:
        convert_sklearn_random_forest_regressor_converter(scope, operator, container)
    tracks = [
        int(v)
        for est in model.estimators_
        for v in getattr(est.tree_, "missing_go_to_left", np.zeros(est.tree_.node_count))
    ]
    for node in container.nodes[before:]:
        if node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
            continue
        for attr in node.attribute:
            if attr.name == "nodes_missing_value_tracks_true":
                if len(attr.ints) != len(tracks):
                    raise ConversionGap("unexpected tree layout from skl2onnx")
                del attr.ints[:]
                attr.ints.extend(tracks)


_FOREST_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "raw_scores": [True, False],
    "nocl": [True, False],
    "output_class_labels": [False, True],
    "decision_path": [True, False],
    "decision_leaf": [True, False],
}
update_registered_converter(
    HistGradientBoostingClassifier,
    "SklearnHistGradientBoostingClassifier",
    calculate_linear_classifier_output_shapes,
    _convert_hgb,
    options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
)
update_registered_converter(
    RandomForestClassifier,
    "SklearnRandomForestClassifier",
    calculate_tree_classifier_output_shapes,
    _convert_forest,
    options=_FOREST_OPTIONS,
)
update_registered_converter(
    ExtraTreesClassifier,
    "SklearnExtraTreesClassifier",
    calculate_tree_classifier_output_shapes,
    _convert_forest,
    options=_FOREST_OPTIONS,
)
update_registered_converter(
    HistGradientBoostingRegressor,
    "SklearnHistGradientBoostingRegressor",
    calculate_tree_regressor_output_shapes,
    _convert_hgb_regressor,
)
for _forest in (RandomForestRegressor, ExtraTreesRegressor):
    update_registered_converter(
        _forest,
        f"Sklearn{_forest.__name__}",
        calculate_tree_regressor_output_shapes,
        _convert_forest,
        options={"decision_path": [True, False], "decision_leaf": [True, False]},
    )
update_registered_converter(
    SimpleImputer,
    "SklearnSimpleImputer",
    calculate_sklearn_imputer_output_shapes,
    _convert_imputer,
)


# --------------------------------------------------------------------------- convert and run


def numeric_dtype(pipeline: Pipeline) -> type[np.floating[Any]]:
    """float32 for estimators that compare in float32 (scikit-learn trees), float64 otherwise."""
    if isinstance(pipeline.steps[-1][1], FLOAT32_ESTIMATORS):
        return np.float32
    return np.float64


def _canonical(model: onnx.ModelProto) -> bytes:
    """Serialise with fixed producer and node names and no doc strings (same model, same bytes)."""
    model.producer_name = PRODUCER
    model.producer_version = ""
    model.domain = ""
    model.model_version = 0
    model.doc_string = ""
    model.graph.doc_string = ""
    model.graph.name = "gitml"
    for i, node in enumerate(model.graph.node):
        node.doc_string = ""
        node.name = f"n{i}_{node.op_type}"
    versions = {entry.domain: entry.version for entry in model.opset_import}
    if any(n.op_type == "TreeEnsemble" for n in model.graph.node):
        versions["ai.onnx.ml"] = TREE_ENSEMBLE_ML_OPSET
    del model.opset_import[:]  # skl2onnx lists them in set order (varies between processes)
    for domain in sorted(versions):
        entry = model.opset_import.add()
        entry.domain, entry.version = domain, versions[domain]
    return model.SerializeToString(deterministic=True)


def convert(pipeline: Pipeline, features: Sequence[dict[str, Any]]) -> bytes:
    """Convert the whole fitted pipeline to ONNX bytes (raises on a conversion gap)."""
    num = DoubleTensorType if numeric_dtype(pipeline) is np.float64 else FloatTensorType
    inputs = [
        (f["name"], num([None, 1]) if f["kind"] == "numeric" else StringTensorType([None, 1]))
        for f in features
    ]
    est = pipeline.steps[-1][1]
    model = convert_sklearn(
        pipeline,
        initial_types=inputs,
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        options={id(est): {"zipmap": False}} if hasattr(est, "classes_") else None,
        naming="gitml_",
    )
    data = _canonical(model)
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def feeds(frame: pd.DataFrame, features: Sequence[dict[str, Any]], dtype: Any) -> dict[str, Any]:
    """The ONNX inputs for a frame of prepared features (see `gitml.modeling.prepare_features`)."""
    out: dict[str, Any] = {}
    for f in features:
        col = frame[f["name"]]
        if f["kind"] == "numeric":
            out[f["name"]] = col.to_numpy(dtype=dtype).reshape(-1, 1)
        else:
            values = col.astype("object").where(col.notna(), MISSING)
            out[f["name"]] = values.to_numpy(dtype=object).astype(str).reshape(-1, 1)
    return out


def column_feeds(
    columns: Mapping[str, np.ndarray], features: Sequence[dict[str, Any]], dtype: Any
) -> dict[str, np.ndarray]:
    """The ONNX inputs for validated columns (`gitml.scoring.validate`), without a DataFrame.

    Numeric columns are float64 arrays (NaN = missing), cast to the model's input type;
    categorical ones object arrays of str, or NaN for a missing value (`MISSING` here)."""
    out: dict[str, np.ndarray] = {}
    for f in features:
        col = columns[f["name"]]
        if f["kind"] == "numeric":
            out[f["name"]] = np.asarray(col, dtype=dtype).reshape(-1, 1)
        else:
            text = np.empty(len(col), dtype=object)
            text[:] = [v if type(v) is str else (MISSING if _absent(v) else str(v)) for v in col]
            out[f["name"]] = text.reshape(-1, 1)
    return out


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


@dataclass
class Runtime:
    """An onnxruntime session of a compiled model (single-threaded unless told otherwise)."""

    session: ort.InferenceSession
    features: list[dict[str, Any]]
    dtype: Any
    #: feature name -> the graph's input name (skl2onnx makes names ONNX identifiers: "1960"
    #: becomes "_1960", "Indicator Name" "Indicator_Name"); inputs keep the features' order
    inputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, data: bytes, features: Sequence[dict[str, Any]], threads: int = 1) -> Runtime:
        """A session of ONNX bytes; the input dtype is read from the model."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        graph = session.get_inputs()
        if len(graph) != len(features):
            raise ValueError(f"the model has {len(graph)} inputs for {len(features)} features")
        inputs = {f["name"]: i.name for f, i in zip(features, graph, strict=True)}
        numeric = [i.type for f, i in zip(features, graph, strict=True) if f["kind"] == "numeric"]
        dtype = np.float32 if numeric and numeric[0] == "tensor(float)" else np.float64
        renamed = {k: v for k, v in inputs.items() if k != v}
        return cls(session, list(features), dtype, renamed)

    def run(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and class probabilities (float64) of ready ONNX inputs (see `column_feeds`).

        A regressor has one output: its predictions (float64) and None for the probabilities.
        """
        names = self.inputs
        feeds = {names.get(k, k): v for k, v in inputs.items()} if names else dict(inputs)
        outputs = self.session.run(None, feeds)
        if len(outputs) == 1:
            return np.asarray(outputs[0], dtype=np.float64).reshape(-1), None
        labels, proba = outputs
        return np.asarray(labels).reshape(-1), np.asarray(proba, dtype=np.float64)

    def predict_columns(
        self, columns: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and probabilities of validated columns (the serving fast path: no DataFrame)."""
        return self.run(column_feeds(columns, self.features, self.dtype))

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and class probabilities (float64) of a frame of prepared features.

        A regressor has one output: its predictions (float64) and None for the probabilities.
        """
        return self.run(feeds(frame, self.features, self.dtype))


def as_classes(labels: np.ndarray, classes: Any) -> np.ndarray:
    """ONNX labels as the model's own class values (`classes_`: its dtype, so its types).

    skl2onnx outputs integer and boolean classes as int64 (True is 1) and others as strings, so
    a bool target's labels come back 1/0 where scikit-learn predicts True/False. Raises
    ValueError for a label that is none of the classes.
    """
    classes = np.asarray(classes)
    labels = np.asarray(labels).reshape(-1)
    if classes.dtype.kind in "iub":
        keys = pd.Index(classes.astype(np.int64))
        where = keys.get_indexer(labels) if labels.dtype.kind in "iu" else np.full(len(labels), -1)
    else:
        where = pd.Index(classes.astype(str)).get_indexer(labels.astype(str))
    if (where < 0).any():
        unknown = labels[where < 0][0]
        raise ValueError(f"the compiled model labels a row {unknown!r}, none of {classes.tolist()}")
    return classes[where]


def opsets(data: bytes) -> dict[str, int]:
    """The opsets an ONNX model imports, by domain ("" is the main ONNX domain)."""
    model = onnx.load_from_string(data)
    return {e.domain: int(e.version) for e in sorted(model.opset_import, key=lambda e: e.domain)}
