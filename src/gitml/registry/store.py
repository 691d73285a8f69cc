"""One repository as the registry sees it: its policy, git and DVC adapters, the tags read once.

Reads (`reads`), writes (`writes`), `get` (`fetch`) and `doctor` all start from a `Registry`.
Every read goes through the one resolver (`gitml.registry.model`) over the tags from one
`git for-each-ref` call. A write is one annotated tag pushed with `git push --atomic`; when the
push is refused the local tag is deleted again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitml.compare import Evidence
from gitml.config import schema_path, with_schema
from gitml.dvc import Dvc, Snapshot, params_hash
from gitml.errors import GitmlError
from gitml.git import Git, PushRejected
from gitml.policy import Policy, load_policy
from gitml.registry import trust
from gitml.registry.grammar import NAME_RE, SEMVER_RE, looks_like_registry_tag, parse_tag
from gitml.registry.model import (
    ArtifactState,
    Event,
    RawTag,
    RegistryState,
    Version,
    build_state,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteOptions:
    """How an event is written: signing, pushing, the remote, fetching tags first."""

    sign: bool = False
    push: bool = True
    remote: str | None = None  # default: registry.remote from the policy
    fetch: bool = True


class Registry:
    """One repository: its policy, git and DVC adapters, and the tags read once."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.git = Git(self.root)
        self.git.ensure_repo()
        self.policy: Policy = load_policy(self.root)
        self.dvc = Dvc(self.root, self.git)
        self._tags: list[RawTag] | None = None
        self._state: RegistryState | None = None
        self._signatures: dict[str, trust.Signature] = {}

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
        """The registry as the trust policy sees it: refused stage events move no stage."""
        if self._state is None:
            self._state = build_state(
                self.tags, signed_only=self.policy.registry.require_signed, judge=self.judge
            )
        return self._state

    def refresh(self) -> None:
        self._tags = None
        self._state = None
        self._signatures = {}

    def judge(self, event: Event) -> str | None:
        """Why the trust policy does not count `event` for its stage (None: it counts)."""
        level = self.policy.registry.trust_level(event.stage)
        if level == trust.ANY:
            return None
        signature = self.signature(event.tag) if level == trust.SIGNED else None
        return trust.judge(event, level, signature)

    def signature(self, tag: str) -> trust.Signature:
        """The tag's signature, verified with git against `registry.signers` (cached)."""
        if tag not in self._signatures:
            raw = next((t for t in self.tags if t.name == tag), None)
            signers = self.policy.registry.signers
            if raw is None or not raw.signed:
                self._signatures[tag] = trust.UNSIGNED
            else:
                allowed = signers.ssh_allowed_signers
                path = (self.root / allowed) if allowed else self.root / ".git" / "no-signers"
                checked = self.git.verify_tag_raw(tag, raw.signature, allowed_signers=path)
                lines = [ln for ln in checked.output.splitlines() if "[GNUPG:]" not in ln]
                self._signatures[tag] = trust.judge_signature(
                    True,
                    checked.format,
                    checked.good,
                    checked.key,
                    checked.principal,
                    signers.gpg_fingerprints,
                    bool(allowed),
                    lines[-1] if lines else "",
                )
        return self._signatures[tag]

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
        version = strip_artifact(text, artifact.name, "@")
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
        """The commit's lineage; its params with the column schema inlined (`data.schema`)."""
        outputs = self.policy.outputs
        snap = self.dvc.snapshot(
            artifact,
            commit,
            reports=(outputs.metrics, outputs.slices, outputs.validation),
            params=self.policy.registry.params,
        )
        path = schema_path(snap.params)
        if path is None:
            return snap

        def read(rel: str) -> str | None:
            data = self.git.read_files([(commit, rel)])[(commit, rel)]
            return None if data is None else data.decode("utf-8", "replace")

        try:  # the params hash then covers every column declaration, as it did inline
            return replace(snap, params=with_schema(snap.params, read, f"commit {commit[:12]}"))
        except GitmlError as exc:
            log.warning("params of %s: %s", commit[:12], exc)
            return snap

    def evidence(self, snap: Snapshot) -> Evidence:
        out = self.policy.outputs
        metrics = snap.files.get(out.metrics)
        slices = snap.files.get(out.slices)
        validation = snap.files.get(out.validation)
        return Evidence(
            metrics=metrics if isinstance(metrics, Mapping) else {},
            slices=slices if isinstance(slices, Mapping) else None,
            validation=validation if isinstance(validation, Mapping) else None,
            params=snap.params,
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
            self.fetch_remote_tags(remote)
        return remote

    def fetch_remote_tags(self, remote: str) -> None:
        """Fetch the remote's new tags; stop when a registry tag differs on the two sides.

        A local tag is never moved to match the remote: a moved registration or assignment tag
        on the remote is someone rewriting the registry's history, which a person must resolve.
        """
        theirs = self.git.remote_tags(remote)
        ours = {t.name: t for t in self.tags}
        differ = sorted(
            name
            for name, sha in theirs.items()
            if name in ours and ours[name].object != sha and looks_like_registry_tag(name)
        )
        if differ:
            lines = "; ".join(
                f"'{name}' is {ours[name].object[:12]} (commit {ours[name].commit[:12]}) here but "
                f"{theirs[name][:12]} on '{remote}'"
                for name in differ
            )
            raise GitmlError(
                f"Registry tags differ between this repository and remote '{remote}': {lines}. "
                "Someone moved or re-created a tag; gitml overwrites neither side, and nothing "
                "was written.",
                f"Find out which is right (git show TAG; git ls-remote {remote} refs/tags/TAG). "
                f"To keep yours, restore the remote (git push --force {remote} refs/tags/TAG, "
                f"if tag rules allow it); to accept the remote's, run git fetch {remote} "
                "+refs/tags/TAG:refs/tags/TAG. Then run `gitml model doctor` and retry.",
            )
        new = sorted(name for name in theirs if name not in ours)
        if new:
            self.git.fetch_tags(remote, new)
            self.refresh()

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

    def open_for_write(
        self, artifact: str | None, options: WriteOptions, *, stage: str | None = None
    ) -> tuple[ArtifactState, str | None]:
        """Check `stage`, fetch the remote's tags, then find the artifact; returns it and the remote."""
        if stage is not None:
            self.check_stage(stage)
        remote = self.prepare_write(options)
        return self.known_artifact(self.artifact_name(artifact)), remote


def strip_artifact(text: str, artifact: str, sep: str) -> str:
    """`text` without a leading `artifact` and `sep` (`model@v1.0.0` -> `v1.0.0`)."""
    prefix = f"{artifact}{sep}"
    return text[len(prefix) :] if text.startswith(prefix) else text


def numeric_metrics(evidence: Evidence) -> dict[str, Any]:
    """The numeric metrics of `evidence`, for a tag body or a lineage."""
    return {k: v for k, v in evidence.metrics.items() if isinstance(v, int | float)}


def actor(git: Git) -> str:
    """Who writes: $GITML_ACTOR, $GITHUB_ACTOR, else git's user.name <user.email>."""
    explicit = os.environ.get("GITML_ACTOR") or os.environ.get("GITHUB_ACTOR")
    if explicit:
        return explicit
    name, email = git.config("user.name"), git.config("user.email")
    return f"{name or 'unknown'} <{email or 'unknown'}>"


def ci_run_url() -> str | None:
    """The CI run doing the write (GitHub Actions, GitLab, Jenkins), if any."""
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or None
