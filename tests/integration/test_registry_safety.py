"""Races on the remote, and signed tags: real git, real SSH signing keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml import registry
from gitml.errors import GitmlError
from gitml.registry import WriteOptions
from tests.integration.registry_repo import (
    Project,
    git,
    gitml_inproc,
    project,  # noqa: F401  (fixture)
    remote_tags,
    run,
    tags,
)

pytestmark = pytest.mark.integration


def clone(project: Project, name: str) -> Path:  # noqa: F811
    path = project.root.parent / name
    git("clone", "-q", str(project.origin), str(path), cwd=project.root.parent)
    git("config", "user.name", "Bob Racer", cwd=path)
    git("config", "user.email", "bob@example.com", cwd=path)
    git("config", "tag.gpgsign", "false", cwd=path)
    return path


def test_a_lost_race_is_a_clear_error_and_leaves_no_local_tag(project: Project) -> None:  # noqa: F811
    root = project.root
    registry.register(root, project.commits["good"], version="v1.0.0")
    rival = clone(project, "rival")
    won = registry.promote(rival, "v1.0.0", "staging", reason="bob was faster")
    assert won.tag == "classifier#staging#1" and won.pushed

    before = tags(root)
    stale = WriteOptions(fetch=False)  # as if bob pushed between our fetch and our push
    with pytest.raises(GitmlError, match="won the race") as info:
        registry.promote(root, "v1.0.0", "staging", reason="ada too", options=stale)
    assert "classifier#staging#1" in info.value.render()
    assert tags(root) == before  # the local tag was deleted again
    remote_tag = git("cat-file", "-p", "classifier#staging#1", cwd=project.origin)
    assert "bob was faster" in remote_tag  # the winner's tag is untouched

    # running again fetches bob's tag, sees the stage is already held, and changes nothing
    with pytest.raises(GitmlError, match="already holds"):
        registry.promote(root, "v1.0.0", "staging", reason="ada again")
    assert registry.resolve(root, None, "staging").version == "v1.0.0"  # type: ignore[union-attr]
    assert "classifier#staging#1" in tags(root)


def setup_ssh_signing(root: Path) -> None:
    key = root.parent / "signing_key"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada", "-f", str(key), cwd=root)
    public = (key.with_suffix(".pub")).read_text().strip()
    allowed = root.parent / "allowed_signers"
    allowed.write_text(f"ada@example.com {public}\n")
    git("config", "gpg.format", "ssh", cwd=root)
    git("config", "user.signingkey", str(key.with_suffix(".pub")), cwd=root)
    git("config", "gpg.ssh.allowedSignersFile", str(allowed), cwd=root)


def test_signed_tags_doctor_and_signed_only_resolution(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    setup_ssh_signing(root)
    signed = WriteOptions(sign=True)
    registry.register(root, c["good"], version="v1.0.0", options=signed)
    registry.promote(root, "v1.0.0", "staging", options=signed)
    assert "SSH SIGNATURE" in git("cat-file", "-p", "classifier#staging#1", cwd=root)
    assert registry.doctor(root, require_signed=True).ok
    assert gitml_inproc("model", "doctor", "--require-signed", cwd=root).returncode == 0

    # an unsigned promotion: doctor --require-signed fails and names it
    registry.register(root, c["better"], version="v1.1.0", options=signed)
    registry.promote(root, "v1.1.0", "staging")
    report = registry.doctor(root, require_signed=True)
    assert [(f.tag, "unsigned" in f.message) for f in report.problems] == [
        ("classifier#staging#2", True)
    ]
    proc = gitml_inproc("model", "doctor", "--require-signed", cwd=root)
    assert proc.returncode == 1 and "classifier#staging#2" in proc.stdout
    assert registry.doctor(root).ok  # signing not required by default

    # with registry.require_signed the resolver ignores the unsigned tag
    assert registry.resolve(root, None, "staging").version == "v1.1.0"  # type: ignore[union-attr]
    policy = root / "conf" / "gitml.yaml"
    policy.write_text(policy.read_text().replace("require_signed: false", "require_signed: true"))
    assert registry.resolve(root, None, "staging").version == "v1.0.0"  # type: ignore[union-attr]
    assert not registry.doctor(root).ok  # and doctor now requires signatures

    # a forged signature (a key not in allowed_signers) is reported as bad, not unsigned
    setup_other = root.parent / "other"
    setup_other.mkdir()
    other_key = setup_other / "key"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key), cwd=root)
    git("config", "user.signingkey", str(other_key.with_suffix(".pub")), cwd=root)
    git("tag", "-s", "-m", "forged", "classifier#staging#3", c["good"], cwd=root)
    problems = {f.tag: f.message for f in registry.doctor(root).problems}
    assert "bad signature" in problems["classifier#staging#3"]
    assert "classifier#staging#1" not in problems
    assert remote_tags(project.origin) >= {"classifier@v1.0.0", "classifier#staging#1"}
