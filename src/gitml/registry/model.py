"""The registry's event model and its one resolver. Pure: tags in, state out.

Ordering rule (the heart of correctness): events of one artifact are ordered by GTO's counter N.
Tags without a counter (GTO's "simple" tags, e.g. every `name@vX.Y.Z`) are ordered among themselves
by tagger time, then name, and merged into the counted sequence by tagger time: such a tag goes
before the first counted tag that is later than it (a same-second tie puts it first, so a
registration precedes the assignments of its version). Tagger time never reorders counted tags,
so assignments within the same second resolve correctly.

The holder of a stage is the version of the latest event for (artifact, stage) in that order.
An unassign of the holder empties the stage; it never falls back to an older assignment. A holder
that was later deregistered, or an artifact that was deprecated, also leaves the stage empty.

Trust: a `judge` (see `gitml.registry.trust`) may refuse stage events; such an event keeps its place
in the artifact's events (history shows it, with `ignored` saying why) but moves no stage.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitml.git import RawTag  # what the registry is built from (re-exported here)
from gitml.registry.grammar import Action, SemVer, parse_tag

try:  # libyaml is ~10x faster when history reads hundreds of tag bodies
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

#: The first key of the YAML body gitml writes under a tag's first line.
BODY_MARKER = "gitml"
BODY_SCHEMA = 1


@dataclass(slots=True)
class Event:
    """A registry event: one annotated tag, parsed, with its place in the artifact's order.

    `version` (for stage events) and `seq` are filled in by `build_artifact`; treat events as
    read-only after that.
    """

    tag: str
    artifact: str
    action: Action
    commit: str
    timestamp: int
    counter: int | None
    version: str | None  # register/deregister: from the tag; (un)assign: registered at the commit
    stage: str | None
    author: str
    author_email: str
    subject: str
    body: str
    signed: bool
    seq: int = 0  # position in the artifact's order
    ignored: str | None = None  # why the trust policy does not count it (None: it counts)

    @property
    def meta(self) -> dict[str, Any]:
        """The structured YAML body gitml writes; {} for tags written by other tools."""
        return parse_body(self.body)


def format_message(subject: str, body: Mapping[str, Any]) -> str:
    """A tag message: GTO-style first line, a blank line, then the YAML body.

    The body has one top-level key per line, each value written in YAML's JSON-compatible flow
    style (`key: {"a": 1}`): valid YAML for people and tools, and parsed line by line with `json`
    when read back, which keeps `history` over thousands of tags fast.
    """
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}"
             for key, value in {BODY_MARKER: BODY_SCHEMA, **body}.items()]  # fmt: skip
    return f"{subject}\n\n" + "\n".join(lines) + "\n"


def _parse_lines(body: str) -> dict[str, Any] | None:
    """The fast path for bodies gitml wrote: `key: <json>` per line; None if any line is not."""
    data: dict[str, Any] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(": ")
        if not sep or not key.isidentifier():
            return None
        try:
            data[key] = json.loads(value)
        except ValueError:
            return None
    return data


def parse_body(body: str) -> dict[str, Any]:
    """The YAML body of a gitml tag message, or {} when the body is not gitml's."""
    if not body.lstrip().startswith(f"{BODY_MARKER}:"):
        return {}
    data = _parse_lines(body)
    if data is None:  # edited by hand, or block-style YAML: the general parser
        try:
            data = yaml.load(body, Loader=_Loader)  # a safe loader
        except yaml.YAMLError:
            return {}
    return data if isinstance(data, dict) and data.get(BODY_MARKER) == BODY_SCHEMA else {}


def gto_subject(action: Action, artifact: str, version: str | None, stage: str | None) -> str:
    """GTO's default first line for each action, so `gto history` reads naturally."""
    if action is Action.REGISTER:
        return f"Registering artifact {artifact} version {version}"
    if action is Action.DEREGISTER:
        return f"Deregistering artifact {artifact} version {version}"
    if action is Action.ASSIGN:
        return f"Assigning stage {stage} to artifact {artifact} version {version}"
    if action is Action.UNASSIGN:
        return f"Unassigning stage '{stage}' to artifact '{artifact}' version '{version}'"
    return f"Deprecating artifact '{artifact}'"


@dataclass
class Version:
    """A registered version (or, for assignments GTO made to unregistered commits, a commit)."""

    artifact: str
    version: str  # vX.Y.Z, or the commit hexsha when the commit was never registered
    commit: str
    tag: str | None = None  # the registration tag
    registered_at: int | None = None
    registered: bool = True
    active: bool = True  # False once deregistered
    stages: list[str] = field(default_factory=list)  # stages it holds now

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "version": self.version,
            "commit": self.commit,
            "tag": self.tag,
            "registered_at": self.registered_at,
            "registered": self.registered,
            "active": self.active,
            "stages": list(self.stages),
        }


@dataclass(frozen=True)
class StageChange:
    """One (un)assignment in a stage's timeline and who held the stage right after it."""

    event: Event
    holder: str | None


@dataclass
class ArtifactState:
    """Everything the tags say about one artifact."""

    name: str
    events: list[Event] = field(default_factory=list)
    versions: dict[str, Version] = field(default_factory=dict)
    timelines: dict[str, list[StageChange]] = field(default_factory=dict)
    deprecated: bool = False

    @property
    def max_counter(self) -> int:
        return max((e.counter for e in self.events if e.counter is not None), default=0)

    def holder(self, stage: str) -> Version | None:
        """The version holding `stage` now, or None (empty, deregistered or deprecated)."""
        if self.deprecated:
            return None
        timeline = self.timelines.get(stage)
        if not timeline or timeline[-1].holder is None:
            return None
        version = self.versions.get(timeline[-1].holder)
        return version if version is not None and version.active else None

    def stage_names(self) -> list[str]:
        return sorted(self.timelines)

    def ignored(self, stage: str | None = None) -> list[Event]:
        """Events the trust policy does not count (of `stage` only, when given), in order."""
        return [e for e in self.events if e.ignored and (stage is None or e.stage == stage)]

    def sorted_versions(self) -> list[Version]:
        """Registered versions by semver, newest first; then unregistered commits."""
        registered = [v for v in self.versions.values() if v.registered]
        registered.sort(key=lambda v: SemVer.parse(v.version).key(), reverse=True)
        return registered + [v for v in self.versions.values() if not v.registered]


@dataclass
class RegistryState:
    """The registry: one `ArtifactState` per artifact named in the tags."""

    artifacts: dict[str, ArtifactState] = field(default_factory=dict)

    def artifact(self, name: str) -> ArtifactState:
        return self.artifacts.get(name) or ArtifactState(name)


def to_events(tags: Iterable[RawTag], *, signed_only: bool = False) -> list[Event]:
    """Parse registry tags into events; lightweight, malformed and (optionally) unsigned are out."""
    events: list[Event] = []
    for raw in tags:
        parsed = parse_tag(raw.name)
        if parsed is None or not raw.annotated or raw.target_type != "commit":
            continue
        if parsed.action is Action.CREATE or (signed_only and not raw.signed):
            continue
        events.append(
            Event(
                tag=raw.name,
                artifact=parsed.artifact,
                action=parsed.action,
                commit=raw.commit,
                timestamp=raw.timestamp,
                counter=parsed.counter,
                version=parsed.version,
                stage=parsed.stage,
                author=raw.tagger_name,
                author_email=raw.tagger_email,
                subject=raw.subject,
                body=raw.body,
                signed=raw.signed,
            )
        )
    return events


def order_events(events: Sequence[Event]) -> list[Event]:
    """Order one artifact's events: counted by N, uncounted by time, merged by time (see module)."""
    counted = sorted(
        (e for e in events if e.counter is not None),
        key=lambda e: (e.counter, e.timestamp, e.tag),
    )
    simple = sorted((e for e in events if e.counter is None), key=lambda e: (e.timestamp, e.tag))
    merged: list[Event] = []
    i = 0
    for event in counted:
        while i < len(simple) and simple[i].timestamp <= event.timestamp:
            merged.append(simple[i])
            i += 1
        merged.append(event)
    merged.extend(simple[i:])
    return merged


def _registered_at_commit(events: Sequence[Event]) -> dict[str, str]:
    """Which version each commit carries: its latest registration not later deregistered."""
    status: dict[str, bool] = {}
    by_commit: dict[str, list[str]] = {}
    for e in events:
        if e.action is Action.REGISTER and e.version:
            status[e.version] = True
            by_commit.setdefault(e.commit, []).append(e.version)
        elif e.action is Action.DEREGISTER and e.version:
            status[e.version] = False
    chosen: dict[str, str] = {}
    for commit, versions in by_commit.items():
        active = [v for v in versions if status.get(v)]
        chosen[commit] = (active or versions)[-1]
    return chosen


#: Says why an event does not count (None: it counts); see `gitml.registry.trust.judge`.
Judge = Callable[[Event], str | None]


def build_artifact(name: str, events: Sequence[Event], judge: Judge | None = None) -> ArtifactState:
    """Replay one artifact's events in order; stage events `judge` refuses move no stage."""
    ordered = order_events(events)
    state = ArtifactState(name)
    at_commit = _registered_at_commit(ordered)
    holders: dict[str, str | None] = {}
    for seq, event in enumerate(ordered):
        event.seq = seq
        if event.action in (Action.ASSIGN, Action.UNASSIGN):
            event.version = at_commit.get(event.commit, event.commit)
            event.ignored = judge(event) if judge is not None else None
        state.events.append(event)
        if event.ignored:
            continue
        if event.action is Action.REGISTER and event.version:
            state.versions[event.version] = Version(
                name, event.version, event.commit, event.tag, event.timestamp
            )
        elif event.action is Action.DEREGISTER and event.version:
            found = state.versions.get(event.version)
            if found is None:
                found = state.versions[event.version] = Version(
                    name, event.version, event.commit, None, None, registered=True
                )
            found.active = False
        elif event.action is Action.DEPRECATE:
            state.deprecated = True
        elif event.stage is not None and event.version is not None:
            if event.version not in state.versions:
                state.versions[event.version] = Version(
                    name, event.version, event.commit, registered=False
                )
            if event.action is Action.ASSIGN:
                holders[event.stage] = event.version
            elif holders.get(event.stage) == event.version:
                holders[event.stage] = None
            state.timelines.setdefault(event.stage, []).append(
                StageChange(event, holders.get(event.stage))
            )
    for stage in state.timelines:
        holder = state.holder(stage)
        if holder is not None:
            holder.stages.append(stage)
    return state


def build_state(
    tags: Iterable[RawTag], *, signed_only: bool = False, judge: Judge | None = None
) -> RegistryState:
    """The whole registry from raw tags: one pass to group, one replay per artifact."""
    grouped: dict[str, list[Event]] = {}
    for event in to_events(tags, signed_only=signed_only):
        grouped.setdefault(event.artifact, []).append(event)
    return RegistryState(
        {name: build_artifact(name, evs, judge) for name, evs in sorted(grouped.items())}
    )


def all_events(state: RegistryState) -> list[Event]:
    """Every artifact's events in one journal: by time, each artifact's own order kept."""
    streams = [a.events for a in state.artifacts.values()]
    # A k-way merge by timestamp keeps each artifact's order; ties go to the artifact name.
    keyed = [[(e.timestamp, e.artifact, e.seq, e) for e in s] for s in streams]
    return [item[3] for item in heapq.merge(*keyed, key=lambda t: (t[0], t[1], t[2]))]


def previous_holder(artifact: ArtifactState, stage: str) -> Version | None:
    """The version a rollback of `stage` restores by default.

    Walks the stage's timeline backwards past the current holder, skipping empty spells and any
    version that a later rollback moved away from (so rolling back twice goes further back, never
    forward again). Only active versions qualify.
    """
    timeline = artifact.timelines.get(stage, [])
    current = artifact.holder(stage)
    current_name = current.version if current else None
    excluded: set[str] = set()
    for change in reversed(timeline):
        name = change.holder
        if name is not None and name != current_name and name not in excluded:
            version = artifact.versions.get(name)
            if version is not None and version.active:
                return version
        rolled = change.event.meta.get("rollback_of") if change.event.body else None
        if isinstance(rolled, str):
            excluded.add(rolled)
    return None


def held_stage(artifact: ArtifactState, version: str, stage: str) -> bool:
    """Whether `version` was ever assigned `stage`."""
    return any(
        c.event.action is Action.ASSIGN and c.event.version == version
        for c in artifact.timelines.get(stage, [])
    )
