"""Benchmark `gitml data init` on a large CSV: wall time and peak memory of the whole command.

Run from the repository root:

    .venv/bin/python benchmarks/data_init_bench.py --rows 1000000

It writes a table of `--rows` rows x 25 columns (12 numeric with some `?` and empty cells, 6
categorical, 3 integer, a unique id, an email column, a free-text column and a binary target) to
benchmarks/work/, makes that folder a throwaway git + DVC repository, and runs the real CLI in a
subprocess (`gitml data init ... --target label`, including `dvc add` and `git add`) under
`/usr/bin/time -v`, so the figures cover the whole process: reading, inference, writing, tracking.
The scan alone (no DVC) is timed too, with `--scan-only`.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "data_init"
BIN = Path(sys.executable).parent


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """25 mixed columns with nulls and markers."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"record_id": [f"R{i:08d}" for i in range(rows)]}
    for i in range(12):
        values = rng.normal(100 * i, 10 + i, rows).round(3).astype(str).astype(object)
        values[rng.random(rows) < 0.02] = "?"
        values[rng.random(rows) < 0.01] = ""
        cols[f"num_{i:02d}"] = values
    for i in range(3):
        cols[f"count_{i}"] = rng.integers(0, 50, rows)
    for i in range(6):
        cols[f"cat_{i}"] = rng.choice([f"level_{k}" for k in range(3 + 2 * i)], rows)
    cols["email"] = [f"user{i}@example.com" for i in rng.integers(0, 10 * rows, rows)]
    cols["comment"] = [f"note {k}" for k in rng.integers(0, 5000, rows)]
    cols["label"] = (rng.random(rows) < 0.3).astype(int)
    return pd.DataFrame(cols)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@b.invalid", DVC_NO_ANALYTICS="1")
    env.update(GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@b.invalid")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=True)


def measure(args: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB), from /usr/bin/time -v."""
    start = time.perf_counter()
    proc = run(["/usr/bin/time", "-v", *args], cwd)
    wall = time.perf_counter() - start

    def field(label: str) -> float:
        found = re.search(rf"{re.escape(label)}: ([\d.]+)", proc.stderr)
        assert found, proc.stderr
        return float(found.group(1))

    cpu = field("User time (seconds)") + field("System time (seconds)")
    return wall, cpu, field("Maximum resident set size (kbytes)") / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "data/external").mkdir(parents=True)
    data = WORK / "data/external/big.csv"
    make_table(args.rows).to_csv(data, index=False)
    size_mb = data.stat().st_size / 1e6
    run(["git", "init", "-q"], WORK)
    run([str(BIN / "dvc"), "init", "-q"], WORK)
    scan_code = (
        "from pathlib import Path; from gitml.data.cli import build; "
        "build(Path('data/external/big.csv'), 'data/external/big.csv', 'label', 'big')"
    )
    scan_wall, scan_cpu, scan_peak = measure([sys.executable, "-c", scan_code], WORK)
    cmd = [str(BIN / "gitml"), "data", "init", "data/external/big.csv", "--target", "label"]
    wall, cpu, peak = measure(cmd, WORK)
    text = (WORK / "conf/data/big.yaml").read_text()
    assert "record_id: {dtype: string, role: id" in text and "pii: true" in text
    print(
        f"gitml data init: {args.rows} rows x 25 columns ({size_mb:.0f} MB CSV): "
        f"scan+infer {scan_wall:.1f} s wall, {scan_cpu:.1f} s CPU, {scan_peak:.0f} MB peak RSS; "
        f"whole command incl. dvc add + git add {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"{peak:.0f} MB peak RSS "
        f"({platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
