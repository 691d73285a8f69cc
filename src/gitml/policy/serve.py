"""The `serve:` section of conf/gitml.yaml: batching, request limits, unseen categories,
shutdown, the log.

A frozen pydantic dataclass shaped like the file; every key is optional. `gitml.policy` lists it
among its sections, so `load_policy(root).serve` is the one way to read it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

from gitml.conftypes import (
    POLICY,
    STRICT,
    EmptyIfNone,
    Flag,
    Int,
    Number,
    Text,
    empty_if_none,
    validate,
)

#: What serving does with a category the model never saw.
UNKNOWN = ("error", "unknown")


@dataclass(frozen=True, config=STRICT)
class LogPolicy:
    """The prediction log: JSON Lines at `path`, rotated to `path.1`... past `rotate_bytes`."""

    path: Text = "logs/predictions.jsonl"
    rotate_bytes: Int = Field(default=64 * 1024 * 1024, ge=1024)
    keep: Int = Field(default=5, ge=1)
    enabled: Flag = True
    #: PII-flagged columns (data.columns.*.pii) never reach the log: dropped, or HMAC-SHA256 with
    #: the key in the environment variable `pii_key_env` (serving refuses to start without it).
    pii: Literal["drop", "hash"] = "drop"
    pii_key_env: Text = "GITML_LOG_PII_KEY"


@dataclass(frozen=True, config=STRICT)
class ServePolicy:
    """How `gitml serve` and `gitml predict` batch, validate and log."""

    max_batch_size: Int = Field(default=256, ge=1)
    max_wait_ms: Number = Field(default=2.0, ge=0.0)
    max_payload_bytes: Int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: Int = Field(default=32, ge=4)
    max_elements: Int = Field(default=500_000, ge=100)
    unknown_categories: Literal["error", "unknown"] = "error"
    chunk_rows: Int = Field(default=100_000, ge=1)
    follow_poll_seconds: Number = Field(default=10.0, ge=0.1)
    predict_threads: Int = Field(default=1, ge=1)
    shutdown_timeout_seconds: Number = Field(default=30.0, ge=0.0)
    shutdown_idle_seconds: Number = Field(default=1.0, ge=0.0)
    log: Annotated[LogPolicy, EmptyIfNone] = Field(default_factory=LogPolicy)

    @classmethod
    def parse(cls, raw: Any) -> ServePolicy:
        """Validate the `serve:` mapping; missing keys keep their defaults."""
        return validate(cls, empty_if_none(raw), POLICY, "serve")
