"""Benchmark `gitml predict/monitor --engine dask` against the single-process commands.

Run from the repository root (one run, ratios; figures go to benchmarks/RESULTS.md, "Dask"):

    .venv/bin/python benchmarks/dask_bench.py --rows 10000000 --parts 40

It fits the configured pipeline (shrunk, like the serving tests) into benchmarks/work/dask/,
writes the rows as PARTS Parquet files (`parts/`) and as one file (`all.parquet`, one row group
per part), then times, each in a fresh `gitml` process:

- `gitml predict all.parquet` (single process);
- `gitml predict --engine dask parts/ --scheduler ...` on a LocalCluster of 1 and of 2 worker
  processes (started here beforehand, so cluster start-up is not in the figure; it is ~3-5 s),
  their workers started as docs/scale.md starts long-lived workers: with
  `--preload gitml.serve.partitions gitml.monitor.partitions` (`--cold`: without, so the first
  job pays the imports);
- `gitml monitor --current all.parquet`, and `gitml monitor --engine dask --current parts/` on a
  fresh cluster of 1 and of 2 workers, twice each: its first job (`monitor_dask_2_first`: each
  worker's first tasks pay ~0.15 s of fresh heap pages) and the same job again
  (`monitor_dask_2`: a long-lived cluster's later jobs);
- the machine's ceiling: the same per-partition work (`batch.predict_file`, one OpenMP thread) in
  1 and in 2 plain processes started together, without Dask, timed after the model is loaded;
- the monitor's ceiling: whole single-process `gitml monitor` commands, one on all the rows and
  two started together on half of them each (`half-0of2.parquet`, `half-1of2.parquet`): what two
  cores give a command whose start-up (~0.6 s of imports and reading the profile) is part of it.

`--monitor-only` skips the predict runs (to measure the monitor at 100M rows in minutes).
`--contract` monitors with the repository's data contract (`--params params.yaml`), so every chunk
also gets the contract's schema checks, as `gitml monitor --stage ...` runs them; without it the
monitor compares the profile only, as the issue's baseline did.

Each round takes every measurement once, in the order above; `--rounds` (3) rounds run in turn
and the figures are the medians (seconds, and ratios taken within each round), with every round's
ratios printed too: on a shared machine one sample of a 3-4 s command is off by 10-20%.

Memory: the single process's peak RSS (getrusage of the child), and each worker's peak RSS
(getrusage inside the worker after the run).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "dask"
GITML = str(Path(sys.executable).parent / "gitml")
sys.path.insert(0, str(ROOT))

NUMERIC = [
    "age",
    "income",
    "debt_to_income",
    "credit_history_years",
    "loan_amount",
    "open_accounts",
    "delinquencies_2y",
]
CATEGORICAL = ["employment_type", "region", "home_ownership"]


def prepare(rows: int, parts: int) -> Path:
    """Model, profile, the dataset and the single file (reused when already there)."""
    from gitml.data.synthetic import generate
    from gitml.fileio import write_json
    from gitml.profile import build_profile
    from tests.serve_support import build_model

    data = WORK / f"{rows}-{parts}"
    if not (WORK / "models" / "model.skops").is_file():
        build_model(WORK, n_rows=10)
        write_json(
            WORK / "profile.json", build_profile(generate(20_000, seed=1), NUMERIC, CATEGORICAL)
        )
    if (data / "all.parquet").is_file():
        return data
    (data / "parts").mkdir(parents=True, exist_ok=True)
    per = rows // parts
    writer = None
    for i in range(parts):
        frame = generate(per, seed=100 + i, scenario="covariate" if i % 2 else "none")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, data / "parts" / f"batch-{i:03d}.parquet", compression="zstd")
        if writer is None:
            writer = pq.ParquetWriter(data / "all.parquet", table.schema, compression="zstd")
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return data


def halves(data: Path, n: int = 2) -> list[Path]:
    """The rows split into `n` files (partitions i, i+n, ... in file i), written once."""
    out = [data / f"half-{k}of{n}.parquet" for k in range(n)]
    if all(p.is_file() for p in out):
        return out
    parts = sorted((data / "parts").glob("*.parquet"))
    for k, path in enumerate(out):
        share = parts[k::n]
        schema = pq.read_schema(share[0])
        with pq.ParquetWriter(path.with_suffix(".tmp"), schema, compression="zstd") as writer:
            for part in share:
                writer.write_table(pq.read_table(part))
        path.with_suffix(".tmp").replace(path)
    return out


def timed(*args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one gitml command in a fresh process."""
    code = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "w = time.perf_counter() - t;"
        "sys.stderr.write(p.stderr[-2000:]) if p.returncode else None;"
        "print(json.dumps([p.returncode, w, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, GITML, *args], capture_output=True, text=True, check=True
    )
    rc, wall, rss = json.loads(out.stdout)
    if rc not in (0, 1):
        raise SystemExit(f"{args} failed ({rc}): {out.stderr}")
    return wall, rss


#: One plain process scoring partitions exactly as a Dask worker does (`batch.predict_file`,
#: one OpenMP thread), timed after the model is loaded: the machine's own 2-vs-1 ceiling.
PLAIN = """
import json, sys, tempfile, time
from pathlib import Path
from gitml.policy import load_policy
from gitml.serve import batch
from gitml.serve.bundle import from_file
model, root, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
bundle = from_file(model, load_policy(Path(root)).trusted_types, "bench")
with tempfile.TemporaryDirectory() as out:
    t = time.perf_counter()
    for i, path in enumerate(paths):
        batch.predict_file(bundle, Path(path), Path(out) / f"{i}.parquet", 100_000)
    print(json.dumps(time.perf_counter() - t))
"""


def plain_processes(model: str, parts: list[Path], n: int) -> float:
    """Wall seconds for `n` plain processes, started together, to score `parts` between them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    shares = [parts[i::n] for i in range(n)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PLAIN, model, str(ROOT), *map(str, share)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    return max(float(p.communicate()[0]) for p in procs)


def monitor_processes(monitor: list[str], files: list[Path]) -> float:
    """Wall seconds for one `gitml monitor` command per file, started together, each with one
    thread per library (OMP_NUM_THREADS=1, as Dask's workers have it: with a thread pool each,
    two processes on two cores oversubscribe them)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [GITML, *monitor, "--current", str(f), "-o", str(f.with_suffix(".json"))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for f in files
    ]
    for p in procs:
        p.wait()
    return time.perf_counter() - start


#: The worker-side modules of `predict --engine dask` and `monitor --engine dask`.
PRELOAD = ["gitml.serve.partitions", "gitml.monitor.partitions"]


def worker_peaks(client: object) -> list[float]:
    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return sorted(client.run(peak).values())  # type: ignore[attr-defined]


def one_round(args: argparse.Namespace, data: Path) -> dict[str, dict[str, object]]:
    """Every timing once: the single-process commands, then the clusters, then the ceilings."""
    from distributed import Client

    from gitml.dask import local_cluster

    # As docs/scale.md starts long-lived workers (skip the preloads with --cold).
    cluster_of = functools.partial(local_cluster, preload=[] if args.cold else PRELOAD)
    model = str(WORK / "models" / "model.skops")
    base = ["--model", model, "--root", str(WORK), "--no-progress"]
    monitor = [*MONITOR, "--params", str(ROOT / "params.yaml")] if args.contract else MONITOR
    results: dict[str, dict[str, object]] = {}
    if not args.monitor_only:
        wall, rss = timed(
            "predict", *base, str(data / "all.parquet"), "-o", str(data / "one.parquet")
        )
        results["predict_single"] = {"seconds": wall, "peak_mb": rss}
    wall, rss = timed(*monitor, "--current", str(data / "all.parquet"), "-o", str(data / "m1.json"))
    results["monitor_single"] = {"seconds": wall, "peak_mb": rss}
    for workers in () if args.monitor_only else (1, 2):
        with cluster_of(workers) as cluster, Client(cluster) as client:
            wall, rss = timed(
                "predict", *base, str(data / "parts"), "-o", str(data / f"dask{workers}"),
                "--engine", "dask", "--scheduler", cluster.scheduler_address,
            )  # fmt: skip
            results[f"predict_dask_{workers}"] = {
                "seconds": wall,
                "client_peak_mb": rss,
                "worker_peak_mb": worker_peaks(client),
            }
    # The monitor on a fresh cluster of 1 and of 2 workers: its first job, then the same job
    # again (what a long-lived cluster's later jobs see: workers whose first task has run).
    for workers in (1, 2):
        with cluster_of(workers) as cluster, Client(cluster) as client:
            for key in (f"monitor_dask_{workers}_first", f"monitor_dask_{workers}"):
                wall, rss = timed(
                    *monitor, "--current", str(data / "parts"), "--engine", "dask",
                    "--scheduler", cluster.scheduler_address, "-o", str(data / "m2.json"),
                )  # fmt: skip
                results[key] = {"seconds": wall, "client_peak_mb": rss}
            results[f"monitor_dask_{workers}"]["worker_peak_mb"] = worker_peaks(client)
    parts = sorted((data / "parts").glob("*.parquet"))
    if not args.monitor_only:
        results["plain_1"] = {"seconds": plain_processes(model, parts, 1)}
        results["plain_2"] = {"seconds": plain_processes(model, parts, 2)}
    results["monitor_plain_1"] = {"seconds": monitor_processes(monitor, [data / "all.parquet"])}
    results["monitor_plain_2"] = {"seconds": monitor_processes(monitor, halves(data))}
    one = json.loads((data / "m1.json").read_text())
    two = json.loads((data / "m2.json").read_text())
    same = one["drifted_columns"] == two["drifted_columns"] and one["status"] == two["status"]
    results["monitor_same_decisions"] = {"value": same}
    return results


def ratios(seconds: dict[str, float]) -> dict[str, float]:
    """Each speed-up of one round (the bigger, the faster the second is)."""
    pairs = {
        # The monitor's first job on fresh workers, and a later one on the same workers.
        "monitor_dask2_first_vs_single": ("monitor_single", "monitor_dask_2_first"),
        "monitor_dask2_vs_single": ("monitor_single", "monitor_dask_2"),
        # The Dask monitor's own scaling: 2 workers against 1 (later jobs).
        "monitor_dask2_vs_dask1": ("monitor_dask_1", "monitor_dask_2"),
        # Whole monitor commands on half the rows each, no Dask: what two cores give the command,
        # against one such command and against the single process (whose Arrow reader already
        # decodes on a second thread): the most any 2-worker engine could reach here.
        "monitor_plain2_vs_plain1": ("monitor_plain_1", "monitor_plain_2"),
        "monitor_plain2_vs_single": ("monitor_single", "monitor_plain_2"),
        "dask2_vs_dask1": ("predict_dask_1", "predict_dask_2"),
        "dask2_vs_single_predict": ("predict_single", "predict_dask_2"),
        # The same work in plain processes, no Dask: what two cores give this machine.
        "plain2_vs_plain1": ("plain_1", "plain_2"),
    }
    return {k: seconds[a] / seconds[b] for k, (a, b) in pairs.items() if b in seconds}


#: The single-process and Dask monitor commands' common arguments.
MONITOR = ["monitor", "--profile", str(WORK / "profile.json"), "--format", "json"]
MONITOR += ["--root", str(WORK)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times every measurement is repeated, in turn; the figures are the medians",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="workers without --preload: the first job on them pays gitml's imports (~3.5 s)",
    )
    parser.add_argument("--monitor-only", action="store_true", help="skip the predict runs")
    parser.add_argument(
        "--contract",
        action="store_true",
        help="monitor with the data contract (--params params.yaml): every chunk's schema "
        "checks, as `gitml monitor --stage` runs them",
    )
    args = parser.parse_args()
    data = prepare(args.rows, args.parts)
    rounds = [one_round(args, data) for _ in range(args.rounds)]
    seconds = [{k: float(v["seconds"]) for k, v in r.items() if "seconds" in v} for r in rounds]  # type: ignore[arg-type]
    by_round = [ratios(s) for s in seconds]
    results: dict[str, object] = {
        "rows": args.rows,
        "parts": args.parts,
        "rounds": args.rounds,
        "cold": args.cold,
        "contract": args.contract,
        "median_seconds": {k: statistics.median(s[k] for s in seconds) for k in seconds[0]},
        "ratios": {k: statistics.median(r[k] for r in by_round) for k in by_round[0]},
        "ratios_by_round": by_round,
        "monitor_same_decisions": all(r["monitor_same_decisions"]["value"] for r in rounds),
        "rounds_detail": rounds,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
            f"Python {platform.python_version()}"
        ),
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
