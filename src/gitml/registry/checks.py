"""`doctor`: check every registry tag; errors make `gitml model doctor` exit non-zero.

Errors: malformed, lightweight or misplaced registry tags; commits lacking the artifact; shared
counters; events a protected stage does not count (the trust policy, `gitml.registry.trust`);
tags moved after they were written (a gitml body records the commit its tag pointed to, and every
later event records its version's registration commit); two active versions on one commit; and,
with --require-signed, tags that do not verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.registry.grammar import Action, format_tag, looks_like_registry_tag, parse_tag
from gitml.registry.model import ArtifactState, Event, RawTag, build_state
from gitml.registry.store import Registry


@dataclass(frozen=True)
class Finding:
    """One doctor finding."""

    severity: str  # error | warning
    tag: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "tag": self.tag, "message": self.message}


@dataclass(frozen=True)
class DoctorReport:
    """All findings of one `doctor` run."""

    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def problems(self) -> tuple[Finding, ...]:
        """The errors (the older name)."""
        return self.errors

    @property
    def ok(self) -> bool:
        return not self.problems


def doctor(root: Path | str, *, require_signed: bool | None = None) -> DoctorReport:
    """Check every registry tag; errors make `gitml model doctor` exit non-zero."""
    reg = Registry(root)
    signed = reg.policy.registry.require_signed if require_signed is None else require_signed
    findings, registry_tags = _tag_findings(reg.tags, set(reg.policy.registry.stages))
    # Every artifact's register/assign commits must carry the artifact (one git call each).
    everything = build_state(reg.tags)
    for art in everything.artifacts.values():
        findings += _artifact_findings(reg, art)
        findings += _counter_findings(art)
        findings += _moved_findings(art, {t.name: t for t in reg.tags})
        findings += _shared_commit_findings(art)
    findings += _trust_findings(reg)
    if signed:
        findings += _signature_findings(reg, registry_tags)
    return DoctorReport(tuple(findings))


def _tag_findings(tags: list[RawTag], stages: set[str]) -> tuple[list[Finding], list[RawTag]]:
    """Problems in the tags themselves, and the tags that parse as registry tags."""
    findings: list[Finding] = []
    registry_tags: list[RawTag] = []
    for raw in tags:
        parsed = parse_tag(raw.name)
        if parsed is None:
            if looks_like_registry_tag(raw.name):
                findings.append(Finding("error", raw.name, "malformed registry tag name"))
            continue
        registry_tags.append(raw)
        if not raw.annotated:
            findings.append(
                Finding("error", raw.name, "lightweight tag: registry tags must be annotated")
            )
            continue
        if raw.target_type != "commit":
            findings.append(Finding("error", raw.name, f"points to a {raw.target_type}"))
            continue
        if parsed.stage is not None and parsed.stage not in stages:
            findings.append(
                Finding("error", raw.name, f"unknown stage '{parsed.stage}' (not in conf)")
            )
    return findings, registry_tags


_CARRIES_ARTIFACT = (Action.REGISTER, Action.ASSIGN)


def _artifact_findings(reg: Registry, art: ArtifactState) -> list[Finding]:
    """Register and assign tags whose commit lacks the artifact in dvc.yaml or dvc.lock."""
    findings: list[Finding] = []
    commits = sorted({e.commit for e in art.events if e.action in _CARRIES_ARTIFACT})
    by_commit = reg.dvc.artifacts_at(art.name, commits)
    for event in art.events:
        if event.action not in _CARRIES_ARTIFACT:
            continue
        found = by_commit[event.commit]
        where = f"commit {event.commit[:12]}"
        if not found.declared:
            message = f"{where} does not declare '{art.name}' under artifacts: in dvc.yaml"
            findings.append(Finding("error", event.tag, message))
        elif found.md5 is None:
            message = f"{where} has no md5 for '{found.path}' in dvc.lock"
            findings.append(Finding("error", event.tag, message))
        if event.action is Action.ASSIGN and event.version == event.commit:
            findings.append(Finding("warning", event.tag, "assigns an unregistered commit"))
    return findings


def _counter_findings(art: ArtifactState) -> list[Finding]:
    """Events of one artifact that share a counter, so their order is ambiguous."""
    findings: list[Finding] = []
    seen: dict[int, str] = {}
    for event in art.events:
        if event.counter is None:
            continue
        if event.counter in seen:
            message = (
                f"counter #{event.counter} is also used by '{seen[event.counter]}': "
                "their order is ambiguous"
            )
            findings.append(Finding("error", event.tag, message))
        seen[event.counter] = event.tag
    return findings


def _signature_findings(reg: Registry, registry_tags: list[RawTag]) -> list[Finding]:
    """Annotated registry tags that do not verify (`git verify-tag`)."""
    findings: list[Finding] = []
    for raw in registry_tags:
        if raw.annotated:
            ok, said = reg.git.verify_tag(raw.name)
            if not ok:
                detail = "unsigned" if not raw.signed else f"bad signature ({said})"
                findings.append(Finding("error", raw.name, f"{detail}; signing is required"))
    return findings


def _trust_findings(reg: Registry) -> list[Finding]:
    """Stage events the trust policy does not count: hand-made, GTO-made, unsigned tags..."""
    findings: list[Finding] = []
    for art in reg.state.artifacts.values():
        for event in art.ignored():
            level = reg.policy.registry.trust_level(event.stage)
            message = (
                f"does not count for protected stage '{event.stage}' (trust: {level}): "
                f"{event.ignored}"
            )
            findings.append(Finding("error", event.tag, message))
    return findings


_LATER = (Action.ASSIGN, Action.UNASSIGN, Action.DEREGISTER)


def _recorded_registration(event: Event, meta: Mapping[str, object]) -> tuple[str, str] | None:
    """(registration tag, its commit) as a later event's gitml body recorded them."""
    recorded = meta.get("registration")
    if isinstance(recorded, Mapping):
        tag, commit = recorded.get("tag"), recorded.get("commit")
        return (tag, commit) if isinstance(tag, str) and isinstance(commit, str) else None
    version, commit = meta.get("version"), meta.get("commit")
    if event.action in _LATER and isinstance(version, str) and isinstance(commit, str):
        try:  # bodies written before `registration` existed: the version and its commit
            return format_tag(Action.REGISTER, event.artifact, version=version), commit
        except ValueError:
            return None
    return None


def _moved_findings(art: ArtifactState, by_name: Mapping[str, RawTag]) -> list[Finding]:
    """Tags moved after they were written: force-pushed or re-created on another commit."""
    findings: list[Finding] = []
    flagged: set[str] = set()
    for event in art.events:
        meta = event.meta
        if not meta:
            continue
        commit = meta.get("commit")
        if isinstance(commit, str) and commit != event.commit:
            message = (
                f"points to commit {event.commit[:12]}, but its gitml body records "
                f"{commit[:12]}: the tag was moved (force-pushed or re-created) after it was written"
            )
            findings.append(Finding("error", event.tag, message))
        recorded = _recorded_registration(event, meta)
        if recorded is None or event.action not in _LATER:
            continue
        tag, registered_at = recorded
        now = by_name.get(tag)
        if now is None or tag in flagged:
            continue
        if now.commit != registered_at:
            flagged.add(tag)
            message = (
                f"was force-moved: '{event.tag}' records it at commit {registered_at[:12]}, but it "
                f"now points to {now.commit[:12]}. Restore it (git tag -f), or deregister the "
                "version and register the right commit"
            )
            findings.append(Finding("error", tag, message))
    return findings


def _shared_commit_findings(art: ArtifactState) -> list[Finding]:
    """Active registered versions on one commit: which of them a stage holds is ambiguous."""
    by_commit: dict[str, list[str]] = {}
    for version in art.versions.values():
        if version.registered and version.active and version.tag is not None:
            by_commit.setdefault(version.commit, []).append(version.version)
    findings: list[Finding] = []
    for commit, versions in sorted(by_commit.items()):
        if len(versions) > 1:
            for name in versions:
                others = ", ".join(v for v in versions if v != name)
                message = (
                    f"shares commit {commit[:12]} with {others}: a commit carries one version "
                    "(a registration tag was moved, or registered twice); deregister the extra one"
                )
                tag = format_tag(Action.REGISTER, art.name, version=name)
                findings.append(Finding("error", tag, message))
    return findings
