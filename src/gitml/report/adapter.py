"""The report's one adapter to git and DVC: resolve revisions and read a project at a revision.

Metrics and params come from DVC's public Python API (`dvc.api.metrics_show`, `params_show`);
other files (dvc.lock, validation, slices, importance, plot data) through `dvc.api.DVCFileSystem`
at the revision, so DVC-cached outputs read as well as Git-tracked ones; experiments from
`dvc exp show --json`. Nothing here parses DVC's human-readable tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitml.errors import GitmlError
from gitml.policy import Outputs
from gitml.report.core import LINE_PLOTS, Snapshot

log = logging.getLogger(__name__)

SHALLOW_HINT = (
    "This is a shallow clone, so the history needed is missing: run `git fetch --unshallow` "
    "(or check out with `fetch-depth: 0` in actions/checkout), then try again."
)


@dataclass(frozen=True)
class Experiment:
    """One experiment (or its baseline commit) as `dvc exp show --json` reports it."""

    name: str
    rev: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]


class Project:
    """A git + DVC project at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._fs: dict[str | None, Any] = {}

    # -- git ------------------------------------------------------------------------------------

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", *args], cwd=self.root, capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise GitmlError("git is not installed or not on PATH.", "Install git.") from None

    def ensure_repo(self) -> None:
        """Fail clearly outside a git repository."""
        if self._git("rev-parse", "--git-dir").returncode != 0:
            raise GitmlError(
                f"{self.root} is not inside a git repository.",
                "Run gitml report from your project's checkout.",
            )

    def is_shallow(self) -> bool:
        out = self._git("rev-parse", "--is-shallow-repository")
        return out.stdout.strip() == "true"

    def resolve(self, rev: str) -> str:
        """The full commit sha of `rev`; a clear error for an unknown revision."""
        out = self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if out.returncode != 0:
            hint = (
                SHALLOW_HINT
                if self.is_shallow()
                else "Check the name with `git branch -a` / `git log --oneline`, or fetch it "
                "(`git fetch origin <branch>`)."
            )
            raise GitmlError(f"Unknown revision '{rev}' in {self.root}.", hint)
        return out.stdout.strip()

    def short(self, sha: str) -> str:
        return sha[:7]

    def default_branch(self) -> str | None:
        """origin/HEAD's branch if set, else the first of main, master, origin/{main,master}."""
        out = self._git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
        for name in ("main", "master", "origin/main", "origin/master"):
            if self._git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").returncode == 0:
                return name
        return None

    def merge_base(self, a: str, b: str) -> str | None:
        out = self._git("merge-base", a, b)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None

    def has_head_commit(self) -> bool:
        return self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode == 0

    def has_file(self, sha: str | None, path: str) -> bool:
        """Whether `path` exists at commit `sha` (in the workspace when None)."""
        if sha is None:
            return (self.root / path).exists()
        return self._git("cat-file", "-e", f"{sha}:{path}").returncode == 0

    def subject(self, sha: str) -> str:
        return self._git("log", "-1", "--format=%s", sha).stdout.strip()

    # -- DVC ------------------------------------------------------------------------------------

    def snapshot(self, sha: str | None, label: str, outputs: Outputs) -> Snapshot:
        """Read metrics, params, dvc.lock, reports and plot data at `sha` (None: workspace)."""
        import dvc.api

        where = label if sha is None else f"{label} ({self.short(sha)})"
        if not self.has_file(sha, "dvc.yaml"):
            raise GitmlError(
                f"Revision {where} has no dvc.yaml, so there is no pipeline to report on.",
                "Pick a revision of this DVC project (--base/--head), or run `dvc init` and "
                "commit dvc.yaml first.",
            )
        # DVC resolves metrics targets against the working directory, so read from the root.
        try:
            with contextlib.chdir(self.root):
                metrics = None
                if self.has_file(sha, outputs.metrics) or self._dvc_fs(sha).exists(outputs.metrics):
                    metrics = dict(
                        dvc.api.metrics_show(outputs.metrics, repo=str(self.root), rev=sha)
                    )
                params = dict(dvc.api.params_show(repo=str(self.root), rev=sha))
        except GitmlError:
            raise
        except Exception as error:  # DVC raises many types: corrupt files, missing params
            raise _dvc_error(error, where) from None
        plot_paths = {
            name: f"{outputs.plots_dir.rstrip('/')}/{name}.json"
            for name in (*LINE_PLOTS, "confusion")
        }
        paths = ["dvc.lock", outputs.validation, outputs.slices, outputs.importance]
        texts = self.read_files(sha, [*paths, *plot_paths.values()])
        plots: dict[str, Any] = {}
        for name, path in plot_paths.items():
            data = _parse(texts[path], path, where, json.loads)
            if isinstance(data, list):
                plots[name] = data
        return Snapshot(
            label=label,
            rev=sha,
            metrics=metrics,
            params=params,
            lock=_parse(texts["dvc.lock"], "dvc.lock", where, yaml.safe_load),
            validation=_parse(texts[outputs.validation], outputs.validation, where, json.loads),
            slices=_parse(texts[outputs.slices], outputs.slices, where, json.loads),
            importance=_parse(texts[outputs.importance], outputs.importance, where, json.loads),
            plots=plots,
        )

    def _dvc_fs(self, sha: str | None) -> Any:
        import dvc.api

        if sha not in self._fs:
            self._fs[sha] = dvc.api.DVCFileSystem(repo=str(self.root), rev=sha)
        return self._fs[sha]

    def read_files(self, sha: str | None, paths: Sequence[str]) -> dict[str, str | None]:
        """Text of each path at `sha` (workspace when None); None where it does not exist.

        Git-tracked files come from one `git cat-file --batch`; files git does not hold (outputs
        cached by DVC) through `dvc.api.DVCFileSystem` at that revision.
        """
        found: dict[str, str | None] = {}
        if sha is None:
            for path in paths:
                file = self.root / path
                found[path] = file.read_text(encoding="utf-8") if file.is_file() else None
        else:
            query = "".join(f"{sha}:{path}\n" for path in paths).encode()
            proc = subprocess.run(
                ["git", "cat-file", "--batch"],
                cwd=self.root,
                input=query,
                capture_output=True,
                check=False,
            )
            out, pos = proc.stdout, 0
            for path in paths:
                end = out.index(b"\n", pos)
                header = out[pos:end].decode().split()
                pos = end + 1
                if len(header) == 3 and header[1] == "blob":
                    size = int(header[2])
                    found[path] = out[pos : pos + size].decode("utf-8")
                    pos += size + 1
                else:
                    found[path] = None
        for path, text in found.items():
            if text is None:
                fs = self._dvc_fs(sha)
                if fs.exists(path) and fs.isfile(path):
                    try:
                        found[path] = fs.read_text(path, encoding="utf-8")
                    except Exception as error:  # a DVC-tracked file whose cache is missing
                        raise GitmlError(
                            f"Cannot read {path} at {sha or 'workspace'}: {error}.",
                            "Fetch the data with `dvc pull` (or `dvc fetch` for that revision).",
                        ) from None
        return found

    def experiments(self, names: Sequence[str] | None, metrics_file: str) -> list[Experiment]:
        """Experiments from `dvc exp show --json`: all of HEAD's (names None) or the named ones.

        The baseline commit comes first as a row of its own. Named experiments not derived from
        HEAD are looked up across all commits.
        """
        rows = list(self._exp_rows(False, metrics_file))
        if names:
            found = {e.name: e for e in rows}
            if any(n not in found for n in names):
                found.update({e.name: e for e in self._exp_rows(True, metrics_file)})
            missing = [n for n in names if n not in found]
            if missing:
                raise GitmlError(
                    f"No experiment named {', '.join(repr(m) for m in missing)} in {self.root}.",
                    "List them with `dvc exp list --all-commits`; pull remote ones with "
                    "`dvc exp pull origin <name>`.",
                )
            return [found[n] for n in names]
        return rows

    def _exp_rows(self, all_commits: bool, metrics_file: str) -> Iterator[Experiment]:
        args = [_dvc_bin(), "exp", "show", "--json"]
        if all_commits:
            args.append("--all-commits")
        proc = subprocess.run(args, cwd=self.root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise GitmlError(
                f"`dvc exp show --json` failed in {self.root}: {proc.stderr.strip()[-400:]}",
                "Check that this is a DVC project with experiments (`dvc exp list`).",
            )
        for row in json.loads(proc.stdout or "[]"):
            if row.get("rev") == "workspace":
                continue
            base = _experiment(row, row.get("name") or str(row.get("rev", ""))[:7], metrics_file)
            if base is not None:
                yield base
            for exp in row.get("experiments") or []:
                for rev in exp.get("revs") or []:
                    found = _experiment(rev, rev.get("name") or exp.get("name") or "", metrics_file)
                    if found is not None:
                        yield found


def _dvc_bin() -> str:
    """The `dvc` next to this Python (the venv), falling back to PATH."""
    local = Path(sys.executable).parent / ("dvc.exe" if os.name == "nt" else "dvc")
    return str(local) if local.exists() else "dvc"


def _experiment(row: Mapping[str, Any], name: str, metrics_file: str) -> Experiment | None:
    data = row.get("data")
    if not isinstance(data, Mapping):
        return None
    params: dict[str, Any] = {}
    for file_params in (data.get("params") or {}).values():
        params.update((file_params or {}).get("data") or {})
    file_metrics = (data.get("metrics") or {}).get(metrics_file) or {}
    metrics = {
        str(k): v for k, v in (file_metrics.get("data") or {}).items() if not isinstance(v, Mapping)
    }
    return Experiment(name=name, rev=str(row.get("rev", "")), params=params, metrics=metrics)


def _parse(text: str | None, path: str, where: str, parse: Any) -> Any:
    if text is None:
        return None
    try:
        return parse(text)
    except (ValueError, yaml.YAMLError) as error:
        raise GitmlError(
            f"{path} at {where} is corrupt: {error}.",
            "Re-run the stage that writes it (`dvc repro`) and commit the result.",
        ) from None


def _dvc_error(error: Exception, where: str) -> GitmlError:
    text = str(error)
    if "corrupt" in text.lower() or type(error).__name__.endswith(("CorruptedError", "ParseError")):
        return GitmlError(
            f"A metrics or params file at {where} is corrupt: {text}.",
            "Re-run the stage that writes it (`dvc repro`) and commit the result.",
        )
    return GitmlError(
        f"DVC could not read metrics/params at {where}: {text}.",
        "Check `dvc metrics show` and `dvc params diff` at that revision.",
    )
