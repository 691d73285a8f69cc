"""Every workflow validates against GitHub's schema and follows the security policy of docs/ci.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflow_sim import condition, interpolate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
EXPECTED = {"ci", "register", "promote", "deploy", "monitor", "sweep", "pages"}
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
# Untrusted text must reach a script through env:, never pasted into it (script injection).
UNTRUSTED = re.compile(r"\$\{\{[^}]*(inputs\.|github\.event\.|github\.head_ref|matrix\.)")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(wf: dict[str, Any]) -> dict[str, Any]:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    return on if isinstance(on, dict) else {name: None for name in ([on] if on else [])}


def steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


ids = [p.stem for p in WORKFLOWS]


def test_all_seven_workflows_exist() -> None:
    assert {p.stem for p in WORKFLOWS} == EXPECTED


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids)
def test_validates_against_githubs_workflow_schema(path: Path) -> None:
    proc = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    proc = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids)
def test_security_policy(path: Path) -> None:
    wf = load(path)
    on = triggers(wf)
    assert "pull_request_target" not in on
    assert wf.get("permissions") == {}, "default to no permissions; grant per job"
    for name, job in wf["jobs"].items():
        assert "permissions" in job, f"job {name} lacks permissions:"
        granted = job["permissions"]
        assert isinstance(granted, dict) and "write-all" not in str(granted)
    for step in steps(wf):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{step['uses']} is not pinned to a commit sha"
        if "run" in step:
            assert not UNTRUSTED.search(step["run"]), f"untrusted expression in run: {step['run']}"
            assert "secrets." not in step["run"]
    for job in wf["jobs"].values():
        if "uses" in job:
            assert job["uses"].startswith("./.github/workflows/"), "reusable workflows are local"


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids)
def test_concurrency(path: Path) -> None:
    wf = load(path)
    groups = [wf.get("concurrency")] + [j.get("concurrency") for j in wf["jobs"].values()]
    groups = [g for g in groups if g]
    assert groups, "no concurrency group"
    for group in groups:
        assert group["group"]
        if path.stem in ("register", "promote"):
            # registry writes queue up; cancelling one half-way would drop a version or a promotion
            assert group["cancel-in-progress"] is False
        else:
            assert group["cancel-in-progress"] is True


def test_pull_request_steps_with_secrets_skip_forks() -> None:
    """Every ci.yml step that sees a secret or the token is off for a fork's pull request.

    The conditions are evaluated with the simulation's expression engine, with every step output
    set so as to enable the step (remote configured, report written).
    """
    wf = load(ROOT / ".github/workflows/ci.yml")
    assert "pull_request" in triggers(wf)
    status = {"success": True, "failure": False}
    for fork, repo in ((True, "someone/credit"), (False, "acme/credit")):
        event = {"pull_request": {"number": 3, "head": {"repo": {"full_name": repo}}}}
        ctx = {
            "github": {"event_name": "pull_request", "repository": "acme/credit", "event": event},
            "steps": {
                "remote": {"outputs": {"configured": "true"}},
                "report": {"outcome": "success", "outputs": {"regressed": "false"}},
            },
            "needs": {"reproduce": {"outputs": {"report": "true"}}},
        }
        seen = 0
        for job in wf["jobs"].values():
            for step in job.get("steps", []):
                if "secrets." in yaml.safe_dump(step.get("env") or {}):
                    seen += 1
                    runs = condition(job.get("if"), ctx, status) and condition(
                        step.get("if"), ctx, status
                    )
                    on_pr = "github.event_name == 'push' &&" not in str(step.get("if"))
                    assert runs is (not fork and on_pr), (fork, step.get("name"))
        assert seen >= 3


def test_checkouts_that_need_history_fetch_it_all() -> None:
    """Jobs that read tags, the merge-base or push need fetch-depth: 0."""
    needs_history = re.compile(r"gitml (model|report|retrain)|merge-base|exp push|exp pull|gates")
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            runs = " ".join(s.get("run", "") for s in job.get("steps", []))
            scripts = " ".join(
                (ROOT / m).read_text(encoding="utf-8") for m in re.findall(r"ci/\w+\.sh", runs)
            )
            if needs_history.search(runs + scripts) and name != "comment":
                checkout = next(s for s in job["steps"] if "actions/checkout" in s.get("uses", ""))
                assert str((checkout.get("with") or {}).get("fetch-depth")) == "0", (path, name)


def test_every_run_step_is_thin() -> None:
    """A `run:` calls gitml, make, dvc, python -m gitml.ci, a ci/ script, or plumbing (cat/echo)."""
    allowed = re.compile(
        r"^(gitml |make |dvc |python -m gitml\.ci |ci/[\w]+\.sh|\.ci/run|gh pr list |cat |echo |"
        r"mkdir |kill |printf |exit |\"\$RUNNER_TEMP|[A-Z_]+=)"
    )
    for path in WORKFLOWS:
        for step in steps(load(path)):
            for line in step.get("run", "").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", '"$')):
                    for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                        if part and not part.startswith(("\\", '"')):
                            assert allowed.match(part), f"{path.name}: {part}"


def test_deploy_is_reusable_and_tag_triggered_on_assignments_only() -> None:
    on = triggers(load(ROOT / ".github/workflows/deploy.yml"))
    assert "stage" in on["workflow_call"]["inputs"]
    patterns = on["push"]["tags"]
    assert "*#*#*" in patterns and "!*!#*" in patterns
    promote = load(ROOT / ".github/workflows/promote.yml")
    assert promote["jobs"]["deploy"]["uses"] == "./.github/workflows/deploy.yml"
    assert promote["jobs"]["promote"]["environment"] == "${{ inputs.stage }}"
    assert set(triggers(promote)["workflow_dispatch"]["inputs"]) == {
        "artifact",
        "version",
        "stage",
        "reason",
    }


def test_ci_pulls_the_run_cache_and_pushes_on_main() -> None:
    text = (ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    assert "dvc pull --run-cache --allow-missing && python -m gitml.ci restore-run-cache" in text
    assert "dvc repro" in text
    push = next(s for s in steps(load(ROOT / ".github/workflows/ci.yml")) if s.get("id") == "push")
    assert "refs/heads/main" in push["if"] and "dvc push" in push["run"]
    assert "cache: pip" in text


def secret_names(mapping: Any) -> list[str]:
    """The keys of an `env:` mapping whose value reads a secret."""
    return [k for k, v in (mapping or {}).items() if "secrets." in str(v)]


def is_install(step: dict[str, Any]) -> bool:
    return step.get("id") == "install" or "make install" in step.get("run", "")


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids)
def test_secrets_reach_single_steps_only(path: Path) -> None:
    """Least privilege: no workflow- or job-level env reads a secret; install steps see none.

    A job-level secret is in the environment of every step, `make install` (third-party build
    code) included; a step-level one only in the step that needs it.
    """
    wf = load(path)
    assert not secret_names(wf.get("env")), f"{path.name}: workflow-level env reads secrets"
    for name, job in wf["jobs"].items():
        assert not secret_names(job.get("env")), f"{path.name}: job {name} env reads secrets"
        for step in job.get("steps", []):
            if is_install(step):
                assert not secret_names(step.get("env")), f"{path.name}: {name} install step"
                assert "secrets." not in str(step.get("with") or {})


def test_the_secrets_check_can_fail() -> None:
    leaky = {"env": {"AWS_SECRET_ACCESS_KEY": "${{ secrets.AWS_SECRET_ACCESS_KEY }}", "A": "1"}}
    assert secret_names(leaky["env"]) == ["AWS_SECRET_ACCESS_KEY"]
    assert is_install({"id": "install", "run": "make install"})
    assert not secret_names({"PORT": "${{ vars.PORT }}"})


def test_steps_that_read_the_dvc_remote_get_the_cloud_secrets() -> None:
    """Every step that runs ci/dvc_auth.sh declares the secrets it passes on (and only those)."""
    seen = 0
    for path in WORKFLOWS:
        for step in steps(load(path)):
            if "ci/dvc_auth.sh" in step.get("run", ""):
                seen += 1
                assert "AWS_SECRET_ACCESS_KEY" in secret_names(step.get("env")), step.get("name")
    assert seen >= 7


def test_deploy_runs_in_a_protected_environment() -> None:
    """A tag-triggered deployment always needs the production environment's reviewers."""
    job = load(ROOT / ".github/workflows/deploy.yml")["jobs"]["deploy"]
    status = {"success": True, "failure": False}
    tag_push = {"github": {"ref_name": "classifier#production#12"}, "inputs": {}}
    assert interpolate(job["environment"], tag_push, status) == "production"
    staging_tag = {"github": {"ref_name": "classifier#staging#3"}, "inputs": {}}
    assert interpolate(job["environment"], staging_tag, status) == "production"
    called = {"github": {}, "inputs": {"stage": "staging"}}
    assert interpolate(job["environment"], called, status) == "staging"


def test_ci_checks_the_registry_on_every_push() -> None:
    wf = load(ROOT / ".github/workflows/ci.yml")
    push = triggers(wf)["push"]
    assert push["branches"] == ["**"] and push["tags"] == ["**"]
    job = wf["jobs"]["registry"]
    assert "if" not in job
    assert any(s.get("run", "").strip() == "gitml model doctor" for s in job["steps"])
