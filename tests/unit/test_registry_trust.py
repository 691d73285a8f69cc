"""The trust policy's pure rules: which stage events count, gate verdicts, signatures."""

from __future__ import annotations

import pytest

from gitml.git import _parse_verification
from gitml.registry.grammar import Action
from gitml.registry.model import RawTag, build_state, format_message
from gitml.registry.trust import (
    Signature,
    gate_verdict,
    gitml_problem,
    judge,
    judge_signature,
)

pytestmark = pytest.mark.unit

T0 = 1_700_000_000
A, B = "a" * 40, "b" * 40
FPR = "22B20F49F2623D7EC055BB6DAD704C65CFF772D7"


def raw(name: str, commit: str, ts: int, body: dict | None = None) -> RawTag:
    message = format_message("subject", body) if body is not None else "subject"
    subject, _, rest = message.partition("\n\n")
    return RawTag(name, "tag", commit, timestamp=ts, subject=subject, body=rest)


def assign_body(commit: str, **extra: object) -> dict:
    body = {"action": "assign", "artifact": "churn", "stage": "prod", "commit": commit}
    return body | {"gates": {"passed": True}} | extra


TAGS = [
    raw("churn@v1.0.0", A, T0),
    raw("churn@v1.1.0", B, T0),
    raw("churn#prod#1", A, T0 + 1, assign_body(A)),
    raw("churn#prod#2", B, T0 + 2),  # hand-made: no body
]


def level_judge(level: str):
    return lambda event: judge(event, level) if event.stage == "prod" else None


def test_a_protected_stage_ignores_a_tag_without_a_gitml_body() -> None:
    assert build_state(TAGS).artifact("churn").holder("prod").version == "v1.1.0"  # type: ignore[union-attr]
    art = build_state(TAGS, judge=level_judge("gitml")).artifact("churn")
    assert art.holder("prod").version == "v1.0.0"  # type: ignore[union-attr]
    [ignored] = art.ignored("prod")
    assert ignored.tag == "churn#prod#2" and "no gitml body" in (ignored.ignored or "")
    assert len(art.events) == 4  # history keeps it


@pytest.mark.parametrize(
    ("extra", "verdict"),
    [
        ({}, "passed"),
        ({"gates": {"passed": False}, "forced": True, "reason": "why"}, "forced"),
        ({"gates": {"passed": False}, "forced": True, "reason": " "}, "failed"),
        ({"gates": None, "rollback_of": "v2", "reason": "slow"}, "rollback"),
        ({"gates": None, "rollback_of": "v2"}, None),
        ({"gates": None}, None),
    ],
)
def test_gate_verdicts(extra: dict, verdict: str | None) -> None:
    assert gate_verdict(Action.ASSIGN, assign_body(A, **extra)) == verdict


def test_a_body_must_match_its_tag() -> None:
    tags = [raw("churn@v1.0.0", A, T0), raw("churn#prod#1", B, T0 + 1, assign_body(A))]
    event = build_state(tags).artifact("churn").events[1]
    assert "records commit" in (gitml_problem(event) or "")
    other_stage = [raw("churn#prod#1", A, T0, assign_body(A, stage="dev"))]
    event = build_state(other_stage).artifact("churn").events[0]
    assert "records stage 'dev'" in (gitml_problem(event) or "")


def test_signed_level_needs_a_verified_signature() -> None:
    event = build_state(TAGS).artifact("churn").events[2]
    assert judge(event, "gitml") is None
    assert "unsigned" in (judge(event, "signed") or "")
    assert "not an allowed signer" in (judge(event, "signed", Signature("unknown-signer")) or "")
    assert judge(event, "signed", Signature("verified", "ssh", "ada")) is None


def test_signatures_are_judged_against_the_listed_signers() -> None:
    gpg_ok = judge_signature(True, "gpg", True, FPR, "Ada", (FPR,), False)
    assert gpg_ok.trusted and gpg_ok.key == FPR
    assert judge_signature(True, "gpg", True, FPR, "Ada", (), False).status == "unknown-signer"
    assert judge_signature(True, "gpg", False, None, None, (FPR,), False).status == "bad"
    assert judge_signature(True, "ssh", True, "SHA256:x", "ada", (), True).trusted
    assert judge_signature(True, "ssh", False, "SHA256:x", None, (), True).status == (
        "unknown-signer"
    )
    assert judge_signature(True, "ssh", True, "SHA256:x", "ada", (), False).status == (
        "unknown-signer"
    )
    assert judge_signature(False, None, False, None, None, (FPR,), True).status == "unsigned"


def test_git_verify_tag_output_is_read_for_ssh_and_gpg() -> None:
    ssh = 'Good "git" signature for ada@example.com with ED25519 key SHA256:abc'
    found = _parse_verification(True, ssh, "-----BEGIN SSH SIGNATURE-----")
    assert (found.good, found.format, found.principal, found.key) == (
        True,
        "ssh",
        "ada@example.com",
        "SHA256:abc",
    )
    unknown = 'Good "git" signature with ED25519 key SHA256:abc\nNo principal matched.'
    found = _parse_verification(False, unknown, "-----BEGIN SSH SIGNATURE-----")
    assert (found.good, found.principal, found.key) == (False, None, "SHA256:abc")
    gpg = (
        f"[GNUPG:] GOODSIG AD70 Ada <a@x>\n[GNUPG:] VALIDSIG {'0' * 40} 2026 1 0 4 0 22 8 00 {FPR}"
    )
    found = _parse_verification(True, gpg, "-----BEGIN PGP SIGNATURE-----")
    assert (found.good, found.format, found.key, found.principal) == (True, "gpg", FPR, "Ada <a@x>")
