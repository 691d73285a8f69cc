"""The one validated loader of the pipeline's params (params.yaml, composed by Hydra from conf/).

Every stage reads its section through `load_params`. Each section is a frozen pydantic dataclass
(`gitml.conftypes`): unknown or missing keys and bad values fail with the key's full path and a
did-you-mean suggestion, before any output is written.

The per-column declarations of a data config live in their own file, `data.schema` (e.g.
conf/schema/synthetic_credit.yaml, a `columns:` mapping), not in params.yaml: dvc.yaml makes that
file a dependency of the stages that read columns, so a changed declaration re-runs them while
`dvc exp show` shows one column for the schema instead of one per declaration. `with_schema`
reads it into `data.columns` (from the workspace in `load_params`, or at a commit through any
reader). Inline `data.columns` (no `schema`) is still accepted, e.g. in older commits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from gitml.conftypes import PARAMS, STRICT, EmptyIfNone, Flag, Int, Invalid, Number, Text, validate
from gitml.errors import GitmlError
from gitml.tasks import TASK_NAMES

DTYPES = ("int64", "float64", "bool", "category", "string", "datetime")
ROLES = ("feature", "target", "sensitive", "id", "time", "ignore")
SOURCES = ("synthetic_credit", "breast_cancer", "diabetes", "csv", "parquet")
TASKS = TASK_NAMES  # the rows of gitml.tasks.TASKS
NUMERIC_DTYPES = ("int64", "float64", "bool")
Dtype = Literal["int64", "float64", "bool", "category", "string", "datetime"]
Role = Literal["feature", "target", "sensitive", "id", "time", "ignore"]
SourceName = Literal["synthetic_credit", "breast_cancer", "diabetes", "csv", "parquet"]
Task = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True, config=STRICT)
class ColumnSpec:
    """One declared column: dtype, role, allowed values, nullability and PII flag."""

    name: Text
    dtype: Dtype
    role: Role
    nullable: Flag = False
    pii: Flag = False
    min: Any = None
    max: Any = None
    categories: tuple[Any, ...] | None = None

    @property
    def is_numeric(self) -> bool:
        return self.dtype in NUMERIC_DTYPES

    @property
    def is_categorical(self) -> bool:
        return self.dtype in ("category", "string")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "role": self.role, "nullable": self.nullable}
        out["pii"] = self.pii
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True, config=STRICT)
class DataConfig:
    """A data source (conf/data/<name>.yaml) and its declared columns (its `schema` file)."""

    source: SourceName
    target: Text
    columns: tuple[ColumnSpec, ...]
    name: Text = "data"
    #: The file the columns were read from (relative to the project root); None when inline.
    schema: Text | None = None
    path: Text | None = None
    read_options: Annotated[dict[str, Any], EmptyIfNone] = Field(default_factory=dict)
    n_rows: Int | None = Field(default=None, ge=1)
    task: Task = "binary"
    positive_class: Any = 1
    time_column: Text | None = None
    allow_pii_features: Flag = False

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_source(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping) and not raw.get("name") and isinstance(raw.get("source"), str):
            return {**raw, "name": raw["source"]}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _positive_class_only_for_classes(cls, raw: Any) -> Any:
        """A regression has no positive class: refuse one, and keep None (not the default 1)."""
        if not isinstance(raw, Mapping) or raw.get("task") != "regression":
            return raw
        if raw.get("positive_class") is not None:
            raise Invalid(
                "sets positive_class, but data.task is 'regression', which has no classes.",
                "Remove positive_class (or set it to null) for a regression target.",
            )
        return {**raw, "positive_class": None}

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_by_name(cls, raw: Any) -> Any:
        """The file maps each name to its declaration; the dataclass keeps them in that order."""
        if isinstance(raw, list | tuple) and all(isinstance(c, ColumnSpec) for c in raw):
            return tuple(raw)  # already ColumnSpecs (dataclasses.replace)
        if not isinstance(raw, Mapping):
            raise Invalid(
                "must map each column name to its declaration.",
                "Write e.g. columns: {age: {dtype: int64, role: feature}} (see conf/schema/csv.yaml).",
            )
        if not raw:
            raise Invalid(
                "must declare at least one column.",
                "Declare every column of the table under columns: (see conf/schema/csv.yaml).",
            )
        out = []
        for name, decl in raw.items():
            if isinstance(decl, Mapping) and "name" in decl:
                raise Invalid(f"'{name}' sets 'name'; the key under data.columns is the name.")
            out.append({**decl, "name": str(name)} if isinstance(decl, Mapping) else decl)
        return out

    @classmethod
    def parse(cls, raw: Any) -> DataConfig:
        """Validate the `data:` section (conf/data/<name>.yaml) and its consistency."""
        config = validate(cls, raw, PARAMS, "data")
        config._check_consistency()
        return config

    def _check_consistency(self) -> None:
        names = [c.name for c in self.columns]
        if self.target not in names:
            raise GitmlError(
                f"data.target is '{self.target}', but no column of that name is declared.",
                f"Declared columns: {', '.join(names)}. Fix data.target or data.columns.",
            )
        if self.column(self.target).role != "target":
            raise GitmlError(
                f"Column '{self.target}' is data.target but has role "
                f"'{self.column(self.target).role}'.",
                "Give it role: target.",
            )
        if self.source in ("csv", "parquet") and not self.path:
            raise GitmlError(
                f"data.source is '{self.source}' but data.path is empty.",
                "Set data.path to your file under data/external/ (tracked with `dvc add`).",
            )
        if self.time_column is not None and self.time_column not in names:
            raise GitmlError(
                f"data.time_column is '{self.time_column}', which is not a declared column.",
                "Declare it under data.columns with dtype: datetime, or set time_column: null.",
            )
        if not self.features:
            raise GitmlError(
                "The data config declares no column with role: feature.",
                "Give at least one column role: feature.",
            )
        if not self.allow_pii_features:
            pii = [c.name for c in self.features if c.pii]
            if pii:
                raise GitmlError(
                    f"PII-flagged column(s) {', '.join(pii)} are declared as features.",
                    "Change their role (id, sensitive or ignore), or set "
                    "data.allow_pii_features: true after a privacy review.",
                )

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.features if c.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.features if c.is_categorical]

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def sensitive(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "sensitive"]


@dataclass(frozen=True, config=STRICT)
class SplitParams:
    """How the validated table is split into train and test."""

    method: Literal["stratified", "time"]
    test_size: Number = Field(gt=0.0, lt=1.0)
    name: Text = "split"
    profile_bins: Int = Field(default=20, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_method(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping) and not raw.get("name") and isinstance(raw.get("method"), str):
            return {**raw, "name": raw["method"]}
        return raw


RESERVED_MODEL_KEYS = ("name", "preprocessing")


@dataclass(frozen=True, config=STRICT)
class Preprocessing:
    """`model.preprocessing`: numeric scaling and the categorical encoding."""

    scale_numeric: Flag = True
    categorical: Literal["onehot", "ordinal", "native"] = "onehot"


@dataclass(frozen=True, config=STRICT)
class ModelParams:
    """The estimator: a Hydra `_target_` plus its keyword arguments and the preprocessing choice.

    In the file every key but `name` and `preprocessing` is an argument of the estimator, so
    they are kept (with `_target_`) in `kwargs` for Hydra's `instantiate`.
    """

    name: Text
    target: Text
    kwargs: dict[str, Any]
    preprocessing: Annotated[Preprocessing, EmptyIfNone] = Field(default_factory=Preprocessing)

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return raw
        if "_target_" not in raw:
            raise Invalid(
                "has no '_target_'.",
                "Every conf/model/<name>.yaml names its scikit-learn estimator class in _target_.",
            )
        target = raw["_target_"]
        default_name = target.rsplit(".", 1)[-1] if isinstance(target, str) else None
        return {
            "name": raw.get("name") or default_name,
            "target": target,
            "kwargs": {k: v for k, v in raw.items() if k not in RESERVED_MODEL_KEYS},
            "preprocessing": raw.get("preprocessing"),
        }

    @property
    def scale_numeric(self) -> bool:
        return self.preprocessing.scale_numeric

    @property
    def categorical(self) -> str:
        return self.preprocessing.categorical


THRESHOLD_STRATEGIES = ("fixed", "f1", "youden", "precision_at", "cost")


@dataclass(frozen=True, config=STRICT)
class ThresholdParams:
    """`threshold`: how the train stage chooses the binary decision threshold.

    `fixed` uses `value`; the others choose it on a validation slice carved from the training
    data (`validation_size`, stratified, seeded): `f1` maximises F1, `youden` maximises
    TPR − FPR, `precision_at` takes the lowest threshold whose precision reaches `precision`
    (the most recall at that precision), `cost` minimises cost_fp × FP + cost_fn × FN.
    """

    strategy: Literal["fixed", "f1", "youden", "precision_at", "cost"] = "f1"
    value: Number = Field(default=0.5, ge=0.0, le=1.0)
    precision: Number | None = Field(default=None, gt=0.0, le=1.0)
    cost_fp: Number = Field(default=1.0, ge=0.0)
    cost_fn: Number = Field(default=1.0, ge=0.0)
    validation_size: Number = Field(default=0.2, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _strategy_has_its_keys(self) -> ThresholdParams:
        if self.strategy == "precision_at" and self.precision is None:
            raise Invalid(
                "uses strategy 'precision_at' without 'precision'.",
                "Set threshold.precision to the precision to reach, e.g. 0.8.",
            )
        if self.strategy == "cost" and self.cost_fp == 0 and self.cost_fn == 0:
            raise Invalid(
                "uses strategy 'cost' with both costs 0.",
                "Set threshold.cost_fp and threshold.cost_fn (e.g. 1 and 5).",
            )
        return self


@dataclass(frozen=True, config=STRICT)
class EvaluateParams:
    """Evaluation settings: curve resolution, permutation importance, estimator-seed refits.

    The decision threshold is not here: the train stage chooses it (`threshold:`) and stores it
    in models/signature.json, which evaluate reads.
    """

    curve_points: Int = Field(default=101, ge=2)
    calibration_bins: Int = Field(default=10, ge=1)
    importance_repeats: Int = Field(default=5, ge=1)
    importance_max_rows: Int = Field(default=5000, ge=1)
    importance_scoring: Text = "roc_auc"
    #: Extra fits under other estimator seeds (the `seed_noise` stage), so `gitml report` judges a
    #: change on the mean over seeds; 0: do not measure. A model whose refit is identical stops
    #: after one.
    seed_refits: Int = Field(default=4, ge=0, le=50)


@dataclass(frozen=True, config=STRICT)
class Params:
    """All pipeline params, validated."""

    seed: Int
    data: DataConfig
    split: SplitParams
    model: ModelParams
    evaluate: Annotated[EvaluateParams, EmptyIfNone] = Field(default_factory=EvaluateParams)
    threshold: Annotated[ThresholdParams, EmptyIfNone] = Field(default_factory=ThresholdParams)
    model_card: Annotated[dict[str, Any], EmptyIfNone] = Field(default_factory=dict)
    #: The file as read (not a key of it).
    raw: dict[str, Any] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def parse(cls, raw: Any) -> Params:
        """Validate the whole of params.yaml, then the data section's consistency."""
        if not isinstance(raw, Mapping):
            raise GitmlError("params.yaml is not a mapping.", "Recompose it with `dvc exp run`.")
        path = schema_path(raw)
        if path is not None and "columns" not in raw["data"]:
            raise GitmlError(
                f"The params name the schema file '{path}' (data.schema), but it was not read.",
                "Load params with gitml.config.load_params, or pass them through "
                "gitml.config.with_schema first.",
            )
        params = validate(cls, raw, PARAMS)
        params.data._check_consistency()
        object.__setattr__(params, "raw", dict(raw))  # frozen: set once, here
        return params


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Read a YAML file, turning a missing file or a syntax error into a GitmlError."""
    p = Path(path)
    if not p.is_file():
        raise GitmlError(f"The {what} '{p}' does not exist.", "Check the path.")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GitmlError(
            f"The {what} '{p}' is not valid YAML{where}.", "Fix the syntax and run again."
        ) from exc


#: Reads a project file by its root-relative POSIX path; None when there is no such file.
FileReader = Callable[[str], str | None]


def schema_path(raw: Any) -> str | None:
    """The `data.schema` path of a params mapping, None when it has none (columns inline)."""
    data = raw.get("data") if isinstance(raw, Mapping) else None
    path = data.get("schema") if isinstance(data, Mapping) else None
    return path if isinstance(path, str) and path else None


def data_section(raw: Any) -> Any:
    """A data config file (conf/data/<name>.yaml) as `params.yaml` gets it under `data:`: without
    Hydra's `defaults` list (where a regression's config selects its regressor)."""
    if isinstance(raw, dict) and "defaults" in raw:
        return {k: v for k, v in raw.items() if k != "defaults"}
    return raw


def with_schema(raw: Any, read: FileReader, where: str = "the workspace") -> Any:
    """`raw` params with `data.columns` read from the file `data.schema` names.

    Params without `data.schema` come back as they are (columns inline, or missing: then
    `Params.parse` names the missing key).

    Raises:
        GitmlError: the schema path is absolute or leaves the project, the file is missing or
            not YAML, it has no `columns:` mapping, or the params also set `data.columns`.
    """
    path = schema_path(raw)
    if path is None:
        return raw
    data = raw["data"]
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise GitmlError(
            f"data.schema is '{path}', which is not a path inside the project.",
            "Give the schema file's path relative to the project root, e.g. "
            "conf/schema/<name>.yaml.",
        )
    if "columns" in data:
        raise GitmlError(
            f"The data config sets both data.schema ('{path}') and data.columns.",
            "Declare the columns in one place: in the schema file (and remove data.columns), "
            "or inline (and remove data.schema).",
        )
    text = read(path)
    if text is None:
        raise GitmlError(
            f"data.schema names '{path}', which does not exist in {where}.",
            "Create it (a `columns:` mapping, see conf/schema/csv.yaml), or fix data.schema in "
            "the data config under conf/data/.",
        )
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise GitmlError(
            f"The schema file '{path}' is not valid YAML{at}.", "Fix the syntax and run again."
        ) from exc
    if not isinstance(doc, Mapping) or set(doc) != {"columns"}:
        raise GitmlError(
            f"The schema file '{path}' must hold exactly one key, `columns:`.",
            "Map each column name to its declaration under `columns:` (see conf/schema/csv.yaml).",
        )
    return {**raw, "data": {**data, "columns": doc["columns"]}}


def inline_schema(raw: Any, read: FileReader, where: str = "the workspace") -> Any:
    """Self-contained params: `with_schema`, then `data.schema` dropped (columns inline)."""
    out = with_schema(raw, read, where)
    if out is raw:
        return raw
    return {**out, "data": {k: v for k, v in out["data"].items() if k != "schema"}}


def files_under(root: str | Path) -> FileReader:
    """A `FileReader` of the files under `root` (the project root)."""
    base = Path(root)

    def read(path: str) -> str | None:
        file = base / path
        return file.read_text(encoding="utf-8") if file.is_file() else None

    return read


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate params.yaml, its columns read from `data.schema` next to it."""
    raw = read_yaml(path, "params file") or {}
    root = Path(path).resolve().parent
    return Params.parse(with_schema(raw, files_under(root), f"the project at {root}"))
