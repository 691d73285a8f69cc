"""Registry writes: register, promote (through the gates), roll back, unassign, deregister.

Every write is one annotated tag with a GTO-style first line and a YAML body, pushed with
`git push --atomic`; when the push is refused the local tag is deleted again.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from gitml.compare import COMPARABLE_GATE, Evidence, GateReport, evaluate_gates
from gitml.dvc import Snapshot
from gitml.errors import GitmlError
from gitml.intervals import Settings
from gitml.registry.grammar import SEMVER_RE, Action, format_tag, next_version, parse_tag
from gitml.registry.model import (
    ArtifactState,
    Version,
    format_message,
    gto_subject,
    held_stage,
    previous_holder,
)
from gitml.registry.store import Registry, WriteOptions, actor, ci_run_url, numeric_metrics

BUMPS = ("major", "minor", "patch")


class GateFailed(GitmlError):
    """Promotion refused by its gates (exit code 1); carries the full gate report."""

    def __init__(self, message: str, hint: str, report: GateReport) -> None:
        super().__init__(message, hint, exit_code=1)
        self.report = report


@dataclass(frozen=True)
class Written:
    """The tag a write created."""

    tag: str
    artifact: str
    action: str
    version: str
    commit: str
    stage: str | None = None
    pushed: bool = False
    champion: str | None = None
    gates: GateReport | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Every field but the tag message, as plain data."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "message"}
        data["gates"] = self.gates.to_dict() if self.gates else None
        return data


# ---- writes ----------------------------------------------------------------------------------


def register(
    root: Path | str,
    ref: str = "HEAD",
    *,
    version: str | None = None,
    bump: str | None = None,
    artifact: str | None = None,
    reason: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Register the artifact at `ref` as a new version (`name@vX.Y.Z`)."""
    reg = Registry(root)
    name = reg.artifact_name(artifact)
    if version and bump:
        raise GitmlError("Pass either --version or --bump, not both.", "Drop one of them.")
    if bump and bump not in BUMPS:
        raise GitmlError(f"--bump is '{bump}'.", f"Use one of: {', '.join(BUMPS)}.")
    if version is not None and not SEMVER_RE.match(version):
        hint = f" Did you mean v{version}?" if SEMVER_RE.match(f"v{version}") else ""
        raise GitmlError(
            f"'{version}' is not a valid semantic version.{hint}",
            "Versions look like v1.2.3 (GTO's grammar: v, then MAJOR.MINOR.PATCH).",
        )
    if ref == "HEAD" and reg.git.head_branch() is None:
        raise GitmlError(
            "HEAD is detached, so it is unclear which line of history this version belongs to.",
            "Check out a branch, or pass the commit explicitly: gitml model register <REF>.",
        )
    dirty = reg.git.dirty_paths()
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise GitmlError(
            f"The worktree has uncommitted changes ({shown}).",
            "Commit or stash them first, so the registered version is exactly what is committed.",
        )
    commit = reg.git.rev_parse(ref)
    if commit is None:
        raise GitmlError(f"'{ref}' does not name a commit.", "Pass a branch, tag or commit hash.")
    snap = reg.snapshot(name, commit)
    if not snap.artifact.declared:
        raise GitmlError(
            f"Unknown artifact '{name}': it is not declared under `artifacts:` in dvc.yaml at "
            f"commit {commit[:12]}.",
            f"Declare it (artifacts: {{{name}: {{path: ..., type: model}}}}) or pass --artifact.",
        )
    if snap.artifact.md5 is None:
        raise GitmlError(
            f"Commit {commit[:12]} lacks the artifact '{name}': dvc.lock there records no md5 for "
            f"'{snap.artifact.path}'.",
            "Run the pipeline (dvc repro), commit dvc.lock, then register that commit.",
        )
    remote = reg.prepare_write(options)
    art = reg.state.artifact(name)
    existing = [v.version for v in art.versions.values() if v.registered]
    taken = {p.version for t in reg.tags if (p := parse_tag(t.name)) and p.artifact == name}
    chosen = version or next_version(existing, bump)
    if chosen in art.versions or chosen in taken:
        raise GitmlError(
            f"Version {chosen} of '{name}' already exists.",
            "Pick a new version, or use --bump major|minor|patch.",
        )
    for v in art.versions.values():
        if v.commit == commit and v.registered and v.active:
            raise GitmlError(
                f"Commit {commit[:12]} is already registered as {name}@{v.version}.",
                "A commit carries one version; promote that one instead.",
            )
    evidence = reg.evidence(snap)
    body = {
        "action": "register",
        "artifact": name,
        "version": chosen,
        "commit": commit,
        "reason": reason,
        "actor": actor(reg.git),
        "ci_run_url": ci_run_url(),
        **reg.provenance(snap),
        "metrics": numeric_metrics(evidence),
    }
    tag = format_tag(Action.REGISTER, name, version=chosen)
    message = format_message(gto_subject(Action.REGISTER, name, chosen, None), body)
    pushed = reg.write(tag, commit, message, options, remote)
    return Written(tag, name, "register", chosen, commit, pushed=pushed, message=message)


@dataclass(frozen=True)
class _Compared:
    """The candidate's snapshot and evidence, and the stage's current holder with its evidence."""

    snap: Snapshot
    candidate: Evidence
    champion: Version | None
    champion_evidence: Evidence | None


def _compare(reg: Registry, artifact: str, target: Version, champion: Version | None) -> _Compared:
    """Read the evidence of `target` and of `champion` (the stage's holder) at their commits."""
    snap = reg.snapshot(artifact, target.commit)
    candidate = _with_predictions(reg, reg.evidence(snap), target.commit)
    champion_evidence = (
        _with_predictions(
            reg, reg.evidence(reg.snapshot(artifact, champion.commit)), champion.commit
        )
        if champion is not None
        else None
    )
    return _Compared(snap, candidate, champion, champion_evidence)


def _with_predictions(reg: Registry, evidence: Evidence, commit: str) -> Evidence:
    """`evidence` plus the per-row test predictions at `commit`, for the interval gates."""
    try:
        data = reg.dvc.read_bytes(reg.policy.outputs.predictions, commit)
    except GitmlError:  # cache not pulled: the gates compare point values and say so
        return evidence
    if data is None:
        return evidence
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception:  # unreadable: the gates fall back to point values and say so
        return evidence
    return replace(evidence, predictions=frame)


def _settings(reg: Registry) -> Settings:
    s = reg.policy.statistics
    return Settings(resamples=s.resamples, confidence=s.confidence, seed=s.seed)


def _assign(
    reg: Registry,
    art: ArtifactState,
    target: Version,
    stage: str,
    options: WriteOptions,
    remote: str | None,
    extra: Mapping[str, Any],
    gates: GateReport | None,
    compared: _Compared,
) -> Written:
    """Write the assignment of `stage` to `target`, recording candidate, champion and gates."""
    champion, champion_evidence = compared.champion, compared.champion_evidence
    body = {
        "action": "assign",
        "artifact": art.name,
        "version": target.version,
        "stage": stage,
        "commit": target.commit,
        "registration": registration(target),
        **extra,
        "actor": actor(reg.git),
        "ci_run_url": ci_run_url(),
        **reg.provenance(compared.snap),
        "candidate": {
            "version": target.version,
            "commit": target.commit,
            "metrics": numeric_metrics(compared.candidate),
        },
        "champion": None
        if champion is None
        else {
            "version": champion.version,
            "commit": champion.commit,
            "metrics": numeric_metrics(champion_evidence) if champion_evidence else {},
        },
        "gates": gates.to_dict() if gates else None,
    }
    tag = format_tag(Action.ASSIGN, art.name, stage=stage, counter=reg.next_counter(art.name))
    message = format_message(gto_subject(Action.ASSIGN, art.name, target.version, stage), body)
    pushed = reg.write(tag, target.commit, message, options, remote)
    return Written(
        tag,
        art.name,
        "assign",
        target.version,
        target.commit,
        stage,
        pushed,
        champion=champion.version if champion else None,
        gates=gates,
        message=message,
    )


def promote(
    root: Path | str,
    version: str,
    to: str,
    *,
    reason: str | None = None,
    force: bool = False,
    artifact: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Assign `to` to `version` if it passes the gates against the stage's current holder.

    Raises:
        GateFailed: a gate failed and `force` was not given (exit code 1).
        GitmlError: bad input; no tag is created.
    """
    reg = Registry(root)
    if force:
        _require_reason(
            reason, "--force needs --reason.", "Say why the gates are overridden: --reason '...'."
        )
    art, remote = reg.open_for_write(artifact, options, stage=to)
    target = reg.find_version(art, version)
    reg.usable(art, target)
    champion = art.holder(to)
    if champion is not None and champion.version == target.version:
        raise GitmlError(f"{art.name}@{target.version} already holds '{to}'.", "Nothing to do.")
    stages = reg.policy.registry.stages
    index = stages.index(to)
    skipped: str | None = None
    if reg.policy.registry.require_previous_stage and index > 0:
        previous = stages[index - 1]
        if not held_stage(art, target.version, previous):
            skipped = previous
            if not force:
                raise GitmlError(
                    f"{art.name}@{target.version} was never in '{previous}', which comes before "
                    f"'{to}'.",
                    f"Promote it to '{previous}' first, or use --force --reason '...'.",
                )
    compared = _compare(reg, art.name, target, champion)
    report = evaluate_gates(
        reg.policy.gates,
        reg.policy.metrics,
        compared.candidate,
        compared.champion_evidence,
        _settings(reg),
    )
    if not report.passed and not force:
        failed = "; ".join(f"{r.gate}: {r.detail}" for r in report.failures)
        against = f"{champion.version}, the current holder" if champion else "the floors"
        hint = "Improve the model, or override with --force --reason '...' (recorded in the tag)."
        if champion is not None and any(r.gate == COMPARABLE_GATE for r in report.failures):
            hint = (
                f"Replacing {champion.version} in '{to}' with a model for another dataset, target "
                "or task is a deliberate decision: promote with --force --reason '...' (recorded "
                "in the tag)."
            )
        raise GateFailed(
            f"Promotion of {art.name}@{target.version} to '{to}' refused: gates failed against "
            f"{against} ({failed}). No tag was created.",
            hint,
            report,
        )
    extra = {
        "reason": reason,
        "forced": bool(force),
        "skipped_stage": skipped,
        "rollback_of": None,
    }
    return _assign(reg, art, target, to, options, remote, extra, report, compared)


def rollback(
    root: Path | str,
    stage: str,
    *,
    reason: str,
    to: str | None = None,
    artifact: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Give `stage` back to an earlier holder with a new assignment recording `rollback_of`.

    By default the previous holder (see `model.previous_holder`); refuses when there is none.
    """
    reg = Registry(root)
    _require_reason(reason, "rollback needs --reason.", "Say why: --reason 'p95 latency doubled'.")
    art, remote = reg.open_for_write(artifact, options, stage=stage)
    current = art.holder(stage)
    if current is None and to is None:
        raise GitmlError(
            f"Stage '{stage}' of '{art.name}' is empty, so there is nothing to roll back.",
            "Name the version to restore with --to, or promote one.",
        )
    if to is not None:
        target = reg.find_version(art, to)
        if current is not None and target.version == current.version:
            raise GitmlError(
                f"{art.name}@{target.version} already holds '{stage}'.", "Nothing to do."
            )
        if not held_stage(art, target.version, stage):
            raise GitmlError(
                f"{art.name}@{target.version} never held '{stage}', so this is not a rollback.",
                "Use `gitml model promote` (with its gates) instead.",
            )
    else:
        found = previous_holder(art, stage)
        if found is None:
            raise GitmlError(
                f"'{stage}' of '{art.name}' has no previous holder to restore.",
                "Name one with --to VERSION, or unassign the stage.",
            )
        target = found
    reg.usable(art, target)
    compared = _compare(reg, art.name, target, current)
    extra = {
        "reason": reason,
        "forced": False,
        "rollback_of": current.version if current else None,
    }
    return _assign(reg, art, target, stage, options, remote, extra, None, compared)


def unassign(
    root: Path | str,
    stage: str,
    *,
    reason: str,
    artifact: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Empty `stage` (`name#stage!#N` on the holder's commit); nothing takes its place."""
    return _withdraw(root, Action.UNASSIGN, stage, reason, artifact, options)


def deregister(
    root: Path | str,
    version: str,
    *,
    reason: str,
    artifact: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Withdraw a version (`name@vX.Y.Z!#N`); a stage it holds becomes empty."""
    return _withdraw(root, Action.DEREGISTER, version, reason, artifact, options)


_WITHDRAW_HINTS = {
    Action.UNASSIGN: "Say why the stage is emptied.",
    Action.DEREGISTER: "Say why the version is withdrawn.",
}


def _withdraw(
    root: Path | str,
    action: Action,
    ref: str,
    reason: str,
    artifact: str | None,
    options: WriteOptions,
) -> Written:
    """Write the tag that empties stage `ref` (unassign) or withdraws version `ref` (deregister)."""
    reg = Registry(root)
    _require_reason(reason, f"{action.value} needs --reason.", _WITHDRAW_HINTS[action])
    stage = ref if action is Action.UNASSIGN else None
    art, remote = reg.open_for_write(artifact, options, stage=stage)
    name = art.name
    if stage is not None:
        holder = art.holder(stage)
        if holder is None:
            raise GitmlError(f"Stage '{stage}' of '{name}' is already empty.", "Nothing to do.")
        version = holder
    else:
        version = reg.find_version(art, ref)
        if not version.active:
            raise GitmlError(f"{name}@{version.version} is already deregistered.", "Nothing to do.")
    body: dict[str, Any] = {"action": action.value, "artifact": name, "version": version.version}
    if stage is not None:
        body["stage"] = stage
    body.update(
        commit=version.commit,
        registration=registration(version),
        reason=reason,
        actor=actor(reg.git),
        ci_run_url=ci_run_url(),
    )
    counter = reg.next_counter(name)
    if stage is not None:
        tag = format_tag(action, name, stage=stage, counter=counter)
    else:
        tag = format_tag(action, name, version=version.version, counter=counter)
    message = format_message(gto_subject(action, name, version.version, stage), body)
    pushed = reg.write(tag, version.commit, message, options, remote)
    return Written(tag, name, action.value, version.version, version.commit, stage, pushed)


def registration(version: Version) -> dict[str, str] | None:
    """The registration tag and its commit, kept in every later event's body.

    `gitml model doctor` compares them with the registration tag as it is now, so a tag moved
    after the fact (force-pushed, re-created) is caught.
    """
    if not version.registered or version.tag is None:
        return None
    return {"tag": version.tag, "commit": version.commit}


def _require_reason(reason: str | None, problem: str, hint: str) -> None:
    """Refuse a write whose reason is missing or blank."""
    if not (reason and reason.strip()):
        raise GitmlError(problem, hint)
