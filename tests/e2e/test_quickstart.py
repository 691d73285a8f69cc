"""The README's quickstart on a fresh clone: `make run` installs, runs, and changes no tracked file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.pipeline_repo import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def sh(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    path = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in path if not p.startswith(str(ROOT)))
    env.setdefault("GIT_AUTHOR_NAME", "gitml e2e")
    env.setdefault("GIT_AUTHOR_EMAIL", "e2e@gitml.invalid")
    env.setdefault("GIT_COMMITTER_NAME", "gitml e2e")
    env.setdefault("GIT_COMMITTER_EMAIL", "e2e@gitml.invalid")
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_make_run_on_a_fresh_clone_reproduces_the_committed_results(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path)
    sh(["make", "run"], clone)
    assert (clone / ".venv/bin/gitml").exists(), "make run did not create .venv"
    assert (clone / "models/model.skops").exists()
    status = sh(["git", "status", "--porcelain", "--untracked-files=no"], clone).stdout
    assert status == "", f"make run changed tracked files:\n{status}"
    help_text = sh(["make"], clone).stdout
    for target in ("run", "test", "install", "lint"):
        assert target in help_text
