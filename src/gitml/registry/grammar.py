"""GTO's tag grammar (gto 1.10 `gto/constants.py`), parsed and formatted; and semantic versions.

| action     | tag                  |
|------------|----------------------|
| register   | `name@vX.Y.Z`        |
| assign     | `name#stage#N`       |
| unassign   | `name#stage!#N`      |
| deregister | `name@vX.Y.Z!#N`     |
| deprecate  | `name@deprecated#N`  |

The counter `#N` is optional in the grammar (GTO's "simple" tags); GTO writes it for stage events
and numbers it per artifact: one more than the largest counter among that artifact's tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from gitml.names import NAME, NAME_RE

# Copied from GTO so both tools accept exactly the same names.
_NAME = NAME
_DIRNAME = r"[a-zA-Z0-9-_./]+"
_SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_FULLNAME_IN_TAG = f"(?P<dirname>{_DIRNAME}=)?(?P<name>{_NAME})"

FULLNAME_RE = re.compile(f"^({_DIRNAME}:)?{_NAME}$")
SEMVER_RE = re.compile(f"^v{_SEMVER}$")
TAG_RE = re.compile(
    f"^(?P<artifact>{_FULLNAME_IN_TAG})"
    f"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?))"
    r"|@((?P<deprecated>deprecated)|(?P<created>created)))"
    r"(#(?P<counter>[0-9]+))?$"
)


class Action(StrEnum):
    """What a registry tag records."""

    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"
    CREATE = "create"


@dataclass(frozen=True)
class TagName:
    """A parsed registry tag name."""

    artifact: str
    action: Action
    version: str | None = None
    stage: str | None = None
    counter: int | None = None

    def format(self) -> str:
        """The tag name again (round-trips with `parse_tag`)."""
        return format_tag(self.action, self.artifact, self.version, self.stage, self.counter)


def artifact_to_tag(artifact: str) -> str:
    """GTO writes `dir:name` artifacts as `dir=name` in tag names."""
    return artifact.replace(":", "=")


def tag_to_artifact(value: str) -> str:
    return value.replace("=", ":")


def parse_tag(name: str) -> TagName | None:
    """Parse a tag name; None when it is not a registry tag."""
    match = TAG_RE.match(name)
    if match is None:
        return None
    artifact = tag_to_artifact(match["artifact"])
    counter = int(match["counter"]) if match["counter"] else None
    if match["version"]:
        action = Action.DEREGISTER if match["cancel"] else Action.REGISTER
        return TagName(artifact, action, version=match["version"], counter=counter)
    if match["stage"]:
        action = Action.UNASSIGN if match["cancel"] else Action.ASSIGN
        return TagName(artifact, action, stage=match["stage"], counter=counter)
    if match["deprecated"]:
        return TagName(artifact, Action.DEPRECATE, counter=counter)
    return TagName(artifact, Action.CREATE, counter=counter)


def looks_like_registry_tag(name: str) -> bool:
    """Whether a tag name seems meant for the registry (used by doctor to flag malformed ones)."""
    return "@" in name or "#" in name


def format_tag(
    action: Action,
    artifact: str,
    version: str | None = None,
    stage: str | None = None,
    counter: int | None = None,
) -> str:
    """Format a registry tag name. Raises ValueError on a bad part."""
    if not FULLNAME_RE.match(artifact):
        raise ValueError(f"invalid artifact name {artifact!r}")
    base = artifact_to_tag(artifact)
    if action in (Action.REGISTER, Action.DEREGISTER):
        if version is None or not SEMVER_RE.match(version):
            raise ValueError(f"invalid version {version!r}")
        tag = f"{base}@{version}" + ("!" if action is Action.DEREGISTER else "")
    elif action in (Action.ASSIGN, Action.UNASSIGN):
        if stage is None or not NAME_RE.match(stage):
            raise ValueError(f"invalid stage {stage!r}")
        tag = f"{base}#{stage}" + ("!" if action is Action.UNASSIGN else "")
    elif action is Action.DEPRECATE:
        tag = f"{base}@deprecated"
    else:
        tag = f"{base}@created"
    return tag if counter is None else f"{tag}#{counter}"


# ---------------------------------------------------------------------------------------------
# Semantic versions: `vMAJOR.MINOR.PATCH[-prerelease][+build]`, ordered by semver precedence.


@dataclass(frozen=True)
class SemVer:
    """A parsed `vX.Y.Z` version; ordering follows semver 2.0 precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> SemVer:
        match = SEMVER_RE.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a version like v1.2.3")
        pre = match["prerelease"]
        return cls(
            int(match["major"]),
            int(match["minor"]),
            int(match["patch"]),
            tuple(pre.split(".")) if pre else (),
            match["buildmetadata"] or "",
        )

    def __str__(self) -> str:
        text = f"v{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Sort key: a release sorts after its prereleases; numeric ids before alphanumeric."""
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: SemVer) -> bool:
        return self.key() < other.key()

    def bump(self, part: str) -> SemVer:
        """The next version: `major`, `minor` or `patch` (prerelease and build dropped)."""
        if part == "major":
            return SemVer(self.major + 1, 0, 0)
        if part == "minor":
            return SemVer(self.major, self.minor + 1, 0)
        if part == "patch":
            return SemVer(self.major, self.minor, self.patch + 1)
        raise ValueError(f"bump must be major, minor or patch, not {part!r}")


FIRST_VERSION = SemVer(0, 0, 1)  # GTO's `SemVer.get_minimal()`


def next_version(existing: list[str], bump: str | None) -> str:
    """The version to register: `bump` (default patch) applied to the greatest existing version.

    With no version yet: v0.0.1 (GTO's first version), or the bump applied to v0.0.0.
    """
    parsed = [SemVer.parse(v) for v in existing]
    if not parsed:
        return str(SemVer(0, 0, 0).bump(bump) if bump else FIRST_VERSION)
    return str(max(parsed, key=SemVer.key).bump(bump or "patch"))
