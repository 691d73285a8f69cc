"""Registry reads: the state, who holds a stage, versions, history, lineage, model cards.

Every read goes through the one resolver (`gitml.registry.model`) over the tags from one
`git for-each-ref` call; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitml.errors import GitmlError
from gitml.registry.model import Event, RegistryState, Version, all_events
from gitml.registry.store import Registry, numeric_metrics


def _iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def state(root: Path | str) -> RegistryState:
    """The whole registry state (one `git for-each-ref`)."""
    return Registry(root).state


def resolve(root: Path | str, artifact: str | None, stage: str) -> Version | None:
    """The version of `artifact` holding `stage` now, or None when the stage is empty."""
    reg = Registry(root)
    return reg.state.artifact(reg.artifact_name(artifact)).holder(stage)


def show(root: Path | str, artifact: str | None = None) -> dict[str, Any]:
    """Stage holders and versions of one artifact (default: the policy's), as plain data."""
    reg = Registry(root)
    name = reg.artifact_name(artifact)
    art = reg.state.artifact(name)
    stages = list(dict.fromkeys([*reg.policy.registry.stages, *art.stage_names()]))
    holders = {s: (h.version if (h := art.holder(s)) else None) for s in stages}
    return {
        "artifact": name,
        "deprecated": art.deprecated,
        "stages": holders,
        "versions": [
            v.to_dict() | {"registered_at": _iso(v.registered_at)} for v in art.sorted_versions()
        ],
    }


def event_dict(event: Event) -> dict[str, Any]:
    """One history row: the tag's facts plus what its YAML body says."""
    meta = event.meta
    gates = meta.get("gates")
    return {
        "timestamp": _iso(event.timestamp),
        "artifact": event.artifact,
        "event": event.action.value,
        "version": event.version,
        "stage": event.stage,
        "counter": event.counter,
        "commit": event.commit,
        "tag": event.tag,
        "author": event.author,
        "author_email": event.author_email,
        "signed": event.signed,
        "message": event.subject,
        "reason": meta.get("reason"),
        "actor": meta.get("actor"),
        "ci_run_url": meta.get("ci_run_url"),
        "forced": meta.get("forced"),
        "rollback_of": meta.get("rollback_of"),
        "gates_passed": gates.get("passed") if isinstance(gates, Mapping) else None,
        "details": meta,
    }


def history(root: Path | str, artifact: str | None = None) -> list[dict[str, Any]]:
    """Every event, oldest first (all artifacts when `artifact` is None)."""
    reg = Registry(root)
    if artifact is None:
        events = all_events(reg.state)
    else:
        events = reg.state.artifact(reg.artifact_name(artifact)).events
    return [event_dict(e) for e in events]


def lineage(root: Path | str, version: str, artifact: str | None = None) -> dict[str, Any]:
    """Where a version came from: commit, author, params, data hashes, metrics and its events."""
    reg = Registry(root)
    art = reg.known_artifact(reg.artifact_name(artifact))
    found = reg.find_version(art, version)
    info = reg.git.commit_info(found.commit)
    snap = reg.snapshot(art.name, found.commit)
    evidence = reg.evidence(snap)
    events = [
        event_dict(e)
        for e in art.events
        if e.version == found.version or (e.commit == found.commit and e.version is None)
    ]
    for row in events:
        row.pop("details", None)
    return {
        "artifact": art.name,
        "version": found.version,
        "active": found.active,
        "stages": list(found.stages),
        "commit": info.commit,
        "author": info.author,
        "author_email": info.author_email,
        "date": info.date,
        "subject": info.subject,
        **reg.provenance(snap),
        "params": snap.params,
        "metrics": numeric_metrics(evidence),
        "validation_passed": (evidence.validation or {}).get("passed"),
        "events": events,
    }


CARD_PATH = "reports/model_card.md"
CARD_PLACEHOLDER = "unregistered <!-- gitml:version -->"


def card(root: Path | str, version: str, artifact: str | None = None) -> str:
    """The model card committed with `version`, its version placeholder filled from the registry."""
    reg = Registry(root)
    art = reg.known_artifact(reg.artifact_name(artifact))
    found = reg.find_version(art, version)
    raw = reg.git.read_file(found.commit, CARD_PATH)
    if raw is None:
        raise GitmlError(
            f"Commit {found.commit[:12]} of {art.name}@{found.version} has no {CARD_PATH}.",
            "The model_card stage writes it; versions registered before it existed have none.",
        )
    stages = f", stages: {', '.join(found.stages)}" if found.stages else ""
    filled = f"`{art.name}@{found.version}` (commit `{found.commit[:12]}`{stages})"
    return raw.decode("utf-8").replace(CARD_PLACEHOLDER, filled)
