"""The model card: rendered by `make run`'s pipeline, filled with its version by the registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.pipeline_repo import BIN, env, run

pytestmark = pytest.mark.integration


def gitml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gitml"), *args], cwd=cwd, env=env(), capture_output=True, text=True
    )


def test_pipeline_card_is_complete_and_registry_fills_the_version(ran_repo: Path) -> None:
    card = (ran_repo / "reports/model_card.md").read_text()
    assert "{{" not in card and "{%" not in card
    for section in (
        "## Model details",
        "## Intended use",
        "## Limitations",
        "## Training data",
        "## Metrics",
        "## Slice metrics",
        "## Permutation importance",
        "## What drives the predictions",
    ):
        assert section in card
    assert_drivers_match(ran_repo, card)
    assert "Rows validated | 3000" in card and "### `gender`" in card
    assert "unregistered <!-- gitml:version -->" in card
    run(["git", "add", "-A"], ran_repo)
    run(["git", "commit", "-qm", "results"], ran_repo)
    reg = gitml("model", "register", "--version", "v1.0.0", "--no-push", cwd=ran_repo)
    assert reg.returncode == 0, reg.stderr
    filled = gitml("model", "card", "v1.0.0", cwd=ran_repo)
    assert filled.returncode == 0, filled.stderr
    assert "**Version:** `classifier@v1.0.0` (commit `" in filled.stdout
    assert "gitml:version" not in filled.stdout
    missing = gitml("model", "card", "v9.9.9", cwd=ran_repo)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def stage_cmd(repo: Path, stage: str) -> list[str]:
    """A stage's command from dvc.yaml, run with this venv's python."""
    cmd = str(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"][stage]["cmd"]).split()
    assert cmd[0] == "python", cmd
    return [str(BIN / "python"), *cmd[1:]]


def assert_drivers_match(repo: Path, card: str) -> None:
    """The card shows reports/contributions.json; rerunning the contributions and model_card
    stages writes both again byte for byte."""
    raw = (repo / "reports/contributions.json").read_bytes()
    summary = json.loads(raw)
    assert summary["explained"] is True and summary["method"] == "tree", summary
    assert summary["sample"]["rows"] == min(1000, summary["sample"]["of"])
    section = card.split("## What drives the predictions\n", 1)[1]
    (out,) = summary["outputs"]
    for f in out["features"]:
        assert f"| {f['feature']} | {f['mean_abs']:.4f} | {100 * f['share']:.1f}% |" in section
    assert sum(f["share"] for f in out["features"]) == pytest.approx(1.0, abs=1e-5)
    for stage in ("contributions", "model_card"):
        cmd = [
            {"reports/contributions.json": "again.json", "reports/model_card.md": "again.md"}.get(
                arg, arg
            )
            for arg in stage_cmd(repo, stage)
        ]
        done = subprocess.run(cmd, cwd=repo, env=env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert (repo / "again.json").read_bytes() == raw
    assert (repo / "again.md").read_text() == card
