"""The prediction log: append-only JSON Lines, one line per scoring request, rotated by size.

Every batch's lines go out in ONE `os.write` on an `O_APPEND` descriptor, so a line is either
wholly in the file or not at all (no torn lines), and nothing sits in a user-space buffer that a
signal could lose. Past `rotate_bytes` the file is renamed to `<path>.1` (older ones shift to
`.2`...; at most `keep` are kept) and a new file is started.

Deleted or moved away by someone else (`rm`, logrotate's default `create` mode), the file is
reopened at `path` before the next write: each write compares the inode at `path` with the open
descriptor's (one `stat` call). `reopen()` does the same on demand; the server calls it on SIGHUP,
as logrotate's `postrotate` expects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from gitml.errors import GitmlError

#: A PII value in the log with `serve.log.pii: hash`: HMAC-SHA256 of its text, hex.
Hasher = Callable[[Any], str | None]


def pii_hasher(mode: str, key_env: str, environ: Mapping[str, str] | None = None) -> Hasher | None:
    """The keyed hash PII values are logged as (`hash`), or None (`drop`).

    Refuses (GitmlError, exit 2) `hash` without a key in the environment variable `key_env`: an
    unkeyed hash of an e-mail address or a name is reversible by guessing."""
    if mode != "hash":
        return None
    env = os.environ if environ is None else environ
    key = env.get(key_env, "")
    if not key:
        raise GitmlError(
            f"serve.log.pii is 'hash', but the environment variable {key_env} (serve.log."
            "pii_key_env) holds no key, so PII columns could not be hashed for the prediction log.",
            f"Export {key_env} with a long random secret (e.g. `export {key_env}=$(openssl rand "
            "-hex 32)`), keep it out of the repository, or set serve.log.pii: drop in "
            "conf/gitml.yaml.",
        )
    secret = key.encode("utf-8")

    def digest(value: Any) -> str | None:
        if value is None:
            return None
        return hmac.new(secret, str(value).encode("utf-8"), hashlib.sha256).hexdigest()

    return digest


def hash_pii(value: Any, key: str) -> str:
    """HMAC-SHA256 (hex) of a value's text with `key`: what the log holds with `hash`."""
    return hmac.new(key.encode("utf-8"), str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def dumps_line(record: dict[str, Any]) -> str:
    """One log line (compact UTF-8 JSON by orjson; NaN and infinities become null), newline."""
    return orjson.dumps(
        record, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    ).decode("utf-8")


class PredictionLog:
    """Append JSON Lines to `path`, rotating by size. Thread-safe."""

    def __init__(self, path: str | os.PathLike[str], rotate_bytes: int, keep: int) -> None:
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes
        self.keep = keep
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = self._open()

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _moved(self) -> bool:
        """Whether `path` no longer names the open file (deleted, or rotated by someone else)."""
        assert self._fd is not None
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return True
        mine = os.fstat(self._fd)
        return (at_path.st_ino, at_path.st_dev) != (mine.st_ino, mine.st_dev)

    def _reopen(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        self._fd = self._open()

    def reopen(self) -> None:
        """Reopen `path` if the open file was deleted or moved (SIGHUP after a rotation)."""
        with self._lock:
            if self._fd is not None and self._moved():
                self._reopen()

    def _size(self) -> int:
        assert self._fd is not None
        return os.fstat(self._fd).st_size

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        oldest = self.path.with_name(f"{self.path.name}.{self.keep}")
        if oldest.exists():
            oldest.unlink()
        for i in range(self.keep - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fd = self._open()

    def write(self, lines: Sequence[str]) -> None:
        """Append complete lines (each ending in a newline) with one write call."""
        if not lines:
            return
        data = "".join(lines).encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"the prediction log {self.path} is closed")
            if self._moved():
                self._reopen()
            size = self._size()
            if size and size + len(data) > self.rotate_bytes:
                self._rotate()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        """Flush to disk and close."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def log_files(path: str | os.PathLike[str]) -> list[Path]:
    """A log and its rotated predecessors, oldest first."""
    current = Path(path)
    rotated = sorted(
        (older for older in current.parent.glob(f"{current.name}.*") if older.suffix[1:].isdigit()),
        key=lambda older: -int(older.suffix[1:]),
    )
    return [*rotated, *([current] if current.exists() else [])]


def read_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Parse a log file line by line: (line number, record). A bad line raises ValueError."""
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.endswith("\n"):
                raise ValueError(f"{path}:{number}: torn line (no newline at the end)")
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: not a JSON object")
            yield number, record
