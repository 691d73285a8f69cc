"""The registry's trust policy: which events count for a protected stage. Pure: no git here.

`registry.trust` in conf/gitml.yaml gives each stage a level (`gitml.policy.TRUST_LEVELS`):

- `any`: every GTO assignment tag counts (GTO's own rule);
- `gitml`: only tags gitml wrote: the structured YAML body naming the same action, artifact,
  stage and commit as the tag itself, and (for an assignment) a gate verdict: gates passed,
  `--force` with a reason, or a rollback with a reason;
- `signed`: a `gitml` tag that is also signed by a key under `registry.signers` (verified by git).

The resolver drops (un)assignments of a protected stage that do not qualify and keeps the reason,
so `show`, `serve --stage` and the deploy workflow can say why; `doctor` reports them as errors.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gitml.registry.grammar import Action
from gitml.registry.model import Event

ANY, GITML, SIGNED = "any", "gitml", "signed"


@dataclass(frozen=True)
class Signature:
    """A tag's signature as verified against the policy's signers."""

    status: str  # unsigned | verified | unknown-signer | bad
    format: str | None = None  # ssh | gpg
    signer: str | None = None  # SSH principal or GPG user id
    key: str | None = None  # SSH key fingerprint or GPG primary-key fingerprint
    detail: str = ""

    @property
    def trusted(self) -> bool:
        return self.status == "verified"


UNSIGNED = Signature("unsigned")


def judge_signature(
    signed: bool,
    fmt: str | None,
    good: bool,
    key: str | None,
    principal: str | None,
    gpg_fingerprints: Collection[str],
    ssh_configured: bool,
    detail: str = "",
) -> Signature:
    """Combine what git verified with the policy's signers into one `Signature`.

    SSH: git checked the key against the allowed-signers file, so a good signature is trusted.
    GPG: git checked the signature against the keyring; the key must also be listed.
    """
    if not signed:
        return UNSIGNED
    if fmt == "ssh":
        if not ssh_configured:
            return Signature("unknown-signer", fmt, None, key, "no SSH allowed-signers file set")
        if good:
            return Signature("verified", fmt, principal, key, detail)
        if key is not None:  # git could check the signature, but no principal has the key
            return Signature("unknown-signer", fmt, None, key, "key not in allowed signers")
        return Signature("bad", fmt, None, None, detail)
    if fmt == "gpg":
        if good and key is not None and key.upper() in gpg_fingerprints:
            return Signature("verified", fmt, principal, key, detail)
        if good:
            return Signature("unknown-signer", fmt, principal, key, "key not in gpg_fingerprints")
        return Signature("bad", fmt, principal, key, detail or "gpg could not verify it")
    return Signature("bad", fmt, None, None, detail or "unrecognised signature")


def gate_verdict(action: Action, meta: Mapping[str, Any]) -> str | None:
    """What a gitml body says sanctioned an assignment: passed | forced | rollback | failed.

    None when the body gives no verdict (not an assignment, or not gitml's).
    """
    if action is not Action.ASSIGN or not meta:
        return None
    gates = meta.get("gates")
    reason = meta.get("reason")
    has_reason = isinstance(reason, str) and bool(reason.strip())
    if isinstance(gates, Mapping) and gates.get("passed") is True:
        return "passed"
    if meta.get("forced") is True and has_reason:
        return "forced"
    if gates is None and "rollback_of" in meta and has_reason:
        return "rollback"
    if isinstance(gates, Mapping) and gates.get("passed") is False:
        return "failed"
    return None


def gitml_problem(event: Event) -> str | None:
    """Why `event` is not a well-formed gitml event, or None when it is."""
    meta = event.meta
    if not meta:
        return "not written by gitml: the tag has no gitml body (a hand-made or GTO tag)"
    expected = {"action": event.action.value, "artifact": event.artifact, "commit": event.commit}
    if event.stage is not None:
        expected["stage"] = event.stage
    for key, value in expected.items():
        if meta.get(key) != value:
            return (
                f"its gitml body records {key} {meta.get(key)!r} but the tag says {value!r} "
                "(the tag was moved, or the body copied from another tag)"
            )
    if event.action is Action.ASSIGN:
        verdict = gate_verdict(event.action, meta)
        if verdict is None:
            return "its body has no gate verdict (gates passed, --force with a reason, or rollback)"
        if verdict == "failed":
            return "its gates failed and the promotion was not forced with a reason"
    elif event.action is Action.UNASSIGN:
        reason = meta.get("reason")
        if not (isinstance(reason, str) and reason.strip()):
            return "its body gives no reason"
    return None


def judge(event: Event, level: str, signature: Signature | None = None) -> str | None:
    """Why `event` does not count at trust `level`, or None when it counts.

    `signature` is needed for level `signed` only.
    """
    if level == ANY:
        return None
    problem = gitml_problem(event)
    if problem is not None:
        return problem
    if level == SIGNED:
        sig = signature or UNSIGNED
        if sig.status == "unsigned":
            return "unsigned, but the stage requires a signed tag"
        if sig.status == "unknown-signer":
            who = f" ({sig.key})" if sig.key else ""
            return f"signed by a key that is not an allowed signer{who}: {sig.detail}"
        if sig.status != "verified":
            return f"its signature does not verify: {sig.detail}"
    return None
