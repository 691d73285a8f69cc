"""Pipeline benchmark: wall time and peak RSS per stage at several sizes; no-op `dvc repro` vs `dvc status`.

Run: .venv/bin/python benchmarks/pipeline_bench.py [--rows 20000 1000000 5000000] [--noop-repeats 10]
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


def timed(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        args, cwd=cwd, env={**env(), **(extra_env or {})}, check=True, capture_output=True
    )
    return time.perf_counter() - start


def bench_exp_run(workdir: Path, rows: int) -> float:
    """`make run`'s command, `dvc exp run`, on a fresh copy at `rows` rows (after install)."""
    repo = make_template(workdir / f"exp-run-{rows}", n_rows=rows)
    return timed([str(BIN / "dvc"), "exp", "run"], repo)


def networkx_import_in_repro(repo: Path) -> float:
    """Seconds `dvc repro` spends importing networkx (its graph library), from -X importtime.

    Measured inside DVC's own process, where the modules networkx shares with DVC are loaded
    already, so it is what repro pays on top of status for the import.
    """
    proc = subprocess.run(
        [str(BIN / "python"), "-X", "importtime", "-m", "dvc", "repro"],
        cwd=repo,
        env=env(),
        check=True,
        capture_output=True,
        text=True,
    )
    found = re.search(r"^import time:\s+\d+ \|\s+(\d+) \| networkx$", proc.stderr, re.M)
    return int(found[1]) / 1e6 if found else 0.0


def bench_noop(workdir: Path, repeats: int) -> dict[str, float]:
    """Medians of no-op `dvc repro`, `dvc status`, and the import DVC's repro adds (networkx)."""
    repo = make_template(workdir / "noop", n_rows=3000)
    dvc("repro", cwd=repo)
    # The same commands with ruamel.yaml's libyaml parser hidden (a module that refuses to import
    # shadows `_ruamel_yaml`), as DVC runs when ruamel.yaml.clib is not installed.
    blocker = workdir / "no-libyaml"
    blocker.mkdir(exist_ok=True)
    (blocker / "_ruamel_yaml.py").write_text('raise ImportError("blocked for the benchmark")\n')
    pure = {"PYTHONPATH": str(blocker)}
    samples: dict[str, list[float]] = {
        k: [] for k in ("repro", "status", "networkx", "repro_pure", "status_pure")
    }
    dvc_bin = str(BIN / "dvc")
    for _ in range(repeats):  # interleaved, so load on the shared machine hits all alike
        samples["repro"].append(timed([dvc_bin, "repro"], repo))
        samples["status"].append(timed([dvc_bin, "status"], repo))
        samples["networkx"].append(networkx_import_in_repro(repo))
        samples["repro_pure"].append(timed([dvc_bin, "repro"], repo, pure))
        samples["status_pure"].append(timed([dvc_bin, "status"], repo, pure))
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="*", default=[20_000, 1_000_000], help="none: no-op only"
    )
    parser.add_argument("--noop-repeats", type=int, default=10)
    parser.add_argument("--exp-run-rows", type=int, default=20_000, help="0 skips `dvc exp run`")
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
        exp_run = bench_exp_run(work, args.exp_run_rows) if args.exp_run_rows else None
        noop = bench_noop(work, args.noop_repeats)
    if rows_table:
        print("\n| rows | " + " | ".join(r[0] for r in rows_table[0][1]) + " | total | peak RSS |")
        print("|---:|" + "---:|" * (len(rows_table[0][1]) + 2))
    for rows, results, total, peak in rows_table:
        cells = " | ".join(f"{w:.1f} s / {m:.0f} MiB" for _, w, m in results)
        print(f"| {rows:,} | {cells} | {total:.1f} s | {peak:.0f} MiB |")
    if exp_run is not None:
        print(f"\n`dvc exp run` (make run) at {args.exp_run_rows:,} rows: {exp_run:.1f} s")
    graph_import = noop["networkx"]
    print(
        f"\nno-op: dvc repro {noop['repro']:.2f} s, dvc status {noop['status']:.2f} s, "
        f"ratio {noop['repro'] / noop['status']:.2f} (median of {args.noop_repeats}, interleaved); "
        f"networkx import inside repro (its graph library; status does not import it) "
        f"{graph_import:.2f} s; "
        f"repro without it / status {(noop['repro'] - graph_import) / noop['status']:.2f}"
    )
    print(
        f"without libyaml (pure-Python YAML): dvc repro {noop['repro_pure']:.2f} s, dvc status "
        f"{noop['status_pure']:.2f} s, ratio {noop['repro_pure'] / noop['status_pure']:.2f}"
    )


if __name__ == "__main__":
    main()
