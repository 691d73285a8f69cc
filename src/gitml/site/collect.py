"""The site's reads: one repository into `SiteData`, with a fixed number of batched git calls.

Registry: the tags from one `git for-each-ref` through the registry's own resolver (`Registry`,
`reads.event_dict`); each version's lineage from one `git cat-file --batch` over all versions'
commits. Experiments: the report's adapter (one `for-each-ref` over `refs/exps` + one
`cat-file --batch`). Main branch: one `git log --first-parent`, then one `cat-file --batch` for
every commit's params, metrics and plots. Monitoring: one `git ls-tree` of the monitoring branch
and one `cat-file --batch` of its reports. No per-commit process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitml.dvc import Snapshot, load_yaml
from gitml.git import Git
from gitml.registry.model import Action
from gitml.registry.reads import CARD_PATH, CARD_PLACEHOLDER, event_dict
from gitml.registry.store import Registry, numeric_metrics
from gitml.report.adapter import Project
from gitml.report.plots import LINE_PLOTS
from gitml.report.values import flatten
from gitml.site.model import (
    MONITORING_BRANCH,
    MONITORING_DIR,
    Artifact,
    Commit,
    Lineage,
    Links,
    MonitorRun,
    Run,
    SiteData,
    holder_at,
    plots_from_files,
    scalar_metrics,
    stamp,
)

log = logging.getLogger(__name__)
_LOG_FORMAT = "%H%x00%an%x00%aI%x00%s%x00"


def collect(root: Path | str, *, branch: str | None = None) -> SiteData:
    """Read everything the site shows from the repository at `root`."""
    reg = Registry(root)
    policy = reg.policy
    git = reg.git
    project = Project(reg.root)
    branch = branch or project.default_branch()
    data = SiteData(
        head=git.rev_parse(branch) if branch else git.rev_parse("HEAD"),
        branch=branch,
        primary_metric=policy.report.primary_metric,
        gate_metrics=list(policy.gates.metrics),
        rules={
            name: {
                "higher_is_better": rule.higher_is_better,
                "min_absolute_change": rule.min_absolute_change,
                "min_relative_change": rule.min_relative_change,
                "tolerance": rule.tolerance,
                "floor": rule.floor,
            }
            for name, rule in policy.metrics.items()
        },
        links=Links(policy.site.commit_url, policy.site.tag_url),
        production_stage=policy.registry.stages[-1],
    )
    data.artifacts = _artifacts(reg)
    data.commits = _main_commits(git, branch, policy.outputs.metrics, policy.outputs.plots_dir)
    data.experiments = _experiments(project, policy.outputs.metrics, policy.outputs.plots_dir)
    if branch is None:
        data.notes.append("no main branch (main/master) found: the experiments table is empty")
    production = next((a for a in data.artifacts if a.name == policy.artifact), None)
    data.monitoring = [
        MonitorRun(
            r.name,
            r.timestamp,
            r.report,
            holder_at(production.events, data.production_stage, r.timestamp)
            if production
            else None,
        )
        for r in monitoring_runs(git)
    ]
    return data


# ---- registry -------------------------------------------------------------------------------


def _artifacts(reg: Registry) -> list[Artifact]:
    state = reg.state
    out: list[Artifact] = []
    versions = [
        v
        for art in state.artifacts.values()
        for v in art.sorted_versions()
        if v.registered and art.versions
    ]
    commits = sorted({v.commit for v in versions})
    infos = commit_infos(reg.git, commits)
    outputs = reg.policy.outputs
    reports = (outputs.metrics, outputs.slices, outputs.validation)
    params_path = reg.policy.registry.params
    files = reg.git.read_files(
        [(c, p) for c in commits for p in ("dvc.lock", params_path, CARD_PATH, *reports)]
    )
    for art in state.artifacts.values():
        rows = [event_dict(e) for e in art.events]
        at = reg.dvc.artifacts_at(art.name, sorted({v.commit for v in art.versions.values()}))
        lineages: list[Lineage] = []
        for v in art.sorted_versions():
            if not v.registered:
                continue
            lock = _parse(files.get((v.commit, "dvc.lock")), load_yaml)
            params = _parse(files.get((v.commit, params_path)), load_yaml)
            snap = Snapshot(
                artifact=at[v.commit],
                lock=lock if isinstance(lock, Mapping) else {},
                params=params if isinstance(params, Mapping) else None,
                files={p: _parse(files.get((v.commit, p)), json.loads) for p in reports},
            )
            evidence = reg.evidence(snap)
            card = files.get((v.commit, CARD_PATH))
            own = [
                r
                for r, e in zip(rows, art.events, strict=True)
                if e.version == v.version
                or (e.commit == v.commit and e.version is None and e.action is not Action.DEPRECATE)
            ]
            lineages.append(
                Lineage(
                    artifact=art.name,
                    version=v.version,
                    commit=infos.get(v.commit) or Commit(v.commit, "", "", ""),
                    tag=v.tag,
                    registered_at=_iso_of(rows, v.tag),
                    active=v.active,
                    stages=list(v.stages),
                    provenance=reg.provenance(snap),
                    params=flatten(snap.params or {}),
                    metrics=numeric_metrics(evidence),
                    validation_passed=(evidence.validation or {}).get("passed"),
                    card_html=_card_html(card, art.name, v.version, v.commit, v.stages),
                    events=own,
                )
            )
        stages = list(dict.fromkeys([*reg.policy.registry.stages, *art.stage_names()]))
        holders = [(s, h.version if (h := art.holder(s)) else None) for s in stages]
        out.append(Artifact(art.name, art.deprecated, holders, lineages, rows))
    return out


def _iso_of(rows: Sequence[Mapping[str, Any]], tag: str | None) -> str | None:
    return next((r["timestamp"] for r in rows if tag and r["tag"] == tag), None)


def _card_html(
    raw: bytes | None, artifact: str, version: str, commit: str, stages: Sequence[str]
) -> str | None:
    """The model card as safe HTML (raw HTML in the Markdown is escaped), its placeholder filled."""
    if raw is None:
        return None
    held = f", stages: {', '.join(stages)}" if stages else ""
    text = raw.decode("utf-8", errors="replace").replace(
        CARD_PLACEHOLDER, f"`{artifact}@{version}` (commit `{commit[:12]}`{held})"
    )
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


# ---- commits and experiments --------------------------------------------------------------


def commit_infos(git: Git, shas: Sequence[str]) -> dict[str, Commit]:
    """Author, date and subject of many commits in one `git log --no-walk --stdin`."""
    if not shas:
        return {}
    out = git.run(
        "log", "--no-walk=unsorted", "--stdin", f"--format={_LOG_FORMAT}",
        input="".join(f"{s}\n" for s in shas).encode(),
    ).stdout  # fmt: skip
    return {c.sha: c for c in _parse_log(out)}


def _parse_log(out: bytes) -> list[Commit]:
    parts = out.decode("utf-8", errors="replace").split("\x00")
    commits = []
    for i in range(0, len(parts) - 4, 4):
        sha, author, date, subject = parts[i : i + 4]
        commits.append(Commit(sha.strip(), author, date, subject))
    return commits


def _plot_paths(plots_dir: str) -> dict[str, str]:
    return {n: f"{plots_dir.rstrip('/')}/{n}.json" for n in (*LINE_PLOTS, "confusion")}


def _main_commits(git: Git, branch: str | None, metrics_file: str, plots_dir: str) -> list[Run]:
    if branch is None:
        return []
    out = git.run("log", "--first-parent", "--reverse", f"--format={_LOG_FORMAT}", branch).stdout
    commits = _parse_log(out)
    plot_paths = _plot_paths(plots_dir)
    paths = ["params.yaml", metrics_file, *plot_paths.values()]
    files = git.read_files([(c.sha, p) for c in commits for p in paths])
    parsed: dict[bytes, Any] = {}  # identical files (same bytes) are parsed once

    def read(data: bytes | None, parse: Any) -> Any:
        if data is None:
            return None
        if data not in parsed:
            parsed[data] = _parse(data, parse)
        return parsed[data]

    runs = []
    for c in commits:
        metrics = read(files[(c.sha, metrics_file)], json.loads)
        params = read(files[(c.sha, "params.yaml")], load_yaml)
        plots = {n: read(files[(c.sha, p)], json.loads) for n, p in plot_paths.items()}
        runs.append(
            Run(
                id=c.sha,
                name=f"{c.sha[:7]} {c.subject}"[:60],
                kind="commit",
                rev=c.sha,
                baseline=None,
                date=c.date,
                params=flatten(params) if isinstance(params, Mapping) else {},
                metrics=scalar_metrics(metrics),
                plots=plots_from_files(plots),
            )
        )
    return runs


def _experiments(project: Project, metrics_file: str, plots_dir: str) -> list[Run]:
    """Every DVC experiment of every baseline (git's `refs/exps`, else `dvc exp show --rev`)."""
    found = project.all_experiments(metrics_file)
    rows = [e for _, e in found]
    baselines = {e.rev: base for base, e in found}
    if not rows:
        return []
    plot_paths = _plot_paths(plots_dir)
    shas = [e.rev for e in rows]
    files = project.git.batch([*shas, *(f"{s}:{p}" for s in shas for p in plot_paths.values())])
    runs = []
    for e in rows:
        commit = files.get(e.rev)
        text = commit.text if commit is not None else ""
        parents = [
            ln.split()[1]
            for ln in text.split("\n\n", 1)[0].splitlines()
            if ln.startswith("parent ")
        ]
        plots = {}
        for name, path in plot_paths.items():
            obj = files.get(f"{e.rev}:{path}")
            plots[name] = _parse(obj.data, json.loads) if obj is not None else None
        runs.append(
            Run(
                id=f"exp:{e.name}:{e.rev[:7]}",
                name=e.name,
                kind="experiment",
                rev=e.rev,
                baseline=baselines.get(e.rev) or (parents[0] if parents else None),
                date=_committer_date(text),
                params=flatten(e.params),
                metrics=scalar_metrics(e.metrics),
                plots=plots_from_files(plots),
            )
        )
    runs.sort(key=lambda r: (r.date or "", r.name, r.rev))
    return runs


def _committer_date(commit_text: str) -> str | None:
    import datetime as dt

    for line in commit_text.split("\n\n", 1)[0].splitlines():
        if line.startswith("committer "):
            ts = line.rsplit(" ", 2)[-2]
            if ts.isdigit():
                when = dt.datetime.fromtimestamp(int(ts), tz=dt.UTC)
                return when.isoformat().replace("+00:00", "Z")
    return None


# ---- monitoring -----------------------------------------------------------------------------


def monitoring_ref(git: Git) -> str | None:
    """The monitoring branch, local or as fetched from origin."""
    for ref in (f"refs/heads/{MONITORING_BRANCH}", f"refs/remotes/origin/{MONITORING_BRANCH}"):
        if git.rev_parse(ref) is not None:
            return ref
    return None


def monitoring_runs(git: Git) -> list[MonitorRun]:
    """Every report under runs/ on the monitoring branch, oldest first (one ls-tree, one batch)."""
    ref = monitoring_ref(git)
    if ref is None:
        return []
    listing = git.text("ls-tree", "-r", "-z", ref, "--", f"{MONITORING_DIR}/")
    entries = []
    for item in listing.split("\x00"):
        meta, _, path = item.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == "blob" and path.endswith(".json"):
            entries.append((path, fields[2]))
    objects = git.batch([sha for _, sha in entries])
    runs = []
    for path, sha in entries:
        obj = objects.get(sha)
        report = _parse(obj.data, json.loads) if obj is not None else None
        if isinstance(report, dict) and "columns" in report:
            name = path.rsplit("/", 1)[-1]
            runs.append(MonitorRun(name, stamp(name), report))
        else:
            log.warning("skipped %s on %s: not a monitoring report", path, MONITORING_BRANCH)
    runs.sort(key=lambda r: (r.timestamp or "", r.name))
    return runs


def _parse(data: bytes | None, parse: Any) -> Any:
    if data is None:
        return None
    try:
        return parse(data)
    except ValueError:
        return None
