"""The `monitor:` section of conf/gitml.yaml: drift methods, thresholds, the verdict and decay.

Parsed into a frozen `MonitorPolicy`; every key is optional and defaults to Evidently's defaults
(normalised Wasserstein / Jensen-Shannon at 0.1 above 1,000 reference rows, KS / chi-square at
p < 0.05 at or below it, dataset drift when half the columns drift).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.confcheck import Fields

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


_F = Fields("monitor")
_fail = _F.fail
_keys = _F.keys
_choice = _F.choice


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    return _F.mapping(where, value, optional=True)


def _number(where: str, value: Any, low: float = 0.0, high: float | None = None) -> float:
    return _F.number(where, value, minimum=low, maximum=high)


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
    critical_top_features: int = 0
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
        raw = _mapping("", raw)
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
                "critical_top_features",
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
        critical = _F.str_list("critical_columns", raw.get("critical_columns") or [])
        columns = {
            str(name): _rule(f"columns.{name}", rule)
            for name, rule in _mapping("columns", raw.get("columns")).items()
        }
        prediction = _mapping("prediction", raw.get("prediction"))
        _keys("prediction", prediction, {"score_column", "method", "threshold"})
        quality = _mapping("quality", raw.get("quality"))
        _keys("quality", quality, {"null_rate_tolerance", "schema"})
        schema = _F.boolean("quality.schema", quality.get("schema", True))
        decay = dict(DEFAULT_DECAY)
        for key, value in _mapping("decay", raw.get("decay")).items():
            _choice(f"decay.{key}", key, tuple(DEFAULT_DECAY))
            decay[key] = _number(f"decay.{key}", value)
        log = _mapping("log", raw.get("log"))
        _keys("log", log, {"inputs_field", "score_field"})
        return cls(
            small_sample=_F.integer("small_sample", raw.get("small_sample", 1000)),
            low_cardinality=_F.integer(
                "low_cardinality", raw.get("low_cardinality", 5), maximum=20
            ),
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
            critical_top_features=_F.integer(
                "critical_top_features", raw.get("critical_top_features", 0)
            ),
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
            chunk_rows=_F.integer("chunk_rows", raw.get("chunk_rows", 250_000), minimum=1),
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
    """The monitor policy in `<root>/conf/gitml.yaml` (defaults if there is no such file).

    The file is read and validated whole by `gitml.policy`, the one loader.
    """
    from gitml.policy import load_policy_if_present  # gitml.policy imports this module

    return load_policy_if_present(Path(root)).monitor
