"""Registry governance: the trust policy, moved tags, shared commits, signing, the audit export.

Real git repositories (the registry template), a bare remote each test owns, real SSH keys.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from pathlib import Path

import pytest

from gitml import registry
from gitml.errors import GitmlError
from gitml.registry.reads import AUDIT_COLUMNS
from tests.integration.registry_repo import (
    GITML,
    Project,
    git,
    gitml_inproc,
    project,  # noqa: F401  (fixture)
    run,
)

pytestmark = pytest.mark.integration

HAND_MADE = "Assigning stage production to artifact classifier version v1.1.0"


def protect(root: Path, level: str = "gitml", signers: str = "") -> None:
    """Append a trust section for production to the test policy (and commit it)."""
    policy = root / "conf" / "gitml.yaml"
    text = policy.read_text()
    text = text.replace(
        "  require_signed: false\n",
        f"  require_signed: false\n  trust: {{production: {level}}}\n{signers}",
    )
    policy.write_text(text)
    git("commit", "-q", "-am", f"protect production ({level})", cwd=root)


def in_production(project: Project) -> None:  # noqa: F811
    """v1.0.0 (good) through staging into production with gitml; v1.1.0 (better) registered."""
    root, c = project.root, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    registry.promote(root, "v1.0.0", "staging")
    registry.promote(root, "v1.0.0", "production")
    registry.register(root, c["better"], version="v1.1.0")


def hand_tag(root: Path, name: str, commit: str, message: str = HAND_MADE) -> None:
    git("tag", "-a", name, "-m", message, commit, cwd=root)


def test_a_hand_made_production_tag_is_ignored_and_doctor_fails(
    project: Project,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, c = project.root, project.commits
    in_production(project)
    hand_tag(root, "classifier#production#12", c["better"])

    # Without a trust policy GTO's rule applies: the plain tag takes the stage (the finding).
    assert registry.resolve(root, None, "production").version == "v1.1.0"  # type: ignore[union-attr]

    protect(root)
    assert registry.resolve(root, None, "production").version == "v1.0.0"  # type: ignore[union-attr]
    shown = registry.show(root)
    assert shown["stages"]["production"] == "v1.0.0"
    assert shown["trust"] == {"staging": "any", "production": "gitml"}
    [ignored] = shown["ignored"]
    assert ignored["tag"] == "classifier#production#12"
    assert "no gitml body" in ignored["reason"]
    out = gitml_inproc("model", "show", cwd=root)
    assert out.returncode == 0
    assert "classifier#production#12 (production): not written by gitml" in out.stdout

    # serve --stage resolves through `get`: the trusted holder, and a warning naming the tag
    with caplog.at_level(logging.WARNING, logger="gitml.registry.fetch"):
        fetched = registry.get(root, "production", root.parent / "out.skops")
    assert fetched.version == "v1.0.0" and fetched.commit == c["good"]
    assert any("classifier#production#12" in r.getMessage() for r in caplog.records)

    # the deploy workflow's target: the pushed tag is refused; the stage resolves to v1.0.0
    deploy = [*GITML[:2], "gitml.ci", "deploy-target", "--root", str(root)]
    refused = run(*deploy, "--tag", "classifier#production#12", cwd=root, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "does not count for 'production'" in refused.stderr
    assert "Nothing was deployed" in refused.stderr
    target = run(*deploy, "--stage", "production", cwd=root)
    assert "version=v1.0.0" in target.stdout.splitlines()
    assert "ignored classifier#production#12" in target.stderr

    report = registry.doctor(root)
    assert [f.tag for f in report.errors] == ["classifier#production#12"]
    proc = gitml_inproc("model", "doctor", cwd=root)
    assert proc.returncode == 1
    assert "error    classifier#production#12: does not count for protected stage" in proc.stdout
    assert "1 error(s)" in proc.stdout

    # a promotion through gitml still counts
    registry.promote(root, "v1.1.0", "staging")
    registry.promote(root, "v1.1.0", "production")
    assert registry.resolve(root, None, "production").version == "v1.1.0"  # type: ignore[union-attr]


def test_a_copied_body_on_another_commit_does_not_count(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    in_production(project)
    protect(root)
    # the body of a real gitml promotion, pasted into a hand-made tag on another commit
    body = git("tag", "-l", "--format=%(contents)", "classifier#production#2", cwd=root)
    (root.parent / "msg").write_text(body + "\n")
    git("tag", "-a", "--cleanup=verbatim", "-F", str(root.parent / "msg"),
        "classifier#production#9", c["better"], cwd=root)  # fmt: skip
    resolution = registry.resolve_stage(root, None, "production")
    assert resolution.holder is not None and resolution.holder.version == "v1.0.0"
    [ignored] = resolution.ignored
    assert "records commit" in (ignored.ignored or "")
    errors = {f.tag: f.message for f in registry.doctor(root).errors}
    assert "moved" in errors["classifier#production#9"]


def clone(project: Project, name: str) -> Path:  # noqa: F811
    path = project.root.parent / name
    git("clone", "-q", str(project.origin), str(path), cwd=project.root.parent)
    for key, value in (("user.name", "Mallory"), ("user.email", "m@example.com")):
        git("config", key, value, cwd=path)
    git("config", "tag.gpgsign", "false", cwd=path)
    return path


def test_a_force_moved_registration_tag_stops_writes_and_doctor_flags_it(
    project: Project,  # noqa: F811
) -> None:
    root, c = project.root, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    registry.register(root, c["better"], version="v1.1.0")
    registry.promote(root, "v1.1.0", "staging")
    assert registry.doctor(root).ok
    local_before = git("rev-parse", "refs/tags/classifier@v1.1.0", cwd=root)

    # someone re-creates v1.1.0 on the older commit and force-pushes it to our bare remote
    other = clone(project, "mallory")
    git("tag", "-f", "-a", "classifier@v1.1.0", "-m", "Registering artifact classifier version "
        "v1.1.0", c["good"], cwd=other)  # fmt: skip
    git("push", "-q", "--force", "origin", "refs/tags/classifier@v1.1.0", cwd=other)
    remote_sha = git("rev-parse", "refs/tags/classifier@v1.1.0", cwd=project.origin)
    assert remote_sha != local_before

    with pytest.raises(GitmlError) as info:
        registry.promote(root, "v1.1.0", "production", reason="ship it")
    text = info.value.render()
    assert "'classifier@v1.1.0'" in text
    assert local_before[:12] in text and remote_sha[:12] in text
    assert "git fetch origin +refs/tags/TAG:refs/tags/TAG" in text
    # the local tag did not move, and nothing was written
    assert git("rev-parse", "refs/tags/classifier@v1.1.0", cwd=root) == local_before
    assert "classifier#production#2" not in git("tag", "--list", cwd=root)
    proc = gitml_inproc("model", "promote", "v1.1.0", "--to", "production", cwd=root)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "differ between this repository and remote 'origin'" in proc.stderr

    # where the moved tag landed (the clone), doctor names it and the shared commit
    errors = [(f.tag, f.message) for f in registry.doctor(other).errors]
    moved = [m for t, m in errors if t == "classifier@v1.1.0" and "force-moved" in m]
    assert moved and c["better"][:12] in moved[0] and c["good"][:12] in moved[0]
    shared = {t for t, m in errors if "shares commit" in m}
    assert shared == {"classifier@v1.0.0", "classifier@v1.1.0"}
    assert gitml_inproc("model", "doctor", cwd=other).returncode == 1


def test_two_versions_on_one_commit_is_a_doctor_error(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    assert registry.doctor(root).ok
    hand_tag(root, "classifier@v2.0.0", c["good"], "Registering artifact classifier version v2.0.0")
    report = registry.doctor(root)
    assert {f.tag for f in report.errors if "shares commit" in f.message} == {
        "classifier@v1.0.0",
        "classifier@v2.0.0",
    }
    # a deregistered version may share its commit with a re-registration
    registry.deregister(root, "v2.0.0", reason="registered twice by hand")
    assert not [f for f in registry.doctor(root).errors if "shares commit" in f.message]


def ssh_key(where: Path, name: str) -> Path:
    key = where / name
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key), cwd=where)
    return key


def use_key(root: Path, key: Path) -> None:
    git("config", "gpg.format", "ssh", cwd=root)
    git("config", "user.signingkey", str(key.with_suffix(".pub")), cwd=root)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_a_stage_that_requires_signed_tags(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    keys = root.parent / "keys"
    keys.mkdir()
    ada, eve = ssh_key(keys, "ada"), ssh_key(keys, "eve")
    (root / "conf" / "allowed_signers").write_text(
        f"ada@example.com {ada.with_suffix('.pub').read_text().strip()}\n"
    )
    git("add", "conf/allowed_signers", cwd=root)
    protect(root, "signed", "  signers: {ssh_allowed_signers: conf/allowed_signers}\n")
    signed = registry.WriteOptions(sign=True)

    use_key(root, ada)
    registry.register(root, c["good"], version="v1.0.0", options=signed)
    registry.promote(root, "v1.0.0", "staging", options=signed)
    registry.promote(root, "v1.0.0", "production", options=signed)
    assert registry.resolve(root, None, "production").version == "v1.0.0"  # type: ignore[union-attr]
    assert registry.doctor(root).ok

    registry.register(root, c["better"], version="v1.1.0")
    registry.promote(root, "v1.1.0", "staging")  # staging: any
    unsigned = registry.promote(root, "v1.1.0", "production")
    use_key(root, eve)
    unknown = registry.promote(root, "v1.1.0", "production", options=signed)
    resolution = registry.resolve_stage(root, None, "production")
    assert resolution.holder is not None and resolution.holder.version == "v1.0.0"
    reasons = {e.tag: e.ignored or "" for e in resolution.ignored}
    assert "unsigned" in reasons[unsigned.tag]
    assert "not an allowed signer" in reasons[unknown.tag]
    errors = {f.tag: f.message for f in registry.doctor(root).errors}
    assert set(errors) == {unsigned.tag, unknown.tag}

    use_key(root, ada)
    good = registry.promote(root, "v1.1.0", "production", options=signed)
    assert registry.resolve(root, None, "production").version == "v1.1.0"  # type: ignore[union-attr]

    # the audit export says who signed each event, verified against the policy's signers
    proc = gitml_inproc("model", "history", "--format", "csv", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rows = {r["tag"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    assert rows[good.tag]["signature"] == "verified"
    assert rows[good.tag]["signer"] == "ada@example.com"
    assert rows[unknown.tag]["signature"] == "unknown-signer"
    assert rows[unsigned.tag]["signature"] == "unsigned"
    assert rows[unsigned.tag]["counted"] == "false"
    assert "unsigned" in rows[unsigned.tag]["ignored_reason"]
    assert rows[good.tag]["counted"] == "true"


def test_history_exports_every_event_as_csv_and_json(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    registry.register(root, c["good"], version="v1.0.0", reason="first model")
    registry.promote(root, "v1.0.0", "staging")
    registry.register(root, c["worse"], version="v1.0.1")
    registry.promote(root, "v1.0.1", "staging", force=True, reason="needed for a demo")
    registry.rollback(root, "staging", reason="demo over")

    as_json = gitml_inproc("model", "history", "--format", "json", cwd=root)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert sorted(r["event"] for r in rows) == ["assign"] * 3 + ["register"] * 2
    by_tag = {r["tag"]: r for r in rows}
    first = by_tag["classifier@v1.0.0"]
    assert first["reason"] == "first model" and first["commit"] == c["good"]
    assert first["actor"] == "Ada Tester <ada@example.com>"
    assert first["timestamp"].endswith("Z") and first["signature"] == "unsigned"
    assert by_tag["classifier#staging#1"]["gate_verdict"] == "passed"
    forced = by_tag["classifier#staging#2"]
    assert forced["gate_verdict"] == "forced" and forced["forced"] is True
    assert forced["gates_passed"] is False and forced["reason"] == "needed for a demo"
    assert forced["registered_commit"] == c["worse"]
    assert by_tag["classifier#staging#3"]["gate_verdict"] == "rollback"
    assert all(r["counted"] for r in rows)

    as_csv = gitml_inproc("model", "history", "--format", "csv", cwd=root)
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["tag"] for r in table] == [r["tag"] for r in rows]
    row = next(r for r in table if r["tag"] == "classifier#staging#2")
    assert row["forced"] == "true" and row["gate_verdict"] == "forced"
    assert row["actor"] == "Ada Tester <ada@example.com>" and row["commit"] == c["worse"]
    assert row["signer"] == "" and row["signature"] == "unsigned"
    assert set(AUDIT_COLUMNS) <= set(table[0])

    bad = gitml_inproc("model", "history", "--format", "xml", cwd=root)
    assert bad.returncode != 0 and "Use table, json or csv" in bad.stderr
