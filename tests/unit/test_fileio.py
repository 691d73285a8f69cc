"""Atomic writes leave files readable as `open()` would create them, and nothing half-written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitml.fileio import atomic_path, write_text

pytestmark = pytest.mark.unit

WRITERS = {
    "fileio": "from gitml.fileio import write_text; write_text(sys.argv[1], 'x')",
    "report": "from gitml.report.cli import _write_atomic; _write_atomic(Path(sys.argv[1]), 'x')",
    "fetch": (
        "from gitml.registry.fetch import _temp_in\n"
        "with _temp_in(Path(sys.argv[1]).parent, 'm') as t: os.replace(t, sys.argv[1])"
    ),
}


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_written_files_follow_the_umask_not_mkstemps_0600(
    tmp_path: Path, writer: str, umask: int
) -> None:
    """Reports, stage outputs and fetched models were 0600 (mkstemp's mode) under umask 022."""
    target = tmp_path / "out.txt"
    code = f"import os, sys\nfrom pathlib import Path\nos.umask({umask})\n{WRITERS[writer]}"
    subprocess.run([sys.executable, "-c", code, str(target)], check=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the block failed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.md"]
