"""Registry test repos: real git + DVC, built once per session and copied per test.

The template is `work/repo` (a git + DVC project whose one stage writes the model and reports from
params), `work/origin.git` (a bare git remote) and `work/dvcstore` (a local DVC remote). Commits:
`bare` (dvc.yaml but no dvc.lock: it lacks the artifact), then `good`, `better` and `worse`, each
reproduced with `dvc repro`, committed, pushed to both remotes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
GITML = [sys.executable, "-m", "gitml.cli"]
GTO = str(VENV_BIN / "gto")
DVC = str(VENV_BIN / "dvc")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "DVC_NO_ANALYTICS": "1",
    "GTO_NO_ANALYTICS": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
}

POLICY = """\
# Test policy for the registry's integration tests.
artifact: classifier
outputs:
  metrics: reports/metrics.json
  slices: reports/slices.json
  validation: reports/validation.json
  model: models/model.skops
metrics:
  roc_auc: {higher_is_better: true, min_absolute_change: 0.002, tolerance: 0.005, floor: 0.70}
  average_precision: {higher_is_better: true, min_absolute_change: 0.002, tolerance: 0.01}
  log_loss: {higher_is_better: false, min_absolute_change: 0.002, tolerance: 0.01}
gates:
  metrics: [roc_auc, average_precision, log_loss]
  fairness: {demographic_parity_difference: 0.10}
  required_checks: [validation_passed]
registry:
  stages: [staging, production]
  require_previous_stage: true
  require_signed: false
  remote: origin
  data: [data/train.parquet]
"""

MAKE = """\
# The one stage: writes the model bytes and the reports from params.yaml.
import json, pathlib, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("models/model.skops").write_bytes(f"model auc={p['auc']}".encode() * 50)
pathlib.Path("data/train.parquet").write_bytes(b"train rows seed=" + str(p["seed"]).encode())
metrics = {"roc_auc": p["auc"], "average_precision": p["ap"], "accuracy": 0.8, "f1": 0.7,
           "log_loss": p["log_loss"], "brier": 0.15}
json.dump(metrics, open("reports/metrics.json", "w"), indent=2)
slices = {"sex": {"groups": {}, "demographic_parity_difference": p["dpd"],
                  "equalized_odds_difference": 0.05}}
json.dump(slices, open("reports/slices.json", "w"), indent=2)
json.dump({"passed": p["valid"], "rows": 100}, open("reports/validation.json", "w"))
"""

DVC_YAML = """\
stages:
  train:
    cmd: {python} make.py
    deps: [make.py]
    params: [train]
    outs: [models/model.skops, data/train.parquet]
    metrics:
      - reports/metrics.json: {{cache: false}}
artifacts:
  classifier:
    path: models/model.skops
    type: model
"""

VERSIONS = {
    "good": {"auc": 0.80, "ap": 0.60, "log_loss": 0.45, "dpd": 0.05, "valid": True, "seed": 1},
    "better": {"auc": 0.83, "ap": 0.63, "log_loss": 0.43, "dpd": 0.04, "valid": True, "seed": 2},
    "worse": {"auc": 0.78, "ap": 0.61, "log_loss": 0.44, "dpd": 0.05, "valid": True, "seed": 3},
}


def env() -> dict[str, str]:
    return {**os.environ, **GIT_ENV}


def run(*cmd: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), cwd=cwd, env=env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def git(*args: str, cwd: Path, check: bool = True) -> str:
    return run("git", *args, cwd=cwd, check=check).stdout.strip()


def gitml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (never raises)."""
    return run(*GITML, *args, cwd=cwd, check=False)


def gitml_inproc(
    *args: str, cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the same CLI in this process (typer's runner, `--root cwd`): no interpreter start-up.

    An exception other than SystemExit escaping the command is reported as exit code 99 with its
    traceback on stderr, so callers' "no traceback" checks still bite. `input` is its stdin.
    """
    import traceback

    from typer.testing import CliRunner

    from gitml.cli import app

    result = CliRunner().invoke(app, [*args, "--root", str(cwd)], input=input)
    stderr = result.stderr
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        stderr += "Traceback:\n" + "".join(traceback.format_exception(exc))
        code = 99
    return subprocess.CompletedProcess(args, code, result.stdout, stderr)


def dvc_inproc(*args: str, cwd: Path) -> None:
    """Run a DVC command in this process (saves DVC's start-up); raise on failure."""
    from dvc.cli import main

    previous = Path.cwd()
    os.chdir(cwd)
    try:
        code = main(list(args))
    finally:
        os.chdir(previous)
    if code != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed with {code}")


def tags(cwd: Path) -> set[str]:
    out = git("tag", "--list", cwd=cwd)
    return set(out.splitlines()) if out else set()


def remote_tags(origin: Path) -> set[str]:
    out = git("tag", "--list", cwd=origin)
    return set(out.splitlines()) if out else set()


def md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Project:
    """One private copy of the template."""

    root: Path  # the working repo
    origin: Path  # bare git remote
    dvcstore: Path  # DVC remote
    commits: dict[str, str]  # bare/good/better/worse -> sha

    def lock_md5(self, commit: str, path: str = "models/model.skops") -> str:
        import yaml

        lock = yaml.safe_load(git("show", f"{commit}:dvc.lock", cwd=self.root))
        for out in lock["stages"]["train"]["outs"]:
            if out["path"] == path:
                return str(out["md5"])
        raise KeyError(path)


def _write_params(root: Path, values: dict[str, object]) -> None:
    import yaml

    (root / "params.yaml").write_text(yaml.safe_dump({"train": values}, sort_keys=True))


def build_template(work: Path) -> dict[str, str]:
    """Build the template project under `work`; returns the named commits."""
    repo, origin, store = work / "repo", work / "origin.git", work / "dvcstore"
    repo.mkdir(parents=True)
    store.mkdir()
    run("git", "init", "-q", "--bare", "-b", "main", str(origin), cwd=work)
    git("init", "-q", "-b", "main", cwd=repo)
    for key, value in (
        ("user.name", "Ada Tester"),
        ("user.email", "ada@example.com"),
        ("commit.gpgsign", "false"),
        ("tag.gpgsign", "false"),
    ):
        git("config", key, value, cwd=repo)
    git("remote", "add", "origin", "../origin.git", cwd=repo)
    dvc_inproc("init", "-q", cwd=repo)
    dvc_inproc("config", "core.analytics", "false", cwd=repo)
    dvc_inproc("remote", "add", "-d", "store", "../dvcstore", cwd=repo)
    (repo / "conf").mkdir()
    (repo / "conf" / "gitml.yaml").write_text(POLICY)
    (repo / "make.py").write_text(MAKE)
    (repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    _write_params(repo, VERSIONS["good"])
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "project without a trained model", cwd=repo)
    commits = {"bare": git("rev-parse", "HEAD", cwd=repo)}
    for name, values in VERSIONS.items():
        _write_params(repo, values)
        dvc_inproc("repro", "-q", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", f"train {name}", cwd=repo)
        commits[name] = git("rev-parse", "HEAD", cwd=repo)
        dvc_inproc("push", "-q", cwd=repo)
    git("push", "-q", "origin", "main", cwd=repo)
    (work / "commits.json").write_text(json.dumps(commits))
    return commits


_TEMPLATE: dict[str, Path] = {}


def template(factory: pytest.TempPathFactory) -> Path:
    """The session's template (built on first use, shared by every test module)."""
    if "work" not in _TEMPLATE:
        work = factory.mktemp("registry-template")
        build_template(work)
        _TEMPLATE["work"] = work
    return _TEMPLATE["work"]


def copy_project(src: Path, dest: Path) -> Project:
    shutil.copytree(src, dest, symlinks=True)
    commits = json.loads((dest / "commits.json").read_text())
    return Project(dest / "repo", dest / "origin.git", dest / "dvcstore", commits)


@pytest.fixture
def project(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A private copy of the registry template project."""
    yield copy_project(template(tmp_path_factory), tmp_path / "work")
