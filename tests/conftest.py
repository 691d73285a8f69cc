"""Session fixtures shared by the suite: real temp git + DVC copies of the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pipeline_repo import GIT_IDENTITY, copy_repo, dvc, make_template
from tests.s3_server import s3_server  # noqa: F401 - one session fixture for the whole suite

# Tests make real commits (in-process too): give git an identity without touching any git config.
for _key, _value in GIT_IDENTITY.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's pipeline in a fresh git repo (3,000 rows), committed, not yet run."""
    return make_template(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture(scope="session")
def ran_template(tmp_path_factory: pytest.TempPathFactory, pipeline_template: Path) -> Path:
    """The template after one `dvc exp run`: every output present, dvc.lock written."""
    repo = copy_repo(pipeline_template, tmp_path_factory.mktemp("ran") / "repo")
    dvc("exp", "run", cwd=repo)
    return repo


@pytest.fixture
def pipeline_repo(tmp_path: Path, pipeline_template: Path) -> Path:
    """A private copy of the not-yet-run template."""
    return copy_repo(pipeline_template, tmp_path / "repo")


@pytest.fixture
def ran_repo(tmp_path: Path, ran_template: Path) -> Path:
    """A private copy of the template after a full run."""
    return copy_repo(ran_template, tmp_path / "repo")
