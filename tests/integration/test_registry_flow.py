"""The issue's "Done when" flow, end to end, against a temp repo with a bare remote on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gitml import registry
from gitml.errors import GitmlError
from tests.integration.registry_repo import (
    Project,
    git,
    gitml,
    md5,
    project,  # noqa: F401  (fixture)
    remote_tags,
    tags,
)

pytestmark = pytest.mark.integration


def test_register_promote_gate_force_rollback_lineage_doctor_get(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits

    # 1. register (pushed atomically to the bare remote)
    first = registry.register(root, c["good"], version="v1.0.0", reason="first model")
    assert first.tag == "classifier@v1.0.0" and first.pushed
    assert "classifier@v1.0.0" in remote_tags(project.origin)

    # 2. promote to staging: no champion, floors/fairness/checks pass
    staged = registry.promote(root, "v1.0.0", "staging")
    assert staged.tag == "classifier#staging#1" and staged.gates is not None and staged.gates.passed

    # 3. promote to production, gated; then a better version beats the champion
    registry.promote(root, "v1.0.0", "production")
    second = registry.register(root, c["better"], bump="minor")
    assert second.version == "v1.1.0"
    registry.promote(root, "v1.1.0", "staging")
    prod = registry.promote(root, "v1.1.0", "production", reason="better on every metric")
    assert prod.champion == "v1.0.0" and prod.gates is not None and prod.gates.passed
    assert {r.status for r in prod.gates.results if r.kind == "metric"} == {"improved"}
    assert registry.resolve(root, "classifier", "production").version == "v1.1.0"  # type: ignore[union-attr]

    # 4. a failing gate is refused (through the real CLI): exit 1, the table, no tag anywhere
    third = registry.register(root, c["worse"])
    assert third.version == "v1.1.1"
    before, before_remote = tags(root), remote_tags(project.origin)
    proc = gitml("model", "promote", "v1.1.1", "--to", "staging", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
    assert "regressed" in proc.stderr and "roc_auc" in proc.stderr
    assert "FAIL" in proc.stdout and "0.7800" in proc.stdout and "0.8300" in proc.stdout
    assert tags(root) == before and remote_tags(project.origin) == before_remote

    # 5. forced with a reason: recorded in the tag with the failed gate results
    with pytest.raises(GitmlError, match="--force needs --reason"):
        registry.promote(root, "v1.1.1", "staging", force=True)
    registry.promote(root, "v1.1.1", "staging", force=True, reason="hotfix: label leak")
    forced = registry.promote(root, "v1.1.1", "production", force=True, reason="incident 42")
    assert forced.gates is not None and not forced.gates.passed
    last = registry.history(root)[-1]
    assert last["tag"] == forced.tag and last["forced"] is True and last["reason"] == "incident 42"
    assert last["gates_passed"] is False
    assert last["details"]["champion"]["version"] == "v1.1.0"
    assert last["details"]["candidate"]["metrics"]["roc_auc"] == pytest.approx(0.78)
    assert last["details"]["artifact_md5"] == project.lock_md5(c["worse"])

    # 6. rollback: a new assignment that records rollback_of; the previous holder is back
    back = registry.rollback(root, "production", reason="p95 latency doubled")
    assert back.version == "v1.1.0" and back.champion == "v1.1.1"
    assert registry.resolve(root, None, "production").version == "v1.1.0"  # type: ignore[union-attr]
    row = registry.history(root)[-1]
    assert row["rollback_of"] == "v1.1.1" and row["reason"] == "p95 latency doubled"
    shown = json.loads(gitml("model", "show", "--json", cwd=root).stdout)
    assert shown["stages"] == {"staging": "v1.1.1", "production": "v1.1.0"}

    # 7. lineage
    lin = registry.lineage(root, "v1.1.0")
    assert lin["commit"] == c["better"] and lin["author"] == "Ada Tester"
    assert lin["subject"] == "train better"
    assert lin["params"]["train"]["auc"] == pytest.approx(0.83)
    assert lin["metrics"]["roc_auc"] == pytest.approx(0.83) and lin["validation_passed"] is True
    assert lin["artifact_md5"] == project.lock_md5(c["better"])
    assert lin["data_md5"]["data/train.parquet"] == project.lock_md5(
        c["better"], "data/train.parquet"
    )
    assert lin["params_hash"].startswith("md5:")
    assert [(e["event"], e["stage"]) for e in lin["events"]] == [
        ("register", None), ("assign", "staging"), ("assign", "production"),
        ("assign", "production"),
    ]  # fmt: skip
    assert lin["stages"] == ["production"]

    # 8. doctor: clean, then flags a lightweight and a malformed tag (exit 1 via the CLI)
    assert registry.doctor(root).ok
    assert gitml("model", "doctor", cwd=root).returncode == 0
    git("tag", "classifier#production#99", c["good"], cwd=root)
    git("tag", "-a", "-m", "oops", "classifier@1.0", c["good"], cwd=root)
    proc = gitml("model", "doctor", cwd=root)
    assert proc.returncode == 1
    assert "lightweight" in proc.stdout and "malformed" in proc.stdout
    # the lightweight tag does not move production
    assert registry.resolve(root, None, "production").version == "v1.1.0"  # type: ignore[union-attr]

    # 9. get through DVC from a fresh clone (empty DVC cache: bytes come from the DVC remote)
    clone = project.root.parent / "clone"
    git("clone", "-q", str(project.origin), str(clone), cwd=project.root.parent)
    out = project.root.parent / "served" / "model.skops"
    fetched = registry.get(clone, "production", out)
    assert fetched.version == "v1.1.0" and fetched.md5 == project.lock_md5(c["better"])
    assert md5(out) == fetched.md5 and out.read_bytes() == b"model auc=0.83" * 50
    proc = gitml("model", "get", "v1.0.0", "-o", str(out.parent), cwd=clone)
    assert proc.returncode == 0, proc.stderr
    assert md5(out.parent / "model.skops") == project.lock_md5(c["good"])

    # 10. a holder trained for another problem (params' data: section read at each commit): the
    # comparable gate refuses (no metric "improved" across datasets); --force records it
    def commit_problem(name: str, target: str, task: str) -> str:
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["data"] = {"name": name, "target": target, "task": task}
        (root / "params.yaml").write_text(yaml.safe_dump(params))  # the train stage is unchanged
        git("commit", "-q", "-am", f"declare {name}", cwd=root)
        return git("rev-parse", "HEAD", cwd=root)

    registry.register(root, commit_problem("credit", "default", "binary"), version="v2.0.0")
    credit = registry.promote(root, "v2.0.0", "staging")  # holder v1.1.1 declares no data:
    assert credit.gates is not None and credit.gates.passed  # not held against it, compared
    assert "comparable" not in {r.gate for r in credit.gates.results}
    registry.register(root, commit_problem("breast_cancer", "diagnosis", "binary"), bump="minor")
    before = tags(root)
    proc = gitml("model", "promote", "v2.1.0", "--to", "staging", "--no-push", cwd=root)
    assert proc.returncode == 1 and tags(root) == before, proc.stderr
    assert "dataset differs: credit vs breast_cancer" in proc.stdout and "n/a" in proc.stdout
    assert "Replacing v2.0.0 in 'staging'" in proc.stderr and "--force" in proc.stderr
    forced = registry.promote(root, "v2.1.0", "staging", force=True, reason="new problem")
    assert forced.gates is not None
    comparable = [r for r in forced.gates.results if r.gate == "comparable"]
    assert len(comparable) == 1 and comparable[0].interval is not None
    assert comparable[0].interval["champion"] == {
        "dataset": "credit", "target": "default", "task": "binary",
    }  # fmt: skip
    row = registry.history(root)[-1]
    assert row["forced"] is True and row["gates_passed"] is False


def test_get_refuses_bytes_that_do_not_match_dvc_lock(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    expected = project.lock_md5(c["good"])
    cached = root / ".dvc" / "cache" / "files" / "md5" / expected[:2] / expected[2:]
    cached.chmod(0o644)
    cached.write_bytes(b"tampered")
    out = root.parent / "out.skops"
    with pytest.raises(GitmlError) as info:
        registry.get(root, "v1.0.0", out)
    assert not out.exists()
    assert expected in info.value.render() or "DVC could not read" in info.value.render()
    assert not list(root.parent.glob(".out.skops.*"))


def test_cli_reads_match_the_api(project: Project) -> None:  # noqa: F811
    root, c = project.root, project.commits
    registry.register(root, c["good"], version="v1.0.0")
    registry.promote(root, "v1.0.0", "staging", reason="smoke")
    api_rows = registry.history(root)
    cli_rows = json.loads(gitml("model", "history", "--json", cwd=root).stdout)
    assert cli_rows == api_rows
    table = gitml("model", "history", cwd=root).stdout
    assert "classifier#staging#1" not in table and "smoke" in table and "staging" in table
    lineage = json.loads(gitml("model", "lineage", "v1.0.0", "--json", cwd=root).stdout)
    assert lineage == json.loads(json.dumps(registry.lineage(root, "v1.0.0")))


def test_every_model_command_has_help_and_is_documented() -> None:
    from gitml.registry.cli import model_app

    docs = (Path(__file__).resolve().parents[2] / "docs" / "registry.md").read_text()
    for command in model_app.registered_commands:
        assert command.callback is not None and command.callback.__doc__, command.name
        assert f"gitml model {command.name}" in docs, command.name
