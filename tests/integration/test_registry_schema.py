"""The registry's params hash covers the column schema file that params.yaml points to."""

from __future__ import annotations

import pytest
import yaml

from gitml.dvc import params_hash
from gitml.registry.store import Registry
from tests.integration.registry_repo import (
    Project,
    git,
    project,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.integration


def commit_schema(proj: Project, columns: dict[str, object], message: str) -> str:
    root = proj.root
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"] = {"schema": "conf/schema/t.yaml"}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=True))
    (root / "conf" / "schema").mkdir(parents=True, exist_ok=True)
    (root / "conf" / "schema" / "t.yaml").write_text(yaml.safe_dump({"columns": columns}))
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", message, cwd=root)
    return git("rev-parse", "HEAD", cwd=root).strip()


def test_a_changed_column_declaration_changes_the_params_hash(project: Project) -> None:  # noqa: F811
    age = {"dtype": "int64", "role": "feature", "nullable": False, "pii": False, "min": 18}
    first = commit_schema(project, {"age": age}, "schema v1")
    second = commit_schema(project, {"age": {**age, "min": 17}}, "schema v2: age from 17")
    reg = Registry(project.root)
    one, two = reg.snapshot("classifier", first), reg.snapshot("classifier", second)
    assert one.params is not None and two.params is not None
    assert one.params["data"]["columns"]["age"]["min"] == 18  # inlined from the file
    assert params_hash(one.params) != params_hash(two.params)
    # params.yaml itself is byte-identical between the two commits
    assert git("diff", first, second, "--", "params.yaml", cwd=project.root) == ""
