"""The trained model's bytes do not depend on the number of OpenMP threads the process gets."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitml.config import Params, files_under, inline_schema
from gitml.data.synthetic import generate
from gitml.fileio import write_parquet
from gitml.schema import coerce

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def trained_md5(tmp: Path, threads: str) -> str:
    """Run the train stage in a process with OMP_NUM_THREADS=`threads`; md5 of the model."""
    out = tmp / f"model-{threads}.skops"
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.train",
            "--params",
            str(tmp / "params.yaml"),
            "--train",
            str(tmp / "train.parquet"),
            "--model",
            str(out),
            "--signature",
            str(tmp / f"sig-{threads}.json"),
        ],
        cwd=tmp,
        env=env,
        check=True,
        capture_output=True,
    )
    return hashlib.md5(out.read_bytes()).hexdigest()


def test_default_model_bytes_are_the_same_with_one_two_or_four_threads(tmp_path: Path) -> None:
    # A Dask LocalCluster (and many CI runners) leave OMP_NUM_THREADS=1 in the environment:
    # dvc.lock must not change because of that.
    raw = inline_schema(yaml.safe_load((ROOT / "params.yaml").read_text()), files_under(ROOT))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    params = Params.parse(raw)
    write_parquet(tmp_path / "train.parquet", coerce(generate(4000, seed=11), params.data))
    digests = {threads: trained_md5(tmp_path, threads) for threads in ("1", "2", "4")}
    assert len(set(digests.values())) == 1, digests
