"""The workflows' `run:` steps, run in order from the YAML (tests/workflow_sim.py), on a local loop.

origin is a bare repository on disk, the DVC remote a local folder, `gh` the FAKE_GH of
tests/workflow_sim.py. The scenario: branch, change conf/, push; CI (run-cache hit, sticky report
comment); merge; register (tag on origin); promote to staging then production, which calls deploy
(digest verified, /health and /invocations answered); monitor a drifted batch (retrain branch on
origin, pull request body written), and its cooldown.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.pipeline_repo import BIN, ROOT, dvc, env, make_template, run
from tests.workflow_sim import (
    FakeGitHub,
    JobResult,
    Runner,
    WorkflowError,
    condition,
    install_fake_gh,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("workflows")]

MARKER = "<!-- gitml-report -->"


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd).stdout.strip()


def ok(results: dict[str, JobResult], *jobs: str) -> None:
    """Fail with the job's log unless every named job succeeded."""
    for job in jobs:
        result = results[job]
        if result.result != "success":
            inner = "\n".join(f"[{k}]\n{r.log()}" for k, r in result.called.items())
            raise WorkflowError(f"job {job} {result.result}\n{result.log()}\n{inner}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def remote_refs(origin: Path) -> str:
    return git("ls-remote", str(origin), cwd=origin)


@pytest.fixture
def loop(tmp_path: Path) -> dict[str, object]:
    """origin (bare), the author's clone with a trained main, a DVC remote folder, the runner."""
    author = make_template(tmp_path / "author", n_rows=2000)
    for rel in (".github", "ci", "Makefile", "pyproject.toml", "requirements.lock"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, author / rel)
        else:
            shutil.copy2(src, author / rel)
    # The shipped policy as it is: the model leans on debt_to_income (its top permutation
    # importance), and monitor.critical_top_features makes its drift alone dataset drift.
    storage = tmp_path / "dvc-remote"
    storage.mkdir()
    dvc("remote", "add", "-d", "storage", str(storage), cwd=author)
    dvc("repro", cwd=author)
    git("add", "-A", cwd=author)
    git("commit", "-q", "-m", "pipeline with a local DVC remote", cwd=author)
    dvc("push", "--run-cache", cwd=author)
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("remote", "add", "origin", str(origin), cwd=author)
    git("push", "-q", "origin", "main", cwd=author)

    state = tmp_path / "fake-github"
    fake_bin = tmp_path / "fake-bin"
    install_fake_gh(fake_bin, state)
    base_env = env()
    base_env.update(FAKE_GH_STATE=str(state), FAKE_GH_ORIGIN=str(origin))
    work = tmp_path / "runner"
    work.mkdir()
    runner = Runner(
        project=author,
        origin=origin,
        work=work,
        bin_dirs=[fake_bin, BIN],
        base_env=base_env,
        vars={"GITML_SMOKE_PORT": str(free_port())},
        secrets={"GITHUB_TOKEN": "fake-token-for-fake-gh"},
    )
    return {"author": author, "origin": origin, "runner": runner, "hub": FakeGitHub(state)}


def pr_event(number: int, head: str, head_sha: str, base_sha: str, fork: bool = False) -> dict:
    head_repo = "someone/credit" if fork else "acme/credit"
    return {
        "pull_request": {
            "number": number,
            "head": {"ref": head, "sha": head_sha, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "sha": base_sha, "repo": {"full_name": "acme/credit"}},
        }
    }


def test_the_loop(loop: dict) -> None:
    author: Path = loop["author"]
    origin: Path = loop["origin"]
    runner: Runner = loop["runner"]
    hub: FakeGitHub = loop["hub"]

    # 1. clone; branch; change conf/; run; push (with the run-cache) --------------------------
    base_sha = git("rev-parse", "HEAD", cwd=author)
    git("switch", "-q", "-c", "tune-leaves", cwd=author)
    conf = author / "conf/model/hist_gradient_boosting.yaml"
    conf.write_text(conf.read_text().replace("max_leaf_nodes: 31", "max_leaf_nodes: 8"))
    dvc("exp", "run", cwd=author)
    git("add", "-A", cwd=author)
    git("commit", "-q", "-m", "model: at most 8 leaves per tree", cwd=author)
    dvc("push", "--run-cache", cwd=author)
    git("push", "-q", "origin", "tune-leaves", cwd=author)
    head_sha = git("rev-parse", "HEAD", cwd=author)

    # 2. CI on the pull request ----------------------------------------------------------------
    event = pr_event(1, "tune-leaves", head_sha, base_sha)
    ci = runner.run("ci.yml", "pull_request", ref="refs/pull/1/merge", sha=head_sha, event=event)
    ok(ci, "test", "reproduce", "comment")
    assert ci["test"].step("test").replaced  # the suite is not run inside itself
    repro = ci["reproduce"]
    assert repro.step("remote").outputs == {"configured": "true", "name": "storage"}
    assert repro.step("pull").outcome == "success"
    repro_log = repro.step("repro").stdout + repro.step("repro").stderr
    # The author pushed the results: nothing retrains.
    assert "Running stage 'train'" not in repro_log, repro_log
    assert re.search(r"Stage 'train' (didn't change|is cached)", repro_log), repro_log
    assert repro.step("report").outputs == {"regressed": "false"}
    comments = hub.comments(1)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith(MARKER)
    assert re.search(r"^## gitml report: .+", body, flags=re.M)
    verdict = json.loads(
        run([str(BIN / "gitml"), "report", "--base", base_sha, "--format", "json"], author).stdout
    )["verdict"]
    assert verdict["passed"] is True
    assert (runner.artifacts / "gitml-report/report.html").read_text().lstrip().startswith("<!")
    assert MARKER in repro.summary

    # A second push to the same PR updates the comment in place.
    ci = runner.run("ci.yml", "pull_request", ref="refs/pull/1/merge", sha=head_sha, event=event)
    ok(ci, "reproduce", "comment")
    assert [c["id"] for c in hub.comments(1)] == [comments[0]["id"]]

    # 3. merge; CI on main pushes to DVC; register tags the new model ------------------------
    git("switch", "-q", "main", cwd=author)
    git("merge", "-q", "--no-ff", "-m", "Merge pull request #1", "tune-leaves", cwd=author)
    git("push", "-q", "origin", "main", cwd=author)
    push_event = {"before": base_sha, "after": git("rev-parse", "HEAD", cwd=author)}
    main_ci = runner.run(
        "ci.yml", "push", ref="refs/heads/main", event=push_event, jobs=["reproduce"]
    )
    ok(main_ci, "reproduce")
    assert main_ci["reproduce"].step("push").outcome == "success"
    assert main_ci["reproduce"].step("report").outcome == "skipped"

    register = runner.run("register.yml", "push", ref="refs/heads/main", event=push_event)
    ok(register, "register")
    assert register["register"].step("changed").outputs["changed"] == "true"
    assert register["register"].step("gates").outputs["passed"] == "true"
    assert "refs/tags/classifier@v0.0.1" in remote_refs(origin)

    # 4. promote to staging, then production; each calls deploy --------------------------------
    def promote(stage: str) -> dict[str, JobResult]:
        inputs = {"artifact": "classifier", "version": "v0.0.1", "stage": stage, "reason": "tuned"}
        return runner.run("promote.yml", "workflow_dispatch", ref="refs/heads/main", inputs=inputs)

    staging = runner.run(
        "promote.yml",
        "workflow_dispatch",
        ref="refs/heads/main",
        inputs={"artifact": "classifier", "version": "v0.0.1", "stage": "staging", "reason": "ok"},
        jobs=["promote"],
    )
    ok(staging, "promote")
    production = promote("production")
    ok(production, "promote", "deploy")
    refs = remote_refs(origin)
    assert "refs/tags/classifier#staging#1" in refs
    assert "refs/tags/classifier#production#2" in refs
    deployed = production["deploy"].called["deploy"]
    assert deployed.step("target").outputs["stage"] == "production"
    assert deployed.step("target").outputs["version"] == "v0.0.1"
    smoke = deployed.step("smoke").outputs
    assert smoke["version"] == "v0.0.1"
    assert smoke["digest"] == deployed.step("verify").outputs["digest"]
    assert "Deployed classifier@v0.0.1 to production" in deployed.summary

    # 5. monitor a drifted batch: a retrain branch on origin and its pull request ---------------
    batch = author.parent / "incoming" / "batch-2025-06.parquet"
    batch.parent.mkdir()
    run(
        [
            str(BIN / "gitml"),
            "data",
            "generate",
            "--scenario",
            "shifted_numeric",
            "--rows",
            "1500",
            "--seed",
            "7",
            "-o",
            str(batch),
        ],
        author,
    )
    runner.vars["GITML_BATCH_URL"] = str(batch)
    monitor = runner.run("monitor.yml", "schedule", ref="refs/heads/main")
    ok(monitor, "monitor", "retrain")
    assert monitor["monitor"].step("monitor").outputs == {"drift": "true"}
    branch = f"gitml/retrain/{runner.run_counter}"
    assert f"refs/heads/{branch}" in remote_refs(origin)
    prs = hub.prs()
    assert [(p["headRefName"], p["state"]) for p in prs] == [(branch, "OPEN")]
    pr_body = (hub.state / "pr-1.md").read_text(encoding="utf-8")
    assert MARKER in pr_body and "## gitml report:" in pr_body
    assert "Monitoring report" in pr_body
    files = run(
        ["git", "diff", "--name-only", "refs/heads/main", f"refs/heads/{branch}"], origin
    ).stdout.split()
    assert "dvc.lock" in files and any(f.startswith("data/external/batches/") for f in files)

    # Cooldown: while that pull request is open, monitoring opens no other.
    again = runner.run("monitor.yml", "schedule", ref="refs/heads/main")
    ok(again, "monitor")
    assert again["monitor"].step("cooldown").outputs["open"] == "true"
    assert again["retrain"].result == "skipped"
    assert len(hub.prs()) == 1


def test_fork_pull_requests_get_no_secrets_and_no_write_job(tmp_path: Path) -> None:
    """The guards, evaluated from ci.yml: a fork's PR skips the secret step and the comment job."""
    runner = Runner(ROOT, tmp_path, tmp_path, [], env(), secrets={"GITHUB_TOKEN": "t"})
    wf = runner.load("ci.yml")
    pull = next(s for s in wf["jobs"]["reproduce"]["steps"] if s.get("id") == "pull")
    assert "secrets." in json.dumps(pull["env"])
    status = {"success": True, "failure": False}
    for fork, expected in ((True, False), (False, True)):
        event = pr_event(2, "x", "a" * 40, "b" * 40, fork=fork)
        ctx = {
            "github": {"event_name": "pull_request", "repository": "acme/credit", "event": event},
            "steps": {"remote": {"outputs": {"configured": "true"}}},
            "needs": {"reproduce": {"outputs": {"report": "true"}}},
        }
        assert condition(pull["if"], ctx, status) is expected
        assert condition(wf["jobs"]["comment"]["if"], ctx, status) is expected


def test_fake_gh_refuses_calls_it_does_not_know_and_needs_a_token(tmp_path: Path) -> None:
    install_fake_gh(tmp_path / "bin", tmp_path / "state")
    env_ = dict(env(), FAKE_GH_STATE=str(tmp_path / "state"), GH_TOKEN="x")
    env_["PATH"] = f"{tmp_path / 'bin'}:{env_['PATH']}"
    proc = subprocess.run(["gh", "repo", "delete"], env=env_, capture_output=True, text=True)
    assert proc.returncode == 4 and "fake gh" in proc.stderr
    env_.pop("GH_TOKEN")
    proc = subprocess.run(["gh", "pr", "list"], env=env_, capture_output=True, text=True)
    assert proc.returncode == 4 and "GH_TOKEN" in proc.stderr
