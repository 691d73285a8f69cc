"""Benchmark explanations: milliseconds per explained row for the default model.

Run from the repository root (one run; figures go to benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/explain_bench.py

Fits the configured pipeline (params.yaml: HistGradientBoosting, 150 trees, native categoricals)
on 20,000 synthetic rows, then times `gitml.explain.Explainer.explain` on single rows (what one
`/invocations?explain=true` request of one row pays) and on batches of 256 and 2,000 rows, after
one warm-up call that builds the explainer. Checks additivity against decision_function.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from gitml.config import load_params
    from gitml.data.synthetic import generate
    from gitml.explain import Explainer
    from gitml.modeling import feature_specs, prepare_features
    from gitml.schema import coerce
    from stages.train import fit

    params = load_params(ROOT / "params.yaml")
    specs = feature_specs(params.data)
    train = coerce(generate(20_000, seed=3), params.data)
    model = fit(train, params.data, params.model)
    rows = prepare_features(coerce(generate(2_000, seed=11), params.data), specs)
    names = [s["name"] for s in specs]
    t = time.perf_counter()
    explainer = Explainer(model, names, params.data.positive_class)
    explainer.explain(rows.iloc[:1])
    build = time.perf_counter() - t
    singles = []
    for i in range(200):
        t = time.perf_counter()
        explainer.explain(rows.iloc[i : i + 1])
        singles.append(time.perf_counter() - t)
    print(f"build + first row: {build * 1000:.1f} ms")
    print(
        f"1-row requests: median {statistics.median(singles) * 1000:.2f} ms, "
        f"p95 {np.percentile(singles, 95) * 1000:.2f} ms per row"
    )
    for size in (256, 2000):
        t = time.perf_counter()
        found = explainer.explain(rows.iloc[:size])
        dt = time.perf_counter() - t
        print(f"batch of {size}: {dt * 1000 / size:.3f} ms per row")
    err = np.abs(found.base + found.values.sum(1) - model.decision_function(rows)).max()
    print(f"additivity: max |base + sum - decision_function| = {err:.2e}")


if __name__ == "__main__":
    main()
