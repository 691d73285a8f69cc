"""Issue 12: serving at 32 clients and batch scoring, before vs after the input-contract change.

Old code: a worktree of the commit before `src/gitml/contract.py` first appeared (its own
`.venv` from `make install`). New code: this checkout. Both score the SAME model bytes (this
checkout's models/model.skops and signature.json; the old code ignores the signature's
`contract` entry) with scikit-learn (the new code with `--runtime skops`, as the old code has no
compiled runtime), each with its own project root (conf/gitml.yaml). Per round, in this order:
serve old, serve new (`wrk -t1 -c32 -d<seconds>s` on `/invocations`, 64 one-row
`dataframe_records` bodies, after a 2 s warm-up at 8 connections), then `gitml predict` old, new
(whole process, Parquet in and out), in the order old-new in even rounds and new-old in odd ones
(ABBA, so a drift in load does not favour one side); the medians over rounds are compared. Work files go under benchmarks/work/contract_ab (git-ignored). Prints JSON.

    git worktree add /tmp/precontract <sha> && make -C /tmp/precontract install
    .venv/bin/python benchmarks/contract_ab.py --old-root /tmp/precontract [--rounds 3]

`--new-venv DIR` runs the new side from another environment, e.g. a user's install without the
extras (`python3 -m venv benchmarks/.venv-core && benchmarks/.venv-core/bin/pip install -c
requirements.lock -e .`): the project's .venv has the dev extra, Dask included, whose import the
model loader pays (skops scans scikit-learn's modules, which import dask.array when it exists).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import free_port, timed, wait_ready, wrk_load, wrk_script

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "contract_ab"


def serve_once(gitml: str, root: Path, model: Path, extra: list[str], script: Path, seconds: float):
    """Start `gitml serve`, warm up, measure 32 connections with wrk, stop it."""
    port = free_port()
    cmd = [gitml, "serve", "--model", str(model), "--root", str(root), "--port", str(port)]
    cmd += ["--log", str(WORK / "predictions.jsonl"), *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", proc)
        url = f"http://127.0.0.1:{port}/invocations"
        wrk_load(url, script, 8, 2)
        return wrk_load(url, script, 32, seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-root", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch-rows", type=int, default=200_000)
    ap.add_argument(
        "--new-venv",
        type=Path,
        default=Path(sys.executable).parent.parent,
        help="the environment whose bin/gitml runs the new side (default: this one)",
    )
    args = ap.parse_args()

    import serve_bench

    from gitml.data.synthetic import generate

    WORK.mkdir(parents=True, exist_ok=True)
    serve_bench.WORK = WORK  # wrk_script writes its Lua file there
    model = WORK / "model" / "model.skops"
    model.parent.mkdir(exist_ok=True)
    shutil.copy(ROOT / "models" / "model.skops", model)
    shutil.copy(ROOT / "models" / "signature.json", model.with_name("signature.json"))
    names = [
        f["name"] for f in json.loads(model.with_name("signature.json").read_text())["features"]
    ]
    frame = generate(5000, seed=7)[names]
    rows = json.loads(frame.to_json(orient="records"))
    script = wrk_script([json.dumps({"dataframe_records": [r]}).encode() for r in rows[:64]])
    data = WORK / f"batch-{args.batch_rows}.parquet"
    if not data.exists():
        generate(args.batch_rows, seed=5).to_parquet(data, index=False)

    sides = {
        "old": (str(args.old_root / ".venv" / "bin" / "gitml"), args.old_root.resolve(), []),
        "new": (str(args.new_venv / "bin" / "gitml"), ROOT, ["--runtime", "skops"]),
    }
    old_commit = subprocess.run(
        ["git", "-C", str(args.old_root), "rev-parse", "--short", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    new_commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    serving: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    batch: dict[str, list[float]] = {"old": [], "new": []}
    loads = [os.getloadavg()]
    for round_ in range(args.rounds):
        # ABBA: old first in even rounds, new first in odd ones, so a drift in the machine's
        # load over the run does not always favour the side that runs first
        order = list(sides.items()) if round_ % 2 == 0 else list(reversed(sides.items()))
        for side, (gitml, root, extra) in order:
            serving[side].append(serve_once(gitml, root, model, extra, script, args.seconds))
            loads.append(os.getloadavg())
        for side, (gitml, root, extra) in order:
            out = WORK / f"out-{side}.parquet"
            cmd = [gitml, "predict", "--model", str(model), "--root", str(root), str(data)]
            wall, _ = timed([*cmd, "-o", str(out), "--no-progress", *extra])
            batch[side].append(wall)
            loads.append(os.getloadavg())
    # same model bytes, same probabilities (labels may differ: the new code cuts at the
    # signature's decision threshold, the old one took the most probable class)
    import numpy as np
    import pandas as pd

    probas = [pd.read_parquet(WORK / f"out-{s}.parquet").filter(like="probability_") for s in sides]
    max_dp = float(np.max(np.abs(probas[0].to_numpy() - probas[1].to_numpy())))
    assert max_dp <= 1e-12, f"old and new code disagree on probabilities: {max_dp}"
    rps = {s: statistics.median(r["rps"] for r in serving[s]) for s in sides}
    p99 = {s: statistics.median(r["p99"] for r in serving[s]) for s in sides}
    secs = {s: statistics.median(batch[s]) for s in sides}
    report = {
        "commits": {"old": old_commit, "new": new_commit},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "new_venv": str(args.new_venv),
        "rounds": args.rounds,
        "batch_rows": args.batch_rows,
        "serving_rps": {s: [r["rps"] for r in serving[s]] for s in sides},
        "serving_p50_ms": {s: [r["p50"] for r in serving[s]] for s in sides},
        "serving_p99_ms": {s: [r["p99"] for r in serving[s]] for s in sides},
        "serving_errors": {s: [r["errors"] for r in serving[s]] for s in sides},
        "batch_s": batch,
        "batch_max_abs_dp_old_vs_new": max_dp,
        "median": {"rps": rps, "p99_ms": p99, "batch_s": secs},
        "ratio_new_over_old": {
            "rps": rps["new"] / rps["old"],
            "p99": p99["new"] / p99["old"],
            "batch_s": secs["new"] / secs["old"],
        },
        "load_average": loads,
        "wrk": serving["new"][0]["command"],
    }
    (WORK / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
