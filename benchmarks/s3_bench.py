"""`gitml serve --stage production` start-up with the model on an S3 remote (moto on 127.0.0.1).

Builds the pipeline's project (3,000 rows, `dvc repro`), registers v1.0.0 and promotes it to
production, pushes to an S3 remote served by moto's standalone server on a loopback port, then times,
in fresh clones with an empty DVC cache:

- `dvc pull models/model.skops` alone;
- serve start-up (process start to the first 200 of /health) when the model must come from S3;
- serve start-up when the model was pulled into the clone's cache beforehand (no S3 read).

Run: .venv/bin/python benchmarks/s3_bench.py [--repeats 3]   (results: benchmarks/RESULTS.md)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pipeline_repo import BIN, dvc, env, make_template, run
from tests.serve_support import free_port

KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}


def environment(home: Path) -> dict[str, str]:
    return {
        **env(),
        **KEYS,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def serve_startup(clone: Path, extra: dict[str, str]) -> float:
    """Seconds from launching `gitml serve --stage production` to /health answering 200."""
    port = free_port()
    args = [str(BIN / "gitml"), "serve", "--stage", "production", "--port", str(port)]
    args += ["--root", str(clone), "--log", str(clone.parent / f"pred-{port}.jsonl")]
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=clone, env=extra, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = start + 180
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit(
                    f"serve exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit("serve did not start in 180 s")
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    work = Path(tempfile.mkdtemp(prefix="gitml-s3-bench-"))
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
        ).create_bucket(Bucket="bench")
        (work / "aws").mkdir()
        extra = environment(work / "aws")
        repo = make_template(work / "repo", n_rows=3000)
        policy = yaml.safe_load((repo / "conf/gitml.yaml").read_text())
        policy["metrics"]["roc_auc"]["floor"] = 0.6
        (repo / "conf/gitml.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
        dvc("repro", cwd=repo)
        dvc("remote", "add", "-d", "s3", "s3://bench/store", cwd=repo)
        dvc("remote", "modify", "s3", "endpointurl", endpoint, cwd=repo)
        run(["git", "add", "-A"], repo)
        run(["git", "commit", "-qm", "results"], repo)
        run(["git", "init", "-q", "--bare", "-b", "main", str(work / "origin.git")], work)
        run(["git", "remote", "add", "origin", str(work / "origin.git")], repo)
        run(["git", "push", "-q", "origin", "main"], repo)
        subprocess.run(
            [str(BIN / "dvc"), "push"], cwd=repo, env=extra, check=True, capture_output=True
        )
        for cmd in (
            ("register", "--version", "v1.0.0"),
            ("promote", "v1.0.0", "--to", "staging"),
            ("promote", "v1.0.0", "--to", "production"),
        ):
            done = subprocess.run(
                [str(BIN / "gitml"), "model", *cmd], cwd=repo, env=extra, capture_output=True
            )
            if done.returncode != 0:
                raise SystemExit(f"gitml model {' '.join(cmd)}: {done.stderr.decode()}")
        size = (repo / "models/model.skops").stat().st_size

        pulls, with_pull, cached = [], [], []
        for i in range(args.repeats):
            clone = work / f"clone-s3-{i}"
            run(["git", "clone", "-q", str(repo), str(clone)], work)
            with_pull.append(serve_startup(clone, extra))
            clone = work / f"clone-cached-{i}"
            run(["git", "clone", "-q", str(repo), str(clone)], work)
            start = time.perf_counter()
            subprocess.run(
                [str(BIN / "dvc"), "pull", "models/model.skops"],
                cwd=clone,
                env=extra,
                check=True,
                capture_output=True,
            )
            pulls.append(time.perf_counter() - start)
            cached.append(serve_startup(clone, extra))
        med = statistics.median
        print(f"model.skops: {size / 1024:.0f} KiB; {args.repeats} runs, median (min-max), seconds")
        for label, values in (
            ("dvc pull models/model.skops (empty cache, from S3)", pulls),
            ("serve --stage production start-up, model fetched from S3", with_pull),
            ("serve --stage production start-up, model already in the cache", cached),
        ):
            print(f"{label}: {med(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"S3 share of start-up: {med(with_pull) - med(cached):.2f} s")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
