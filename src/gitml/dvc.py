"""The one adapter to DVC: every `dvc` process, DVC API call and read of DVC's files starts here.

- DVC's files (`dvc.yaml`, `dvc.lock`, `.dvc` files, YAML params) are parsed by `load_yaml`, the
  way DVC itself reads them: ruamel.yaml, YAML 1.2 (`1e-3` is a float, `yes` a string), which
  PyYAML's YAML 1.1 reads differently. At a commit they are read through the git adapter.
- Artifact bytes, metrics, params and DVC-cached files come through DVC's public Python API
  (`dvc.api.open`, `metrics_show`, `params_show`, `DVCFileSystem`).
- Commands (`dvc add`, `dvc exp run`, `dvc exp show --json`) run the `dvc` of `dvc_bin()`; only
  their `--json` output is parsed, never DVC's tables.
- The default remote is read from DVC's config classes: `dvc config` has no JSON output.
- A failure that reaches an S3 remote (rejected or missing credentials, a missing bucket) becomes one
  GitmlError paragraph naming the remote, its bucket and endpoint and the fix, never a boto
  traceback: DVC's output is matched against S3's error codes and, when it says too little (a 403
  on a HEAD request has no body), the remote is probed through DVC's own file system.
  Credentials are never read or printed here: DVC takes them from the environment or
  `.dvc/config.local`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitml.errors import GitmlError
from gitml.git import Git
from gitml.lockfile import find_md5, json_or_none

log = logging.getLogger(__name__)
_local = threading.local()  # a ruamel YAML instance is not thread-safe: one per thread


def load_yaml(text: str | bytes) -> Any:
    """A DVC file's content as DVC parses it (None for an empty document).

    Raises:
        ValueError: the text is not valid YAML (or not UTF-8).
    """
    from ruamel.yaml import YAML  # DVC's own YAML library, installed with it
    from ruamel.yaml.error import YAMLError

    if isinstance(text, bytes):
        text = text.decode("utf-8")
    parser = getattr(_local, "yaml", None)
    if parser is None:
        parser = _local.yaml = YAML(typ="safe")
    try:
        return parser.load(text)
    except YAMLError as error:
        raise ValueError(str(error)) from None


def dvc_bin() -> str:
    """The `dvc` next to this Python (the venv), falling back to PATH."""
    local = Path(sys.executable).parent / ("dvc.exe" if os.name == "nt" else "dvc")
    return str(local) if local.exists() else "dvc"


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
        return find_md5(self.lock, path)[0]


def _yaml(data: bytes | None) -> Any:
    """`data` parsed as DVC reads it; None when missing or not YAML."""
    if data is None:
        return None
    try:
        return load_yaml(data)
    except ValueError:
        return None


def params_hash(params: Any) -> str | None:
    """A stable hash of params.yaml's content (key order and formatting do not matter)."""
    if params is None:
        return None
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return "md5:" + hashlib.md5(canonical.encode()).hexdigest()


_FIX = "Fix what DVC reports above."

# What S3 (through botocore and s3fs) says, as it appears in DVC's output or an exception's text.
_REJECTED = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "Access Denied",
    "Forbidden",
    "InvalidToken",
    "ExpiredToken",
)
_NO_CREDENTIALS = ("Unable to locate credentials", "NoCredentialsError", "PartialCredentials")
_NO_BUCKET = ("NoSuchBucket", "The specified bucket does not exist")
# DVC's own words when a transfer with a remote failed: worth probing the remote.
_REMOTE_TROUBLE = (
    "failed to connect to",
    "failed to pull",
    "failed to push",
    "failed to fetch",
    "failed to download",
    "failed to upload",
    "files failed to",
    "missing cache files",
    "neither locally nor on remote",
)
_CREDENTIALS_FIX = (
    "Export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a key allowed to read and write the "
    "bucket) in the environment, or keep them out of git with `dvc remote modify --local "
    "{name} access_key_id ...` and `... secret_access_key ...`; see docs/scale.md."
)


@dataclass(frozen=True)
class S3Remote:
    """Where an S3 remote is: its name, `s3://bucket/path` and endpoint (no credentials)."""

    name: str
    url: str
    endpoint: str | None

    @property
    def bucket(self) -> str:
        return self.url.removeprefix("s3://").split("/", 1)[0]

    def where(self) -> str:
        at = f" at {self.endpoint}" if self.endpoint else ""
        return f"the S3 remote '{self.name}' ({self.url}{at})"


def classify_s3_failure(text: str) -> str | None:
    """What S3's words in `text` mean: "rejected", "no-credentials", "no-bucket" or None."""
    if any(marker in text for marker in _NO_BUCKET):
        return "no-bucket"
    if any(marker in text for marker in _NO_CREDENTIALS):
        return "no-credentials"
    if any(marker in text for marker in _REJECTED) or "(403)" in text:
        return "rejected"
    return None


def s3_error(kind: str, remote: S3Remote, during: str) -> GitmlError:
    """The one paragraph for an S3 failure of `kind` (see `classify_s3_failure`)."""
    where = remote.where()
    if kind == "no-bucket":
        return GitmlError(
            f"The bucket '{remote.bucket}' of {where} does not exist ({during}).",
            f"Create the bucket, or point the remote at an existing one: `dvc remote modify "
            f"{remote.name} url s3://BUCKET/PATH` (and `endpointurl` for an S3-compatible store).",
            exit_code=1,
        )
    if kind == "no-credentials":
        return GitmlError(
            f"No AWS credentials were found for {where} ({during}).",
            _CREDENTIALS_FIX.format(name=remote.name),
            exit_code=1,
        )
    return GitmlError(
        f"{where[0].upper()}{where[1:]} rejected the credentials ({during}): the access key is "
        "unknown, the secret does not match it (InvalidAccessKeyId / SignatureDoesNotMatch / "
        "403 Forbidden), or the key may not use this bucket.",
        _CREDENTIALS_FIX.format(name=remote.name),
        exit_code=1,
    )


def _quiet_s3_client() -> None:
    """Keep botocore's INFO lines ("Found credentials in environment variables.") off stderr."""
    for name in ("botocore", "aiobotocore", "s3fs"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _is_remote_exception(error: BaseException) -> bool:
    """An exception raised by the S3 client stack under DVC (botocore, aiobotocore, s3fs)."""
    module = type(error).__module__ or ""
    return module.split(".")[0] in ("botocore", "aiobotocore", "s3fs")


class Dvc:
    """DVC in one project: its files at a commit, its Python API, its commands and config."""

    def __init__(self, root: Path, git: Git | None = None) -> None:
        self.root = Path(root)
        self.git = git if git is not None else Git(self.root)
        self._fs: dict[str | None, Any] = {}

    # ---- DVC's files -----------------------------------------------------------------------

    def read_yaml(self, path: str, rev: str | None = None) -> Any:
        """A DVC file (`dvc.yaml`, `dvc.lock`...) at `rev` (None: the workspace); None if absent."""
        if rev is None:
            file = self.root / path
            data = file.read_bytes() if file.is_file() else None
        else:
            data = self.git.read_file(rev, path)
        if data is None:
            return None
        try:
            return load_yaml(data)
        except ValueError as error:
            where = "the workspace" if rev is None else f"commit {rev[:12]}"
            raise GitmlError(
                f"{path} in {where} is not valid YAML: {error}",
                "Fix the file (DVC cannot read it either) and commit it.",
            ) from None

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
            files={p: json_or_none(files[(commit, p)]) for p in reports},
        )

    def artifact_at(self, name: str, commit: str) -> ArtifactAtCommit:
        return self.snapshot(name, commit).artifact

    def artifacts_at(self, name: str, commits: list[str]) -> dict[str, ArtifactAtCommit]:
        """The artifact at many commits in one git call (used by doctor)."""
        items = [(c, p) for c in commits for p in ("dvc.yaml", "dvc.lock")]
        files = self.git.read_files(items)
        parsed: dict[bytes | None, Any] = {}  # commits mostly share their dvc.yaml: parse once

        def read(data: bytes | None) -> Any:
            if data not in parsed:
                parsed[data] = _yaml(data)
            return parsed[data]

        return {
            c: self._artifact(name, c, read(files[(c, "dvc.yaml")]), read(files[(c, "dvc.lock")]))
            for c in commits
        }

    def _artifact(self, name: str, commit: str, dvc_yaml: Any, lock: Any) -> ArtifactAtCommit:
        declared = dvc_yaml.get("artifacts") if isinstance(dvc_yaml, Mapping) else None
        entry = declared.get(name) if isinstance(declared, Mapping) else None
        if not isinstance(entry, Mapping) or not entry.get("path"):
            return ArtifactAtCommit(name, commit, False, None, None, None, None)
        path = str(entry["path"])
        md5, size = find_md5(lock, path)
        if md5 is None:  # tracked with `dvc add` instead of a stage
            dotdvc = _yaml(self.git.read_file(commit, f"{path}.dvc"))
            outs = dotdvc.get("outs") if isinstance(dotdvc, Mapping) else None
            if outs and isinstance(outs[0], Mapping) and outs[0].get("md5"):
                md5, size = str(outs[0]["md5"]), outs[0].get("size")
        return ArtifactAtCommit(name, commit, True, path, entry.get("type"), md5, size)

    # ---- DVC's Python API ------------------------------------------------------------------

    def fetch_bytes_to(self, path: str, commit: str, target: Path) -> str:
        """Stream the artifact at `commit` into `target` through DVC; return the bytes' md5."""
        import dvc.api
        from dvc.exceptions import DvcException

        _quiet_s3_client()
        digest = hashlib.md5()
        try:
            with (
                dvc.api.open(path, repo=str(self.root), rev=commit, mode="rb") as src,
                open(target, "wb") as dst,
            ):
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    dst.write(block)
        except Exception as error:
            if not isinstance(error, DvcException | OSError) and not _is_remote_exception(error):
                raise
            during = f"reading '{path}' at commit {commit[:12]}"
            # DVC reports a missing bucket as a missing path: ask the remote what is wrong.
            mapped = self.remote_failure(f"{type(error).__name__}: {error}", during, probe=True)
            if mapped is not None:
                raise mapped from None
            raise GitmlError(
                f"DVC could not read '{path}' at commit {commit[:12]}: {error}",
                "Make sure the artifact was pushed (`dvc push`) and the DVC remote is reachable.",
            ) from None
        return digest.hexdigest()

    def metrics_show(self, path: str, rev: str | None) -> dict[str, Any]:
        """`dvc.api.metrics_show` of one metrics file at `rev` (None: the workspace)."""
        import dvc.api

        # DVC resolves metrics targets against the working directory, so read from the root.
        with contextlib.chdir(self.root):
            return dict(dvc.api.metrics_show(path, repo=str(self.root), rev=rev))

    def params_show(self, rev: str | None) -> dict[str, Any]:
        """`dvc.api.params_show` at `rev` (None: the workspace)."""
        import dvc.api

        with contextlib.chdir(self.root):
            return dict(dvc.api.params_show(repo=str(self.root), rev=rev))

    def read_bytes(self, path: str, rev: str | None) -> bytes | None:
        """The bytes of `path` at `rev` (Git-tracked or DVC-cached); None when absent there.

        Raises:
            GitmlError: the file is declared but its DVC cache is missing (not pulled).
        """
        fs = self.fs(rev)
        if not (fs.exists(path) and fs.isfile(path)):
            return None
        try:
            with fs.open(path, mode="rb") as handle:
                return bytes(handle.read())
        except Exception as error:  # a DVC-tracked file whose cache is missing
            raise GitmlError(
                f"Cannot read {path} at {rev or 'workspace'}: {error}.",
                "Fetch the data with `dvc pull` (or `dvc fetch` for that revision).",
            ) from None

    def fs(self, rev: str | None) -> Any:
        """DVC's file system at `rev` (Git-tracked and DVC-cached files), one per revision."""
        import dvc.api

        if rev not in self._fs:
            self._fs[rev] = dvc.api.DVCFileSystem(repo=str(self.root), rev=rev)
        return self._fs[rev]

    def default_remote(self) -> str | None:
        """The name of the default DVC remote, when one is set and defined (all config levels)."""
        from dvc.config import Config

        dvc_dir = str(self.root / ".dvc")
        config = Config(dvc_dir=dvc_dir, local_dvc_dir=dvc_dir)
        name = config.get("core", {}).get("remote")
        return str(name) if name and name in config.get("remote", {}) else None

    def s3_remote(self, name: str | None = None) -> S3Remote | None:
        """Remote `name` (default: the default remote) when it is on S3; None otherwise."""
        from dvc.config import Config

        dvc_dir = str(self.root / ".dvc")
        config = Config(dvc_dir=dvc_dir, local_dvc_dir=dvc_dir)
        name = name or config.get("core", {}).get("remote")
        section = config.get("remote", {}).get(name) if name else None
        url = str(section.get("url", "")) if isinstance(section, Mapping) else ""
        if not name or not url.startswith("s3://"):
            return None
        endpoint = section.get("endpointurl") if isinstance(section, Mapping) else None
        return S3Remote(str(name), url, str(endpoint) if endpoint else None)

    def probe_s3(self, remote: S3Remote) -> str | None:
        """Ask the remote, through DVC's file system, what is wrong (see `classify_s3_failure`).

        None when the remote answers and its bucket exists (the failure is elsewhere).
        """
        from dvc.repo import Repo

        _quiet_s3_client()
        try:
            with Repo(str(self.root)) as repo:
                odb = repo.cloud.get_remote(remote.name)
                if odb.fs.exists(odb.path):
                    return None
                return None if odb.fs.exists(remote.bucket) else "no-bucket"
        except Exception as error:  # the S3 client's own exceptions, whatever their class
            text = f"{type(error).__name__}: {error}"
            kind = classify_s3_failure(text)
            if kind is None and isinstance(error, PermissionError):
                kind = "rejected"
            if kind is None:
                log.debug("probing %s failed: %s", remote.where(), text)
            return kind

    def restore_from_run_cache(self) -> dict[str, str]:
        """Check out every stage whose run DVC's run-cache holds, pulling its outputs.

        `dvc pull --run-cache` brings down the run entries but, without a committed dvc.lock
        naming the outputs, not the outputs themselves, so `dvc repro` would run those stages
        again. This restores them the way `dvc repro --pull` would, but runs no stage command:
        stages in pipeline order, each restored from its run-cache entry (its outputs pulled
        from the default remote) when its dependencies, as restored so far, match one.

        Returns:
            stage name -> "restored" or why not ("no run-cache entry", or the error).
        """
        import networkx as nx
        from dvc.repo import Repo
        from dvc.stage.cache import RunCacheNotFoundError

        _quiet_s3_client()
        found: dict[str, str] = {}
        with Repo(str(self.root)) as repo, repo.lock:
            graph = repo.index.graph
            for stage in reversed(list(nx.topological_sort(graph))):
                name = stage.addressing
                if not stage.cmd:  # a .dvc file, not a pipeline stage
                    continue
                try:
                    repo.stage_cache.restore(stage, pull=True)
                    found[name] = "restored"
                except RunCacheNotFoundError:
                    found[name] = "no run-cache entry"
                except Exception as error:  # e.g. a dependency an earlier stage did not restore
                    found[name] = f"{type(error).__name__}: {error}"
        return found

    def remote_failure(
        self, detail: str, during: str, *, probe: bool = False, remote: str | None = None
    ) -> GitmlError | None:
        """The S3 paragraph for a failure described by `detail`; None when it is not S3's.

        `probe`: ask the remote even when `detail` does not look like a transfer failure.
        """
        s3 = self.s3_remote(remote)
        if s3 is None:
            return None
        kind = classify_s3_failure(detail)
        if kind is None and (probe or any(m in detail for m in _REMOTE_TROUBLE)):
            kind = self.probe_s3(s3)
        return s3_error(kind, s3, during) if kind else None

    # ---- commands --------------------------------------------------------------------------

    def run(self, *args: str, how_to_fix: str = _FIX) -> str:
        """Run `dvc <args>` in the project and return its output; DVC's last lines on failure.

        A failure caused by an S3 remote (credentials, bucket) raises its own paragraph instead.
        """
        proc = self._run(*args)
        if proc.returncode != 0:
            # DVC's own ERROR/WARNING lines only: a stage's output may say anything.
            detail = "\n".join(
                line
                for line in f"{proc.stderr}\n{proc.stdout}".splitlines()
                if line.startswith(("ERROR:", "WARNING:"))
            )
            remote = args[args.index("-r") + 1] if "-r" in args[:-1] else None
            mapped = self.remote_failure(detail, f"`dvc {' '.join(args)}`", remote=remote)
            if mapped is not None:
                raise mapped
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
            raise GitmlError(
                f"`dvc {' '.join(args)}` failed in {self.root}:\n" + "\n".join(tail),
                how_to_fix,
                exit_code=1,
            )
        return proc.stdout

    def add(self, path: str, *, how_to_fix: str = _FIX) -> None:
        """Track `path` (relative to the root) with `dvc add`."""
        self.run("add", path, how_to_fix=how_to_fix)

    def push(self, *targets: str, how_to_fix: str = _FIX) -> None:
        """Upload `targets` (`.dvc` files, stage names; all when none) to the default remote."""
        self.run("push", *targets, how_to_fix=how_to_fix)

    def exp_run(self, *, set_params: tuple[str, ...] = (), how_to_fix: str = _FIX) -> None:
        """Run the pipeline as an experiment (`dvc exp run`, `-S` for each of `set_params`)."""
        args = [a for override in set_params for a in ("-S", override)]
        self.run("exp", "run", *args, how_to_fix=how_to_fix)

    def exp_show(self, *, all_commits: bool = False, revs: Sequence[str] = ()) -> list[Any]:
        """The rows of `dvc exp show --json` (with `--all-commits`, or `--rev` each of `revs`)."""
        args = ["exp", "show", "--json"]
        if all_commits:
            args.append("--all-commits")
        for rev in revs:
            args += ["--rev", rev]
        proc = self._run(*args)
        if proc.returncode != 0:
            raise GitmlError(
                f"`dvc exp show --json` failed in {self.root}: {proc.stderr.strip()[-400:]}",
                "Check that this is a DVC project with experiments (`dvc exp list`).",
            )
        rows = json.loads(proc.stdout or "[]")
        return rows if isinstance(rows, list) else []

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [dvc_bin(), *args], cwd=self.root, capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise GitmlError(
                "dvc is not installed or not on PATH.", "Install the project (`make install`)."
            ) from None
