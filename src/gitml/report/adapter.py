"""The report's reads of a project at a revision (git through `gitml.git`, DVC through `gitml.dvc`).

Metrics and params come from DVC's public Python API (`dvc.api.metrics_show`, `params_show`);
other files (dvc.lock, validation, slices, importance, plot data) through `dvc.api.DVCFileSystem`
at the revision, so DVC-cached outputs read as well as Git-tracked ones. Nothing here parses
DVC's human-readable tables.

Experiments are git commits under `refs/exps/<sha[:2]>/<sha[2:]>/<name>` (DVC's `ExpRefInfo`:
baseline commit and experiment name in the ref). Their params and `cache: false` metrics are
committed files, so `experiments()` reads them with one `git for-each-ref` and one
`git cat-file --batch` instead of `dvc exp show --json` (which re-collects every revision
through DVC and costs seconds). Whenever that shortcut cannot reproduce DVC's answer exactly it
falls back to `dvc exp show --json` (`dvc_experiments()`, also the tests' reference):
queued or failed experiments (no commit of their own; they live in DVC's stash refs), a metrics
file DVC caches instead of git, params DVC would resolve itself (vars/foreach/matrix or `${...}`
outside a stage's cmd/deps/outs/plots, Python or DVC-tracked params files, globbed keys), or an
experiment spanning several commits. A `${...}` in cmd/deps/outs/plots only (the project's
`${data.schema}` dependency) reads from git: its values come from params.yaml, listed whole.
What DVC would show from an experiment commit's files is worked out in `gitml.report.expfiles`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from gitml.config import schema_path, with_schema
from gitml.dvc import Dvc, load_yaml
from gitml.errors import GitmlError
from gitml.git import Git
from gitml.policy import Outputs
from gitml.report.core import LINE_PLOTS, Snapshot
from gitml.report.expfiles import Blob, ExpFiles

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
        self.git = Git(self.root)
        self.dvc = Dvc(self.root, self.git)

    # -- git (through gitml.git, the one git adapter) ---------------------------------------------

    def ensure_repo(self) -> None:
        """Fail clearly outside a git repository."""
        if not self.git.ok("rev-parse", "--git-dir"):
            raise GitmlError(
                f"{self.root} is not inside a git repository.",
                "Run gitml report from your project's checkout.",
            )

    def is_shallow(self) -> bool:
        return self.git.is_shallow()

    def resolve(self, rev: str) -> str:
        """The full commit sha of `rev`; a clear error for an unknown revision."""
        sha = self.git.rev_parse(rev)
        if sha is None:
            experiment = self._experiment_commit(rev)
            if experiment is not None:
                hint = (
                    f"'{rev}' is a DVC experiment (commit {experiment[:7]}): compare experiments "
                    f"with --exp {rev} --exp <another> (or --all-exps), or pass its commit."
                )
            elif self.is_shallow():
                hint = SHALLOW_HINT
            else:
                hint = (
                    "Check the name with `git branch -a` / `git log --oneline`, or fetch it "
                    "(`git fetch origin <branch>`)."
                )
            raise GitmlError(f"Unknown revision '{rev}' in {self.root}.", hint)
        return sha

    def _experiment_commit(self, name: str) -> str | None:
        """The commit of the DVC experiment called `name` (`refs/exps/../../<name>`), if any."""
        listed = self.git.output("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
        for line in (listed or "").splitlines():
            ref, _, sha = line.partition(" ")
            if ref.count("/") == 4 and ref.rsplit("/", 1)[-1] == name:
                return sha
        return None

    def short(self, sha: str) -> str:
        return sha[:7]

    def default_branch(self) -> str | None:
        """origin/HEAD's branch if set, else the first of main, master, origin/{main,master}."""
        origin_head = self.git.output(
            "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"
        )
        if origin_head:
            return origin_head
        for name in ("main", "master", "origin/main", "origin/master"):
            if self.git.rev_parse(name) is not None:
                return name
        return None

    def merge_base(self, a: str, b: str) -> str | None:
        return self.git.merge_base(a, b)

    def has_head_commit(self) -> bool:
        return self.git.rev_parse("HEAD") is not None

    def has_file(self, sha: str | None, path: str) -> bool:
        """Whether `path` exists at commit `sha` (in the workspace when None)."""
        if sha is None:
            return (self.root / path).exists()
        return self.git.ok("cat-file", "-e", f"{sha}:{path}")

    def subject(self, sha: str) -> str:
        return self.git.subject(sha)

    # -- DVC ------------------------------------------------------------------------------------

    def snapshot(self, sha: str | None, label: str, outputs: Outputs) -> Snapshot:
        """Read metrics, params, dvc.lock, reports and plot data at `sha` (None: workspace)."""
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
                    metrics = self.dvc.metrics_show(outputs.metrics, sha)
                params = self.dvc.params_show(sha)
        except GitmlError:
            raise
        except Exception as error:  # DVC raises many types: corrupt files, missing params
            raise _dvc_error(error, where) from None
        params = self._with_schema(sha, params, where)
        plot_paths = {
            name: f"{outputs.plots_dir.rstrip('/')}/{name}.json"
            for name in (*LINE_PLOTS, "confusion")
        }
        paths = [
            "dvc.lock",
            outputs.validation,
            outputs.slices,
            outputs.importance,
            outputs.signature,
            outputs.seed_noise,
        ]
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
            lock=_parse(texts["dvc.lock"], "dvc.lock", where, load_yaml),
            validation=_parse(texts[outputs.validation], outputs.validation, where, json.loads),
            slices=_parse(texts[outputs.slices], outputs.slices, where, json.loads),
            importance=_parse(texts[outputs.importance], outputs.importance, where, json.loads),
            plots=plots,
            predictions=self.read_predictions(sha, outputs.predictions, where),
            signature=_parse(texts[outputs.signature], outputs.signature, where, json.loads),
            seed_noise=_parse(texts[outputs.seed_noise], outputs.seed_noise, where, json.loads),
        )

    def _with_schema(self, sha: str | None, params: dict[str, Any], where: str) -> dict[str, Any]:
        """`params` with `data.columns` from the schema file (`data.schema`) at the same revision.

        The declarations are a file dependency, not DVC params, so `params_show` lacks them; put
        back, the Params section diffs a changed declaration as `data.columns.<col>.<key>`. When
        the file cannot be read the params stay as they are (the Data section still lists the
        schema file as a changed dependency).
        """
        path = schema_path(params)
        if path is None:
            return params
        text = self.read_files(sha, [path])[path]
        try:
            return dict(with_schema(params, lambda _: text, where))
        except GitmlError as error:
            log.warning("%s; its column declarations are left out of the params.", error.message)
            return params

    def read_tracked_json(self, revs: Mapping[str, str | None], path: str) -> dict[str, Any]:
        """A git-tracked JSON file at each named revision (None: the workspace), parsed; None
        where absent. One `git cat-file --batch` for all of them, no DVC fallback."""
        blobs = self.git.read_files([(sha, path) for sha in revs.values() if sha is not None])
        found: dict[str, Any] = {}
        for name, sha in revs.items():
            if sha is None:
                file = self.root / path
                text = file.read_text(encoding="utf-8") if file.is_file() else None
            else:
                data = blobs[(sha, path)]
                text = None if data is None else data.decode("utf-8")
            found[name] = _parse(text, path, name, json.loads)
        return found

    def read_predictions(self, sha: str | None, path: str, where: str) -> Any:
        """The per-row predictions Parquet at `sha` as a DataFrame; None where it does not exist."""
        if sha is None:
            file = self.root / path
            data = file.read_bytes() if file.is_file() else None
        else:
            data = self.git.read_files([(sha, path)])[(sha, path)]
            if data is None:
                try:
                    data = self.dvc.read_bytes(path, sha)
                except GitmlError as error:  # declared, but its cache is not fetched here
                    log.warning("%s; comparing point values for %s.", error.message, where)
                    return None
        if data is None:
            return None
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as error:  # pyarrow raises several types for a broken file
            raise GitmlError(
                f"{path} at {where} is not a readable Parquet file: {error}.",
                "Re-run the evaluate stage (`dvc repro`) and commit the result.",
            ) from None

    def test_row_count(self, sha: str | None, outputs: Outputs) -> int | None:
        """Rows the metrics were measured on, from the score profile next to the data profile
        (`rows`); None when it cannot be read (e.g. its DVC cache is not fetched)."""
        path = str(PurePosixPath(outputs.profile).parent / "score_profile.json")
        try:
            text = self.read_files(sha, [path])[path]
            rows = json.loads(text).get("rows") if text else None
        except (GitmlError, ValueError, AttributeError):
            return None
        return rows if isinstance(rows, int) and not isinstance(rows, bool) else None

    def _dvc_fs(self, sha: str | None) -> Any:
        return self.dvc.fs(sha)

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
            blobs = self.git.read_files([(sha, path) for path in paths])
            for path in paths:
                data = blobs[(sha, path)]
                found[path] = None if data is None else data.decode("utf-8")
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
        """All of HEAD's experiments (names None) or the named ones, as `dvc exp show` lists them.

        The baseline commit comes first as a row of its own. Named experiments not derived from
        HEAD are looked up across all baselines. Read from git when that gives DVC's exact
        answer (see the module docstring), else through `dvc exp show --json`.
        """
        fast = self._git_experiments(metrics_file)
        if fast is None:
            return self.dvc_experiments(names, metrics_file)
        head_rows, other_rows = fast
        if not names:
            return head_rows
        found = {e.name: e for e in head_rows}
        for e in other_rows:
            found.setdefault(e.name, e)
        if any(n not in found for n in names):  # e.g. a commit named by a tag: ask DVC
            return self.dvc_experiments(names, metrics_file)
        return [found[n] for n in names]

    def all_experiments(self, metrics_file: str) -> list[tuple[str | None, Experiment]]:
        """Every experiment of every baseline commit, each with its baseline sha (no baselines).

        From git when it gives DVC's exact answer, else `dvc exp show --json --rev` for each
        baseline `refs/exps` names (and HEAD, for queued experiments): never `--all-commits`,
        which collects every commit of the history.
        """
        fast = self._git_experiments(metrics_file)
        if fast is not None:
            head_rows, other_rows = fast
            return [(None, e) for e in head_rows[1:] + other_rows]
        refs = self.git.run("for-each-ref", "--format=%(refname)", "refs/exps", check=False)
        baselines = {"HEAD"}
        for ref in refs.stdout.decode("utf-8", errors="replace").splitlines():
            parts = ref.split("/")
            if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:
                baselines.add(parts[2] + parts[3])
        found: list[tuple[str | None, Experiment]] = []
        for row in self.dvc.exp_show(revs=sorted(baselines)):
            if row.get("rev") == "workspace":
                continue
            for exp in row.get("experiments") or []:
                for rev in exp.get("revs") or []:
                    name = rev.get("name") or exp.get("name") or ""
                    e = _experiment(rev, name, metrics_file)
                    if e is not None:
                        found.append((row.get("rev") or None, e))
        return found

    def dvc_experiments(self, names: Sequence[str] | None, metrics_file: str) -> list[Experiment]:
        """`experiments()` answered by `dvc exp show --json` (the fallback and the reference)."""
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
        for row in self.dvc.exp_show(all_commits=all_commits):
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

    def _git_experiments(
        self, metrics_file: str
    ) -> tuple[list[Experiment], list[Experiment]] | None:
        """(HEAD's baseline + its experiments, experiments of other baselines) read from git.

        One `git for-each-ref` lists experiment refs, branches and tags; one `git cat-file
        --batch` reads each commit's dvc.yaml, params.yaml and metrics file (a second one only
        for params files other than params.yaml). None when only DVC can answer exactly.
        """
        proc = self.git.run(
            "for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(*objectname)%00%(HEAD)",
            "refs/exps",
            "refs/heads",
            "refs/tags",
            check=False,
        )
        if proc.returncode != 0:
            return None
        refs = proc.stdout.decode("utf-8", errors="replace")
        exps: list[tuple[str, str, str]] = []  # (baseline sha, name, experiment commit)
        tags: dict[str, str] = {}
        branches: dict[str, str] = {}
        head_branch = None
        for line in refs.splitlines():
            ref, sha, peeled, head = line.split("\0")
            if ref in _QUEUE_REFS:
                return None  # queued/failed experiments: no commit, only DVC can list them
            parts = ref.split("/")
            if ref.startswith("refs/exps/"):
                if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:
                    exps.append((parts[2] + parts[3], parts[4], sha))
            elif ref.startswith("refs/tags/"):
                tags.setdefault(peeled or sha, ref[len("refs/tags/") :])
            else:
                branches.setdefault(sha, ref[len("refs/heads/") :])
                if head == "*":
                    head_branch = ref[len("refs/heads/") :]
        commits = ["HEAD", *(sha for _, _, sha in exps)]
        suffixes = (*_EXP_QUERIES, f":{metrics_file}")
        files = self._batch([f"{c}{suffix}" for c in commits for suffix in suffixes])
        head_sha = files["HEAD"].sha
        if head_sha is None:
            return [], []  # no commit yet: `dvc exp show` lists nothing either
        read = [
            ExpFiles(files[c], files[f"{c}:dvc.yaml"], files[f"{c}:params.yaml"]) for c in commits
        ]
        extra = {p for r in read for p in r.params_files()} - {"params.yaml"}
        if None in extra:
            return None
        if extra:
            files.update(
                self._batch([f"{c}:{p}" for c in commits for p in sorted(map(str, extra))])
            )
        rows: list[Experiment] = []
        for commit, r in zip(commits, read, strict=True):
            params = r.params(lambda path, c=commit: files[f"{c}:{path}"])
            metrics = r.metrics(metrics_file, files.get(f"{commit}:{metrics_file}"))
            if params is None or metrics is None:
                return None
            rows.append(Experiment(name="", rev=r.commit.sha or "", params=params, metrics=metrics))
        base_name = head_branch or tags.get(head_sha) or branches.get(head_sha) or head_sha[:7]
        head_rows = [_renamed(rows[0], base_name)]
        other_rows: list[Experiment] = []
        for (baseline, name, _), row, r in zip(exps, rows[1:], read[1:], strict=True):
            if r.commit.parents != [baseline]:
                return None  # several commits on top of the baseline: DVC lists each one
            (head_rows if baseline == head_sha else other_rows).append(_renamed(row, name))
        return head_rows, other_rows

    def _batch(self, queries: Sequence[str]) -> dict[str, Blob]:
        """One `git cat-file --batch` over `queries` (`<rev>` or `<rev>:<path>`)."""
        found: dict[str, Blob] = {}
        for query, obj in self.git.batch(queries).items():
            usable = obj is not None and obj.type in ("blob", "commit")
            found[query] = Blob(obj.sha, obj.text) if usable and obj else Blob(None, None)
        return found


_QUEUE_REFS = frozenset({"refs/exps/stash", "refs/exps/celery/stash", "refs/exps/celery/failed"})
_EXP_QUERIES = ("", ":dvc.yaml", ":params.yaml")


def _renamed(exp: Experiment, name: str) -> Experiment:
    return Experiment(name=name, rev=exp.rev, params=exp.params, metrics=exp.metrics)


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
    except ValueError as error:  # also what `load_yaml` raises for broken YAML
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
