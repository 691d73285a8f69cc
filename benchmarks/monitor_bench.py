"""Benchmark `gitml monitor`'s drift core against Evidently's DataDriftPreset, side by side.

Run from the repository root:

    .venv/bin/python benchmarks/monitor_bench.py --rows 100000 1000000
    .venv/bin/python benchmarks/monitor_bench.py --rows --cli-rows 1000000 10000000  # bounded memory

Evidently 0.7 does not import with pandas 3, so it runs in its own venv as a subprocess:

    python3 -m venv benchmarks/.venv-evidently
    benchmarks/.venv-evidently/bin/pip install "evidently==0.7.*" "pandas<3" pyarrow

For each size the same reference and current tables (20 numeric and 5 categorical columns, six of
them drifted) are written to Parquet under benchmarks/work/; each tool runs in a fresh process that
loads both tables first and then measures wall time and peak extra memory (VmHWM after resetting it
through /proc/self/clear_refs) of the drift computation only. gitml's time covers profiling the
reference (the split stage's job) separately from monitoring the batch. The per-column decisions of
the two tools are compared column by column.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work"
EVIDENTLY_PY = ROOT / ".venv-evidently" / "bin" / "python"
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]

MEMORY = textwrap.dedent(
    """
    def rss_reset():
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return _status("VmRSS")

    def peak_extra_mb(base):
        return (_status("VmHWM") - base) / 1024

    def _status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)
    """
)

GITML_RUN = MEMORY + textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    from gitml.monitor.core import Inputs, analyse_frame
    from gitml.policy.monitor import MonitorPolicy
    from gitml.profile import build_profile

    ref_path, cur_path, out, numeric, categorical = sys.argv[1:6]
    numeric, categorical = numeric.split(","), categorical.split(",")
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    base = rss_reset()
    t0 = time.perf_counter()
    profile = build_profile(reference, numeric, categorical)
    t1 = time.perf_counter()
    result = analyse_frame(current, Inputs(profile=profile, policy=MonitorPolicy()))
    t2 = time.perf_counter()
    columns = {name: {"method": c["method"], "score": c["score"], "drifted": c["drifted"]}
               for name, c in result["columns"].items()}
    json.dump({"profile_s": t1 - t0, "monitor_s": t2 - t1, "peak_extra_mb": peak_extra_mb(base),
               "columns": columns}, open(out, "w"))
    """
)

EVIDENTLY_RUN = MEMORY + textwrap.dedent(
    """
    import json, sys, time, warnings
    warnings.filterwarnings("ignore")
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref_path, cur_path, out, numeric, categorical = sys.argv[1:6]
    numeric, categorical = numeric.split(","), categorical.split(",")
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    base = rss_reset()
    t0 = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    t1 = time.perf_counter()
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            method, threshold, value = config["method"], config["threshold"], metric["value"]
            p_value = "p_value" in method
            drifted = bool(value < threshold if p_value else value >= threshold)
            columns[config["column"]] = {
                "method": method, "threshold": threshold, "score": value, "drifted": drifted
            }
    json.dump({"version": evidently.__version__, "monitor_s": t1 - t0,
               "peak_extra_mb": peak_extra_mb(base), "columns": columns}, open(out, "w"))
    """
)


def make_tables(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables; num_00..num_03, num_10 (discrete) and cat_0 drift."""
    rng = np.random.default_rng(seed)

    def table(drift: bool) -> pd.DataFrame:
        out: dict[str, np.ndarray] = {}
        for i, name in enumerate(NUMERIC):
            shift = 0.0
            if drift and i < 4:
                shift = (0.5, 0.25, 0.15, 0.12)[i]
            kind = i % 5
            if kind == 0:
                values = rng.normal(shift, 1.0, rows)
            elif kind == 1:
                values = np.exp(rng.normal(10 + shift, 0.6, rows)).round(2)
            elif kind == 2:
                values = rng.poisson(4 + 8 * shift, rows).astype(float)
            elif kind == 3:
                values = rng.beta(2.2, 4.5, rows) + shift / 4
            else:
                values = rng.uniform(0, 1 + shift, rows)
            if i == 10:  # low-cardinality numeric: 4 distinct values
                p = [0.5, 0.3, 0.15, 0.05] if not drift else [0.35, 0.3, 0.2, 0.15]
                values = rng.choice([0.0, 1.0, 2.0, 3.0], rows, p=p)
            if i == 7:
                values[rng.random(rows) < 0.02] = np.nan
            out[name] = values
        for j, name in enumerate(CATEGORICAL):
            levels = [f"{name}_{k}" for k in range(3 + 4 * j)]
            p = np.linspace(2, 1, len(levels))
            if drift and j == 0:
                p = p[::-1]
            out[name] = rng.choice(levels, rows, p=p / p.sum())
        return pd.DataFrame(out)

    return table(False), table(True)


def run_tool(python: Path, script: str, ref: Path, cur: Path, out: Path) -> dict:
    cmd = [
        str(python),
        "-c",
        script,
        str(ref),
        str(cur),
        str(out),
        ",".join(NUMERIC),
        ",".join(CATEGORICAL),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT.parent)
    return json.loads(out.read_text())


def write_table(frame: pd.DataFrame, path: Path, parts: int) -> None:
    """Write `frame` to Parquet in `parts` row groups (as a large production batch would be)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    step = -(-len(frame) // parts)
    writer = None
    for start in range(0, len(frame), step):
        table = pa.Table.from_pandas(frame.iloc[start : start + step], preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def cli_memory(sizes: list[int]) -> None:
    """Peak RSS and wall time of the real `gitml monitor` CLI on batches of `sizes` rows.

    The reference profile comes from 100k rows; each batch is written in 1M-row groups and read by
    the CLI in `monitor.chunk_rows` chunks, so its memory should not grow with the batch.
    """
    from gitml.fileio import write_json
    from gitml.profile import build_profile

    reference, _ = make_tables(100_000)
    profile = WORK / "cli_profile.json"
    write_json(profile, build_profile(reference, NUMERIC, CATEGORICAL))
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, code)"
    )
    gitml = Path(sys.executable).parent / "gitml"
    for rows in sizes:
        _, current = make_tables(rows, seed=1)
        path = WORK / f"cli_cur_{rows}.parquet"
        write_table(current, path, max(1, rows // 1_000_000))
        del current
        out = subprocess.run(
            [sys.executable, "-c", wrapper, str(gitml), "monitor", "--profile", str(profile),
             "--current", str(path), "--format", "json", "-o", str(WORK / f"cli_{rows}.json")],
            check=True, capture_output=True, text=True, cwd=WORK,
        )  # fmt: skip
        wall, peak_mb, code = out.stdout.split()
        report = json.loads((WORK / f"cli_{rows}.json").read_text())
        print(
            f"{rows:>11,} rows  gitml monitor CLI: {float(wall):.1f} s, peak RSS "
            f"{float(peak_mb):.0f} MB, exit {code}, drifted: {', '.join(report['drifted_columns'])}",
            flush=True,
        )
        path.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--no-evidently", action="store_true", help="Time gitml only.")
    parser.add_argument(
        "--cli-rows",
        type=int,
        nargs="*",
        default=[],
        help="Also run the gitml monitor CLI on batches of these sizes (peak RSS: bounded memory).",
    )
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.no_evidently and not EVIDENTLY_PY.exists():
        sys.exit(f"{EVIDENTLY_PY} is missing: create it as the module docstring says.")
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    for rows in args.rows:
        ref, cur = make_tables(rows)
        ref_path, cur_path = WORK / f"ref_{rows}.parquet", WORK / f"cur_{rows}.parquet"
        ref.to_parquet(ref_path, index=False)
        cur.to_parquet(cur_path, index=False)
        del ref, cur
        ours = run_tool(
            Path(sys.executable), GITML_RUN, ref_path, cur_path, WORK / f"gitml_{rows}.json"
        )
        line = (
            f"{rows:>9,} rows  gitml: profile {ours['profile_s']:.2f} s, monitor "
            f"{ours['monitor_s']:.2f} s, peak +{ours['peak_extra_mb']:.0f} MB"
        )
        if not args.no_evidently:
            theirs = run_tool(
                EVIDENTLY_PY, EVIDENTLY_RUN, ref_path, cur_path, WORK / f"evidently_{rows}.json"
            )
            differ = [
                n
                for n in ours["columns"]
                if ours["columns"][n]["drifted"] != theirs["columns"][n]["drifted"]
            ]
            drifted = sorted(n for n, c in ours["columns"].items() if c["drifted"])
            total = ours["profile_s"] + ours["monitor_s"]
            line += (
                f" | evidently {theirs['monitor_s']:.2f} s, peak "
                f"+{theirs['peak_extra_mb']:.0f} MB | speed-up {theirs['monitor_s'] / total:.0f}x"
                f" (profile+monitor), {theirs['monitor_s'] / ours['monitor_s']:.0f}x (monitor)"
                f" | decisions differ on {len(differ)} of {len(ours['columns'])} columns"
                f"{': ' + ', '.join(differ) if differ else ''}; drifted: {', '.join(drifted)}"
            )
            worst = max(
                abs(ours["columns"][n]["score"] - theirs["columns"][n]["score"])
                for n in ours["columns"]
            )
            line += f" | max |score difference| {worst:.4f}"
        print(line, flush=True)
    if args.cli_rows:
        cli_memory(args.cli_rows)


if __name__ == "__main__":
    main()
