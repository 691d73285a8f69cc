"""One adapter per outside system: only `gitml.git` and `gitml.dvc` shell out, adapters import no
feature, the pure cores import no adapter; and DVC's files parse the way DVC reads them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gitml.dvc import load_yaml

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "gitml"
ADAPTERS = {"gitml.git", "gitml.dvc"}
# modules an adapter may import (the rest of gitml is features)
ADAPTER_DEPS = {"gitml", "gitml.errors", "gitml.lockfile", *ADAPTERS}  # lockfile: pure
PURE = ["gitml.compare", "gitml.registry.grammar", "gitml.monitor.stats", "gitml.report.core",
        "gitml.evaluation", "gitml.ci.core"]  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): imports(p) for p in sorted(SRC.rglob("*.py"))}


def test_only_the_adapters_run_processes() -> None:
    shelling = {m for m, deps in MODULES.items() if deps & {"subprocess", "os.system"}}
    assert shelling == ADAPTERS


def test_adapters_import_no_feature() -> None:
    for adapter in ADAPTERS:
        features = {
            d
            for d in MODULES[adapter]
            if d.startswith("gitml")
            and d not in ADAPTER_DEPS
            and d.rsplit(".", 1)[0] not in ADAPTER_DEPS - {"gitml"}  # a name from an allowed one
        }
        assert not features, f"{adapter} imports {features}"


def test_only_gitml_dvc_imports_dvc() -> None:
    users = {
        m for m, deps in MODULES.items() if any(d == "dvc" or d.startswith("dvc.") for d in deps)
    }
    assert users == {"gitml.dvc"}


@pytest.mark.parametrize("module", PURE)
def test_pure_cores_import_no_adapter(module: str) -> None:
    assert not MODULES[module] & (ADAPTERS | {"subprocess"})


def test_dvc_files_parse_as_yaml_1_2_like_dvc() -> None:
    assert load_yaml(b"lr: 1e-3\nflag: yes\nswitch: on\n") == {
        "lr": 0.001,
        "flag": "yes",
        "switch": "on",
    }
    assert load_yaml("") is None


@pytest.mark.parametrize("text", ["a: [1", "a: 1\na: 2\n", "\t- x"])
def test_broken_dvc_files_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        load_yaml(text)
