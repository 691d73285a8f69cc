"""`gitml predict/monitor --engine dask` on a real two-process LocalCluster on 127.0.0.1.

The Dask output equals the single-process command's on the same rows; a worker that dies
mid-run is replaced and the job finishes with every row exactly once; bad input is one paragraph
naming the partition, exit 2, and no output directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitml.data.synthetic import generate

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dask_engine")]
GITML = str(Path(sys.executable).parent / "gitml")
PARTS = 5
ROWS_PER_PART = 1_500


@pytest.fixture(scope="session")
def cluster() -> Iterator[str]:
    """A LocalCluster of two single-threaded worker processes; its scheduler's address."""
    from gitml.dask import local_cluster

    # As docs/scale.md starts workers: a preload that failed to import would kill them.
    with local_cluster(2, preload=["gitml.serve.partitions", "gitml.monitor.partitions"]) as local:
        yield local.scheduler_address


def test_a_local_cluster_leaves_the_callers_environment_as_it_was() -> None:
    from gitml.dask import connect

    before = dict(os.environ)
    with connect(None, 1) as client:
        assert client.submit(os.getpid).result() != os.getpid()
        [worker_env] = client.run(lambda: dict(os.environ)).values()
    assert dict(os.environ) == before
    assert worker_env["OMP_NUM_THREADS"] == "1"  # its worker keeps Dask's one-thread settings


def test_the_documented_scheduler_and_workers_run_a_monitor_job(
    ran_template: Path, dataset: Path, tmp_path: Path
) -> None:
    """docs/scale.md's `dask scheduler` and `dask worker` lines as real processes: the preloads
    import, the worker keeps one thread per library, and `gitml monitor --engine dask
    --scheduler ...` runs on them, its task setting glibc's thresholds in the worker (gitml.malloc:
    Dask's MALLOC_TRIM_THRESHOLD_=65536 cost the monitor's partitions ~25% in page faults)."""
    from distributed import Client

    def malloc_set() -> bool:  # run in the worker: has it set glibc's thresholds for batch work?
        from gitml import malloc

        return malloc._done

    dask_cli = str(Path(sys.executable).parent / "dask")
    env = dict(os.environ)
    address_file = tmp_path / "scheduler.json"
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(address_file)],
            **quiet,
        ),
        subprocess.Popen(
            [dask_cli, "worker", "--scheduler-file", str(address_file), "--nworkers", "1",
             "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
             "--preload", "gitml.serve.partitions", "--preload", "gitml.monitor.partitions"],
            **quiet,
        ),
    ]  # fmt: skip
    try:
        with Client(scheduler_file=str(address_file), timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
            [worker_env] = client.run(lambda: dict(os.environ)).values()
            assert list(client.run(malloc_set).values()) == [False]
            # The monitor's preload readied its task: the reader's and the contract's libraries.
            ready = client.run(lambda: [m in sys.modules for m in ("pyarrow.parquet", "pandera")])
            assert list(ready.values()) == [[True, True]]
            address = client.scheduler.address
            assert worker_env["OMP_NUM_THREADS"] == "1"
            done = gitml(ran_template, "monitor", "--profile",
                         str(ran_template / "data" / "profile.json"), "--format", "json",
                         "--current", str(dataset / "parts"), "--engine", "dask",
                         "--scheduler", address, "-o", str(tmp_path / "m.json"))  # fmt: skip
            assert done.returncode in (0, 1), done.stderr
            rows = json.loads((tmp_path / "m.json").read_text())["rows"]
            assert rows == PARTS * ROWS_PER_PART
            assert list(client.run(malloc_set).values()) == [True]
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=60)


def test_without_dask_the_engine_is_one_paragraph_and_writes_nothing(
    ran_template: Path, dataset: Path, tmp_path: Path
) -> None:
    # Dask is the `gitml[dask]` extra: an install without it (`distributed` not importable, as
    # here) gets the install line, not an ImportError traceback.
    code = "import sys; sys.modules['distributed'] = None; from gitml.cli import main; main()"
    model = str(ran_template / "models" / "model.skops")
    out = tmp_path / "scored"
    args = ["predict", "--model", model, str(dataset / "parts"), "-o", str(out), "--engine", "dask"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--no-progress", "--root", str(ran_template)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'gitml[dask]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = generate(PARTS * ROWS_PER_PART, seed=77, scenario="covariate")
    frame["score"] = np.random.default_rng(3).beta(2, 5, len(frame))
    return frame


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, rows: pd.DataFrame) -> Path:
    """The rows as one file (`all.parquet`) and as a dataset of PARTS files (`parts/`)."""
    root = tmp_path_factory.mktemp("dask-data")
    (root / "parts").mkdir()
    for i in range(PARTS):
        part = rows.iloc[i * ROWS_PER_PART : (i + 1) * ROWS_PER_PART]
        part.to_parquet(root / "parts" / f"batch-{i}.parquet", index=False)
    rows.to_parquet(root / "all.parquet", index=False)
    return root


def gitml(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GITML, *args, "--root", str(repo)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def predict(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return gitml(repo, "predict", "--model", str(repo / "models" / "model.skops"), *args)


def on_cluster(cluster: str) -> tuple[str, ...]:
    """The arguments that send a command to the test cluster, without a progress bar."""
    return ("--engine", "dask", "--scheduler", cluster, "--no-progress")


def read_dataset(out: Path) -> pd.DataFrame:
    files = sorted(out.iterdir())
    assert all(f.name.startswith("part-") and f.suffix == ".parquet" for f in files), files
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_predict_dask_equals_single_process(
    ran_template: Path, dataset: Path, cluster: str, tmp_path: Path
) -> None:
    # The Dask engine scores with the skops model (docs/scale.md); the single process would pick
    # the compiled ONNX model under --runtime auto, equal only within the compile tolerance.
    single = predict(
        ran_template,
        str(dataset / "all.parquet"),
        "-o",
        str(tmp_path / "one.parquet"),
        "--id-column",
        "score",
        "--runtime",
        "skops",
        "--no-progress",
    )
    assert single.returncode == 0, single.stderr
    out = tmp_path / "scored"
    done = predict(
        ran_template,
        str(dataset / "parts"),
        "-o",
        str(out),
        "--id-column",
        "score",
        "--engine",
        "dask",
        "--scheduler",
        cluster,
        "--chunk-rows",
        "400",
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    assert [f.name for f in sorted(out.iterdir())] == [
        f"part-{i:05d}-batch-{i}.parquet" for i in range(PARTS)
    ]
    pd.testing.assert_frame_equal(
        read_dataset(out), pd.read_parquet(tmp_path / "one.parquet"), check_exact=True
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left


class ExitOnce:
    """A worker plugin: the worker that starts one given task first exits at once (os._exit)."""

    def __init__(self, marker: str, suffix: str) -> None:
        self.marker = marker
        self.suffix = suffix

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish != "executing" or not str(key).endswith(self.suffix):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return  # the rerun
        os._exit(1)


def test_a_worker_killed_mid_run_loses_and_duplicates_no_row(
    ran_template: Path, dataset: Path, cluster: str, tmp_path: Path, rows: pd.DataFrame
) -> None:
    from distributed import Client
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("ExitOncePlugin", (ExitOnce, WorkerPlugin), {})(
        str(tmp_path / "killed"), "-00003"
    )
    out = tmp_path / "scored"
    with Client(cluster, set_as_default=False) as client:
        client.register_plugin(plugin, name="exit-once")
        try:
            done = predict(
                ran_template,
                str(dataset / "parts"),
                "-o",
                str(out),
                "--id-column",
                "score",
                "--engine",
                "dask",
                "--scheduler",
                cluster,
                "--no-progress",
            )
        finally:
            client.unregister_worker_plugin("exit-once")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "killed").exists()  # a worker did die on partition 3
    got = read_dataset(out)
    assert len(got) == len(rows)
    np.testing.assert_array_equal(got["score"].to_numpy(), rows["score"].to_numpy())


def test_bad_partition_is_named_and_nothing_is_written(
    ran_template: Path, dataset: Path, cluster: str, tmp_path: Path, rows: pd.DataFrame
) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):
        rows.iloc[i * 100 : (i + 1) * 100].to_parquet(parts / f"p{i}.parquet", index=False)
    rows.iloc[300:400].drop(columns=["income"]).to_parquet(parts / "p3.parquet", index=False)
    out = tmp_path / "scored"
    done = predict(
        ran_template,
        str(parts),
        "-o",
        str(out),
        *on_cluster(cluster),
    )
    assert done.returncode == 2
    assert "p3.parquet" in done.stderr and "income" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]  # no output, no temp dir

    (parts / "p3.parquet").write_bytes(b"PAR1 not really parquet")
    done = predict(
        ran_template,
        str(parts),
        "-o",
        str(out),
        *on_cluster(cluster),
    )
    assert done.returncode == 2 and "p3.parquet" in done.stderr, done.stderr
    assert "not a readable Parquet file" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]

    empty = tmp_path / "empty"
    empty.mkdir()
    done = predict(ran_template, str(empty), "-o", str(out), "--engine", "dask", "--no-progress")
    assert done.returncode == 2 and "no Parquet partitions" in done.stderr, done.stderr
    assert not out.exists()


def test_a_bad_model_is_one_paragraph_from_the_workers_and_nothing_is_written(
    ran_template: Path, dataset: Path, cluster: str, tmp_path: Path
) -> None:
    """The client ships the model's bytes without loading them (it never imports scikit-learn
    or skops): the workers' check of the bytes is the one that must speak, in one paragraph."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ran_template / "models" / "signature.json", models / "signature.json")
    real = (ran_template / "models" / "model.skops").read_bytes()
    trusted = (ran_template / "conf" / "gitml.yaml").read_text()
    cases = {
        "truncated": (real[: len(real) // 2], "not a readable skops file"),
        "untrusted": (real, "not on the trusted list"),
    }
    for name, (data, message) in cases.items():
        (models / "model.skops").write_bytes(data)
        repo = tmp_path / f"repo-{name}"
        (repo / "conf").mkdir(parents=True)
        policy = trusted
        if name == "untrusted":  # a policy that trusts none of the model's scikit-learn types
            policy = re.sub(r"(?ms)^trusted_types:\n(  - .*\n)+", "trusted_types: []\n", trusted)
            assert policy != trusted
        (repo / "conf" / "gitml.yaml").write_text(policy)
        out = tmp_path / f"scored-{name}"
        done = gitml(
            repo,
            "predict",
            "--model",
            str(models / "model.skops"),
            str(dataset / "parts"),
            "-o",
            str(out),
            *on_cluster(cluster),
        )
        assert done.returncode == 2, (name, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (name, done.stderr)
        assert not out.exists() and not list(tmp_path.glob(f".scored-{name}*")), name


def _without_paths(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("current", "reference_label")}


def assert_same(got: Any, want: Any, path: str = "") -> None:
    """Equal; floats within 1e-9 (relative or absolute), recursively."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for key in want:
            assert_same(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), path
    else:
        assert got == want, path


#: `gitml monitor ...` in this process, then which of the data libraries it imported.
CLIENT_IMPORTS = """
import sys
from gitml.cli import main
sys.argv = ["gitml", *sys.argv[1:]]
try:
    main()
finally:
    print("imported:", [m for m in ("pandas", "pyarrow") if m in sys.modules], file=sys.stderr)
"""


def test_the_dask_monitor_client_never_imports_the_data_libraries(
    ran_template: Path, dataset: Path, cluster: str, tmp_path: Path
) -> None:
    """The client merges summaries and reads no rows: pandas and pyarrow (~0.25 s of its start-up,
    on the path before the first task is sent) are the workers' to import. (With labels, decay's
    metrics import pandas on the client at the end, after the workers are done.)"""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_IMPORTS, "monitor", "--profile",
         str(ran_template / "data" / "profile.json"), "--format", "json",
         "--current", str(dataset / "parts"), "--root", str(ran_template),
         "--engine", "dask", "--scheduler", cluster, "-o", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert json.loads((tmp_path / "m.json").read_text())["rows"] == PARTS * ROWS_PER_PART
    assert "imported: []" in done.stderr, done.stderr[-2000:]


def test_monitor_dask_equals_single_process(
    ran_template: Path, dataset: Path, cluster: str, tmp_path: Path
) -> None:
    common = [
        "monitor",
        "--profile",
        str(ran_template / "data" / "profile.json"),
        "--labels",
        "default",
        "--format",
        "json",
    ]
    single = gitml(
        ran_template,
        *common,
        "--current",
        str(dataset / "all.parquet"),
        "-o",
        str(tmp_path / "one.json"),
    )
    assert single.returncode == 0, single.stderr
    done = gitml(
        ran_template,
        *common,
        "--current",
        str(dataset / "parts"),
        "--engine",
        "dask",
        "--scheduler",
        cluster,
        "-o",
        str(tmp_path / "dask.json"),
    )
    assert done.returncode == 0, done.stderr
    want = json.loads((tmp_path / "one.json").read_text())
    got = json.loads((tmp_path / "dask.json").read_text())
    assert got["rows"] == want["rows"] == PARTS * ROWS_PER_PART
    assert want["drifted_columns"] and want["prediction"] is not None  # the test has teeth
    assert_same(_without_paths(got), _without_paths(want))
    # The client merges each summary as soon as the ones before it are in: whichever worker
    # finishes first, the report is the same bytes.
    again = gitml(ran_template, *common, "--current", str(dataset / "parts"), "--engine", "dask",
                  "--scheduler", cluster, "-o", str(tmp_path / "again.json"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "dask.json").read_bytes()
