"""Benchmark `gitml report` (issue 3) in a temp git + DVC repo.

1. A two-revision report (`gitml report --base main`) against `dvc metrics diff --md` +
   `dvc params diff --md` + `dvc plots diff` run back to back, in the same run. Target ratio <= 1.0.
2. A comparison of 50 experiments (`gitml report --all-exps`). Target <= 5 s.

Run: .venv/bin/python benchmarks/report_bench.py [--exps 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.report_repo import make_review_repo  # noqa: E402
from tests.pipeline_repo import BIN, dvc, env  # noqa: E402


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env(), check=True, capture_output=True)
    return time.perf_counter() - start


def interval_bench(rows: int, method: str = "auto") -> None:
    """The report's judgement on `rows` paired test rows: with 1,000 resamples vs point values.

    `method` is `gitml.intervals.Settings.method`: "auto" (the report's default: the bootstrap
    below 200,000 rows, its normal approximation from there), "bootstrap" or "normal".
    """
    import resource

    import numpy as np
    import pandas as pd

    from gitml.intervals import Settings
    from gitml.policy import load_policy
    from gitml.predictions import predictions_frame
    from gitml.report.core import Snapshot, build_report

    policy = load_policy(Path(__file__).resolve().parents[1])
    rng = np.random.default_rng(0)
    y = (rng.random(rows) < 0.15).astype(int)
    ids = np.arange(rows, dtype=np.uint64)

    def snap(label: str, noise: float) -> Snapshot:
        s = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + rng.normal(0, noise, rows))))
        proba = np.c_[1 - s, s]
        frame = predictions_frame(ids, y, proba, (s >= 0.3).astype(int), pd.DataFrame(), [0, 1])
        metrics = {"roc_auc": 0.8, "average_precision": 0.4, "accuracy": 0.8, "f1": 0.4,
                   "log_loss": 0.4, "brier": 0.1}  # fmt: skip
        return Snapshot(label, None, metrics=metrics, predictions=frame)

    base, head = snap("base", 1.5), snap("head", 1.5)
    kw = {"primary_metric": "roc_auc", "top_k": 3}
    start = time.perf_counter()
    build_report(base, head, policy.metrics, **kw)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    settings = Settings(resamples=1000, method=method)
    report = build_report(base, head, policy.metrics, statistics=settings, **kw)
    with_ci = time.perf_counter() - start
    used = sorted({m.interval.method for m in report.metrics if m.interval is not None})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rows:,} paired rows, 1,000 resamples, {method}: {with_ci:.2f} s with intervals vs "
          f"{plain:.3f} s without (+{with_ci - plain:.2f} s); peak RSS {peak:.0f} MB; "
          f"intervals: {', '.join(used)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--intervals", type=int, default=0, help="only the interval benchmark")
    parser.add_argument(
        "--method",
        default="auto",
        choices=["auto", "bootstrap", "normal"],
        help="interval method for --intervals (auto: bootstrap below 200,000 rows, else normal)",
    )
    args = parser.parse_args()
    if args.intervals:
        interval_bench(args.intervals, args.method)
        return
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_review_repo(Path(tmp) / "repo")
        gitml = [str(BIN / "gitml"), "report"]
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(timed([*gitml, "--base", "main", "-o", f"{tmp}/r.md"], repo))
            theirs.append(
                timed([str(BIN / "dvc"), "metrics", "diff", "main", "--md"], repo)
                + timed([str(BIN / "dvc"), "params", "diff", "main", "--md"], repo)
                + timed([str(BIN / "dvc"), "plots", "diff", "main", "-o", f"{tmp}/plots"], repo)
            )
        html = timed([*gitml, "--base", "main", "--format", "html", "-o", f"{tmp}/r.html"], repo)
        have = 3  # make_review_repo runs three experiments
        for i in range(args.exps - have):
            dvc("exp", "run", "-q", "-n", f"bench-{i:02d}", "-S",
                f"model.learning_rate={0.01 + i / 1000:.3f}", cwd=repo)  # fmt: skip
        many = [
            timed([*gitml, "--all-exps", "-o", f"{tmp}/c.md"], repo) for _ in range(args.repeats)
        ]
        rows = (Path(tmp) / "c.md").read_text().count("\n| ") - 1
    o, t, m = statistics.median(ours), statistics.median(theirs), statistics.median(many)
    print(
        f"machine: {platform.machine()}, {platform.processor() or '?'}, Python {platform.python_version()}"
    )
    print(f"two-revision md report: gitml {o:.2f} s vs dvc metrics+params+plots diff {t:.2f} s "
          f"-> ratio {o / t:.2f} (target <= 1.0); html {html:.2f} s")  # fmt: skip
    print(f"{rows} experiments (--all-exps): {m:.2f} s (target <= 5 s)")


if __name__ == "__main__":
    main()
