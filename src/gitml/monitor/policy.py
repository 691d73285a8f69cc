"""The `monitor:` section of conf/gitml.yaml: drift methods, thresholds, the verdict and decay.

Parsed into a frozen `MonitorPolicy`; every key is optional and defaults to Evidently's defaults
(normalised Wasserstein / Jensen-Shannon at 0.1 above 1,000 reference rows, KS / chi-square at
p < 0.05 at or below it, dataset drift when half the columns drift).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitml.errors import GitmlError

WHERE = "conf/gitml.yaml"
DISTANCES = ("wasserstein", "jensenshannon", "psi")
TESTS = ("ks", "chi2")
METHODS = DISTANCES + TESTS
NUMERIC_METHODS = ("wasserstein", "ks", "jensenshannon", "psi", "chi2")
CATEGORICAL_METHODS = ("jensenshannon", "psi", "chi2")
CORRECTIONS = ("none", "bonferroni", "fdr")
DEFAULT_THRESHOLDS = {
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "ks": 0.05,
    "chi2": 0.05,
}
#: Largest tolerated loss per metric before the batch counts as decayed (absolute units).
DEFAULT_DECAY = {
    "roc_auc": 0.02,
    "average_precision": 0.03,
    "accuracy": 0.02,
    "f1": 0.03,
    "log_loss": 0.03,
    "brier": 0.01,
}
LOWER_IS_BETTER = ("log_loss", "brier")


def _fail(where: str, problem: str, hint: str = "") -> GitmlError:
    return GitmlError(
        f"{WHERE}: 'monitor.{where}' {problem}",
        hint or f"Fix 'monitor.{where}' in {WHERE} (see the comments there).",
    )


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping, not {type(value).__name__}.")
    return value


def _keys(where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = (
                f"Did you mean '{close[0]}'?"
                if close
                else f"Allowed: {', '.join(sorted(allowed))}."
            )
            raise _fail(f"{where}.{key}" if where else str(key), "is not a known key.", hint)


def _number(where: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"must be a number, not {value!r}.")
    if not low <= value <= high:
        raise _fail(where, f"must lie between {low} and {high}, not {value}.")
    return float(value)


def _choice(where: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise _fail(where, f"is '{value}', which is not one of: {', '.join(options)}.{hint}")
    return str(value)


@dataclass(frozen=True)
class ColumnRule:
    """A per-column override: method and/or threshold (None keeps the default)."""

    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class MonitorPolicy:
    """Drift and decay monitoring policy (the `monitor:` section of conf/gitml.yaml)."""

    small_sample: int = 1000
    low_cardinality: int = 5
    numeric_large: str = "wasserstein"
    categorical_large: str = "jensenshannon"
    numeric_small: str = "ks"
    categorical_small: str = "chi2"
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    correction: str = "none"
    drift_share: float = 0.5
    critical_columns: tuple[str, ...] = ()
    columns: Mapping[str, ColumnRule] = field(default_factory=dict)
    score_column: str = "score"
    prediction: ColumnRule = field(default_factory=ColumnRule)
    null_rate_tolerance: float = 0.05
    schema: bool = True
    decay: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DECAY))
    chunk_rows: int = 250_000
    log_inputs_field: str = "inputs"
    log_score_field: str = "score"

    def threshold(self, method: str, column: str | None = None) -> float:
        """The threshold for `method`, with the column's override if it has one."""
        rule = self.columns.get(column) if column else None
        if rule is not None and rule.threshold is not None:
            return rule.threshold
        return float(self.thresholds[method])

    @classmethod
    def parse(cls, raw: Any) -> MonitorPolicy:
        """Validate the `monitor:` mapping; missing keys keep their defaults."""
        raw = _mapping("(section)", raw)
        _keys(
            "",
            raw,
            {
                "small_sample",
                "low_cardinality",
                "methods",
                "thresholds",
                "correction",
                "drift_share",
                "critical_columns",
                "columns",
                "prediction",
                "quality",
                "decay",
                "chunk_rows",
                "log",
            },
        )
        methods = _mapping("methods", raw.get("methods"))
        _keys("methods", methods, {"large", "small"})
        large = _mapping("methods.large", methods.get("large"))
        small = _mapping("methods.small", methods.get("small"))
        for where, part in (("methods.large", large), ("methods.small", small)):
            _keys(where, part, {"numeric", "categorical"})
        thresholds = dict(DEFAULT_THRESHOLDS)
        for key, value in _mapping("thresholds", raw.get("thresholds")).items():
            _choice(f"thresholds.{key}", key, METHODS)
            thresholds[key] = _number(f"thresholds.{key}", value)
        critical = raw.get("critical_columns") or []
        if not isinstance(critical, list | tuple) or not all(isinstance(c, str) for c in critical):
            raise _fail("critical_columns", "must be a list of column names.")
        columns = {
            str(name): _rule(f"columns.{name}", rule)
            for name, rule in _mapping("columns", raw.get("columns")).items()
        }
        prediction = _mapping("prediction", raw.get("prediction"))
        _keys("prediction", prediction, {"score_column", "method", "threshold"})
        quality = _mapping("quality", raw.get("quality"))
        _keys("quality", quality, {"null_rate_tolerance", "schema"})
        schema = quality.get("schema", True)
        if not isinstance(schema, bool):
            raise _fail("quality.schema", f"must be true or false, not {schema!r}.")
        decay = dict(DEFAULT_DECAY)
        for key, value in _mapping("decay", raw.get("decay")).items():
            _choice(f"decay.{key}", key, tuple(DEFAULT_DECAY))
            decay[key] = _number(f"decay.{key}", value)
        log = _mapping("log", raw.get("log"))
        _keys("log", log, {"inputs_field", "score_field"})
        return cls(
            small_sample=int(_number("small_sample", raw.get("small_sample", 1000), 0)),
            low_cardinality=int(_number("low_cardinality", raw.get("low_cardinality", 5), 0, 20)),
            numeric_large=_choice(
                "methods.large.numeric", large.get("numeric", "wasserstein"), NUMERIC_METHODS
            ),
            categorical_large=_choice(
                "methods.large.categorical",
                large.get("categorical", "jensenshannon"),
                CATEGORICAL_METHODS,
            ),
            numeric_small=_choice(
                "methods.small.numeric", small.get("numeric", "ks"), NUMERIC_METHODS
            ),
            categorical_small=_choice(
                "methods.small.categorical", small.get("categorical", "chi2"), CATEGORICAL_METHODS
            ),
            thresholds=thresholds,
            correction=_choice("correction", raw.get("correction", "none"), CORRECTIONS),
            drift_share=_number("drift_share", raw.get("drift_share", 0.5), 0.0, 1.0),
            critical_columns=tuple(critical),
            columns=columns,
            score_column=str(prediction.get("score_column", "score")),
            prediction=_rule(
                "prediction", {k: v for k, v in prediction.items() if k in ("method", "threshold")}
            ),
            null_rate_tolerance=_number(
                "quality.null_rate_tolerance", quality.get("null_rate_tolerance", 0.05), 0.0, 1.0
            ),
            schema=schema,
            decay=decay,
            chunk_rows=int(_number("chunk_rows", raw.get("chunk_rows", 250_000), 1)),
            log_inputs_field=str(log.get("inputs_field", "inputs")),
            log_score_field=str(log.get("score_field", "score")),
        )


def _rule(where: str, raw: Any) -> ColumnRule:
    raw = _mapping(where, raw)
    _keys(where, raw, {"method", "threshold"})
    method = raw.get("method")
    threshold = raw.get("threshold")
    return ColumnRule(
        method=_choice(f"{where}.method", method, METHODS) if method is not None else None,
        threshold=_number(f"{where}.threshold", threshold) if threshold is not None else None,
    )


def load_monitor_policy(root: str | Path = ".") -> MonitorPolicy:
    """The monitor policy in `<root>/conf/gitml.yaml` (defaults if the file or section is absent).

    Goes through `gitml.policy.load_policy` when that loader knows the `monitor:` section, so the
    whole file is validated in one place; otherwise reads only this section.
    """
    path = Path(root) / "conf" / "gitml.yaml"
    if not path.is_file():
        return MonitorPolicy()
    try:
        from gitml import policy as shared

        if "monitor" in getattr(shared, "_SECTIONS", {}):
            found = getattr(shared.load_policy(Path(root)), "monitor", None)
            if isinstance(found, MonitorPolicy):
                return found
    except ImportError:
        pass
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise GitmlError(f"{path} is not valid YAML: {exc}", "Fix the syntax.") from None
    return MonitorPolicy.parse(raw.get("monitor") if isinstance(raw, Mapping) else None)
