"""What the site shows, as plain records, and the pure transforms between Git's data and pages.

Nothing here reads files, git or the clock: `collect` fills these records, `render` draws them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitml.report.plots import LINE_PLOTS
from gitml.report.values import flatten, number

#: Most points kept per curve embedded in the experiments page (pages stay small).
MAX_CURVE_POINTS = 40
#: Where the monitor workflow stores each run's JSON report on the monitoring branch.
MONITORING_BRANCH = "gitml/monitoring"
MONITORING_DIR = "runs"
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


@dataclass(frozen=True)
class Links:
    """URL templates back to the forge (None: plain text, no link)."""

    commit_url: str | None = None
    tag_url: str | None = None

    def commit(self, sha: str | None) -> str | None:
        return self.commit_url.replace("{sha}", sha) if self.commit_url and sha else None

    def tag(self, name: str | None) -> str | None:
        return self.tag_url.replace("{tag}", name) if self.tag_url and name else None


@dataclass(frozen=True)
class Commit:
    """One commit: who, when, what."""

    sha: str
    author: str
    date: str  # ISO 8601
    subject: str


@dataclass(frozen=True)
class Run:
    """One row of the experiments table: a main-branch commit or a DVC experiment."""

    id: str  # unique in the page: the sha for commits, "exp:<name>" for experiments
    name: str
    kind: str  # "commit" | "experiment"
    rev: str
    baseline: str | None  # experiments: the commit they were run on
    date: str | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    plots: dict[str, Any]  # roc/prc/calibration: [[x, y], ...]; confusion: {labels, counts}


@dataclass(frozen=True)
class Lineage:
    """A registered version's page: where it came from and what was decided about it."""

    artifact: str
    version: str
    commit: Commit
    tag: str | None
    registered_at: str | None
    active: bool
    stages: list[str]
    provenance: dict[str, Any]  # artifact_path, artifact_md5, data_md5, params_hash
    params: dict[str, Any]  # flattened
    metrics: dict[str, Any]
    validation_passed: bool | None
    card_html: str | None
    events: list[dict[str, Any]]  # the registry's history rows for this version


@dataclass(frozen=True)
class Artifact:
    """One artifact: who holds each stage now, its versions and its whole timeline."""

    name: str
    deprecated: bool
    stages: list[tuple[str, str | None]]  # (stage, holding version)
    versions: list[Lineage]
    events: list[dict[str, Any]]  # registry history rows, in the registry's order


@dataclass(frozen=True)
class MonitorRun:
    """One monitoring report from the monitoring branch."""

    name: str  # file name
    timestamp: str | None  # ISO 8601 from the file name, None when it has none
    report: dict[str, Any]
    version: str | None = None  # the production holder at that time


@dataclass
class SiteData:
    """Everything the pages need, read from one repository."""

    head: str | None
    branch: str | None
    primary_metric: str
    gate_metrics: list[str]
    rules: dict[str, dict[str, Any]]
    links: Links
    artifacts: list[Artifact] = field(default_factory=list)
    commits: list[Run] = field(default_factory=list)  # main branch, oldest first
    experiments: list[Run] = field(default_factory=list)
    monitoring: list[MonitorRun] = field(default_factory=list)
    production_stage: str = "production"
    notes: list[str] = field(default_factory=list)


def slug(text: str) -> str:
    """A file-name-safe form of an artifact or version name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_CURVE_POINTS) -> list:
    """At most `limit` points, evenly spaced by index, first and last always kept."""
    pts = [[round(x, 6), round(y, 6)] for x, y in points]
    if len(pts) <= limit:
        return pts
    step = (len(pts) - 1) / (limit - 1)
    return [pts[round(i * step)] for i in range(limit)]


def curve(records: Any, x: str, y: str) -> list:
    """A plot file's records as sorted (x, y) points, downsampled; [] when not a curve."""
    if not isinstance(records, list):
        return []
    pts = []
    for rec in records:
        if isinstance(rec, Mapping):
            xv, yv = number(rec.get(x)), number(rec.get(y))
            if xv is not None and yv is not None:
                pts.append((xv, yv))
    return downsample(sorted(pts))


def confusion(records: Any) -> dict[str, Any] | None:
    """Per-row (actual, predicted) records as a small count matrix."""
    if not isinstance(records, list):
        return None
    counts: dict[tuple[str, str], int] = {}
    for rec in records:
        if isinstance(rec, Mapping):
            key = (str(rec.get("actual")), str(rec.get("predicted")))
            counts[key] = counts.get(key, 0) + 1
    labels = sorted({label for pair in counts for label in pair})
    return {"labels": labels, "counts": [[counts.get((a, p), 0) for p in labels] for a in labels]}


def plots_from_files(files: Mapping[str, Any]) -> dict[str, Any]:
    """The embedded plot data of one run from its parsed plot files (by stem)."""
    out: dict[str, Any] = {}
    for name, (_title, x, y) in LINE_PLOTS.items():
        pts = curve(files.get(name), x, y)
        if pts:
            out[name] = pts
    matrix = confusion(files.get("confusion"))
    if matrix and matrix["labels"]:
        out["confusion"] = matrix
    return out


def scalar_metrics(data: Any) -> dict[str, Any]:
    """Top-level scalar metrics of a metrics file (nested sections flattened)."""
    if not isinstance(data, Mapping):
        return {}
    return {k: v for k, v in flatten(data).items() if not isinstance(v, Mapping | list)}


def stamp(name: str) -> str | None:
    """The UTC time in a monitoring report's file name (`20240501T061700Z-...json`), ISO 8601."""
    found = _STAMP.search(name)
    if found is None:
        return None
    y, mo, d, h, mi, s = found.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}Z"


def holder_at(events: Sequence[Mapping[str, Any]], stage: str, when: str | None) -> str | None:
    """The version that held `stage` at ISO time `when`, replaying the registry's history rows.

    Approximate for same-second events: a row counts when its timestamp is at or before `when`.
    """
    if when is None:
        return None
    holder: str | None = None
    for row in events:
        if row.get("stage") != stage or (row.get("timestamp") or "") > when:
            continue
        if row.get("event") == "assign":
            holder = row.get("version")
        elif row.get("event") == "unassign" and holder == row.get("version"):
            holder = None
    return holder


def metric_series(runs: Sequence[Run], names: Sequence[str]) -> dict[str, list[float | None]]:
    """Per metric, its value at each run (None where missing or not a number)."""
    return {n: [number(r.metrics.get(n)) for r in runs] for n in names}


def drift_series(runs: Sequence[MonitorRun]) -> dict[str, list[float | None]]:
    """Per monitored column, its drift score at each run (None where not scored)."""
    columns = sorted({c for r in runs for c in (r.report.get("columns") or {})})
    series: dict[str, list[float | None]] = {}
    for column in columns:
        values = []
        for r in runs:
            col = (r.report.get("columns") or {}).get(column) or {}
            values.append(number(col.get("score")))
        if any(v is not None for v in values):
            series[column] = values
    return series


def decay_metrics(runs: Sequence[MonitorRun]) -> list[str]:
    """The metrics judged for decay in any run (runs with labels)."""
    names: set[str] = set()
    for r in runs:
        decay = r.report.get("metrics")
        if isinstance(decay, Mapping):
            names.update((decay.get("metrics") or {}).keys())
    return sorted(names)
