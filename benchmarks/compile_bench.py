"""Benchmark compiled scoring: the pipeline's skops model vs its ONNX compilation (issue 16).

Run from the repository root after the pipeline (`make run` or `dvc repro`):

    .venv/bin/python benchmarks/compile_bench.py --rows 1000000

It scores the same `--rows` synthetic rows (the pipeline's data contract, written once to
benchmarks/work/compile/rows.parquet) with models/model.skops (scikit-learn) and
models/compiled/model.onnx (onnxruntime), each in its own process so that peak memory (max RSS)
is per runtime: read the Parquet, prepare the features, score in chunks of `--chunk` rows. Both run
on one thread (threadpoolctl for scikit-learn's OpenMP, intra_op_num_threads=1 for onnxruntime).
Single-row latency is the median of `--single` one-row calls in the same process. The two
runtimes' probabilities are compared on the first chunk.
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
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "compile"


def make_rows(rows: int) -> Path:
    """The synthetic table of the pipeline's data contract, written once."""
    from gitml.config import load_params
    from gitml.data.synthetic import generate
    from gitml.schema import coerce

    path = WORK / f"rows_{rows}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        params = load_params(ROOT / "params.yaml")
        coerce(generate(rows, seed=123), params.data).to_parquet(path)
    return path


def child(runtime: str, path: Path, chunk: int, single: int) -> dict[str, float]:
    """Score every row of `path` with one runtime; times in seconds, peak RSS in MB."""
    from threadpoolctl import threadpool_limits

    from gitml import onnx as onnx_adapter
    from gitml.modeling import load_model, load_signature, prepare_features
    from gitml.policy import load_policy

    threadpool_limits(1)
    sig = load_signature(ROOT / "models/signature.json")
    if runtime == "skops":
        model = load_model(ROOT / "models/model.skops", list(load_policy(ROOT).trusted_types))

        def score(x: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.predict_proba(x))[:, -1]
    else:
        data = (ROOT / "models/compiled/model.onnx").read_bytes()
        session = onnx_adapter.Runtime.load(data, sig.features, threads=1)

        def score(x: pd.DataFrame) -> np.ndarray:
            return session.predict(x)[1][:, -1]

    start = time.perf_counter()
    frame = pd.read_parquet(path)
    read = time.perf_counter() - start
    first = None
    prepare = batch = 0.0
    for lo in range(0, len(frame), chunk):
        t0 = time.perf_counter()
        x = prepare_features(frame.iloc[lo : lo + chunk], sig.features)
        t1 = time.perf_counter()
        p = score(x)
        prepare += t1 - t0
        batch += time.perf_counter() - t1
        first = p if first is None else first
    one = prepare_features(frame.iloc[:single], sig.features)
    times = []
    for i in range(single):
        row = one.iloc[i : i + 1]
        t0 = time.perf_counter()
        score(row)
        times.append(time.perf_counter() - t0)
    assert first is not None
    np.save(WORK / f"first_{runtime}.npy", first)
    return {
        "read_s": read,
        "prepare_s": prepare,
        "batch_s": batch,
        "single_ms": float(np.median(times)) * 1000,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--child", choices=["skops", "onnx"])
    args = parser.parse_args()
    if args.child:
        path = make_rows(args.rows)
        print(json.dumps(child(args.child, path, args.chunk, args.single)))
        return
    make_rows(args.rows)
    results = {}
    for runtime in ("skops", "onnx"):
        cmd = [sys.executable, __file__, "--child", runtime, "--rows", str(args.rows)]
        cmd += ["--chunk", str(args.chunk), "--single", str(args.single)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
        results[runtime] = json.loads(out.strip().splitlines()[-1])
    diff = np.abs(np.load(WORK / "first_skops.npy") - np.load(WORK / "first_onnx.npy")).max()
    s, o = results["skops"], results["onnx"]
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"rows: {args.rows:,} (chunks of {args.chunk:,}); load average {os.getloadavg()[0]:.1f}")
    print("| runtime | read Parquet | prepare features | score | single row (median) | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (("skops (scikit-learn)", s), ("onnx (onnxruntime)", o)):
        print(
            f"| {name} | {r['read_s']:.2f} s | {r['prepare_s']:.2f} s | {r['batch_s']:.2f} s | "
            f"{r['single_ms']:.3f} ms | {r['peak_mb']:.0f} MB |"
        )
    print(
        f"score speed-up {s['batch_s'] / o['batch_s']:.1f}x, with preparation "
        f"{(s['batch_s'] + s['prepare_s']) / (o['batch_s'] + o['prepare_s']):.1f}x, single-row "
        f"{s['single_ms'] / o['single_ms']:.1f}x; max |dp| on the first chunk {diff:.2g}"
    )


if __name__ == "__main__":
    main()
