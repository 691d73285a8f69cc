"""The `serve:` section of conf/gitml.yaml: batching, payload limit, unseen categories, the log.

Parsed into a frozen `ServePolicy`; every key is optional. `gitml.policy` lists it among its
sections, so `load_policy(root).serve` is the one way to read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitml.confcheck import Fields

#: What serving does with a category the model never saw.
UNKNOWN = ("error", "unknown")

_F = Fields("serve")


def _int(where: str, value: Any, minimum: int) -> int:
    return _F.integer(where, value, minimum=minimum)


def _float(where: str, value: Any, minimum: float) -> float:
    return _F.number(where, value, minimum=minimum)


@dataclass(frozen=True)
class LogPolicy:
    """The prediction log: JSON Lines at `path`, rotated to `path.1`... past `rotate_bytes`."""

    path: str = "logs/predictions.jsonl"
    rotate_bytes: int = 64 * 1024 * 1024
    keep: int = 5
    enabled: bool = True


@dataclass(frozen=True)
class ServePolicy:
    """How `gitml serve` and `gitml predict` batch, validate and log."""

    max_batch_size: int = 256
    max_wait_ms: float = 2.0
    max_payload_bytes: int = 1024 * 1024
    unknown_categories: str = "error"
    chunk_rows: int = 100_000
    follow_poll_seconds: float = 10.0
    predict_threads: int = 1
    log: LogPolicy = field(default_factory=LogPolicy)

    @classmethod
    def parse(cls, raw: Any) -> ServePolicy:
        raw = _F.mapping("", raw, optional=True)
        _F.keys("", raw, cls.__dataclass_fields__)
        d = cls()
        unknown = _F.choice(
            "unknown_categories", raw.get("unknown_categories", d.unknown_categories), UNKNOWN
        )
        log_raw = _F.mapping("log", raw.get("log"), optional=True)
        _F.keys("log", log_raw, LogPolicy.__dataclass_fields__)
        dl = LogPolicy()
        path = _F.string("log.path", log_raw.get("path", dl.path))
        enabled = _F.boolean("log.enabled", log_raw.get("enabled", dl.enabled))
        return cls(
            max_batch_size=_int("max_batch_size", raw.get("max_batch_size", d.max_batch_size), 1),
            max_wait_ms=_float("max_wait_ms", raw.get("max_wait_ms", d.max_wait_ms), 0.0),
            max_payload_bytes=_int(
                "max_payload_bytes", raw.get("max_payload_bytes", d.max_payload_bytes), 1024
            ),
            unknown_categories=str(unknown),
            chunk_rows=_int("chunk_rows", raw.get("chunk_rows", d.chunk_rows), 1),
            follow_poll_seconds=_float(
                "follow_poll_seconds", raw.get("follow_poll_seconds", d.follow_poll_seconds), 0.1
            ),
            predict_threads=_int(
                "predict_threads", raw.get("predict_threads", d.predict_threads), 1
            ),
            log=LogPolicy(
                path=path,
                rotate_bytes=_int(
                    "log.rotate_bytes", log_raw.get("rotate_bytes", dl.rotate_bytes), 1024
                ),
                keep=_int("log.keep", log_raw.get("keep", dl.keep), 1),
                enabled=enabled,
            ),
        )
