"""Helpers for the serving tests: a real model fitted from the composed config, a real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from gitml.config import Params, load_params
from gitml.data.synthetic import generate
from gitml.fileio import write_bytes, write_json
from gitml.modeling import Signature, dumps_model, feature_specs, prepare_features
from gitml.schema import coerce

ROOT = Path(__file__).resolve().parents[1]
GITML = str(Path(sys.executable).parent / "gitml")


@dataclass
class BuiltModel:
    """A fitted pipeline saved as a skops file with its signature, in a project-like root."""

    root: Path
    model_path: Path
    model: Any
    signature: Signature
    rows: pd.DataFrame  # fresh rows to score (the signature's features, storage dtypes)


def build_model(
    dest: Path,
    n_train: int = 1500,
    n_rows: int = 2000,
    nullable: tuple[str, ...] = (),
    null_every: int = 9,
) -> BuiltModel:
    """Fit the configured pipeline (shrunk) on synthetic data; write it like stages/train.py.

    `nullable` columns are declared nullable and every `null_every`-th value of theirs (shifted
    per column) is missing, in the training rows and in the fresh rows alike."""
    from stages.train import fit

    params = load_params(ROOT / "params.yaml")
    raw = dict(params.raw)
    if "max_iter" in raw["model"]:  # shrink the composed config: a faster fit, same pipeline
        raw["model"] = {**raw["model"], "max_iter": 30}
    if nullable:
        columns = {k: dict(v) for k, v in raw["data"]["columns"].items()}
        for name in nullable:
            columns[name]["nullable"] = True
        raw["data"] = {**raw["data"], "columns": columns}
    params = Params.parse(raw)

    def with_nulls(frame: pd.DataFrame) -> pd.DataFrame:
        for k, name in enumerate(nullable):
            frame.loc[frame.index[k % null_every :: null_every], name] = None
        return frame

    train = with_nulls(coerce(generate(n_train, seed=3), params.data))
    pipeline = fit(train, params.data, params.model)
    (dest / "conf").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "conf" / "gitml.yaml", dest / "conf" / "gitml.yaml")
    model_path = dest / "models" / "model.skops"
    write_bytes(model_path, dumps_model(pipeline))
    sig = Signature(
        features=feature_specs(params.data),
        target=params.data.target,
        task=params.data.task,
        classes=[c.item() for c in pipeline.classes_],
        positive_class=params.data.positive_class,
        training_data_md5="test",
        model=params.model.name,
        estimator=params.model.target,
    )
    write_json(dest / "models" / "signature.json", sig.to_dict())
    rows = with_nulls(coerce(generate(n_rows, seed=11), params.data))[sig.feature_names]
    return BuiltModel(dest, model_path, pipeline, sig, rows)


def in_process(built: BuiltModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and probabilities straight from the pipeline."""
    x = prepare_features(frame, built.signature.features)
    return built.model.predict(x), built.model.predict_proba(x)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready row objects (NaN as null)."""
    return json.loads(frame.to_json(orient="records"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def start_server(
    built: BuiltModel,
    log: Path,
    *extra: str,
    deadline: float = 90,
    source: tuple[str, ...] | None = None,
) -> Server:
    """`gitml serve --model` on a free port; returns once /health says ready.

    `source` replaces `--model <built.model_path>`, e.g. ("--stage", "production")."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    stderr = open(log.with_suffix(".stderr"), "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            GITML,
            "serve",
            *(source or ("--model", str(built.model_path))),
            "--root",
            str(built.root),
            "--port",
            str(port),
            "--log",
            str(log),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        cwd=built.root,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, log.with_suffix(".stderr"), deadline)
    return Server(proc, url, log)


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, stderr: Path, deadline: float = 90
) -> dict[str, Any]:
    """Poll `url`/health until it answers 200 (ready), with a bounded deadline; returns its body.

    Fails at once if the server exits, and after `deadline` seconds if it never becomes ready.
    """
    end = time.monotonic() + deadline
    last = "no answer"
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {stderr.read_text()}")
        try:
            reply = httpx.get(f"{url}/health", timeout=2)
            if reply.status_code == 200:
                body: dict[str, Any] = reply.json()
                assert body["status"] == "ready", body
                return body
            last = f"{reply.status_code} {reply.text}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)  # polling interval, bounded by the deadline above
    proc.kill()
    raise AssertionError(
        f"server not ready within {deadline}s (last: {last}): {stderr.read_text()}"
    )
