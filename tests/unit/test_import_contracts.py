"""The architecture contracts in pyproject.toml ([tool.importlinter]) hold: adapters alone shell
out, adapters import no feature, the pure core imports no adapter, no import cycles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": str(lint_imports.parent)},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 8 kept, 0 broken." in proc.stdout


#: Modules every command, worker or server start imports, and the heavy libraries they must not
#: pull in at import time (each costs 0.2-1 s of start-up; they are imported where they are used).
#: The Dask monitor's client (it merges summaries; the workers read the rows) and a policy read
#: must not import the data libraries either, and neither the monitor nor the policy anything of
#: scipy (the monitor imports scipy.stats only for a small batch's exact tests).
HEAVY = ["scipy.stats", "sklearn", "skops", "distributed", "shap"]
DATA = ["pandas", "pyarrow"]
LIGHT_ENTRY_POINTS = {
    "gitml.cli": [*HEAVY, *DATA, "scipy"],
    "gitml.monitor.cli": [*HEAVY, *DATA, "scipy"],
    "gitml.monitor.core": [*HEAVY, *DATA, "scipy"],
    "gitml.monitor.partitions": [*HEAVY, *DATA, "scipy"],
    "gitml.serve.partitions": HEAVY,
    "gitml.serve.app": HEAVY,
    "gitml.policy": [*HEAVY, *DATA, "scipy"],
}


@pytest.mark.parametrize("module", LIGHT_ENTRY_POINTS)
def test_entry_points_do_not_import_heavy_libraries(module: str) -> None:
    """A regression guard, not a timing: `gitml.stats.seeds` once imported scipy.stats at module
    level, which every command reading a policy (monitor, serve, Dask workers) paid; and
    `gitml.policy` imported pandas and scipy through `gitml.compare` for one config class."""
    heavy = LIGHT_ENTRY_POINTS[module]
    code = f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert proc.stdout.strip() == "", f"importing {module} imports {proc.stdout.strip()}"
