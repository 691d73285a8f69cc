"""Per-feature contributions (SHAP values) of a model's raw output: the one adapter of `shap`.

shap is an optional extra (`pip install 'gitml[explain]'`); this module imports it only when an
explainer is built, so serving or predicting without explanations never loads it.

Contributions are in the space of the ORIGINAL input features (the signature's), and of the
model's raw output: the log-odds (`decision_function`) for a classifier that has one, the
positive class's probability otherwise. For every row, `base + contributions.sum()` equals that
raw output (local accuracy).

- Tree models (the final step of the pipeline is a scikit-learn tree ensemble): shap's
  TreeExplainer (path-dependent, exact) on the preprocessed columns; the contributions of the
  columns one input feature became (its one-hot columns) are summed. HistGradientBoosting's
  native categorical splits (which shap's own converter reads as thresholds) are rewritten as
  threshold splits on derived 0/1 columns ("in the left category set or not"), summed back into
  their feature the same way.
- Any other model: shap's Permutation explainer on the original features with a small
  background sample (`background_from_profile`: deterministic rows from the training profile's
  quantiles and category frequencies); base = the mean raw output over the background.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitml.errors import GitmlError

log = logging.getLogger(__name__)

INSTALL_HINT = "Install the optional extra: pip install 'gitml[explain]' (it brings shap)."
BACKGROUND_ROWS = 32
_TREE_ENSEMBLES = (
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
)
_HGB = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def available() -> bool:
    """Whether the optional shap package is installed."""
    return importlib.util.find_spec("shap") is not None


def unavailable_message() -> str:
    """What to tell a user who asks for explanations without shap."""
    return "Explanations need the optional shap package, which is not installed. " + INSTALL_HINT


def require() -> None:
    """Raise a GitmlError (exit 2) unless shap is installed."""
    if not available():
        raise GitmlError(
            "Explanations need the optional shap package, which is not installed.", INSTALL_HINT
        )


@dataclass(frozen=True)
class Explanation:
    """Contributions of each original feature to each row's raw output, and the base value."""

    features: list[str]
    base: np.ndarray  # (rows,)
    values: np.ndarray  # (rows, features)
    output: str  # what the raw output is ("log-odds", "probability", "prediction")

    def rows(self) -> list[dict[str, float]]:
        """One {feature: contribution} object per row."""
        return [dict(zip(self.features, row, strict=True)) for row in self.values.tolist()]

    def mean_abs(self) -> dict[str, float]:
        """Mean absolute contribution per feature (the global summary), largest first."""
        means = np.abs(self.values).mean(axis=0) if len(self.values) else np.zeros(0)
        order = sorted(range(len(self.features)), key=lambda i: (-means[i], self.features[i]))
        return {self.features[i]: float(means[i]) for i in order}


def _estimator_name(est: Any) -> str:
    return type(est).__name__


def _split(model: Any) -> tuple[Any | None, Any]:
    """(preprocessing pipeline or None, final estimator)."""
    steps = getattr(model, "steps", None)
    if steps:
        return (model[:-1] if len(steps) > 1 else None), steps[-1][1]
    return None, model


def _class_index(est: Any, positive_class: Any) -> int:
    classes = list(getattr(est, "classes_", []))
    if positive_class in classes:
        return classes.index(positive_class)
    texts = [str(c) for c in classes]
    return texts.index(str(positive_class)) if str(positive_class) in texts else len(classes) - 1


def raw_output(model: Any, frame: pd.DataFrame, positive_class: Any = 1) -> np.ndarray:
    """The raw output the contributions add up to: the positive class's log-odds
    (decision_function) when the model has one, else its probability, else the prediction."""
    _, est = _split(model)
    if hasattr(model, "decision_function") and hasattr(est, "classes_"):
        raw = np.asarray(model.decision_function(frame), dtype="float64")
        k = _class_index(est, positive_class)
        if raw.ndim == 2:
            return np.asarray(raw[:, k])
        return raw if k == 1 or len(est.classes_) != 2 else -raw
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(frame), dtype="float64")
        return np.asarray(proba[:, _class_index(est, positive_class)])
    return np.asarray(model.predict(frame), dtype="float64")


def _output_kind(model: Any) -> str:
    _, est = _split(model)
    if hasattr(model, "decision_function") and hasattr(est, "classes_"):
        return "log-odds"
    return "probability" if hasattr(model, "predict_proba") else "prediction"


# --------------------------------------------------------------------- column ownership


def column_owners(pre: Any, n_out: int, features: Sequence[str]) -> np.ndarray:
    """For each column the preprocessing outputs, the index of the input feature it came from.

    Walks the ColumnTransformer: a transformer of one input column owns all its outputs; one
    with as many outputs as inputs maps them in order; a one-hot encoder owns, per input, as many
    outputs as that input has categories (after `drop`)."""
    index = {name: i for i, name in enumerate(features)}
    owners = np.full(n_out, -1, dtype=int)
    ct = pre
    steps = getattr(pre, "steps", None)
    if steps is not None:
        ct = next((s for _, s in steps if hasattr(s, "output_indices_")), None)
    if ct is None or not hasattr(ct, "output_indices_"):
        if n_out != len(features):
            raise GitmlError(
                "Cannot tell which input feature each preprocessed column comes from.",
                "Explanations support gitml's ColumnTransformer pipelines.",
            )
        return np.arange(n_out)
    for name, trans, cols in ct.transformers_:
        where = ct.output_indices_.get(name, slice(0, 0))
        width = where.stop - where.start
        if width == 0 or trans == "drop":
            continue
        cols = [cols] if isinstance(cols, str) else list(cols)
        ids = [index[str(c)] for c in cols]
        if len(ids) == 1:
            owners[where] = ids[0]
            continue
        if width == len(ids):
            owners[where] = ids
            continue
        encoder = trans
        if hasattr(trans, "steps"):
            encoder = trans.steps[-1][1]
        cats = getattr(encoder, "categories_", None)
        if cats is None:
            raise GitmlError(
                f"Cannot map the outputs of the '{name}' transformer to its input columns.",
                "Explanations support one-hot, ordinal, imputing and scaling steps.",
            )
        drop = getattr(encoder, "drop_idx_", None)
        counts = [
            len(c) - (0 if drop is None or drop[i] is None else 1) for i, c in enumerate(cats)
        ]
        if sum(counts) != width:
            counts = list(getattr(encoder, "_n_features_outs", counts))
        pos = where.start
        for fid, count in zip(ids, counts, strict=True):
            owners[pos : pos + count] = fid
            pos += count
    if (owners < 0).any():
        raise GitmlError(
            "Some preprocessed columns come from no input feature.",
            "Explanations support gitml's ColumnTransformer pipelines.",
        )
    return owners


def aggregate(values: np.ndarray, owners: np.ndarray, n_features: int) -> np.ndarray:
    """Sum the contributions of columns per owning input feature: (rows, cols) -> (rows, features)."""
    out = np.zeros((values.shape[0], n_features), dtype="float64")
    for j in range(values.shape[1]):
        out[:, owners[j]] += values[:, j]
    return out


# --------------------------------------------------------------- HistGradientBoosting trees


def _in_bitset(bitset: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Whether each category code is in a 256-bit set (8 uint32 words, scikit-learn's layout)."""
    ok = ~np.isnan(codes) & (codes >= 0) & (codes < 256)
    safe = np.where(ok, codes, 0).astype(np.int64)
    words = bitset[safe // 32].astype(np.int64)
    return ok & (((words >> (safe % 32)) & 1) == 1)


@dataclass
class _HgbTrees:
    """A HistGradientBoosting model as plain threshold trees over [columns, derived columns]."""

    model: dict[str, Any]
    derived: list[tuple[int, np.ndarray]]  # (column, left bitset) per derived 0/1 column
    sign: float
    _tables: list[tuple[int, np.ndarray, np.ndarray]] | None = None

    def augment(self, x: np.ndarray) -> np.ndarray:
        """`x` with the derived columns: 0 (goes left, `<= 0.5`) when the code is in the node's
        left set, 1 otherwise, NaN when missing. One table lookup per categorical column."""
        if not self.derived:
            return x
        if self._tables is None:
            self._tables = []
            codes = np.arange(256, dtype="float64")
            by_col: dict[int, list[int]] = {}
            for j, (col, _) in enumerate(self.derived):
                by_col.setdefault(col, []).append(j)
            for col, js in by_col.items():
                table = np.full((257, len(js)), np.nan)  # row 256: missing or out of range
                for k, j in enumerate(js):
                    table[:256, k] = np.where(_in_bitset(self.derived[j][1], codes), 0.0, 1.0)
                table[256, :] = np.nan
                self._tables.append((col, np.asarray(js), table))
        extra = np.empty((x.shape[0], len(self.derived)), dtype="float64")
        for col, where, table in self._tables:
            raw = x[:, col]
            ok = ~np.isnan(raw) & (raw >= 0) & (raw < 256)
            index = np.where(ok, np.where(ok, raw, 0), 256).astype(np.int64)
            rows = table[index]
            # a code outside the sets' range (never seen) goes right, like scikit-learn
            rows[~ok & ~np.isnan(raw)] = 1.0
            extra[:, where] = rows
        return np.hstack([x, extra])


def _hgb_inner(est: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns HistGradientBoosting's trees split on, and each one's column of `x`.

    With categorical features scikit-learn encodes them again inside the estimator and puts them
    first (its private `_preprocessor`); shap reads the same private trees (`_predictors`)."""
    prep = getattr(est, "_preprocessor", None)
    if prep is None:
        return x, np.arange(x.shape[1])
    inner = np.zeros(x.shape[1], dtype=int)
    for name, _, cols in prep.transformers_:
        where = prep.output_indices_.get(name, slice(0, 0))
        idx = np.arange(x.shape[1])[cols] if not isinstance(cols, str) else np.zeros(0, int)
        inner[where] = idx[: where.stop - where.start]
    return np.asarray(prep.transform(x), dtype="float64"), inner


def _hgb_trees(est: Any, k: int, n_cols: int) -> _HgbTrees:
    derived: dict[tuple[int, bytes], int] = {}
    bitsets: list[tuple[int, np.ndarray]] = []
    trees = []
    n_stacked = len(est._predictors[0])
    member = k if n_stacked > 1 else 0
    for stack in est._predictors:
        predictor = stack[member]
        nodes = predictor.nodes
        raw_bits = predictor.raw_left_cat_bitsets
        n = len(nodes)
        features = np.full(n, -2, dtype=int)
        thresholds = np.zeros(n, dtype="float64")
        left = np.full(n, -1, dtype=int)
        right = np.full(n, -1, dtype=int)
        default = np.full(n, -1, dtype=int)
        for i in range(n):
            node = nodes[i]
            if node["is_leaf"]:
                continue
            left[i], right[i] = int(node["left"]), int(node["right"])
            default[i] = left[i] if node["missing_go_to_left"] else right[i]
            if node["is_categorical"]:
                bits = np.asarray(raw_bits[node["bitset_idx"]], dtype=np.uint32)
                key = (int(node["feature_idx"]), bits.tobytes())
                if key not in derived:
                    derived[key] = n_cols + len(bitsets)
                    bitsets.append((key[0], bits))
                features[i] = derived[key]
                thresholds[i] = 0.5
            else:
                features[i] = int(node["feature_idx"])
                thresholds[i] = float(node["num_threshold"])
        trees.append(
            {
                "children_left": left,
                "children_right": right,
                "children_default": default,
                "features": features,
                "thresholds": thresholds,
                "values": nodes["value"].astype("float64").reshape(-1, 1),
                "node_sample_weight": nodes["count"].astype("float64"),
            }
        )
    baseline = np.asarray(est._baseline_prediction, dtype="float64").ravel()
    base = float(baseline[member] if len(baseline) > 1 else baseline[0])
    model = {
        "trees": trees,
        "base_offset": base,
        "tree_output": "raw_value",
        "objective": "identity",
        "input_dtype": np.float64,
        "internal_dtype": np.float64,
    }
    classes = list(getattr(est, "classes_", []))
    sign = -1.0 if len(classes) == 2 and k == 0 else 1.0
    return _HgbTrees(model, bitsets, sign)


# ------------------------------------------------------------------------------ explainer


class Explainer:
    """Explains a fitted gitml pipeline's raw output per original input feature.

    Args:
        model: the fitted pipeline (preprocessing, then the estimator).
        features: the signature's feature names, in order.
        positive_class: the class whose raw output is explained (classifiers).
        background: rows of original features for the model-agnostic explainer (see
            `background_from_profile`); not needed for tree models.
    """

    def __init__(
        self,
        model: Any,
        features: Sequence[str],
        positive_class: Any = 1,
        background: pd.DataFrame | None = None,
    ) -> None:
        require()
        self.model = model
        self.features = list(features)
        self.positive_class = positive_class
        self.pre, self.est = _split(model)
        self.output = _output_kind(model)
        name = _estimator_name(self.est)
        self.kind = "tree" if name in _HGB or name in _TREE_ENSEMBLES else "permutation"
        self._hgb: _HgbTrees | None = None
        self._tree: Any = None
        self._owners: np.ndarray | None = None
        self._k = _class_index(self.est, positive_class) if hasattr(self.est, "classes_") else 0
        self._background = background
        self._perm: Any = None
        if self.kind == "permutation" and background is None:
            raise GitmlError(
                f"Explaining a {name} needs a background sample of the training data, and none "
                "was found.",
                "Keep the split stage's profile (data/profile.json) in the project root, or use a "
                "tree model.",
            )

    def _transform(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame if self.pre is None else self.pre.transform(frame)
        return np.asarray(x, dtype="float64")

    def _tree_values(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        import shap

        x = self._transform(frame)
        if self._owners is None:
            self._owners = column_owners(self.pre, x.shape[1], self.features)
        if _estimator_name(self.est) in _HGB:
            if self._hgb is None:
                self._hgb = _hgb_trees(self.est, self._k, x.shape[1])
                self._tree = shap.TreeExplainer(self._hgb.model)
            x, inner = _hgb_inner(self.est, x)
            xa = self._hgb.augment(x)
            phi = np.asarray(self._tree.shap_values(xa, check_additivity=False), dtype="float64")
            base = np.full(len(x), float(np.ravel(self._tree.expected_value)[0]))
            own = self._owners[inner]
            owners = np.concatenate([own, [own[col] for col, _ in self._hgb.derived]]).astype(int)
            sign = self._hgb.sign
            return sign * base, sign * aggregate(phi, owners, len(self.features))
        if self._tree is None:
            self._tree = shap.TreeExplainer(self.est)
        phi = np.asarray(self._tree.shap_values(x, check_additivity=False), dtype="float64")
        expected = np.ravel(np.asarray(self._tree.expected_value, dtype="float64"))
        if phi.ndim == 3:  # (rows, columns, outputs): one output per class
            phi = phi[:, :, self._k]
            expected = expected[self._k : self._k + 1]
        base = np.full(len(x), float(expected[0]))
        return base, aggregate(phi, self._owners, len(self.features))

    def _permutation_values(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        import shap

        assert self._background is not None
        features = self.features
        dtypes = dict(frame.dtypes.items())
        cats = [n for n in features if not pd.api.types.is_numeric_dtype(frame[n].dtype)]
        # shap masks numbers: categorical values travel as codes into a per-column vocabulary
        vocab = {
            n: sorted({str(v) for v in (*self._background[n], *frame[n]) if not pd.isna(v)})
            for n in cats
        }

        def encode(part: pd.DataFrame) -> np.ndarray:
            cols = []
            for n in features:
                if n in vocab:
                    index = {v: float(i) for i, v in enumerate(vocab[n])}
                    cols.append([np.nan if pd.isna(v) else index[str(v)] for v in part[n]])
                else:
                    cols.append(part[n].to_numpy(dtype="float64"))
            return np.column_stack(cols).astype("float64")

        def f(x: np.ndarray) -> np.ndarray:
            data: dict[str, Any] = {}
            for j, n in enumerate(features):
                if n in vocab:
                    words = np.asarray(vocab[n] + [np.nan], dtype=object)
                    codes = np.where(np.isnan(x[:, j]), len(vocab[n]), x[:, j]).astype(int)
                    data[n] = words[codes]
                else:
                    data[n] = x[:, j]
            return raw_output(self.model, pd.DataFrame(data).astype(dtypes), self.positive_class)

        background = encode(self._background[features].astype(dtypes))
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.explainers.Permutation(f, masker, seed=0)
        out = explainer(encode(frame[features]), max_evals=2 * len(features) + 1, silent=True)
        return np.asarray(out.base_values, dtype="float64").ravel(), np.asarray(
            out.values, dtype="float64"
        )

    def explain(self, frame: pd.DataFrame) -> Explanation:
        """Contributions for every row of `frame` (the model's input frame)."""
        if len(frame) == 0:
            empty = np.zeros((0, len(self.features)))
            return Explanation(self.features, np.zeros(0), empty, self.output)
        if self.kind == "tree":
            base, values = self._tree_values(frame)
        else:
            base, values = self._permutation_values(frame)
        return Explanation(self.features, base, values, self.output)


# ----------------------------------------------------------------------------- background


def background_from_profile(
    profile: Mapping[str, Any], specs: Sequence[Mapping[str, Any]], rows: int = BACKGROUND_ROWS
) -> pd.DataFrame | None:
    """Deterministic background rows from a training profile (data/profile.json): numeric
    features at evenly spaced quantiles, categorical ones in proportion to their frequencies,
    each column shuffled with a fixed seed. None when the profile lacks a feature."""
    columns = profile.get("columns") if isinstance(profile, Mapping) else None
    if not isinstance(columns, Mapping):
        return None
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for spec in specs:
        col = columns.get(spec["name"])
        if not isinstance(col, Mapping):
            return None
        if spec["kind"] == "numeric":
            qs = col.get("quantiles")
            if not qs:
                return None
            q = np.asarray(qs, dtype="float64")
            at = ((np.arange(rows) + 0.5) / rows * (len(q) - 1)).round().astype(int)
            values: np.ndarray = q[at]
        else:
            freq = col.get("frequencies") or {}
            if not freq:
                return None
            names = sorted(freq)
            counts = np.asarray([freq[n] for n in names], dtype="float64")
            share = counts / counts.sum() * rows
            take = np.floor(share).astype(int)
            for i in np.argsort(-(share - take), kind="stable")[: rows - take.sum()]:
                take[i] += 1
            values = np.asarray(
                [n for n, t in zip(names, take, strict=True) for _ in range(t)], dtype=object
            )
        out[spec["name"]] = values[rng.permutation(rows)]
    return pd.DataFrame(out)
