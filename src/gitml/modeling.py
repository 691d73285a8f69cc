"""Build the model pipeline from the schema, and save/load it safely and deterministically.

Models are stored with skops (never pickle). skops writes zip timestamps and Python object ids
into the archive, so `dumps_model` renumbers the ids and fixes the timestamps: the same model
always gives the same bytes, and dvc.lock changes only when the model does.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gitml.config import DataConfig, ModelParams
from gitml.contract import InputContract
from gitml.errors import GitmlError
from gitml.tasks import MODEL_OPTIONS, TASKS

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

# scikit-learn and skops are imported where they are used, not here: `Signature` and
# `load_signature` are read by processes that never touch a model (the Dask client of
# `gitml predict --engine dask`, which leaves loading to its workers), and skops's trusted-type
# scan imports most of scikit-learn (~1.5-2.5 s).

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
MISSING = "__missing__"


def build_estimator(model: ModelParams) -> BaseEstimator:
    """Instantiate the configured estimator with Hydra (`_target_` + keyword arguments)."""
    from hydra.utils import instantiate  # here, not at the top: scoring never needs Hydra
    from sklearn.base import BaseEstimator

    try:
        estimator = instantiate(dict(model.kwargs))
    except Exception as exc:  # Hydra wraps import and argument errors alike
        cause = exc.__cause__ or exc
        raise GitmlError(
            f"Could not build the estimator '{model.target}': {str(cause).splitlines()[0]}",
            "Check _target_ and the argument names in the conf/model/ file "
            "(they are passed to the class as keyword arguments).",
        ) from exc
    if not isinstance(estimator, BaseEstimator):
        raise GitmlError(
            f"'{model.target}' is not a scikit-learn estimator.",
            "Point _target_ at a scikit-learn compatible classifier or regressor class.",
        )
    return estimator


def estimator_kind(estimator: Any) -> str | None:
    """scikit-learn's estimator type: "classifier", "regressor" or None (neither)."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    if is_regressor(estimator):
        return "regressor"
    return None


def supported_tasks(estimator: Any) -> list[str]:
    """The tasks (rows of `gitml.tasks.TASKS`) an estimator can be trained for."""
    kind = estimator_kind(estimator)
    return [name for name, task in TASKS.items() if task.estimator == kind]


def check_task(estimator: Any, task: str, model_name: str) -> None:
    """A clear error when the estimator's type does not fit the data's task."""
    wanted = TASKS[task].estimator
    options = MODEL_OPTIONS[wanted]
    kind = estimator_kind(estimator)
    if kind != wanted:
        raise GitmlError(
            f"Model '{model_name}' is a {kind or 'non-predictive estimator'}, but data.task is "
            f"'{task}', which needs a {wanted}.",
            f"Pick a {wanted} from conf/model/ (-S model={options.boosting}; also "
            f"{options.forest}, {options.linear}), or fix data.task.",
        )


def build_pipeline(data: DataConfig, model: ModelParams) -> Pipeline:
    """A Pipeline whose ColumnTransformer is derived from the schema, then the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric = data.numeric_features
    categorical = data.categorical_features
    cats = [[str(c) for c in (data.column(n).categories or ())] or "auto" for n in categorical]
    cat_arg: Any = cats if all(isinstance(c, list) for c in cats) else "auto"
    if model.scale_numeric:
        num_step: Any = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
    else:
        num_step = "passthrough"
    if model.categorical == "onehot":
        cat_step: Any = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING)),
                (
                    "encode",
                    OneHotEncoder(categories=cat_arg, handle_unknown="ignore", sparse_output=False),
                ),
            ]
        )
    else:
        unknown = np.nan if model.categorical == "native" else -1
        cat_step = OrdinalEncoder(
            categories=cat_arg,
            handle_unknown="use_encoded_value",
            unknown_value=unknown,
            encoded_missing_value=unknown,
        )
    transformers = []
    if numeric:
        transformers.append(("numeric", num_step, numeric))
    if categorical:
        transformers.append(("categorical", cat_step, categorical))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    estimator = build_estimator(model)
    check_task(estimator, data.task, model.name)
    if (
        model.categorical == "native"
        and categorical
        and "categorical_features" in (estimator.get_params())
    ):
        mask = [False] * len(numeric) + [True] * len(categorical)
        estimator.set_params(categorical_features=mask)
    return Pipeline([("preprocess", pre), ("model", estimator)])


def prepare_features(frame: pd.DataFrame, features: list[dict[str, Any]]) -> pd.DataFrame:
    """Select the signature's features in order, numeric as float64 and categorical as object."""
    out = {}
    for feat in features:
        series = frame[feat["name"]]
        if feat["kind"] == "numeric":
            if pd.api.types.is_datetime64_any_dtype(series):
                series = series.astype("int64")
            out[feat["name"]] = pd.to_numeric(series, errors="raise").astype("float64")
        else:
            values = series.astype("object")
            mapped = values.where(series.notna(), np.nan).map(
                lambda v: v if isinstance(v, float) else str(v)
            )
            if mapped.dtype.kind == "f":
                # every value missing: keep object dtype, the fitted encoders compare
                # categories as objects and fail on a float64 column (TypeError on isnan)
                mapped = mapped.astype("object")
            out[feat["name"]] = mapped
    return pd.DataFrame(out, index=frame.index)


def feature_specs(data: DataConfig) -> list[dict[str, Any]]:
    """The signature's feature list: name, declared dtype, kind, nullable, categories."""
    specs = []
    for col in data.features:
        entry: dict[str, Any] = {
            "name": col.name,
            "dtype": col.dtype,
            "kind": "numeric" if col.is_numeric else "categorical",
            "nullable": col.nullable,
        }
        if col.is_categorical:
            entry["categories"] = [str(c) for c in col.categories] if col.categories else None
        specs.append(entry)
    return specs


def _canonical_zip(raw: bytes) -> bytes:
    """Rewrite a skops archive with renumbered object ids and fixed timestamps."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str) and value in src.namelist():
                    out[key] = files.setdefault(value, f"{len(files) + 1}.npy")
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    renamed = walk(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for old, new in files.items():
            info = zipfile.ZipInfo(new, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, src.read(old))
        info = zipfile.ZipInfo("schema.json", date_time=ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        dst.writestr(info, json.dumps(renamed, indent=None, sort_keys=False))
    leftover = set(src.namelist()) - set(files) - {"schema.json"}
    if leftover:
        raise RuntimeError(f"skops archive has unreferenced members: {sorted(leftover)}")
    return buffer.getvalue()


def dumps_model(model: Any) -> bytes:
    """Serialise with skops into deterministic bytes."""
    import skops.io as sio

    return _canonical_zip(sio.dumps(model))


def untrusted_types(data: bytes) -> list[str]:
    """The types in a skops archive that skops does not trust by default."""
    import skops.io as sio

    return sorted(sio.get_untrusted_types(data=data))


def loads_model(data: bytes, trusted: list[str], source: str = "model") -> Any:
    """Load a skops archive, trusting only the reviewed list `trusted` (from conf/, never the file)."""
    import skops.io as sio

    if not data:
        raise GitmlError(
            f"The {source} is empty (0 bytes).",
            "Fetch it again (dvc pull) or re-run the train stage.",
        )
    try:
        found = untrusted_types(data)
    except Exception as exc:  # not a zip, a truncated one, a corrupt member...
        raise GitmlError(
            f"The {source} is not a readable skops file ({_reason(exc)}).",
            "It may be truncated or corrupt: fetch it again (dvc pull) or re-run the train stage.",
        ) from None
    unknown = [t for t in found if t not in set(trusted)]
    if unknown:
        raise GitmlError(
            f"The {source} contains types that are not on the trusted list: {', '.join(unknown)}.",
            "If they are expected, review them and add them to trusted_types in conf/gitml.yaml.",
        )
    try:
        return sio.loads(data, trusted=list(trusted))
    except Exception as exc:
        raise GitmlError(
            f"The {source} could not be loaded with skops ({_reason(exc)}).",
            "Check that it is a skops file written by gitml, not truncated or corrupt.",
        ) from None


def _reason(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def load_model(path: str | Path, trusted: list[str]) -> Any:
    """Load a skops model file (see `loads_model`)."""
    p = Path(path)
    if not p.is_file():
        raise GitmlError(
            f"The model file '{p}' does not exist.",
            "Run the pipeline (make run) or fetch the artifact with `dvc pull`.",
        )
    return loads_model(p.read_bytes(), trusted, source=f"model file '{p}'")


@dataclass(frozen=True)
class Signature:
    """What a model expects and returns; written next to the model as JSON."""

    features: list[dict[str, Any]]
    target: str
    task: str
    classes: list[Any]
    positive_class: Any
    training_data_md5: str
    model: str
    estimator: str
    contract: InputContract = field(default_factory=InputContract)
    #: Binary decision threshold on P(positive class) chosen by the train stage (None: argmax).
    threshold: float | None = None
    threshold_strategy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.threshold is not None:
            extra = {"threshold": self.threshold, "threshold_strategy": self.threshold_strategy}
        return {
            "model": self.model,
            "estimator": self.estimator,
            "task": self.task,
            "target": self.target,
            "classes": self.classes,
            "positive_class": self.positive_class,
            "features": self.features,
            "input_contract": self.contract.to_dict(),
            "training_data_md5": self.training_data_md5,
            **extra,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Signature:
        features = raw["features"]
        if not isinstance(features, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and "kind" in f for f in features
        ):
            raise ValueError("'features' must be a list of objects with a name and a kind")
        return cls(
            features=list(raw["features"]),
            target=str(raw["target"]),
            task=str(raw["task"]),
            classes=list(raw["classes"]),
            positive_class=raw.get("positive_class"),
            training_data_md5=str(raw.get("training_data_md5", "")),
            model=str(raw.get("model", "")),
            estimator=str(raw.get("estimator", "")),
            contract=InputContract.from_dict(raw.get("input_contract")),
            threshold=None if raw.get("threshold") is None else float(raw["threshold"]),
            threshold_strategy=raw.get("threshold_strategy"),
        )

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]


def load_signature(path: str | Path) -> Signature:
    """Read models/signature.json."""
    p = Path(path)
    if not p.is_file():
        raise GitmlError(
            f"The signature file '{p}' does not exist.",
            "It is written by the train stage next to the model.",
        )
    try:
        return Signature.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise GitmlError(
            f"The signature file '{p}' is malformed ({exc}).",
            "Re-run the train stage to rewrite it.",
        ) from exc
