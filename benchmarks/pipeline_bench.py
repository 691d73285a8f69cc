"""Pipeline benchmark: wall time and peak RSS per stage at several sizes; no-op `dvc repro` vs `dvc status`.

Run: .venv/bin/python benchmarks/pipeline_bench.py [--rows 20000 1000000 5000000] [--noop-repeats 5]
Each size runs in a temp git+DVC copy of the project (tests/pipeline_repo.make_template); each stage is
timed as the command dvc.yaml declares, under GNU time for peak RSS. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pipeline_repo import BIN, dvc, env, make_template


def bench_size(rows: int, workdir: Path) -> list[tuple[str, float, float]]:
    repo = make_template(workdir / f"rows-{rows}", n_rows=rows)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    out = []
    for name, stage in stages.items():
        # ru_maxrss of children is a high-water mark: measure each stage in its own shell child
        cmd = (
            f'{BIN}/python -c "import resource,subprocess,sys; '
            f"r=subprocess.call(sys.argv[1], shell=True); "
            f"print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            f"sys.exit(r)\" '{stage['cmd']}'"
        )
        start = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", cmd], cwd=repo, env=env(), capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed at {rows} rows:\n{proc.stderr[-3000:]}")
        peak_kib = int(re.findall(r"^(\d+)$", proc.stderr, re.M)[-1])
        out.append((name, wall, peak_kib / 1024.0))
        print(f"  {rows:>9} rows  {name:<10} {wall:7.2f} s  {peak_kib / 1024:8.0f} MiB", flush=True)
    return out


def bench_noop(workdir: Path, repeats: int) -> tuple[float, float]:
    repo = make_template(workdir / "noop", n_rows=3000)
    dvc("repro", cwd=repo)
    repro, status = [], []
    for _ in range(repeats):  # interleaved, so load on the shared machine hits both alike
        t = time.perf_counter()
        dvc("repro", cwd=repo)
        repro.append(time.perf_counter() - t)
        t = time.perf_counter()
        dvc("status", cwd=repo)
        status.append(time.perf_counter() - t)
    return statistics.median(repro), statistics.median(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--noop-repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="gitml-bench-") as tmp:
        work = Path(tmp)
        rows_table = []
        for rows in args.rows:
            results = bench_size(rows, work)
            total = sum(r[1] for r in results)
            peak = max(r[2] for r in results)
            rows_table.append((rows, results, total, peak))
        repro, status = bench_noop(work, args.noop_repeats)
    print("\n| rows | " + " | ".join(r[0] for r in rows_table[0][1]) + " | total | peak RSS |")
    print("|---:|" + "---:|" * (len(rows_table[0][1]) + 2))
    for rows, results, total, peak in rows_table:
        cells = " | ".join(f"{w:.1f} s / {m:.0f} MiB" for _, w, m in results)
        print(f"| {rows:,} | {cells} | {total:.1f} s | {peak:.0f} MiB |")
    print(
        f"\nno-op: dvc repro {repro:.2f} s, dvc status {status:.2f} s, "
        f"ratio {repro / status:.2f} (median of {args.noop_repeats}, interleaved)"
    )


if __name__ == "__main__":
    main()
