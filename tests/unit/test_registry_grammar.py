"""GTO's tag grammar and semver bumps (pure)."""

from __future__ import annotations

import pytest

from gitml.registry.grammar import (
    Action,
    SemVer,
    TagName,
    format_tag,
    looks_like_registry_tag,
    next_version,
    parse_tag,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("churn@v1.2.3", TagName("churn", Action.REGISTER, version="v1.2.3")),
        (
            "churn@v1.2.3-rc.1+build.5",
            TagName("churn", Action.REGISTER, version="v1.2.3-rc.1+build.5"),
        ),
        ("churn#prod#12", TagName("churn", Action.ASSIGN, stage="prod", counter=12)),
        ("churn#prod", TagName("churn", Action.ASSIGN, stage="prod")),
        ("churn#prod!#13", TagName("churn", Action.UNASSIGN, stage="prod", counter=13)),
        ("churn@v1.2.3!#14", TagName("churn", Action.DEREGISTER, version="v1.2.3", counter=14)),
        ("churn@v1.2.3!", TagName("churn", Action.DEREGISTER, version="v1.2.3")),
        ("churn@deprecated#15", TagName("churn", Action.DEPRECATE, counter=15)),
        ("churn@deprecated", TagName("churn", Action.DEPRECATE)),
        (
            "models/dir=churn-2@v0.0.1",
            TagName("models/dir:churn-2", Action.REGISTER, version="v0.0.1"),
        ),
    ],
)
def test_parse_and_format_round_trip(tag: str, expected: TagName) -> None:
    assert parse_tag(tag) == expected
    assert expected.format() == tag


@pytest.mark.parametrize(
    "tag",
    [
        "v1.0.0",
        "churn@1.2.3",
        "churn@v1.2",
        "churn@v01.2.3",
        "churn#",
        "churn#prod#x",
        "-churn@v1.0.0",
        "churn#prod#1#2",
        "churn@v1.0.0#",
        "ch urn@v1.0.0",
    ],
)
def test_malformed_names_are_not_registry_tags(tag: str) -> None:
    assert parse_tag(tag) is None


def test_looks_like_registry_tag_flags_only_candidates() -> None:
    assert looks_like_registry_tag("churn@1.0")
    assert looks_like_registry_tag("churn#prod#x")
    assert not looks_like_registry_tag("release-1.0")


def test_format_rejects_bad_parts() -> None:
    with pytest.raises(ValueError, match="version"):
        format_tag(Action.REGISTER, "churn", version="1.0.0")
    with pytest.raises(ValueError, match="stage"):
        format_tag(Action.ASSIGN, "churn", stage="bad stage")
    with pytest.raises(ValueError, match="artifact"):
        format_tag(Action.ASSIGN, "-churn", stage="prod")


def test_semver_precedence() -> None:
    ordered = [
        "v0.9.0",
        "v1.0.0-alpha",
        "v1.0.0-alpha.1",
        "v1.0.0-alpha.beta",
        "v1.0.0-beta.2",
        "v1.0.0-beta.11",
        "v1.0.0-rc.1",
        "v1.0.0",
        "v1.0.1",
        "v1.10.0",
        "v2.0.0",
    ]
    shuffled = sorted(ordered, key=lambda v: v[::-1])
    assert sorted(shuffled, key=lambda v: SemVer.parse(v).key()) == ordered
    assert str(SemVer.parse("v1.0.0-rc.1+b7")) == "v1.0.0-rc.1+b7"


@pytest.mark.parametrize(
    ("existing", "bump", "expected"),
    [
        ([], None, "v0.0.1"),
        ([], "major", "v1.0.0"),
        ([], "minor", "v0.1.0"),
        (["v1.2.3"], None, "v1.2.4"),
        (["v1.2.3", "v1.10.0", "v1.9.9"], "patch", "v1.10.1"),
        (["v1.2.3"], "minor", "v1.3.0"),
        (["v1.2.3"], "major", "v2.0.0"),
        (["v2.0.0-rc.1"], "patch", "v2.0.1"),
    ],
)
def test_next_version(existing: list[str], bump: str | None, expected: str) -> None:
    assert next_version(existing, bump) == expected


def test_bump_rejects_unknown_part() -> None:
    with pytest.raises(ValueError, match="major, minor or patch"):
        SemVer.parse("v1.0.0").bump("micro")
