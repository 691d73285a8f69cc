"""Serving benchmark: `gitml serve` against MLflow and Seldon MLServer on the same model, one run.

gitml runs twice: `--runtime skops` and `--runtime onnx` (the compile stage's model, verified
against the project's dvc.lock), each measured on `/invocations` (one-row `dataframe_records`
bodies) and on OIP v2 (`/v2/models/{name}/infer`, the same rows as v2 bodies with the pandas
codec). `onnx_vs_skops` in the JSON has their ratios; `targets` has issue 16's ratios.

To run (from the project root, after `make install` and `make run`):
    python3 -m venv benchmarks/.venv-mlflow
    benchmarks/.venv-mlflow/bin/pip install mlflow scikit-learn==<ours> skops==<ours> pandas==<ours>
    python3 -m venv benchmarks/.venv-mlserver
    benchmarks/.venv-mlserver/bin/pip install mlserver mlserver-sklearn scikit-learn==<ours> \
        skops==<ours> pandas==<ours>
    .venv/bin/python benchmarks/serve_bench.py [--seconds 10] [--batch-rows 1000000]

The peers live only in their venvs (never project dependencies). The MLflow model is OUR skops
pipeline, loaded with skops in that venv (trusting conf/gitml.yaml's list) and saved with
mlflow.sklearn, served with `--env-manager local --workers 1`. MLServer gets the same pipeline
written with joblib inside its venv, served by `mlserver_sklearn.SKLearnModel` in one process
(`parallel_workers: 0`). Both peers run with OMP_NUM_THREADS=1, as gitml predicts on
`serve.predict_threads` (1) OpenMP threads (`--peer-omp-threads`). Before its load test the
bench asserts that MLServer's `predict_proba` equals our in-process pipeline's on 1,000 rows
(nulls included) and prints max |dp|. Load comes from
`wrk` (C, closed loop, one connection per client, `-t1 -cN -d<seconds>s --latency`, a Lua script
cycling through 64 one-row bodies) at 1, 8 and 32 connections; without `wrk` on PATH (or with
`--python-load`) from a Python asyncio + httpx generator, which competes with the server for
the CPU. Work files go under benchmarks/work/serve (git-ignored). Prints JSON for RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "serve"
MLFLOW_VENV = ROOT / "benchmarks" / ".venv-mlflow"
MLSERVER_VENV = ROOT / "benchmarks" / ".venv-mlserver"
GITML = str(Path(sys.executable).parent / "gitml")

SAVE_MLFLOW = r"""
import json, sys
import skops.io as sio, mlflow.sklearn
model_path, trusted, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
model = sio.load(model_path, trusted=trusted)
mlflow.sklearn.save_model(model, out, serialization_format="cloudpickle")
print(mlflow.__version__)
"""


SAVE_JOBLIB = r"""
import json, sys
import joblib, skops.io as sio, mlserver, sklearn
model_path, trusted, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
joblib.dump(sio.load(model_path, trusted=trusted), out)
print(json.dumps({"mlserver": mlserver.__version__, "scikit-learn": sklearn.__version__}))
"""

#: OIP v2 datatypes of the signature's dtypes (anything else is a string column, BYTES)
V2_TYPES = {"int64": "INT64", "float64": "FP64", "bool": "BOOL"}


def v2_body(frame: Any, features: list[dict[str, Any]]) -> bytes:
    """An OIP v2 request, pandas codec: one tensor per column, strings as BYTES with `str`."""
    inputs = []
    for feat in features:
        values = frame[feat["name"]].astype(object).where(frame[feat["name"]].notna(), None)
        tensor: dict[str, Any] = {
            "name": feat["name"],
            "shape": [len(frame), 1],
            "datatype": V2_TYPES.get(feat["dtype"], "BYTES"),
            "data": [
                None if v is None else (v.item() if hasattr(v, "item") else v) for v in values
            ],
        }
        if tensor["datatype"] == "BYTES":
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": inputs,
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    return json.dumps(body).encode()


def v2_proba(response: dict[str, Any]) -> np.ndarray:
    """The predict_proba output of an OIP v2 response, as an (n, classes) array."""
    out = next(o for o in response["outputs"] if o["name"] == "predict_proba")
    return np.asarray(out["data"], dtype=float).reshape(out["shape"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline: float = 180) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready in {deadline}s")


async def load(url: str, bodies: list[bytes], clients: int, seconds: float) -> dict[str, float]:
    """Closed-loop load: each client sends its next request when the previous one returns."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal errors
        i = k
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            while time.perf_counter() < stop_at:
                body = bodies[i % len(bodies)]
                i += clients
                t0 = time.perf_counter()
                r = await http.post(url, content=body, headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(lat),
        "errors": errors,
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
    }


def wrk_script(bodies: list[bytes], name: str = "post.lua") -> Path:
    """A wrk Lua script: POST, JSON content type, the bodies in turn."""
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines.append("local bodies = {")
    lines += [f"  {json.dumps(b.decode())}," for b in bodies]
    lines += [
        "}",
        "local i = 0",
        "request = function()",
        "  i = i % #bodies + 1",
        "  return wrk.format(nil, nil, nil, bodies[i])",
        "end",
    ]
    path = WORK / name
    path.write_text("\n".join(lines) + "\n")
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk_load(url: str, script: Path, clients: int, seconds: float) -> dict[str, Any]:
    """`wrk -t1 -cN -dS --latency`: throughput and latency percentiles from its report."""
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "30s", "--latency"]
    cmd += ["-s", str(script), url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M))
    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "clients": clients,
        "requests": int(requests.group(1)) if requests else 0,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(pct["50"]),
        "p99": _ms(pct["99"]),
        "load_average": os.getloadavg(),
        "command": " ".join(cmd),
    }


def run_load(
    url: str, bodies: list[bytes], clients: list[int], seconds: float, script: Path | None
) -> list[dict[str, Any]]:
    """Warm up, then one measurement per client count (wrk when `script` is given)."""
    if script is not None:
        wrk_load(url, script, 8, 2)
        return [wrk_load(url, script, c, seconds) for c in clients]
    asyncio.run(load(url, bodies, 8, 2))
    return [asyncio.run(load(url, bodies, c, seconds)) for c in clients]


def reference_proba(model_path: Path, frame: Any) -> np.ndarray:
    """Our skops pipeline's predict_proba on `frame`, in this process (the parity reference)."""
    from gitml.modeling import load_model, load_signature, prepare_features
    from gitml.policy import load_policy

    model = load_model(model_path, list(load_policy(ROOT).trusted_types))
    sig = load_signature(model_path.with_name("signature.json"))
    return np.asarray(model.predict_proba(prepare_features(frame, sig.features)))


def in_process_latency(
    model_path: Path, rows: list[dict[str, Any]], threads: int
) -> dict[str, float]:
    """Median ms of prepare_features + predict_proba for 1, 8, 1000 rows; bare predict_proba.

    `bare_predict_proba_1_row` is `predict_proba` alone on an already prepared one-row frame
    (scikit-learn's fixed cost per call, the issue's 1-client yardstick), the median of 200
    calls cycling through 64 rows.
    """
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from gitml.modeling import load_model, load_signature, prepare_features
    from gitml.policy import load_policy

    trusted = list(load_policy(ROOT).trusted_types)
    model = load_model(model_path, trusted)
    sig = load_signature(model_path.with_name("signature.json"))
    out = {}
    with threadpool_limits(threads):
        for n in (1, 8, 1000):
            frame = pd.DataFrame(rows[:n])
            times = []
            for _ in range(30 if n < 1000 else 10):
                t0 = time.perf_counter()
                model.predict_proba(prepare_features(frame, sig.features))
                times.append(time.perf_counter() - t0)
            out[str(n)] = float(np.median(times) * 1000)
        prepared = [prepare_features(pd.DataFrame([r]), sig.features) for r in rows[:64]]
        times = []
        for i in range(200):
            t0 = time.perf_counter()
            model.predict_proba(prepared[i % 64])
            times.append(time.perf_counter() - t0)
        out["bare_predict_proba_1_row"] = float(np.median(times) * 1000)
    return out


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child, polling its VmHWM in /proc.

    (getrusage/wait4 ru_maxrss is useless here: Linux carries the parent's peak into the child.)
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    peak_kb = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} exited {proc.returncode}")
    return time.perf_counter() - t0, peak_kb / 1024


BASELINE = r"""
import sys, time
import pandas as pd
from threadpoolctl import threadpool_limits
from pathlib import Path
from gitml.modeling import load_model, load_signature, prepare_features
from gitml.policy import load_policy
root, model_path, data = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
threads = int(sys.argv[4])
model = load_model(model_path, list(load_policy(root).trusted_types))
sig = load_signature(model_path.with_name("signature.json"))
frame = pd.read_parquet(data, columns=sig.feature_names)
t0 = time.perf_counter()
with threadpool_limits(threads):
    model.predict_proba(prepare_features(frame, sig.features))
print(time.perf_counter() - t0)
"""


PREDICT_FILE = r"""
import sys, time
from pathlib import Path
from gitml.policy import load_policy
from gitml.serve import batch
from gitml.serve.batcher import limit_threads
from gitml.serve.bundle import from_file
root, model_path, data, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
policy = load_policy(root)
bundle = from_file(model_path, policy.trusted_types, policy.artifact)
limit_threads(policy.serve.predict_threads)
t0 = time.perf_counter()
batch.predict_file(bundle, data, out, policy.serve.chunk_rows, policy.serve.unknown_categories)
print(time.perf_counter() - t0)
"""


def _at(results: dict[str, list[dict[str, Any]]], key: str, clients: int) -> dict[str, Any]:
    return next(r for r in results.get(key, []) if r["clients"] == clients)


def targets(results: dict[str, list[dict[str, Any]]], inproc: dict[str, float]) -> dict[str, Any]:
    """Issue 16's ratios from this run's numbers (gitml onnx on each endpoint)."""
    out: dict[str, Any] = {}
    bare = inproc["bare_predict_proba_1_row"]
    for endpoint, peer in (("", "mlflow"), ("-v2", "mlserver-v2")):
        key = f"gitml-onnx{endpoint}"
        try:
            one, many = _at(results, key, 1), _at(results, key, 32)
            skops = _at(results, f"gitml-skops{endpoint}", 32)
        except StopIteration:
            continue
        row: dict[str, Any] = {
            "p50_1_client_over_bare_predict_proba": one["p50"] / bare,
            "rps_32_over_skops": many["rps"] / skops["rps"],
            "p99_32_over_skops": many["p99"] / skops["p99"],
        }
        if peer in results:
            row[f"rps_1_over_{peer}"] = one["rps"] / _at(results, peer, 1)["rps"]
            row[f"rps_32_over_{peer}"] = many["rps"] / _at(results, peer, 32)["rps"]
        out[key] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "model.skops")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch-rows", type=int, default=1_000_000)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--skip-mlserver", action="store_true")
    ap.add_argument(
        "--peer-omp-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS for MLflow and MLServer (gitml's serve.predict_threads is 1); "
        "0 leaves OpenMP's default.",
    )
    ap.add_argument(
        "--mlserver-workers",
        type=int,
        default=0,
        help="MLServer parallel_workers (0: inference in the server process, one process).",
    )
    ap.add_argument(
        "--runtimes", default="skops,onnx", help="gitml arms: --runtime values, comma-separated."
    )
    ap.add_argument("--skip-load", action="store_true", help="Only the batch benchmark.")
    ap.add_argument("--skip-batch", action="store_true", help="Only the server benchmark.")
    ap.add_argument(
        "--python-load", action="store_true", help="Use the Python load generator, not wrk."
    )
    args = ap.parse_args()

    from gitml.data.synthetic import generate
    from gitml.policy import load_policy

    policy = load_policy(ROOT)
    WORK.mkdir(parents=True, exist_ok=True)
    model = WORK / "model" / "model.skops"
    model.parent.mkdir(exist_ok=True)
    shutil.copy(args.model, model)
    shutil.copy(args.model.with_name("signature.json"), model.with_name("signature.json"))
    sig = json.loads(model.with_name("signature.json").read_text())
    names = [f["name"] for f in sig["features"]]
    frame = generate(5000, seed=7)[names]
    rows = json.loads(frame.to_json(orient="records"))
    bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in rows]
    clients = [int(c) for c in args.clients.split(",")]
    script = None if args.python_load or not shutil.which("wrk") else wrk_script(bodies[:64])
    results: dict[str, list[dict[str, float]]] = {}
    versions: dict[str, str] = {}

    if args.skip_load:
        clients = []
        args.skip_mlflow = args.skip_mlserver = True
    # gitml scores on policy.serve.predict_threads OpenMP threads; the peers get the same
    # (with OpenMP's default, one per core, their idle workers spin against wrk and gitml)
    peer_threads = {}
    if args.peer_omp_threads:
        peer_threads = {"OMP_NUM_THREADS": str(args.peer_omp_threads)}
    features = sig["features"]
    v2_bodies = [v2_body(frame.iloc[[i]], features) for i in range(64)]
    v2_script = None if script is None else wrk_script(v2_bodies, "post-v2.lua")
    parity_frame = frame.iloc[:1000]
    parity_body = v2_body(parity_frame, features)
    reference = reference_proba(model, parity_frame)
    parity: dict[str, float] = {}
    load_before = os.getloadavg()
    # gitml, once per runtime (the skops model; the compile stage's ONNX model, which must be
    # verified against ROOT's dvc.lock: `--runtime onnx` refuses to start otherwise), each on
    # /invocations and on OIP v2
    for runtime in args.runtimes.split(","):
        key = f"gitml-{runtime}"
        port = free_port()
        gitml = subprocess.Popen(
            [
                GITML,
                "serve",
                "--model",
                str(model),
                "--root",
                str(ROOT),
                "--runtime",
                runtime,
                "--port",
                str(port),
                "--log",
                str(WORK / f"predictions-{runtime}.jsonl"),
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/health", gitml)
            meta = httpx.get(f"{base}/metadata").json()
            assert meta["runtime"] == runtime, f"asked for {runtime}, serving {meta['runtime']}"
            model_name = meta["artifact"]
            v2_url = f"{base}/v2/models/{model_name}/infer"
            answer = httpx.post(v2_url, content=parity_body, timeout=60)
            answer.raise_for_status()
            parity[key] = float(np.max(np.abs(v2_proba(answer.json()) - reference)))
            results[key] = run_load(f"{base}/invocations", bodies, clients, args.seconds, script)
            results[f"{key}-v2"] = run_load(v2_url, v2_bodies, clients, args.seconds, v2_script)
            metrics = httpx.get(f"{base}/metrics").text
            sums = dict(re.findall(r"^gitml_batch_rows_(sum|count)\{[^}]*\} (\S+)$", metrics, re.M))
            if sums:
                mean = float(sums["sum"]) / float(sums["count"])
                versions[f"{key}_mean_batch_rows"] = f"{mean:.1f}"
        finally:
            gitml.send_signal(signal.SIGTERM)
            gitml.wait(60)
    ratios = {}
    if "gitml-onnx" in results and "gitml-skops" in results:
        for endpoint in ("", "-v2"):
            pairs = zip(
                results[f"gitml-onnx{endpoint}"], results[f"gitml-skops{endpoint}"], strict=True
            )
            for onnx, skops in pairs:
                ratios[f"{onnx['clients']}{endpoint}"] = {
                    "rps_onnx_over_skops": onnx["rps"] / skops["rps"],
                    "p50_skops_over_onnx": skops["p50"] / onnx["p50"],
                    "p99_skops_over_onnx": skops["p99"] / onnx["p99"],
                }

    # mlflow
    if not args.skip_mlflow and (MLFLOW_VENV / "bin" / "mlflow").exists():
        mlmodel = WORK / "mlflow-model"
        shutil.rmtree(mlmodel, ignore_errors=True)
        versions["mlflow"] = subprocess.run(
            [
                str(MLFLOW_VENV / "bin" / "python"),
                "-c",
                SAVE_MLFLOW,
                str(model),
                json.dumps(list(policy.trusted_types)),
                str(mlmodel),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = free_port()
        env = {
            **os.environ,
            "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": f"file://{WORK / 'mlruns'}",
            **peer_threads,
        }
        ml = subprocess.Popen(
            [
                str(MLFLOW_VENV / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(mlmodel),
                "--env-manager",
                "local",
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/ping", ml)
            url = f"http://127.0.0.1:{port}/invocations"
            answer = httpx.post(
                url,
                content=json.dumps({"dataframe_records": rows[:1000]}).encode(),
                headers={"content-type": "application/json"},
                timeout=60,
            )
            answer.raise_for_status()
            preds = np.asarray(answer.json()["predictions"])
            labels = reference.argmax(axis=1)
            parity["mlflow_label_agreement"] = float(np.mean(preds == labels))
            results["mlflow"] = run_load(url, bodies, clients, args.seconds, script)
        finally:
            os.killpg(ml.pid, signal.SIGTERM)
            ml.wait(60)

    # Seldon MLServer: the same pipeline through joblib, mlserver-sklearn, one process
    if not args.skip_mlserver and (MLSERVER_VENV / "bin" / "mlserver").exists():
        msdir = WORK / "mlserver"
        shutil.rmtree(msdir, ignore_errors=True)
        (msdir / "model").mkdir(parents=True)
        saved = subprocess.run(
            [
                str(MLSERVER_VENV / "bin" / "python"),
                "-c",
                SAVE_JOBLIB,
                str(model),
                json.dumps(list(policy.trusted_types)),
                str(msdir / "model" / "model.joblib"),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for name, version in json.loads(saved).items():
            versions[f"mlserver-venv {name}"] = version
        http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
        (msdir / "settings.json").write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "http_port": http_port,
                    "grpc_port": grpc_port,
                    "metrics_port": metrics_port,
                    "parallel_workers": args.mlserver_workers,
                }
            )
        )
        model_name = sig.get("model", "model")
        (msdir / "model" / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": model_name,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib"},
                }
            )
        )
        env = {
            **os.environ,
            "PATH": f"{MLSERVER_VENV / 'bin'}:{os.environ['PATH']}",
            **peer_threads,
        }
        ms = subprocess.Popen(
            [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(msdir)],
            env=env,
            cwd=msdir,
            stdout=subprocess.DEVNULL,
            stderr=(msdir / "mlserver.log").open("wb"),
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{http_port}"
            wait_ready(f"{base}/v2/models/{model_name}/ready", ms)
            url = f"{base}/v2/models/{model_name}/infer"
            answer = httpx.post(
                url, content=parity_body, headers={"content-type": "application/json"}, timeout=60
            )
            answer.raise_for_status()
            delta = float(np.max(np.abs(v2_proba(answer.json()) - reference)))
            parity["mlserver"] = delta
            print(f"MLServer vs our pipeline on 1000 rows: max |dp| = {delta:.3g}", file=sys.stderr)
            assert delta <= 1e-12, f"MLServer's probabilities differ from ours: {delta}"
            results["mlserver-v2"] = run_load(url, v2_bodies, clients, args.seconds, v2_script)
        finally:
            os.killpg(ms.pid, signal.SIGTERM)
            ms.wait(60)
    load_after = os.getloadavg()

    inproc = in_process_latency(model, rows, policy.serve.predict_threads)

    batch: dict[str, Any] = {}
    if args.batch_rows and not args.skip_batch:
        data = WORK / f"batch-{args.batch_rows}.parquet"
        if not data.exists():
            generate(args.batch_rows, seed=5).to_parquet(data, index=False)
        base_wall, base_rss = timed(
            [
                sys.executable,
                "-c",
                BASELINE,
                str(ROOT),
                str(model),
                str(data),
                str(policy.serve.predict_threads),
            ]
        )
        base_inner = float(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    BASELINE,
                    str(ROOT),
                    str(model),
                    str(data),
                    str(policy.serve.predict_threads),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        out = WORK / "batch-out.parquet"
        predict = [GITML, "predict", "--model", str(model), "--root", str(ROOT), str(data)]
        wall, rss = timed([*predict, "-o", str(out), "--no-progress", "--runtime", "skops"])
        onnx_wall, onnx_rss = timed(
            [*predict, "-o", str(out), "--no-progress", "--runtime", "onnx"]
        )
        scoring_s = float(
            subprocess.run(
                [sys.executable, "-c", PREDICT_FILE, str(ROOT), str(model), str(data), str(out)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        batch = {
            "rows": args.batch_rows,
            "gitml_predict_file_s": scoring_s,
            "load_average": os.getloadavg(),
            "baseline_predict_s": base_inner,
            "baseline_process_s": base_wall,
            "baseline_rss_mb": base_rss,
            "gitml_predict_s": wall,
            "gitml_rss_mb": rss,
            "gitml_predict_onnx_s": onnx_wall,
            "gitml_onnx_rss_mb": onnx_rss,
            "chunk_rows": policy.serve.chunk_rows,
        }

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_version()}, {platform.platform()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average": os.getloadavg(),
        "load_average_serving": {"before": load_before, "after": load_after},
        "results": results,
        "parity_max_abs_dp": parity,
        "onnx_vs_skops": ratios,
        "targets": targets(results, inproc),
        "in_process_ms": inproc,
        "batch": batch,
        "versions": versions,
    }
    (WORK / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
