"""`dvc exp show` stays narrow: the column schema is one file dependency, not ~80 params.

The per-column declarations live in conf/schema/<name>.yaml (named by `data.schema`), not in
params.yaml, so DVC shows one param and one dependency column for them. A changed declaration
still re-runs the stages that read columns, and `gitml report` still diffs it key by key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pipeline_repo import dvc, run

pytestmark = pytest.mark.integration

SCHEMA = "conf/schema/synthetic_credit.yaml"
#: Stages whose command reads the declared columns (they list ${data.schema} in dvc.yaml).
READ_COLUMNS = {"ingest", "validate", "split", "train", "evaluate", "seed_noise"}


def _flat(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted leaf keys, as `dvc exp show` names its columns (lists are leaves)."""
    out: list[str] = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out.extend(_flat(value, f"{name}.") if isinstance(value, Mapping) and value else [name])
    return out


def _columns(repo: Path) -> dict[str, list[str]]:
    """The metrics, params and deps columns of the workspace row of `dvc exp show --json`."""
    rows = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    data = next(r for r in rows if r["rev"] == "workspace")["data"]
    return {
        "metrics": [k for f in data["metrics"].values() for k in _flat(f.get("data") or {})],
        "params": [k for f in data["params"].values() for k in _flat(f.get("data") or {})],
        "deps": list(data["deps"]),
    }


def test_exp_show_on_the_project_has_no_column_per_declaration(pipeline_repo: Path) -> None:
    cols = _columns(pipeline_repo)
    assert not [p for p in cols["params"] if p.startswith("data.columns")], cols["params"]
    assert "data.schema" in cols["params"] and SCHEMA in cols["deps"]
    assert len(cols["metrics"]) == 6, cols["metrics"]
    # Before: 6 metrics + 119 params (77 of them data.columns.*) + 31 deps = 156 data columns.
    # Now 6 + 44 + 37 (with the contributions stage). What is left is one column per knob and
    # per dependency path.
    assert len(cols["metrics"]) + len(cols["params"]) <= 55, cols["params"]
    assert len(cols["metrics"]) + len(cols["params"]) + len(cols["deps"]) <= 90, cols
    # The table DVC prints: Experiment and Created, then those columns.
    header = dvc("exp", "show", "--md", cwd=pipeline_repo).stdout.splitlines()[0]
    assert len([c for c in header.split("|") if c.strip()]) <= 92, header


def test_a_changed_declaration_reruns_its_stages_and_reports_key_by_key(ran_repo: Path) -> None:
    from gitml.report.api import build

    run(["git", "add", "-A"], ran_repo)
    run(["git", "commit", "-qm", "trained"], ran_repo)
    lock = yaml.safe_load((ran_repo / "dvc.lock").read_text(encoding="utf-8"))
    for stage in READ_COLUMNS:
        assert SCHEMA in {d["path"] for d in lock["stages"][stage]["deps"]}, stage
    assert dvc("status", "--json", cwd=ran_repo).stdout.strip() == "{}"

    # Loosen one bound: every row stays valid, so the rerun passes.
    schema = ran_repo / SCHEMA
    old = "age: {dtype: int64, role: feature, nullable: false, pii: false, min: 18, max: 100}"
    text = schema.read_text(encoding="utf-8")
    assert old in text
    schema.write_text(text.replace(old, old.replace("min: 18", "min: 17")), encoding="utf-8")

    # gitml report: the params diff names the declaration, as when it was a param.
    changes = {c.key: (c.base, c.head) for c in build(ran_repo, base="HEAD").params}
    assert changes == {"data.columns.age.min": (18, 17)}, changes

    # DVC sees the file change in exactly the stages that read columns.
    status = json.loads(dvc("status", "--json", cwd=ran_repo).stdout)
    changed = {
        stage
        for stage, entries in status.items()
        for entry in entries
        if isinstance(entry, dict) and SCHEMA in (entry.get("changed deps") or {})
    }
    assert changed == READ_COLUMNS, status
    out = dvc("repro", "train", cwd=ran_repo).stdout
    for stage in ("validate", "train"):
        assert f"Running stage '{stage}'" in out, out
    assert dvc("status", "train", "--json", cwd=ran_repo).stdout.strip() == "{}"
    lock = yaml.safe_load((ran_repo / "dvc.lock").read_text(encoding="utf-8"))
    validate = lock["stages"]["validate"]
    assert validate["params"]["params.yaml"]["data"]["schema"] == SCHEMA
    assert not any("columns" in p["data"] for p in lock["stages"]["train"]["params"].values())
