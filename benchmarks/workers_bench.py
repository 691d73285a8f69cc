"""Issue 16: `gitml serve --workers 2` against one worker, at 64 clients (no target: wrk shares
the same two cores).

Both arms serve this checkout's pipeline model (`models/model.skops` and the compile stage's
`models/compiled/model.onnx`, verified against dvc.lock) with `--runtime onnx` (or `--runtime
skops`), the same 64 one-row `dataframe_records` bodies, `wrk -t1 -c64 -d<seconds>s`, after a
2 s warm-up at 8 connections, a fresh server each time. The rounds alternate 1 / 2 workers; the
medians over rounds are compared. Prints JSON.

    .venv/bin/python benchmarks/workers_bench.py [--rounds 3] [--seconds 10] [--runtime onnx]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import free_port, wait_ready, wrk_load, wrk_script

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "workers"
GITML = str(Path(sys.executable).parent / "gitml")


def serve_once(workers: int, runtime: str, script: Path, clients: int, seconds: float) -> Any:
    """Start `gitml serve --workers N`, warm up, measure with wrk, stop it."""
    port = free_port()
    cmd = [GITML, "serve", "--model", str(ROOT / "models" / "model.skops"), "--root", str(ROOT)]
    cmd += ["--port", str(port), "--workers", str(workers), "--runtime", runtime]
    cmd += ["--log", str(WORK / f"predictions-{workers}.jsonl")]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", proc)
        url = f"http://127.0.0.1:{port}/invocations"
        wrk_load(url, script, 8, 2)
        return wrk_load(url, script, clients, seconds)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--runtime", choices=["onnx", "skops"], default="onnx")
    args = ap.parse_args()

    import serve_bench

    from gitml.data.synthetic import generate

    WORK.mkdir(parents=True, exist_ok=True)
    serve_bench.WORK = WORK  # wrk_script writes its Lua file there
    signature = json.loads((ROOT / "models" / "signature.json").read_text())
    names = [f["name"] for f in signature["features"]]
    rows = json.loads(generate(64, seed=7)[names].to_json(orient="records"))
    script = wrk_script([json.dumps({"dataframe_records": [r]}).encode() for r in rows])
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    loads = [os.getloadavg()]
    for _ in range(args.rounds):
        for workers in (1, 2):
            runs[workers].append(
                serve_once(workers, args.runtime, script, args.clients, args.seconds)
            )
            loads.append(os.getloadavg())
    rps = {w: statistics.median(r["rps"] for r in runs[w]) for w in runs}
    p99 = {w: statistics.median(r["p99"] for r in runs[w]) for w in runs}
    print(
        json.dumps(
            {
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "runtime": args.runtime,
                "clients": args.clients,
                "rps": {str(w): [r["rps"] for r in runs[w]] for w in runs},
                "p50_ms": {str(w): [r["p50"] for r in runs[w]] for w in runs},
                "p99_ms": {str(w): [r["p99"] for r in runs[w]] for w in runs},
                "errors": {str(w): [r["errors"] for r in runs[w]] for w in runs},
                "median_rps": rps,
                "median_p99_ms": p99,
                "ratio_2_over_1": rps[2] / rps[1],
                "load_average": loads,
                "finished": time.strftime("%Y-%m-%d %H:%M"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
