"""Cross-check `gitml monitor`'s per-column numbers against Evidently's on small data.

Run from the repository root (Evidently in its own venv, as benchmarks/monitor_bench.py says):

    .venv/bin/python benchmarks/monitor_crosscheck.py --rows 200 500 1000 2000

For each size the same seeded reference and current tables as the speed benchmark
(`monitor_bench.make_tables`: 20 numeric and 5 categorical columns, six drifted) go through
Evidently's DataDriftPreset in its venv and through gitml's drift core here. At <= 1,000 reference
rows both use KS (numeric) and chi-square (categorical and low-cardinality numeric); above, the
normalised Wasserstein and Jensen-Shannon distances. Evidently's per-column values and decisions
are written to tests/unit/golden/evidently_small.json, which `tests/unit/test_monitor_evidently.py`
checks gitml against in every test run, without Evidently installed. A Markdown table of the
comparison is printed for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monitor_bench import (
    CATEGORICAL,
    EVIDENTLY_PY,
    EVIDENTLY_RUN,
    NUMERIC,
    WORK,
    make_tables,
    run_tool,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "unit" / "golden" / "evidently_small.json"
SEED = 7

# Evidently's method names (its ValueDrift metric config) and gitml's.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chi2",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "Z-test p_value": "z",
}


def checksum(frame: pd.DataFrame) -> str:
    """A digest of a table's values, so a changed generator is caught before any comparison."""
    return hashlib.sha256(frame.to_csv(index=False, float_format="%.17g").encode()).hexdigest()


def tables(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_tables(rows, seed=SEED)


def gitml_columns(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """gitml's per-column result for the pair, as `gitml monitor` computes it from a profile."""
    from gitml.monitor.core import Inputs, analyse_frame
    from gitml.policy.monitor import MonitorPolicy
    from gitml.profile import build_profile

    profile = build_profile(reference, NUMERIC, CATEGORICAL)
    result = analyse_frame(current, Inputs(profile=profile, policy=MonitorPolicy()))
    return dict(result["columns"])


def evidently_columns(reference: pd.DataFrame, current: pd.DataFrame, rows: int) -> dict:
    """Evidently's run of the speed benchmark on the pair: version and per-column values."""
    WORK.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = WORK / f"xref_{rows}.parquet", WORK / f"xcur_{rows}.parquet"
    reference.to_parquet(ref_path, index=False)
    current.to_parquet(cur_path, index=False)
    theirs = run_tool(EVIDENTLY_PY, EVIDENTLY_RUN, ref_path, cur_path, WORK / f"xe_{rows}.json")
    columns = {
        name: {"method": c["method"], "threshold": c["threshold"], "value": c["score"],
               "drifted": c["drifted"]}
        for name, c in theirs["columns"].items()
    }  # fmt: skip
    return {"version": theirs["version"], "columns": columns}


def comparable(ours: dict[str, Any]) -> float:
    """gitml's number in Evidently's terms: the p-value for tests, the distance otherwise."""
    return ours["p_value"] if ours["method"] in ("ks", "chi2") else ours["score"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200, 500, 1000, 2000])
    args = parser.parse_args(argv)
    if not EVIDENTLY_PY.exists():
        sys.exit(f"{EVIDENTLY_PY} is missing: create it as benchmarks/monitor_bench.py says.")
    cases, lines = [], []
    for rows in args.rows:
        reference, current = tables(rows)
        theirs = evidently_columns(reference, current, rows)
        ours = gitml_columns(reference, current)
        cases.append(
            {
                "rows": rows,
                "seed": SEED,
                "reference_sha256": checksum(reference),
                "current_sha256": checksum(current),
                "columns": theirs["columns"],
            }
        )
        for name in [*NUMERIC, *CATEGORICAL]:
            e, g = theirs["columns"][name], ours[name]
            lines.append(
                f"| {rows:,} | {name} | {METHODS[e['method']]} / {g['method']} | "
                f"{e['value']:.6g} | {comparable(g):.6g} | "
                f"{abs(e['value'] - comparable(g)):.2g} | "
                f"{'drift' if e['drifted'] else '-'} / {'drift' if g['drifted'] else '-'} |"
            )
        version = theirs["version"]
    GOLDEN.write_text(
        json.dumps(
            {
                "made_by": "benchmarks/monitor_crosscheck.py",
                "evidently": version,
                "numpy": np.__version__,
                "cases": cases,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"Evidently {version}; wrote {GOLDEN.relative_to(ROOT)}\n")
    print(
        "| rows | column | method Evidently / gitml | Evidently | gitml | abs diff | decision E / g |"
    )
    print("|---:|---|---|---:|---:|---:|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
