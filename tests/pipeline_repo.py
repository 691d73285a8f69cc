"""Real temp git + DVC copies of this project, for the pipeline's integration and e2e tests.

The template is built once per session (git init, a commit of the project's tracked files) and
copied per test, in the style of DVC's own fixtures. Stages run the `python` of this venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The identity of every commit a test makes (git needs one; CI machines often have none).
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "gitml test",
    "GIT_AUTHOR_EMAIL": "test@gitml.invalid",
    "GIT_COMMITTER_NAME": "gitml test",
    "GIT_COMMITTER_EMAIL": "test@gitml.invalid",
}


def env() -> dict[str, str]:
    """Environment for git/dvc subprocesses: this venv first on PATH, a fixed git identity."""
    out = dict(os.environ)
    out["PATH"] = f"{BIN}{os.pathsep}{out.get('PATH', '')}"
    out.update(GIT_IDENTITY, DVC_NO_ANALYTICS="1")
    out.pop("PYTHONPATH", None)
    return out


def run(
    args: list[str], cwd: Path, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in `cwd`; on an unexpected exit code fail with its output."""
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n"
            f"--- stderr\n{proc.stderr}"
        )
    return proc


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run this venv's dvc."""
    return run([str(BIN / "dvc"), *args], cwd, check)


def gitml_ok(*args: str, cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run this venv's `gitml`; assert its exit code (0 unless told), with its output on failure."""
    proc = subprocess.run(
        [str(BIN / "gitml"), *args], cwd=cwd, env=env(), capture_output=True, text=True
    )
    assert proc.returncode == code, f"gitml {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def commit_all(repo: Path, message: str) -> None:
    """`git add -A` and commit in `repo`."""
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)


def tracked_files() -> list[str]:
    """The project's files as git sees them (tracked, plus untracked and not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [p for p in out.split("\0") if p and (ROOT / p).is_file()]


PIPELINE_FILES = (
    "dvc.yaml",
    "params.yaml",
    "conf/",
    "stages/",
    "src/gitml/",
    "data/",
    "models/",
    "reports/",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
)


def make_template(dest: Path, n_rows: int = 3000) -> Path:
    """A git repo holding the pipeline's files, with the default data shrunk to `n_rows`."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in tracked_files():
        if not rel.startswith(PIPELINE_FILES) or rel == "dvc.lock":
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    conf = dest / "conf/data/synthetic_credit.yaml"
    text = conf.read_text(encoding="utf-8").replace("n_rows: 20000", f"n_rows: {n_rows}")
    conf.write_text(text, encoding="utf-8")
    params = yaml.safe_load((dest / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["n_rows"] = n_rows
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "template"], dest)
    return dest


def copy_repo(template: Path, dest: Path) -> Path:
    """A private copy of a template repo (git metadata included)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest
