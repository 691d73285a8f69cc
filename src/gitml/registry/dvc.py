"""The registry's DVC adapter: artifact declarations and hashes at a commit, and artifact bytes.

`dvc.yaml` (the `artifacts:` section) and `dvc.lock` (the md5 DVC recorded for each out) are read
at a commit through the git adapter; the bytes come through DVC's public API (`dvc.api.open`),
which reads the local cache or pulls from the configured DVC remote.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitml.errors import GitmlError
from gitml.git import Git

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ArtifactAtCommit:
    """What `dvc.yaml` and `dvc.lock` at one commit say about an artifact."""

    name: str
    commit: str
    declared: bool  # listed under `artifacts:` in dvc.yaml
    path: str | None  # its path, from dvc.yaml
    type: str | None
    md5: str | None  # from dvc.lock (or the path's .dvc file)
    size: int | None


@dataclass(frozen=True)
class Snapshot:
    """Everything lineage and promotion need from one commit, read in one batch."""

    artifact: ArtifactAtCommit
    lock: Mapping[str, Any]
    params: Mapping[str, Any] | None
    files: Mapping[str, Any]  # parsed JSON reports by path (None when missing)

    def out_md5(self, path: str) -> str | None:
        return _find_md5(self.lock, path)[0]


def _yaml(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return yaml.load(data, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _find_md5(lock: Mapping[str, Any] | None, path: str) -> tuple[str | None, int | None]:
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


def params_hash(params: Any) -> str | None:
    """A stable hash of params.yaml's content (key order and formatting do not matter)."""
    if params is None:
        return None
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return "md5:" + hashlib.md5(canonical.encode()).hexdigest()


class Dvc:
    """Read DVC metadata and artifact bytes in one repository."""

    def __init__(self, root: Path, git: Git) -> None:
        self.root = Path(root)
        self.git = git

    def snapshot(
        self, name: str, commit: str, *, reports: tuple[str, ...] = (), params: str | None = None
    ) -> Snapshot:
        """Read dvc.yaml, dvc.lock, params and JSON reports at `commit` in one git call."""
        wanted = ["dvc.yaml", "dvc.lock", *reports]
        if params:
            wanted.append(params)
        files = self.git.read_files([(commit, p) for p in wanted])
        dvc_yaml = _yaml(files[(commit, "dvc.yaml")])
        lock = _yaml(files[(commit, "dvc.lock")])
        artifact = self._artifact(name, commit, dvc_yaml, lock)
        return Snapshot(
            artifact=artifact,
            lock=lock if isinstance(lock, Mapping) else {},
            params=_yaml(files[(commit, params)]) if params else None,
            files={p: _json(files[(commit, p)]) for p in reports},
        )

    def artifact_at(self, name: str, commit: str) -> ArtifactAtCommit:
        return self.snapshot(name, commit).artifact

    def artifacts_at(self, name: str, commits: list[str]) -> dict[str, ArtifactAtCommit]:
        """The artifact at many commits in one git call (used by doctor)."""
        items = [(c, p) for c in commits for p in ("dvc.yaml", "dvc.lock")]
        files = self.git.read_files(items)
        return {
            c: self._artifact(name, c, _yaml(files[(c, "dvc.yaml")]), _yaml(files[(c, "dvc.lock")]))
            for c in commits
        }

    def _artifact(self, name: str, commit: str, dvc_yaml: Any, lock: Any) -> ArtifactAtCommit:
        declared = dvc_yaml.get("artifacts") if isinstance(dvc_yaml, Mapping) else None
        entry = declared.get(name) if isinstance(declared, Mapping) else None
        if not isinstance(entry, Mapping) or not entry.get("path"):
            return ArtifactAtCommit(name, commit, False, None, None, None, None)
        path = str(entry["path"])
        md5, size = _find_md5(lock, path)
        if md5 is None:  # tracked with `dvc add` instead of a stage
            dotdvc = _yaml(self.git.read_file(commit, f"{path}.dvc"))
            outs = dotdvc.get("outs") if isinstance(dotdvc, Mapping) else None
            if outs and isinstance(outs[0], Mapping) and outs[0].get("md5"):
                md5, size = str(outs[0]["md5"]), outs[0].get("size")
        return ArtifactAtCommit(name, commit, True, path, entry.get("type"), md5, size)

    def fetch_bytes_to(self, path: str, commit: str, target: Path) -> str:
        """Stream the artifact at `commit` into `target` through DVC; return the bytes' md5."""
        import dvc.api
        from dvc.exceptions import DvcException

        digest = hashlib.md5()
        try:
            with (
                dvc.api.open(path, repo=str(self.root), rev=commit, mode="rb") as src,
                open(target, "wb") as dst,
            ):
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    dst.write(block)
        except (DvcException, FileNotFoundError, OSError) as error:
            raise GitmlError(
                f"DVC could not read '{path}' at commit {commit[:12]}: {error}",
                "Make sure the artifact was pushed (`dvc push`) and the DVC remote is reachable.",
            ) from None
        return digest.hexdigest()
