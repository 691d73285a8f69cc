"""CI's run-cache and the sweeps, with the DVC remote on S3 (moto's server on 127.0.0.1).

The workflows' `run:` steps are played from the YAML by tests/workflow_sim.py, with the S3 keys as
repository secrets (so they reach only the steps that map them under `env:`). The module's
fixture is CI's first run on main: nothing computed yet, so `dvc repro` runs every stage and
`dvc push --run-cache` sends outputs and run-cache to the bucket. Then:

- a second CI run of the same commit, on a fresh runner, pulls the run-cache and restores the
  stage DVC could run-cache (ingest: DVC caches no run of a stage with a git-tracked output, and
  split depends on one) without running it;
- sweep.yml fans a two-point grid into a matrix (legs run one after the other here), each leg
  pulls, runs `dvc exp run -S` and `dvc exp push origin` (commit to git, outputs to S3), and the
  report job collects them into one `gitml report --all-exps` table;
- on one machine, `dvc exp run --queue` twice and `dvc exp run --run-all -j 2` run a sweep on two
  workers; `dvc exp show --json` has each point's params and metrics.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_workflow_simulation import free_port, ok
from tests.pipeline_repo import BIN, ROOT, dvc, env, make_template, run
from tests.s3_server import (
    S3Server,
    assert_secret_absent,
    configure_remote,
    git_texts,
)
from tests.workflow_sim import JobResult, Runner, install_fake_gh

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("s3")]

STAGES = ("ingest", "validate", "split", "train", "evaluate", "model_card")


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd).stdout.strip()


def step_log(job: JobResult, step: str) -> str:
    return job.step(step).stdout + job.step(step).stderr


class Loop:
    """origin, the S3 bucket, the runner, and CI's first run on main."""

    def __init__(self, author: Path, origin: Path, bucket: str, runner: Runner, server: S3Server):
        self.author, self.origin, self.bucket = author, origin, bucket
        self.runner, self.server = runner, server
        self.first: JobResult | None = None

    def ci_on_main(self) -> JobResult:
        results = self.runner.run("ci.yml", "push", ref="refs/heads/main", jobs=["reproduce"])
        ok(results, "reproduce")
        return results["reproduce"]


@pytest.fixture(scope="module")
def loop(
    s3_server: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Loop:
    tmp = tmp_path_factory.mktemp("s3-ci")
    author = make_template(tmp / "author", n_rows=1000)
    for rel in (".github", "ci", "Makefile", "pyproject.toml", "requirements.lock"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, author / rel)
        else:
            shutil.copy2(src, author / rel)
    bucket = s3_server.new_bucket("gitml-ci")
    configure_remote(dvc, author, s3_server, bucket)
    git("add", "-A", cwd=author)
    git("commit", "-q", "-m", "pipeline with an S3 remote (nothing computed yet)", cwd=author)
    origin = tmp / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp)
    git("remote", "add", "origin", str(origin), cwd=author)
    git("push", "-q", "origin", "main", cwd=author)

    fake_bin, state = tmp / "fake-bin", tmp / "fake-github"
    install_fake_gh(fake_bin, state)
    base_env = env()
    # No keys in the runner's environment: they come from `secrets` through the steps' `env:`.
    base_env.update(s3_server.env(), FAKE_GH_STATE=str(state), FAKE_GH_ORIGIN=str(origin))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del base_env[key]
    (tmp / "runner").mkdir()
    runner = Runner(
        project=author,
        origin=origin,
        work=tmp / "runner",
        bin_dirs=[fake_bin, BIN],
        base_env=base_env,
        vars={"GITML_SMOKE_PORT": str(free_port())},
        secrets={
            "GITHUB_TOKEN": "fake-token-for-fake-gh",
            "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        },
    )
    made = Loop(author, origin, bucket, runner, s3_server)
    made.first = made.ci_on_main()
    return made


def test_a_second_ci_run_pulls_the_run_cache_from_s3(loop: Loop) -> None:
    first = loop.first
    assert first is not None
    assert first.step("remote").outputs == {"configured": "true", "name": "s3"}
    first_log = step_log(first, "repro")
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first_log, first_log
    assert first.step("push").outcome == "success"
    keys = loop.server.keys(loop.bucket)
    assert any(k.startswith("store/runs/") for k in keys), keys

    second = loop.ci_on_main()  # a fresh runner: new checkout, empty DVC cache
    assert second.workspace != first.workspace
    assert second.step("pull").outcome == "success"
    # The run-cache came down from S3 into the fresh runner's cache.
    assert second.workspace is not None
    runs = list((second.workspace / ".dvc/cache/runs").rglob("*"))
    assert any(p.is_file() for p in runs)
    # No dvc.lock is committed here, so `dvc pull` alone fetches no outputs; `gitml.ci
    # restore-run-cache` pulls the outputs of the stages the run-cache holds and checks them out,
    # and `dvc repro` skips them. DVC run-caches no stage with a git-tracked (`cache: false`)
    # output, so ingest (the data) is restored and validate onwards rerun: split's run is cached
    # but depends on validate's git-tracked report (docs/scale.md); with the lock committed,
    # test_workflow_simulation shows nothing rerunning.
    pulled = step_log(second, "pull")
    assert second.step("pull").outputs.get("restored") == "ingest", pulled
    second_log = step_log(second, "repro")
    assert "Stage 'ingest' is cached - skipping run" in second_log, second_log
    assert "Running stage 'ingest'" not in second_log, second_log
    assert "Running stage 'train'" in second_log, second_log
    scanned = [loop.runner.work, loop.author]
    texts = tuple(step_log(j, s) for j in (first, second) for s in j.steps)
    assert_secret_absent(
        loop.server.secret_access_key, *scanned, texts=texts + git_texts(loop.origin)
    )


def test_sweep_workflow_fans_out_and_collects_one_table(loop: Loop) -> None:
    spec = "model.max_iter=20,40"
    results = loop.runner.run(
        "sweep.yml",
        "workflow_dispatch",
        ref="refs/heads/main",
        inputs={"spec": spec, "max_parallel": 2},
    )
    ok(results, "plan", "run", "report")
    matrix = json.loads(results["plan"].step("plan").outputs["matrix"])
    assert [m["overrides"] for m in matrix["include"]] == ["model.max_iter=20", "model.max_iter=40"]
    refs = git("for-each-ref", "--format=%(refname)", "refs/exps", cwd=loop.origin).splitlines()
    assert len(refs) == 2, refs  # both legs pushed their experiment to origin
    table = (loop.runner.artifacts / "gitml-sweep/sweep.md").read_text()
    for index in (0, 1):
        assert f"sweep-{loop.runner.run_counter}-{index}" in table, table
    assert re.search(r"\b20\b", table) and re.search(r"\b40\b", table), table
    assert "roc_auc" in table
    assert loop.server.secret_access_key not in table


def _exp_rows(rows: list[Any]) -> dict[str, dict[str, Any]]:
    """name -> {params, metrics} of every experiment in `dvc exp show --json` output."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        for exp in row.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                metrics = data.get("metrics", {}).get("reports/metrics.json", {}).get("data", {})
                found[rev.get("name") or exp.get("name")] = {"params": params, "metrics": metrics}
    return found


def test_a_queued_sweep_runs_on_two_workers(loop: Loop, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "-q", str(loop.origin), str(clone), cwd=tmp_path)
    extra = loop.server.env()

    def dvc_s3(*args: str) -> str:
        out = subprocess.run(
            [str(BIN / "dvc"), *args],
            cwd=clone,
            env={**env(), **extra},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, f"dvc {' '.join(args)}\n{out.stdout}\n{out.stderr}"
        return out.stdout + out.stderr

    dvc_s3("pull", "--run-cache", "--allow-missing")
    for depth in (2, 4):
        dvc_s3(
            "exp", "run", "--queue", "--name", f"depth-{depth}", "-S", f"model.max_depth={depth}"
        )
    dvc_s3("exp", "run", "--run-all", "-j", "2")  # blocks until both have finished
    rows = _exp_rows(json.loads(dvc_s3("exp", "show", "--json")))
    baseline = yaml.safe_load((clone / "params.yaml").read_text())
    for depth in (2, 4):
        point = rows[f"depth-{depth}"]
        params = point["params"]
        assert params["model"]["max_depth"] == depth, point
        # Only the swept key differs from the baseline's params.
        unswept = {
            **params,
            "model": {**params["model"], "max_depth": baseline["model"]["max_depth"]},
        }
        assert unswept == baseline, depth
        assert 0.5 < point["metrics"]["roc_auc"] <= 1.0, point
    assert rows["depth-2"]["metrics"] != rows["depth-4"]["metrics"]
