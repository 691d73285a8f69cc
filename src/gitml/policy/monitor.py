"""The `monitor:` section of conf/gitml.yaml: drift methods, thresholds, the verdict and decay.

A frozen pydantic dataclass shaped like the file; every key is optional and defaults to
Evidently's defaults (normalised Wasserstein / Jensen-Shannon at 0.1 above 1,000 reference rows,
KS / chi-square at p < 0.05 at or below it, dataset drift when half the columns drift).
`gitml.policy` assembles it into the whole policy; this module imports nothing from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from gitml.conftypes import (
    POLICY,
    STRICT,
    EmptyIfNone,
    Flag,
    Int,
    Names,
    Number,
    Text,
    empty_if_none,
    validate,
)
from gitml.tasks import LOWER_IS_BETTER as TASK_LOWER_IS_BETTER

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
    # Regression: R² and MAPE are unitless; RMSE and MAE are in the target's units, so they have
    # no default (set monitor.decay.rmse / .mae for your target to judge them).
    "r2": 0.05,
    "mape": 0.05,
}
LOWER_IS_BETTER = TASK_LOWER_IS_BETTER


Method = Literal["wasserstein", "jensenshannon", "psi", "ks", "chi2"]
CategoricalMethod = Literal["jensenshannon", "psi", "chi2"]
DecayMetric = Literal[
    "roc_auc",
    "average_precision",
    "accuracy",
    "f1",
    "log_loss",
    "brier",
    "rmse",
    "mae",
    "r2",
    "mape",
]
if TYPE_CHECKING:  # the keys are validated as choices; readers index with plain strings
    MethodKey = str
    DecayKey = str
else:
    MethodKey = Method
    DecayKey = DecayMetric
Positive = Annotated[Number, Field(ge=0.0)]
Share = Annotated[Number, Field(ge=0.0, le=1.0)]


@dataclass(frozen=True, config=STRICT)
class ColumnRule:
    """A per-column override: method and/or threshold (None keeps the default)."""

    method: Method | None = None
    threshold: Positive | None = None


@dataclass(frozen=True, config=STRICT)
class PredictionRule(ColumnRule):
    """Prediction drift: the batch's score column, with an optional method and threshold."""

    score_column: Text = "score"


@dataclass(frozen=True, config=STRICT)
class LargeMethods:
    """Methods above `small_sample` reference rows (distances)."""

    numeric: Method = "wasserstein"
    categorical: CategoricalMethod = "jensenshannon"


@dataclass(frozen=True, config=STRICT)
class SmallMethods:
    """Methods at or below `small_sample` reference rows (p-value tests)."""

    numeric: Method = "ks"
    categorical: CategoricalMethod = "chi2"


@dataclass(frozen=True, config=STRICT)
class Methods:
    """`methods:`, by reference size."""

    large: Annotated[LargeMethods, EmptyIfNone] = Field(default_factory=LargeMethods)
    small: Annotated[SmallMethods, EmptyIfNone] = Field(default_factory=SmallMethods)


@dataclass(frozen=True, config=STRICT)
class Quality:
    """`quality:`: null-rate tolerance, the data-contract check and undeclared columns."""

    null_rate_tolerance: Share = 0.05
    schema: Flag = True
    undeclared: Literal["warn", "fail"] = "warn"


@dataclass(frozen=True, config=STRICT)
class MonitorLog:
    """`log:`: where each line of the serving prediction log keeps the features and the score."""

    inputs_field: Text = "inputs"
    score_field: Text = "score"


@dataclass(frozen=True, config=STRICT)
class MonitorPolicy:
    """Drift and decay monitoring policy (the `monitor:` section of conf/gitml.yaml)."""

    small_sample: Int = Field(default=1000, ge=0)
    low_cardinality: Int = Field(default=5, ge=0, le=20)
    methods: Annotated[Methods, EmptyIfNone] = Field(default_factory=Methods)
    thresholds: Annotated[Mapping[MethodKey, Positive], EmptyIfNone] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS)
    )
    correction: Literal["none", "bonferroni", "fdr"] = "none"
    drift_share: Share = 0.5
    critical_columns: Names = ()
    critical_top_features: Int = Field(default=0, ge=0)
    columns: Annotated[Mapping[str, Annotated[ColumnRule, EmptyIfNone]], EmptyIfNone] = Field(
        default_factory=dict
    )
    prediction: Annotated[PredictionRule, EmptyIfNone] = Field(default_factory=PredictionRule)
    quality: Annotated[Quality, EmptyIfNone] = Field(default_factory=Quality)
    decay: Annotated[Mapping[DecayKey, Positive], EmptyIfNone] = Field(
        default_factory=lambda: dict(DEFAULT_DECAY)
    )
    chunk_rows: Int = Field(default=250_000, ge=1)
    log: Annotated[MonitorLog, EmptyIfNone] = Field(default_factory=MonitorLog)

    @field_validator("thresholds")
    @classmethod
    def _over_default_thresholds(cls, given: Mapping[str, float]) -> dict[str, float]:
        return {**DEFAULT_THRESHOLDS, **given}

    @field_validator("decay")
    @classmethod
    def _over_default_decay(cls, given: Mapping[str, float]) -> dict[str, float]:
        return {**DEFAULT_DECAY, **given}

    @classmethod
    def parse(cls, raw: Any) -> MonitorPolicy:
        """Validate the `monitor:` mapping; missing keys keep their defaults."""
        return validate(cls, empty_if_none(raw), POLICY, "monitor")

    def threshold(self, method: str, column: str | None = None) -> float:
        """The threshold for `method`, with the column's override if it has one."""
        rule = self.columns.get(column) if column else None
        if rule is not None and rule.threshold is not None:
            return rule.threshold
        return float(self.thresholds[method])

    # The flat names the monitor core reads.
    @property
    def numeric_large(self) -> str:
        return self.methods.large.numeric

    @property
    def categorical_large(self) -> str:
        return self.methods.large.categorical

    @property
    def numeric_small(self) -> str:
        return self.methods.small.numeric

    @property
    def categorical_small(self) -> str:
        return self.methods.small.categorical

    @property
    def score_column(self) -> str:
        return self.prediction.score_column

    @property
    def null_rate_tolerance(self) -> float:
        return self.quality.null_rate_tolerance

    @property
    def schema(self) -> bool:
        return self.quality.schema

    @property
    def undeclared(self) -> str:
        return self.quality.undeclared

    @property
    def log_inputs_field(self) -> str:
        return self.log.inputs_field

    @property
    def log_score_field(self) -> str:
        return self.log.score_field
