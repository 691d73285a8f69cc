"""The registry's Python API, called by the CLI, the server and CI.

Every read goes through the one resolver (`gitml.registry.model`) over the tags from one
`git for-each-ref` call. Every write is one annotated tag with a GTO-style first line and a YAML
body, pushed with `git push --atomic`; when the push is refused the local tag is deleted again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.compare import Evidence, GateReport, evaluate_gates
from gitml.dvc import Dvc, Snapshot, params_hash
from gitml.errors import GitmlError
from gitml.git import Git, PushRejected
from gitml.policy import Policy, load_policy
from gitml.registry.grammar import (
    NAME_RE,
    SEMVER_RE,
    Action,
    format_tag,
    looks_like_registry_tag,
    next_version,
    parse_tag,
)
from gitml.registry.model import (
    ArtifactState,
    Event,
    RawTag,
    RegistryState,
    Version,
    all_events,
    build_state,
    format_message,
    gto_subject,
    held_stage,
    previous_holder,
)

log = logging.getLogger(__name__)

BUMPS = ("major", "minor", "patch")


class GateFailed(GitmlError):
    """Promotion refused by its gates (exit code 1); carries the full gate report."""

    def __init__(self, message: str, hint: str, report: GateReport) -> None:
        super().__init__(message, hint, exit_code=1)
        self.report = report


@dataclass(frozen=True)
class WriteOptions:
    """How an event is written: signing, pushing, the remote, fetching tags first."""

    sign: bool = False
    push: bool = True
    remote: str | None = None  # default: registry.remote from the policy
    fetch: bool = True


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
    gates: GateReport | None = None
    champion: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "artifact": self.artifact,
            "action": self.action,
            "version": self.version,
            "commit": self.commit,
            "stage": self.stage,
            "pushed": self.pushed,
            "champion": self.champion,
            "gates": self.gates.to_dict() if self.gates else None,
        }


@dataclass(frozen=True)
class Fetched:
    """What `get` wrote."""

    path: Path
    artifact: str
    version: str
    commit: str
    md5: str


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
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "problem")

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- plumbing --------------------------------------------------------------------------------


class _Registry:
    """One repository: its policy, git and DVC adapters, and the tags read once."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.git = Git(self.root)
        self.git.ensure_repo()
        self.policy: Policy = load_policy(self.root)
        self.dvc = Dvc(self.root, self.git)
        self._tags: list[RawTag] | None = None
        self._state: RegistryState | None = None

    def artifact_name(self, artifact: str | None) -> str:
        name = artifact or self.policy.artifact
        if not NAME_RE.match(name.split(":")[-1]):
            raise GitmlError(f"'{name}' is not a valid artifact name.", "Use the name in dvc.yaml.")
        return name

    @property
    def tags(self) -> list[RawTag]:
        if self._tags is None:
            self._tags = self.git.read_tags()
        return self._tags

    @property
    def state(self) -> RegistryState:
        if self._state is None:
            self._state = build_state(self.tags, signed_only=self.policy.registry.require_signed)
        return self._state

    def refresh(self) -> None:
        self._tags = None
        self._state = None

    def known_artifact(self, name: str) -> ArtifactState:
        state = self.state.artifacts.get(name)
        if state is None or not state.versions:
            known = ", ".join(sorted(self.state.artifacts)) or "none"
            raise GitmlError(
                f"Unknown artifact '{name}': no version of it is registered.",
                f"Registered artifacts: {known}. Register one with `gitml model register`.",
            )
        return state

    def check_stage(self, stage: str) -> None:
        stages = self.policy.registry.stages
        if stage not in stages:
            raise GitmlError(
                f"Stage '{stage}' is not in the registry config.",
                f"Stages (in promotion order) are: {', '.join(stages)}; "
                "they are set under registry.stages in conf/gitml.yaml.",
            )

    def find_version(self, artifact: ArtifactState, text: str) -> Version:
        version = _strip_artifact(text, artifact.name, "@")
        if not SEMVER_RE.match(version):
            raise GitmlError(
                f"'{text}' is not a version like v1.2.3.", "Pass a registered version (see show)."
            )
        found = artifact.versions.get(version)
        if found is None or not found.registered:
            raise GitmlError(
                f"Version {version} of '{artifact.name}' is not registered.",
                "See `gitml model show` for the registered versions.",
            )
        return found

    def usable(self, artifact: ArtifactState, version: Version) -> None:
        if artifact.deprecated:
            raise GitmlError(
                f"Artifact '{artifact.name}' is deprecated; its versions cannot be promoted.",
                "Register and promote a new artifact, or delete the deprecation tag.",
            )
        if not version.active:
            raise GitmlError(
                f"Version {version.version} of '{artifact.name}' was deregistered.",
                "Promote another version (see `gitml model show`).",
            )

    def snapshot(self, artifact: str, commit: str) -> Snapshot:
        outputs = self.policy.outputs
        return self.dvc.snapshot(
            artifact,
            commit,
            reports=(outputs.metrics, outputs.slices, outputs.validation),
            params=self.policy.registry.params,
        )

    def evidence(self, snap: Snapshot) -> Evidence:
        out = self.policy.outputs
        metrics = snap.files.get(out.metrics)
        slices = snap.files.get(out.slices)
        validation = snap.files.get(out.validation)
        return Evidence(
            metrics=metrics if isinstance(metrics, Mapping) else {},
            slices=slices if isinstance(slices, Mapping) else None,
            validation=validation if isinstance(validation, Mapping) else None,
        )

    def provenance(self, snap: Snapshot) -> dict[str, Any]:
        """Artifact and data md5s and the params hash, for a tag body."""
        return {
            "artifact_path": snap.artifact.path,
            "artifact_md5": snap.artifact.md5,
            "data_md5": {p: snap.out_md5(p) for p in self.policy.registry.data},
            "params_hash": params_hash(snap.params),
        }

    def next_counter(self, artifact: str) -> int:
        """GTO's counter: one more than the largest N on any tag of this artifact."""
        counters = [
            p.counter
            for t in self.tags
            if (p := parse_tag(t.name)) and p.artifact == artifact and p.counter is not None
        ]
        return max(counters, default=0) + 1

    def prepare_write(self, options: WriteOptions) -> str | None:
        """Check the remote (when pushing) and fetch its tags; returns the remote's name."""
        if not options.push:
            return None
        remote = options.remote or self.policy.registry.remote
        if self.git.remote_url(remote) is None:
            raise GitmlError(
                f"There is no git remote named '{remote}', so the tag could not be shared.",
                "Add one (git remote add origin URL), pass --remote NAME, or --no-push to tag "
                "locally only.",
            )
        if options.fetch:
            self.git.fetch_tags(remote)
            self.refresh()
        return remote

    def write(
        self, tag: str, commit: str, message: str, options: WriteOptions, remote: str | None
    ) -> bool:
        """Create the tag and push it atomically; on refusal delete it and explain."""
        if any(t.name == tag for t in self.tags):
            raise GitmlError(
                f"The tag '{tag}' already exists.",
                "Someone else wrote this event; fetch tags (git fetch --tags) and retry.",
            )
        self.git.create_tag(tag, commit, message, sign=options.sign)
        self.refresh()
        if remote is None:
            return False
        try:
            self.git.push_tags_atomic(remote, [tag])
        except PushRejected as rejected:
            self.git.delete_tag(tag)
            self.refresh()
            if rejected.already_exists:
                raise GitmlError(
                    f"Another registry change won the race: the tag '{tag}' already exists on "
                    f"remote '{remote}'. Nothing was changed; the local tag was removed.",
                    "Run the command again: it fetches the new tags and recomputes.",
                ) from None
            raise GitmlError(
                f"Pushing '{tag}' to remote '{remote}' failed; the local tag was removed. "
                f"git said: {rejected.output}",
                "Check access to the remote and retry.",
            ) from None
        return True


def _strip_artifact(text: str, artifact: str, sep: str) -> str:
    prefix = f"{artifact}{sep}"
    return text[len(prefix) :] if text.startswith(prefix) else text


def _actor(git: Git) -> str:
    explicit = os.environ.get("GITML_ACTOR") or os.environ.get("GITHUB_ACTOR")
    if explicit:
        return explicit
    name, email = git.config("user.name"), git.config("user.email")
    return f"{name or 'unknown'} <{email or 'unknown'}>"


def _ci_run_url() -> str | None:
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or None


def _metrics(evidence: Evidence) -> dict[str, Any]:
    return {k: v for k, v in evidence.metrics.items() if isinstance(v, int | float)}


def _iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat().replace("+00:00", "Z")


# ---- reads -----------------------------------------------------------------------------------


def state(root: Path | str) -> RegistryState:
    """The whole registry state (one `git for-each-ref`)."""
    return _Registry(root).state


def resolve(root: Path | str, artifact: str | None, stage: str) -> Version | None:
    """The version of `artifact` holding `stage` now, or None when the stage is empty."""
    reg = _Registry(root)
    return reg.state.artifact(reg.artifact_name(artifact)).holder(stage)


def show(root: Path | str, artifact: str | None = None) -> dict[str, Any]:
    """Stage holders and versions of one artifact (default: the policy's), as plain data."""
    reg = _Registry(root)
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
    reg = _Registry(root)
    if artifact is None:
        events = all_events(reg.state)
    else:
        events = reg.state.artifact(reg.artifact_name(artifact)).events
    return [event_dict(e) for e in events]


def lineage(root: Path | str, version: str, artifact: str | None = None) -> dict[str, Any]:
    """Where a version came from: commit, author, params, data hashes, metrics and its events."""
    reg = _Registry(root)
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
        "metrics": _metrics(evidence),
        "validation_passed": (evidence.validation or {}).get("passed"),
        "events": events,
    }


CARD_PATH = "reports/model_card.md"
CARD_PLACEHOLDER = "unregistered <!-- gitml:version -->"


def card(root: Path | str, version: str, artifact: str | None = None) -> str:
    """The model card committed with `version`, its version placeholder filled from the registry."""
    reg = _Registry(root)
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
    reg = _Registry(root)
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
        "actor": _actor(reg.git),
        "ci_run_url": _ci_run_url(),
        **reg.provenance(snap),
        "metrics": _metrics(evidence),
    }
    tag = format_tag(Action.REGISTER, name, version=chosen)
    message = format_message(gto_subject(Action.REGISTER, name, chosen, None), body)
    pushed = reg.write(tag, commit, message, options, remote)
    return Written(tag, name, "register", chosen, commit, pushed=pushed, message=message)


def _assign(
    reg: _Registry,
    art: ArtifactState,
    target: Version,
    stage: str,
    options: WriteOptions,
    remote: str | None,
    extra: Mapping[str, Any],
    gates: GateReport | None,
    champion: Version | None,
    candidate_evidence: Evidence,
    champion_evidence: Evidence | None,
    snap: Snapshot,
) -> Written:
    body = {
        "action": "assign",
        "artifact": art.name,
        "version": target.version,
        "stage": stage,
        "commit": target.commit,
        **extra,
        "actor": _actor(reg.git),
        "ci_run_url": _ci_run_url(),
        **reg.provenance(snap),
        "candidate": {
            "version": target.version,
            "commit": target.commit,
            "metrics": _metrics(candidate_evidence),
        },
        "champion": None
        if champion is None
        else {
            "version": champion.version,
            "commit": champion.commit,
            "metrics": _metrics(champion_evidence) if champion_evidence else {},
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
        gates,
        champion.version if champion else None,
        message,
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
    reg = _Registry(root)
    if force and not (reason and reason.strip()):
        raise GitmlError(
            "--force needs --reason.", "Say why the gates are overridden: --reason '...'."
        )
    reg.check_stage(to)
    remote = reg.prepare_write(options)
    art = reg.known_artifact(reg.artifact_name(artifact))
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
    snap = reg.snapshot(art.name, target.commit)
    candidate = reg.evidence(snap)
    champion_evidence = (
        reg.evidence(reg.snapshot(art.name, champion.commit)) if champion is not None else None
    )
    report = evaluate_gates(reg.policy.gates, reg.policy.metrics, candidate, champion_evidence)
    if not report.passed and not force:
        failed = "; ".join(f"{r.gate}: {r.detail}" for r in report.failures)
        against = f"{champion.version}, the current holder" if champion else "the floors"
        raise GateFailed(
            f"Promotion of {art.name}@{target.version} to '{to}' refused: gates failed against "
            f"{against} ({failed}). No tag was created.",
            "Improve the model, or override with --force --reason '...' (recorded in the tag).",
            report,
        )
    extra = {
        "reason": reason,
        "forced": bool(force),
        "skipped_stage": skipped,
        "rollback_of": None,
    }
    return _assign(
        reg,
        art,
        target,
        to,
        options,
        remote,
        extra,
        report,
        champion,
        candidate,
        champion_evidence,
        snap,
    )


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
    reg = _Registry(root)
    if not (reason and reason.strip()):
        raise GitmlError("rollback needs --reason.", "Say why: --reason 'p95 latency doubled'.")
    reg.check_stage(stage)
    remote = reg.prepare_write(options)
    art = reg.known_artifact(reg.artifact_name(artifact))
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
    snap = reg.snapshot(art.name, target.commit)
    candidate = reg.evidence(snap)
    champion_evidence = (
        reg.evidence(reg.snapshot(art.name, current.commit)) if current is not None else None
    )
    extra = {
        "reason": reason,
        "forced": False,
        "rollback_of": current.version if current else None,
    }
    return _assign(
        reg,
        art,
        target,
        stage,
        options,
        remote,
        extra,
        None,
        current,
        candidate,
        champion_evidence,
        snap,
    )


def unassign(
    root: Path | str,
    stage: str,
    *,
    reason: str,
    artifact: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Empty `stage` (`name#stage!#N` on the holder's commit); nothing takes its place."""
    reg = _Registry(root)
    if not (reason and reason.strip()):
        raise GitmlError("unassign needs --reason.", "Say why the stage is emptied.")
    reg.check_stage(stage)
    remote = reg.prepare_write(options)
    art = reg.known_artifact(reg.artifact_name(artifact))
    current = art.holder(stage)
    if current is None:
        raise GitmlError(f"Stage '{stage}' of '{art.name}' is already empty.", "Nothing to do.")
    return _withdraw(reg, Action.UNASSIGN, art.name, current, stage, reason, options, remote)


def deregister(
    root: Path | str,
    version: str,
    *,
    reason: str,
    artifact: str | None = None,
    options: WriteOptions = WriteOptions(),
) -> Written:
    """Withdraw a version (`name@vX.Y.Z!#N`); a stage it holds becomes empty."""
    reg = _Registry(root)
    if not (reason and reason.strip()):
        raise GitmlError("deregister needs --reason.", "Say why the version is withdrawn.")
    remote = reg.prepare_write(options)
    art = reg.known_artifact(reg.artifact_name(artifact))
    target = reg.find_version(art, version)
    if not target.active:
        raise GitmlError(f"{art.name}@{target.version} is already deregistered.", "Nothing to do.")
    return _withdraw(reg, Action.DEREGISTER, art.name, target, None, reason, options, remote)


def _withdraw(
    reg: _Registry,
    action: Action,
    name: str,
    version: Version,
    stage: str | None,
    reason: str,
    options: WriteOptions,
    remote: str | None,
) -> Written:
    """Write the tag that empties `stage` (unassign) or withdraws `version` (deregister)."""
    body: dict[str, Any] = {"action": action.value, "artifact": name, "version": version.version}
    if stage is not None:
        body["stage"] = stage
    body.update(
        commit=version.commit, reason=reason, actor=_actor(reg.git), ci_run_url=_ci_run_url()
    )
    counter = reg.next_counter(name)
    if action is Action.UNASSIGN:
        tag = format_tag(action, name, stage=stage, counter=counter)
    else:
        tag = format_tag(action, name, version=version.version, counter=counter)
    message = format_message(gto_subject(action, name, version.version, stage), body)
    pushed = reg.write(tag, version.commit, message, options, remote)
    return Written(tag, name, action.value, version.version, version.commit, stage, pushed)


# ---- get -------------------------------------------------------------------------------------


def get(root: Path | str, ref: str, output: Path | str, *, artifact: str | None = None) -> Fetched:
    """Write the artifact of a version (`v1.2.3`) or stage (`production`) to `output`.

    The bytes come through DVC at the version's commit and must match the md5 in dvc.lock there;
    on a mismatch nothing is written.
    """
    reg = _Registry(root)
    name = reg.artifact_name(artifact)
    art = reg.known_artifact(name)
    text = _strip_artifact(_strip_artifact(ref, name, "@"), name, "#")
    if SEMVER_RE.match(text):
        found = reg.find_version(art, text)
        reg.usable(art, found)
    else:
        reg.check_stage(text)
        holder = art.holder(text)
        if holder is None:
            raise GitmlError(f"Stage '{text}' of '{name}' is empty.", "See `gitml model show`.")
        found = holder
    snap = reg.dvc.artifact_at(name, found.commit)
    if snap.path is None or snap.md5 is None:
        raise GitmlError(
            f"Commit {found.commit[:12]} of {name}@{found.version} lacks the artifact in "
            "dvc.yaml/dvc.lock.",
            "Run `gitml model doctor` to list such tags.",
        )
    target = Path(output)
    if target.is_dir():
        target = target / Path(snap.path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        md5 = reg.dvc.fetch_bytes_to(snap.path, found.commit, tmp)
        if md5 != snap.md5:
            raise GitmlError(
                f"The bytes DVC returned for {name}@{found.version} have md5 {md5}, but dvc.lock "
                f"at {found.commit[:12]} records {snap.md5}. Nothing was written.",
                "The DVC cache or remote is corrupt or out of date: run `dvc fetch` / "
                "`dvc push` from a good copy.",
            )
        shutil.move(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return Fetched(target, name, found.version, found.commit, md5)


# ---- doctor ----------------------------------------------------------------------------------


def doctor(root: Path | str, *, require_signed: bool | None = None) -> DoctorReport:
    """Check every registry tag; problems make `gitml model doctor` exit non-zero."""
    reg = _Registry(root)
    signed = reg.policy.registry.require_signed if require_signed is None else require_signed
    stages = set(reg.policy.registry.stages)
    findings: list[Finding] = []
    registry_tags: list[RawTag] = []
    for raw in reg.tags:
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
    # Every artifact's register/assign commits must carry the artifact (one git call each).
    unsigned_state = build_state(reg.tags)
    for art in unsigned_state.artifacts.values():
        commits = sorted(
            {e.commit for e in art.events if e.action in (Action.REGISTER, Action.ASSIGN)}
        )
        at = reg.dvc.artifacts_at(art.name, commits)
        for event in art.events:
            if event.action not in (Action.REGISTER, Action.ASSIGN):
                continue
            found = at[event.commit]
            if not found.declared:
                findings.append(
                    Finding(
                        "problem",
                        event.tag,
                        f"commit {event.commit[:12]} does not declare "
                        f"'{art.name}' under artifacts: in dvc.yaml",
                    )
                )
            elif found.md5 is None:
                findings.append(
                    Finding(
                        "problem",
                        event.tag,
                        f"commit {event.commit[:12]} has no md5 for '{found.path}' in dvc.lock",
                    )
                )
            if event.action is Action.ASSIGN and event.version == event.commit:
                findings.append(Finding("warning", event.tag, "assigns an unregistered commit"))
        seen: dict[int, str] = {}
        for event in art.events:
            if event.counter is None:
                continue
            if event.counter in seen:
                findings.append(
                    Finding(
                        "problem",
                        event.tag,
                        f"counter #{event.counter} is also used by "
                        f"'{seen[event.counter]}': their order is ambiguous",
                    )
                )
            seen[event.counter] = event.tag
    if signed:
        for raw in registry_tags:
            if raw.annotated:
                ok, said = reg.git.verify_tag(raw.name)
                if not ok:
                    detail = "unsigned" if not raw.signed else f"bad signature ({said})"
                    findings.append(Finding("problem", raw.name, f"{detail}; signing is required"))
    return DoctorReport(tuple(findings))
