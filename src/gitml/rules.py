"""The rule for one metric (one entry of `metrics:` in conf/gitml.yaml): its direction and the
changes that count as noise, tolerance and floor.

Its own module, apart from `gitml.compare` which judges with it, so that reading a policy
(`gitml.policy`, which every command and Dask worker does) imports pydantic and nothing of the
statistics stack (pandas, scipy) that comparing needs.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass as config_dataclass

from gitml.conftypes import STRICT, Flag, Number, require


@config_dataclass(frozen=True, config=STRICT)
class MetricRule:
    """Direction and thresholds for one metric (one entry of `metrics:` in conf/gitml.yaml)."""

    higher_is_better: Flag = True
    min_absolute_change: Number = Field(default=0.0, ge=0.0)
    min_relative_change: Number = Field(default=0.0, ge=0.0)
    tolerance: Number = Field(default=0.0, ge=0.0)
    floor: Number | None = None

    @model_validator(mode="before")
    @classmethod
    def _direction_is_required(cls, raw: Any) -> Any:
        return require(raw, "higher_is_better")  # in the file; MetricRule() keeps the default
