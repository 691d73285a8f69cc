"""The one validated loader of the pipeline's params (params.yaml, composed by Hydra from conf/).

Every stage reads its section through `load_params`; unknown or missing keys fail with the key's
path and a did-you-mean suggestion, before any output is written.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitml.errors import GitmlError

DTYPES = ("int64", "float64", "bool", "category", "string", "datetime")
ROLES = ("feature", "target", "sensitive", "id", "time", "ignore")
SOURCES = ("synthetic_credit", "breast_cancer", "csv", "parquet")
TASKS = ("binary", "multiclass")
NUMERIC_DTYPES = ("int64", "float64", "bool")


def _check_keys(
    where: str, mapping: Mapping[str, Any], required: set[str], optional: Collection[str] = ()
) -> None:
    """Fail on unknown or missing keys, naming the key path and the closest valid key."""
    allowed = required | set(optional)
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = (
                f"Did you mean '{close[0]}'?"
                if close
                else f"Allowed keys: {', '.join(sorted(allowed))}."
            )
            raise GitmlError(
                f"Unknown key '{where}.{key}' in the params.",
                f"{hint} Fix the file under conf/ that sets it (params.yaml is composed from conf/).",
            )
    missing = sorted(required - set(mapping))
    if missing:
        raise GitmlError(
            f"Missing key(s) {', '.join(f'{where}.{m}' for m in missing)} in the params.",
            "Add them to the config under conf/ (see the templates in conf/data/ and conf/model/).",
        )


def _choice(where: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise GitmlError(
            f"'{where}' is '{value}', which is not one of: {', '.join(options)}.{hint}",
            "Fix the value under conf/.",
        )
    return str(value)


@dataclass(frozen=True)
class ColumnSpec:
    """One declared column: dtype, role, allowed values, nullability and PII flag."""

    name: str
    dtype: str
    role: str
    nullable: bool = False
    pii: bool = False
    min: Any = None
    max: Any = None
    categories: tuple[Any, ...] | None = None

    @property
    def is_numeric(self) -> bool:
        return self.dtype in NUMERIC_DTYPES

    @property
    def is_categorical(self) -> bool:
        return self.dtype in ("category", "string")

    @classmethod
    def parse(cls, name: str, raw: Mapping[str, Any]) -> ColumnSpec:
        where = f"data.columns.{name}"
        if not isinstance(raw, Mapping):
            raise GitmlError(
                f"'{where}' must be a mapping such as {{dtype: float64, role: feature}}.",
                "Fix the column declaration in the data config under conf/data/.",
            )
        _check_keys(where, raw, {"dtype", "role"}, {"nullable", "pii", "min", "max", "categories"})
        cats = raw.get("categories")
        if cats is not None and not isinstance(cats, list | tuple):
            raise GitmlError(f"'{where}.categories' must be a list.", "Write it as [a, b, c].")
        return cls(
            name=str(name),
            dtype=_choice(f"{where}.dtype", raw["dtype"], DTYPES),
            role=_choice(f"{where}.role", raw["role"], ROLES),
            nullable=bool(raw.get("nullable", False)),
            pii=bool(raw.get("pii", False)),
            min=raw.get("min"),
            max=raw.get("max"),
            categories=tuple(cats) if cats is not None else None,
        )

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


@dataclass(frozen=True)
class DataConfig:
    """A data source and its declared schema (conf/data/<name>.yaml)."""

    name: str
    source: str
    path: str | None
    read_options: dict[str, Any]
    n_rows: int | None
    target: str
    task: str
    positive_class: Any
    time_column: str | None
    allow_pii_features: bool
    columns: tuple[ColumnSpec, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DataConfig:
        _check_keys(
            "data",
            raw,
            {"source", "target", "columns"},
            {
                "name",
                "path",
                "read_options",
                "n_rows",
                "task",
                "positive_class",
                "time_column",
                "allow_pii_features",
            },
        )
        source = _choice("data.source", raw["source"], SOURCES)
        columns_raw = raw["columns"]
        if not isinstance(columns_raw, Mapping) or not columns_raw:
            raise GitmlError(
                "'data.columns' must declare at least one column.",
                "Declare every column of the table under data.columns (see conf/data/csv.yaml).",
            )
        columns = tuple(ColumnSpec.parse(str(k), v) for k, v in columns_raw.items())
        config = cls(
            name=str(raw.get("name") or source),
            source=source,
            path=raw.get("path"),
            read_options=dict(raw.get("read_options") or {}),
            n_rows=raw.get("n_rows"),
            target=str(raw["target"]),
            task=_choice("data.task", raw.get("task", "binary"), TASKS),
            positive_class=raw.get("positive_class", 1),
            time_column=raw.get("time_column"),
            allow_pii_features=bool(raw.get("allow_pii_features", False)),
            columns=columns,
        )
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


@dataclass(frozen=True)
class SplitParams:
    """How the validated table is split into train and test."""

    name: str
    method: str
    test_size: float
    profile_bins: int

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> SplitParams:
        _check_keys("split", raw, {"method", "test_size"}, {"name", "profile_bins"})
        test_size = float(raw["test_size"])
        if not 0.0 < test_size < 1.0:
            raise GitmlError(
                f"split.test_size is {test_size}; it must lie strictly between 0 and 1.",
                "Use e.g. -S split.test_size=0.2.",
            )
        method = _choice("split.method", raw["method"], ("stratified", "time"))
        return cls(
            name=str(raw.get("name") or method),
            method=method,
            test_size=test_size,
            profile_bins=int(raw.get("profile_bins", 20)),
        )


RESERVED_MODEL_KEYS = ("name", "preprocessing")


@dataclass(frozen=True)
class ModelParams:
    """The estimator: a Hydra `_target_` plus its keyword arguments and the preprocessing choice."""

    name: str
    target: str
    kwargs: dict[str, Any]
    scale_numeric: bool
    categorical: str

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ModelParams:
        if "_target_" not in raw:
            raise GitmlError(
                "The model config has no '_target_'.",
                "Every conf/model/<name>.yaml names its scikit-learn estimator class in _target_.",
            )
        prep = dict(raw.get("preprocessing") or {})
        _check_keys("model.preprocessing", prep, set(), {"scale_numeric", "categorical"})
        kwargs = {k: v for k, v in raw.items() if k not in RESERVED_MODEL_KEYS}
        return cls(
            name=str(raw.get("name") or str(raw["_target_"]).rsplit(".", 1)[-1]),
            target=str(raw["_target_"]),
            kwargs=kwargs,
            scale_numeric=bool(prep.get("scale_numeric", True)),
            categorical=_choice(
                "model.preprocessing.categorical",
                prep.get("categorical", "onehot"),
                ("onehot", "ordinal", "native"),
            ),
        )


@dataclass(frozen=True)
class EvaluateParams:
    """Evaluation settings: threshold, curve resolution and permutation importance."""

    threshold: float = 0.5
    curve_points: int = 101
    calibration_bins: int = 10
    importance_repeats: int = 5
    importance_max_rows: int = 5000
    importance_scoring: str = "roc_auc"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> EvaluateParams:
        names = set(cls.__dataclass_fields__)
        _check_keys("evaluate", raw, set(), names)
        return cls(**dict(raw))


@dataclass(frozen=True)
class Params:
    """All pipeline params, validated."""

    seed: int
    data: DataConfig
    split: SplitParams
    model: ModelParams
    evaluate: EvaluateParams
    model_card: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Params:
        if not isinstance(raw, Mapping):
            raise GitmlError("params.yaml is not a mapping.", "Recompose it with `dvc exp run`.")
        _check_keys("params", raw, {"seed", "data", "split", "model"}, {"evaluate", "model_card"})
        return cls(
            seed=int(raw["seed"]),
            data=DataConfig.parse(raw["data"]),
            split=SplitParams.parse(raw["split"]),
            model=ModelParams.parse(raw["model"]),
            evaluate=EvaluateParams.parse(raw.get("evaluate") or {}),
            model_card=dict(raw.get("model_card") or {}),
            raw=dict(raw),
        )


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


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate params.yaml."""
    return Params.parse(read_yaml(path, "params file") or {})
