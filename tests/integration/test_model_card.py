"""The model card: rendered by `make run`'s pipeline, filled with its version by the registry."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
    ):
        assert section in card
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
