"""Golden cases for the one resolver: counters over clocks, rollback, unassign, two artifacts."""

from __future__ import annotations

import random

import pytest

from gitml.registry.grammar import Action
from gitml.registry.model import (
    RawTag,
    all_events,
    build_state,
    format_message,
    parse_body,
    previous_holder,
)

pytestmark = pytest.mark.unit

T0 = 1_700_000_000


def sha(label: str) -> str:
    return (label.encode().hex() * 40)[:40]


def tag(name: str, commit: str, ts: int = T0, body: str = "", **kw: object) -> RawTag:
    return RawTag(name=name, object_type="tag", commit=sha(commit), timestamp=ts, body=body, **kw)  # type: ignore[arg-type]


def registered(*versions: str, artifact: str = "churn", ts: int = T0) -> list[RawTag]:
    return [tag(f"{artifact}@{v}", v, ts) for v in versions]


def holder(tags: list[RawTag], stage: str, artifact: str = "churn", **kw: bool) -> str | None:
    found = build_state(tags, **kw).artifact(artifact).holder(stage)
    return found.version if found else None


def test_latest_counter_holds_the_stage() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0", T0 + 5),
        tag("churn#prod#2", "v2.0.0", T0 + 6),
    ]
    assert holder(tags, "prod") == "v2.0.0"
    assert holder(tags, "staging") is None


def test_counter_beats_clock_within_the_same_second() -> None:
    """500 assignments in one second: the last counter wins, not the tag name or list order."""
    versions = [f"v0.{i}.0" for i in range(1, 501)]
    tags = registered(*versions)
    tags += [tag(f"churn#prod#{i}", v, T0) for i, v in enumerate(versions, start=1)]
    random.Random(7).shuffle(tags)
    assert holder(tags, "prod") == "v0.500.0"


def test_counter_beats_a_skewed_clock() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0", T0 + 100),  # a machine with a fast clock wrote #1
        tag("churn#prod#2", "v2.0.0", T0 + 10),
    ]
    assert holder(tags, "prod") == "v2.0.0"


def test_unassign_empties_the_stage_without_falling_back() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0"),
        tag("churn#prod#2", "v2.0.0"),
        tag("churn#prod!#3", "v2.0.0"),
    ]
    assert holder(tags, "prod") is None


def test_unassigning_a_former_holder_leaves_the_current_one() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0"),
        tag("churn#prod#2", "v2.0.0"),
        tag("churn#prod!#3", "v1.0.0"),
    ]
    assert holder(tags, "prod") == "v2.0.0"


def test_reassign_after_unassign() -> None:
    tags = [
        *registered("v1.0.0"),
        tag("churn#prod#1", "v1.0.0"),
        tag("churn#prod!#2", "v1.0.0"),
        tag("churn#prod#3", "v1.0.0"),
    ]
    assert holder(tags, "prod") == "v1.0.0"


def rollback_body(of: str) -> str:
    return format_message("x", {"rollback_of": of}).split("\n\n", 1)[1]


def test_rollback_restores_and_a_second_rollback_goes_further_back() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0", "v3.0.0"),
        tag("churn#prod#1", "v1.0.0"),
        tag("churn#prod#2", "v2.0.0"),
        tag("churn#prod#3", "v3.0.0"),
    ]
    art = build_state(tags).artifact("churn")
    prev = previous_holder(art, "prod")
    assert prev is not None and prev.version == "v2.0.0"
    tags.append(tag("churn#prod#4", "v2.0.0", body=rollback_body("v3.0.0")))
    art = build_state(tags).artifact("churn")
    assert art.holder("prod").version == "v2.0.0"  # type: ignore[union-attr]
    prev = previous_holder(art, "prod")
    assert prev is not None and prev.version == "v1.0.0"  # never forward to v3 again
    tags.append(tag("churn#prod#5", "v1.0.0", body=rollback_body("v2.0.0")))
    assert previous_holder(build_state(tags).artifact("churn"), "prod") is None


def test_rollback_skips_deregistered_and_empty_spells() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0", "v3.0.0"),
        tag("churn#prod#1", "v1.0.0"),
        tag("churn#prod#2", "v2.0.0"),
        tag("churn#prod!#3", "v2.0.0"),
        tag("churn#prod#4", "v3.0.0"),
        tag("churn@v2.0.0!#5", "v2.0.0"),
    ]
    prev = previous_holder(build_state(tags).artifact("churn"), "prod")
    assert prev is not None and prev.version == "v1.0.0"


def test_deregistered_holder_and_deprecated_artifact_leave_stages_empty() -> None:
    base = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0"),
        tag("churn#prod#2", "v2.0.0"),
    ]
    assert holder([*base, tag("churn@v2.0.0!#3", "v2.0.0")], "prod") is None
    assert holder([*base, tag("churn@deprecated#3", "v1.0.0")], "prod") is None
    state = build_state([*base, tag("churn@v2.0.0!", "v2.0.0", T0 + 1)])
    assert not state.artifact("churn").versions["v2.0.0"].active


def test_two_artifacts_are_independent() -> None:
    tags = (
        registered("v1.0.0", "v2.0.0")
        + registered("v1.0.0", artifact="fraud")
        + [
            tag("churn#prod#1", "v1.0.0"),
            tag("churn#prod#2", "v2.0.0"),
            tag("fraud#prod#1", "v1.0.0"),
            tag("fraud#prod!#2", "v1.0.0"),
            tag("fraud#staging#3", "v1.0.0"),
        ]
    )
    state = build_state(tags)
    assert sorted(state.artifacts) == ["churn", "fraud"]
    assert holder(tags, "prod") == "v2.0.0"
    assert holder(tags, "prod", artifact="fraud") is None
    assert holder(tags, "staging", artifact="fraud") == "v1.0.0"
    assert state.artifact("fraud").max_counter == 3
    assert state.artifact("nothing").holder("prod") is None


def test_tags_without_counter_are_ordered_by_time() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0", T0 + 10),
        tag("churn#prod", "v2.0.0", T0 + 20),  # GTO "simple" tag, later in time
    ]
    assert holder(tags, "prod") == "v2.0.0"
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod", "v2.0.0", T0 + 5),
        tag("churn#prod#1", "v1.0.0", T0 + 10),
    ]
    assert holder(tags, "prod") == "v1.0.0"


def test_registration_precedes_same_second_assignment_in_history() -> None:
    tags = [tag("churn#prod#1", "v1.0.0", T0), tag("churn@v1.0.0", "v1.0.0", T0)]
    events = build_state(tags).artifact("churn").events
    assert [e.action for e in events] == [Action.REGISTER, Action.ASSIGN]
    assert events[1].version == "v1.0.0"


def test_lightweight_malformed_and_unsigned_tags() -> None:
    tags = [
        *registered("v1.0.0", "v2.0.0"),
        tag("churn#prod#1", "v1.0.0", signature="-----BEGIN SSH SIGNATURE-----\n"),
        tag("churn#prod#2", "v2.0.0"),  # unsigned
        RawTag("churn#prod#3", "commit", sha("v1.0.0")),  # lightweight: never counts
        tag("churn#prod#x", "v2.0.0"),  # malformed
    ]
    assert holder(tags, "prod") == "v2.0.0"
    signed = registered("v1.0.0", "v2.0.0") + tags[2:]
    signed = [
        RawTag(t.name, t.object_type, t.commit, timestamp=t.timestamp, signature="sig")
        if t.name.startswith("churn@")
        else t
        for t in signed
    ]
    assert holder(signed, "prod", signed_only=True) == "v1.0.0"


def test_assignment_of_an_unregistered_commit_uses_the_commit() -> None:
    tags = [tag("churn#prod#1", "abc")]
    version = build_state(tags).artifact("churn").holder("prod")
    assert version is not None and version.version == sha("abc") and not version.registered


def test_state_is_deterministic_under_input_order() -> None:
    tags = (
        registered("v1.0.0", "v2.0.0", "v3.0.0")
        + [
            tag(f"churn#{stage}#{i}", v, T0 + i // 3)
            for i, (stage, v) in enumerate(
                [
                    ("staging", "v1.0.0"),
                    ("prod", "v1.0.0"),
                    ("staging", "v2.0.0"),
                    ("prod", "v2.0.0"),
                    ("staging", "v3.0.0"),
                    ("prod", "v3.0.0"),
                ],
                start=1,
            )
        ]
        + [tag("churn#prod!#7", "v3.0.0", T0 + 2), tag("churn#prod#8", "v2.0.0", T0 + 2)]
    )
    reference = [e.tag for e in build_state(tags).artifact("churn").events]
    for seed in range(5):
        shuffled = tags[:]
        random.Random(seed).shuffle(shuffled)
        state = build_state(shuffled)
        assert [e.tag for e in state.artifact("churn").events] == reference
        assert state.artifact("churn").holder("prod").version == "v2.0.0"  # type: ignore[union-attr]
        assert state.artifact("churn").holder("staging").version == "v3.0.0"  # type: ignore[union-attr]


def test_journal_merges_artifacts_by_time() -> None:
    tags = [
        tag("churn@v1.0.0", "a", T0),
        tag("fraud@v1.0.0", "b", T0 + 1),
        tag("churn#prod#1", "a", T0 + 2),
    ]
    assert [e.tag for e in all_events(build_state(tags))] == [
        "churn@v1.0.0",
        "fraud@v1.0.0",
        "churn#prod#1",
    ]


def test_message_body_is_valid_yaml_with_the_same_content() -> None:
    import yaml

    body = {
        "reason": 'it\'s: "quoted" — ünïcode\nand a second line',
        "forced": False,
        "rollback_of": None,
        "metrics": {"roc_auc": 0.8312, "log_loss": 0.43, "rows": 1200},
        "gates": {"passed": True, "results": [{"gate": "roc_auc", "status": "improved"}]},
    }
    text = format_message("Assigning stage prod to artifact churn version v1.0.0", body)
    _subject, rest = text.split("\n\n", 1)
    assert yaml.safe_load(rest) == parse_body(rest) == {"gitml": 1, **body}


def test_message_body_round_trip_and_foreign_bodies() -> None:
    message = format_message("Assigning stage prod", {"reason": "ok: yes", "rollback_of": None})
    subject, body = message.split("\n\n", 1)
    assert subject == "Assigning stage prod"
    assert parse_body(body) == {"gitml": 1, "reason": "ok: yes", "rollback_of": None}
    assert parse_body("free text written by a human") == {}
    block_yaml = "gitml: 1\nreason: edited by hand\ngates:\n  passed: true\n"
    assert parse_body(block_yaml) == {
        "gitml": 1,
        "reason": "edited by hand",
        "gates": {"passed": True},
    }
    assert parse_body("gitml: [unclosed") == {}
    assert parse_body("gitml: 99\nreason: future schema") == {}
