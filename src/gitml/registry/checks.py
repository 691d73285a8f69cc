"""`doctor`: check every registry tag; problems make `gitml model doctor` exit non-zero."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.registry.grammar import Action, looks_like_registry_tag, parse_tag
from gitml.registry.model import ArtifactState, RawTag, build_state
from gitml.registry.store import Registry


@dataclass(frozen=True)
class Finding:
    """One doctor finding."""

    severity: str  # problem | warning
    tag: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "tag": self.tag, "message": self.message}


@dataclass(frozen=True)
class DoctorReport:
    """All findings of one `doctor` run."""

    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "problem")

    @property
    def ok(self) -> bool:
        return not self.problems


def doctor(root: Path | str, *, require_signed: bool | None = None) -> DoctorReport:
    """Check every registry tag; problems make `gitml model doctor` exit non-zero."""
    reg = Registry(root)
    signed = reg.policy.registry.require_signed if require_signed is None else require_signed
    findings, registry_tags = _tag_findings(reg.tags, set(reg.policy.registry.stages))
    # Every artifact's register/assign commits must carry the artifact (one git call each).
    for art in build_state(reg.tags).artifacts.values():
        findings += _artifact_findings(reg, art)
        findings += _counter_findings(art)
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
                findings.append(Finding("problem", raw.name, "malformed registry tag name"))
            continue
        registry_tags.append(raw)
        if not raw.annotated:
            findings.append(
                Finding("problem", raw.name, "lightweight tag: registry tags must be annotated")
            )
            continue
        if raw.target_type != "commit":
            findings.append(Finding("problem", raw.name, f"points to a {raw.target_type}"))
            continue
        if parsed.stage is not None and parsed.stage not in stages:
            findings.append(
                Finding("problem", raw.name, f"unknown stage '{parsed.stage}' (not in conf)")
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
            findings.append(Finding("problem", event.tag, message))
        elif found.md5 is None:
            message = f"{where} has no md5 for '{found.path}' in dvc.lock"
            findings.append(Finding("problem", event.tag, message))
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
            findings.append(Finding("problem", event.tag, message))
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
                findings.append(Finding("problem", raw.name, f"{detail}; signing is required"))
    return findings
