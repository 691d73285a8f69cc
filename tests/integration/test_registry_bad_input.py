"""Bad input through the real CLI: a clear one-paragraph error, non-zero exit, and no tag.

Errors leave no trace, so the cases run one after another on one project, each asserting that
neither the local nor the remote tag set changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml import registry
from tests.integration.registry_repo import (
    GTO,
    Project,
    git,
    gitml,
    gitml_inproc,
    project,  # noqa: F401  (fixture)
    remote_tags,
    run,
    tags,
)

pytestmark = pytest.mark.integration


def refused(
    root: Path, origin: Path, *args: str, expect: str, code: int = 2, subprocess: bool = False
) -> str:
    """Run `gitml model ARGS`; assert a clean refusal that created no tag. Returns stderr.

    In-process by default (the same typer app); `subprocess=True` runs the installed CLI.
    """
    before, before_remote = tags(root), remote_tags(origin)
    proc = (gitml if subprocess else gitml_inproc)("model", *args, cwd=root)
    assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one paragraph
    assert expect in proc.stderr, proc.stderr
    assert tags(root) == before and remote_tags(origin) == before_remote
    return proc.stderr


def test_bad_input_creates_no_tag(project: Project) -> None:  # noqa: F811
    root, origin, c = project.root, project.origin, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    registry.register(root, c["better"], version="v1.1.0")
    registry.promote(root, "v1.1.0", "staging")

    # register
    refused(root, origin, "register", c["good"], "--artifact", "fraud", "--version", "v9.0.0",
            expect="Unknown artifact 'fraud'", subprocess=True)  # fmt: skip
    refused(root, origin, "register", c["worse"], "--version", "1.2.0",
            expect="Did you mean v1.2.0?", subprocess=True)  # fmt: skip
    refused(root, origin, "register", c["worse"], "--version", "v1.0.0", expect="already exists")
    refused(root, origin, "register", c["worse"], "--version", "v2.0.0", "--bump", "major",
            expect="either --version or --bump")  # fmt: skip
    refused(root, origin, "register", c["good"], expect="already registered as classifier@v1.0.0")
    refused(root, origin, "register", c["bare"], "--version", "v0.1.0",
            expect="lacks the artifact")  # fmt: skip
    refused(root, origin, "register", "no-such-branch", expect="does not name a commit")

    # promote
    refused(root, origin, "promote", "v1.0.0", "--to", "prod", expect="Stage 'prod' is not in",
            subprocess=True)  # fmt: skip
    refused(
        root,
        origin,
        "promote",
        "v3.0.0",
        "--to",
        "staging",
        expect="v3.0.0 of 'classifier' is not registered",
    )
    refused(root, origin, "promote", "1.0", "--to", "staging", expect="not a version like")
    refused(root, origin, "promote", "v1.0.0", "--to", "staging", "--artifact", "fraud",
            expect="Unknown artifact 'fraud'")  # fmt: skip
    refused(root, origin, "promote", "v1.0.0", "--to", "production",
            expect="was never in 'staging'")  # fmt: skip
    refused(root, origin, "promote", "v1.1.0", "--to", "staging", expect="already holds")
    refused(root, origin, "promote", "v1.0.0", "--to", "staging", "--force",
            expect="--force needs --reason")  # fmt: skip
    # gates failing: exit 1 (v1.0.0 regresses against v1.1.0, the staging holder)
    refused(root, origin, "promote", "v1.0.0", "--to", "staging", expect="gates failed", code=1,
            subprocess=True)  # fmt: skip

    # rollback
    refused(root, origin, "rollback", "production", "--reason", "x", expect="is empty")
    refused(root, origin, "rollback", "staging", "--reason", "x",
            expect="no previous holder")  # fmt: skip
    refused(root, origin, "rollback", "staging", "--to", "v1.0.0", "--reason", "x",
            expect="never held 'staging'")  # fmt: skip

    # get
    out = str(root.parent / "out.bin")
    refused(root, origin, "get", "production", "-o", out, expect="is empty")
    refused(root, origin, "get", "v7.7.7", "-o", out, expect="not registered")

    # a dirty worktree
    params = root / "params.yaml"
    original = params.read_text()
    params.write_text(original + "# edited\n")
    refused(root, origin, "register", expect="uncommitted changes (params.yaml)")
    params.write_text(original)

    # a detached HEAD (registering HEAD)
    git("checkout", "-q", "--detach", cwd=root)
    refused(root, origin, "register", expect="HEAD is detached")
    git("checkout", "-q", "main", cwd=root)

    # no remote
    git("remote", "rename", "origin", "upstream", cwd=root)
    refused(root, origin, "promote", "v1.1.0", "--to", "production",
            expect="no git remote named 'origin'", subprocess=True)  # fmt: skip
    git("remote", "rename", "upstream", "origin", cwd=root)


def test_deregistered_and_deprecated_versions_cannot_be_promoted(project: Project) -> None:  # noqa: F811
    root, origin, c = project.root, project.origin, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    registry.register(root, c["better"], version="v1.1.0")
    registry.deregister(root, "v1.0.0", reason="trained on leaked labels")
    refused(root, origin, "promote", "v1.0.0", "--to", "staging", expect="was deregistered")
    # deprecate the whole artifact with gto itself (interop), then push the tag
    run(GTO, "deprecate", "classifier", cwd=root)
    git("push", "-q", "origin", "--tags", cwd=root)
    refused(root, origin, "promote", "v1.1.0", "--to", "staging", expect="is deprecated")
    assert registry.show(root)["deprecated"] is True
