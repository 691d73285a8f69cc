"""The `serve:` section of conf/gitml.yaml: batching, payload limit, unseen categories, the log.

Parsed into a frozen `ServePolicy`; every key is optional. `gitml.policy` lists it among its
sections, so `load_policy(root).serve` is the one way to read it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitml.errors import GitmlError

WHERE = "conf/gitml.yaml"


def _fail(where: str, problem: str) -> GitmlError:
    return GitmlError(
        f"{WHERE}: 'serve.{where}' {problem}",
        f"Fix 'serve.{where}' in {WHERE} (see the comments there).",
    )


def _keys(where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise _fail(f"{where}.{key}" if where else str(key), f"is not a known key.{hint}")


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"must be an integer of at least {minimum}, not {value!r}.")
    return value


def _float(where: str, value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _fail(where, f"must be a number of at least {minimum}, not {value!r}.")
    return float(value)


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
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise _fail("", f"must be a mapping, not {type(raw).__name__}.")
        _keys("", raw, set(cls.__dataclass_fields__))
        d = cls()
        unknown = raw.get("unknown_categories", d.unknown_categories)
        if unknown not in ("error", "unknown"):
            raise _fail("unknown_categories", f"is {unknown!r}; use error or unknown.")
        log_raw = raw.get("log") or {}
        if not isinstance(log_raw, Mapping):
            raise _fail("log", "must be a mapping with path, rotate_bytes, keep, enabled.")
        _keys("log", log_raw, set(LogPolicy.__dataclass_fields__))
        dl = LogPolicy()
        path = log_raw.get("path", dl.path)
        if not isinstance(path, str) or not path:
            raise _fail("log.path", "must be a non-empty path.")
        enabled = log_raw.get("enabled", dl.enabled)
        if not isinstance(enabled, bool):
            raise _fail("log.enabled", "must be true or false.")
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
