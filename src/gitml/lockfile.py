"""Reading dvc.lock and DVC's hashes (pure: parsed mappings in, values out; no DVC import).

`gitml.dvc` (the adapter) reads the files; this module answers questions about their content,
so features that already hold a parsed lock (serving, the report) need not import the adapter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def json_or_none(data: bytes | None) -> Any:
    """`data` parsed as JSON; None when missing or not JSON."""
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def find_md5(lock: Mapping[str, Any] | None, path: str) -> tuple[str | None, int | None]:
    """The md5 and size dvc.lock records for `path` (an out, else a dep)."""
    if not isinstance(lock, Mapping):
        return None, None
    stages = lock.get("stages")
    if not isinstance(stages, Mapping):
        return None, None
    found: tuple[str | None, int | None] = (None, None)
    for stage in stages.values():
        if not isinstance(stage, Mapping):
            continue
        for section in ("outs", "deps"):
            for entry in stage.get(section) or []:
                if isinstance(entry, Mapping) and entry.get("path") == path and entry.get("md5"):
                    if section == "outs":
                        return str(entry["md5"]), entry.get("size")
                    found = (str(entry["md5"]), entry.get("size"))
    return found


def out_md5(lock: Mapping[str, Any] | None, path: str) -> str | None:
    """The md5 dvc.lock records for `path` (an out, else a dep); None when it has none."""
    return find_md5(lock, path)[0]


def writer_deps(lock: Mapping[str, Any] | None, out: str) -> dict[str, str] | None:
    """The md5 of each dependency of the dvc.lock stage that writes `out` (None: no such stage)."""
    stages = lock.get("stages") if isinstance(lock, Mapping) else None
    if not isinstance(stages, Mapping):
        return None
    for stage in stages.values():
        if not isinstance(stage, Mapping):
            continue
        outs = [e for e in stage.get("outs") or [] if isinstance(e, Mapping)]
        if any(e.get("path") == out for e in outs):
            return {
                str(e["path"]): str(e["md5"])
                for e in stage.get("deps") or []
                if isinstance(e, Mapping) and e.get("path") and e.get("md5")
            }
    return None


def dir_md5(files: Mapping[str, str]) -> str:
    """The md5 DVC records for a directory output holding `files` (relative path -> md5).

    DVC hashes a directory as the md5 of its JSON manifest (entries sorted by path, keys
    sorted) with `.dir` appended: what dvc.lock says of an output folder like models/compiled."""
    manifest = [{"md5": files[name], "relpath": name} for name in sorted(files)]
    text = json.dumps(manifest, sort_keys=True).encode("utf-8")
    return hashlib.md5(text).hexdigest() + ".dir"
