"""Benchmark the paired bootstrap (issue 13): 1,000 resamples of all six binary metrics.

Each size runs in a fresh subprocess: the time of `paired_bootstrap` alone (data generated
before the clock starts), the peak traced by tracemalloc in a second run, and the process's
peak RSS (`ru_maxrss`). Targets: 100k rows <= 2 s; 1M rows <= 10 s and <= 1 GB peak.

Run: .venv/bin/python benchmarks/intervals_bench.py [--rows 100000 1000000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

BINARY = ["roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"]


def measure(rows: int, resamples: int, traced: bool) -> dict[str, float]:
    from gitml.stats import paired_bootstrap

    rng = np.random.default_rng(0)
    y = (rng.random(rows) < 0.3).astype(np.int8)
    noise = rng.normal(size=(rows, 2))
    base = 1 / (1 + np.exp(-(1.0 * y + noise[:, 0] - 1)))
    head = 1 / (1 + np.exp(-(1.2 * y + 0.6 * noise[:, 0] + 0.8 * noise[:, 1] - 1)))
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    result = paired_bootstrap(y, base, head, BINARY, n_resamples=resamples, seed=1)
    seconds = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else 0
    auc = result["roc_auc"].delta
    return {
        "seconds": seconds,
        "traced_peak_mib": traced_peak / 2**20,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "auc_delta": auc.estimate,
        "auc_low": auc.low,
        "auc_high": auc.high,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size (best kept)")
    parser.add_argument("--child", nargs=3, metavar=("ROWS", "RESAMPLES", "TRACED"))
    args = parser.parse_args()
    if args.child:
        rows, resamples, traced = int(args.child[0]), int(args.child[1]), args.child[2] == "1"
        print(json.dumps(measure(rows, resamples, traced)))
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, ")
    print(f"# numpy {np.__version__}; load average {os.getloadavg()[0]:.1f}")
    print("| rows | resamples | time (best of runs) | all runs | tracemalloc peak | peak RSS |")
    print("|---:|---:|---:|---|---:|---:|")
    for rows in args.rows:
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(rows), str(args.resamples), "0"],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout))
        traced = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--child", str(rows), str(args.resamples), "1"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        best = min(runs, key=lambda r: r["seconds"])
        times = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(
            f"| {rows:,} | {args.resamples:,} | {best['seconds']:.2f} s | {times} | "
            f"{traced['traced_peak_mib']:.0f} MiB | {max(r['maxrss_mib'] for r in runs):.0f} MiB |"
        )
        print(
            f"<!-- AUC delta {best['auc_delta']:.4f} [{best['auc_low']:.4f}, {best['auc_high']:.4f}] -->"
        )


if __name__ == "__main__":
    main()
