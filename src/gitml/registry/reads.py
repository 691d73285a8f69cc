"""Registry reads: the state, who holds a stage, versions, history, lineage, model cards.

Every read goes through the one resolver (`gitml.registry.model`) over the tags from one
`git for-each-ref` call; nothing here writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitml.errors import GitmlError
from gitml.registry.model import Event, RegistryState, Version, all_events
from gitml.registry.store import Registry, numeric_metrics
from gitml.registry.trust import Signature, gate_verdict

log = logging.getLogger(__name__)


def _iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def state(root: Path | str) -> RegistryState:
    """The whole registry state (one `git for-each-ref`)."""
    return Registry(root).state


def resolve(root: Path | str, artifact: str | None, stage: str) -> Version | None:
    """The version of `artifact` holding `stage` now, or None when the stage is empty."""
    return resolve_stage(root, artifact, stage).holder


@dataclass(frozen=True)
class Resolution:
    """Who holds a stage, and the events of that stage the trust policy did not count."""

    artifact: str
    stage: str
    holder: Version | None
    ignored: tuple[Event, ...] = ()

    def reasons(self) -> list[str]:
        """One line per ignored event: the tag and why it does not count."""
        return [f"ignored {e.tag}: {e.ignored}" for e in self.ignored]


def resolve_stage(root: Path | str, artifact: str | None, stage: str) -> Resolution:
    """The holder of `stage` with the reasons the trust policy ignored some of its events."""
    reg = Registry(root)
    name = reg.artifact_name(artifact)
    art = reg.state.artifact(name)
    return Resolution(name, stage, art.holder(stage), tuple(art.ignored(stage)))


def log_ignored(resolution: Resolution) -> None:
    """Say (as warnings) which events of the stage the trust policy ignored, and why."""
    for line in resolution.reasons():
        log.warning("%s#%s: %s", resolution.artifact, resolution.stage, line)


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
        "trust": {s: reg.policy.registry.trust_level(s) for s in stages},
        "ignored": [
            {"tag": e.tag, "stage": e.stage, "commit": e.commit, "reason": e.ignored}
            for e in art.ignored()
        ],
    }


def event_dict(event: Event, signature: Signature | None = None) -> dict[str, Any]:
    """One history row: the tag's facts, its verified signature, and what its YAML body says."""
    meta = event.meta
    gates = meta.get("gates")
    registration = meta.get("registration")
    sig = signature or Signature("unverified" if event.signed else "unsigned")
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
        "signature": sig.status,
        "signer": sig.signer,
        "signer_key": sig.key,
        "message": event.subject,
        "reason": meta.get("reason"),
        "actor": meta.get("actor"),
        "ci_run_url": meta.get("ci_run_url"),
        "forced": bool(meta.get("forced")),
        "rollback_of": meta.get("rollback_of"),
        "gate_verdict": gate_verdict(event.action, meta),
        "gates_passed": gates.get("passed") if isinstance(gates, Mapping) else None,
        "gitml": bool(meta),
        "registered_commit": registration.get("commit")
        if isinstance(registration, Mapping)
        else None,
        "counted": not event.ignored,
        "ignored_reason": event.ignored,
        "details": meta,
    }


def history(
    root: Path | str, artifact: str | None = None, *, verify: bool = True
) -> list[dict[str, Any]]:
    """Every event, oldest first (all artifacts when `artifact` is None).

    With `verify`, each signed tag's signature is checked (`git verify-tag`, one call per signed
    tag) against `registry.signers`: `signature` is verified, unknown-signer or bad.
    """
    reg = Registry(root)
    if artifact is None:
        events = all_events(reg.state)
    else:
        events = reg.state.artifact(reg.artifact_name(artifact)).events
    return [event_dict(e, reg.signature(e.tag) if verify and e.signed else None) for e in events]


#: The columns of `gitml model history --format csv`, in order.
AUDIT_COLUMNS = (
    "timestamp",
    "artifact",
    "event",
    "version",
    "stage",
    "counter",
    "tag",
    "commit",
    "actor",
    "author",
    "author_email",
    "signature",
    "signer",
    "signer_key",
    "reason",
    "gate_verdict",
    "gates_passed",
    "forced",
    "rollback_of",
    "registered_commit",
    "counted",
    "ignored_reason",
    "ci_run_url",
)


def export_history(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """History rows as an audit export: `json` (every field) or `csv` (`AUDIT_COLUMNS`)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False) + "\n"
    if fmt != "csv":
        raise GitmlError(f"--format is '{fmt}'.", "Use table, json or csv.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AUDIT_COLUMNS)
    for row in rows:
        writer.writerow(_cell(row.get(column)) for column in AUDIT_COLUMNS)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
