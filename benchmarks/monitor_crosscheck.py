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
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monitor_bench import CATEGORICAL, EVIDENTLY_PY, NUMERIC, WORK, make_tables

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

EVIDENTLY_RUN = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.filterwarnings("ignore")
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref_path, cur_path, out, numeric, categorical = sys.argv[1:6]
    numeric, categorical = numeric.split(","), categorical.split(",")
    reference, current = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            method, threshold, value = config["method"], config["threshold"], metric["value"]
            drifted = bool(value < threshold if "p_value" in method else value >= threshold)
            columns[config["column"]] = {
                "method": method, "threshold": threshold, "value": value, "drifted": drifted
            }
    json.dump({"version": evidently.__version__, "columns": columns}, open(out, "w"))
    """
)


def checksum(frame: pd.DataFrame) -> str:
    """A digest of a table's values, so a changed generator is caught before any comparison."""
    return hashlib.sha256(frame.to_csv(index=False, float_format="%.17g").encode()).hexdigest()


def tables(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_tables(rows, seed=SEED)


def gitml_columns(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """gitml's per-column result for the pair, as `gitml monitor` computes it from a profile."""
    from gitml.monitor.core import Inputs, analyse_frame
    from gitml.monitor.policy import MonitorPolicy
    from gitml.profile import build_profile

    profile = build_profile(reference, NUMERIC, CATEGORICAL)
    result = analyse_frame(current, Inputs(profile=profile, policy=MonitorPolicy()))
    return dict(result["columns"])


def evidently_columns(reference: pd.DataFrame, current: pd.DataFrame, rows: int) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = WORK / f"xref_{rows}.parquet", WORK / f"xcur_{rows}.parquet"
    out = WORK / f"xevidently_{rows}.json"
    reference.to_parquet(ref_path, index=False)
    current.to_parquet(cur_path, index=False)
    cmd = [str(EVIDENTLY_PY), "-c", EVIDENTLY_RUN, str(ref_path), str(cur_path), str(out)]
    subprocess.run([*cmd, ",".join(NUMERIC), ",".join(CATEGORICAL)], check=True, cwd=ROOT)
    return json.loads(out.read_text())


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
