"""seed_noise: the metrics under other estimator seeds, so a report can tell a change from luck.

Refits the configured model on the same training split `evaluate.seed_refits` times, each with
another value of the estimator's `random_state` (derived from the model's own seed, so two
revisions with different seeds never share a refit), as the train stage does: the refitted model
chooses its decision threshold again on the same validation slice, since the seed moves it too.
It scores the test split and writes every metric per seed (the trained model's value first, read from
reports/metrics.json) to reports/seed_noise.json. `gitml report` then judges a change on the mean
over seeds (`gitml.stats.seeds`).

An estimator without a `random_state` is recorded as deterministic with no refit; one whose first
refit scores exactly as the trained model does (HistGradientBoosting without early stopping, a
logistic regression) stops there, so a deterministic default pipeline pays for one fit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from gitml.config import Params, load_params
from gitml.errors import GitmlError
from gitml.fileio import write_json
from gitml.modeling import build_estimator, feature_specs
from gitml.stagekit import stage_main
from gitml.tasks import get as get_task
from stages.evaluate import DEFAULT_THRESHOLD, model_outputs
from stages.train import choose, fit

log = logging.getLogger(__name__)
SEED_PARAMETER = "random_state"


def refit_seeds(seed: int, n: int) -> list[int]:
    """`n` estimator seeds derived from the model's `seed` (distinct per seed, reproducible)."""
    return [int(np.random.SeedSequence([seed, 1 + j]).generate_state(1)[0]) for j in range(n)]


def scalar_metrics(metrics: Any) -> dict[str, float]:
    """The top-level numeric metrics (per-class tables and counts of other types left out)."""
    return {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def seed_noise(
    train: pd.DataFrame, test: pd.DataFrame, p: Params, trained: dict[str, float]
) -> dict[str, Any]:
    """The record: seeds, whether the estimator is deterministic, and each metric per seed."""
    kwargs = dict(p.model.kwargs)
    has_seed = SEED_PARAMETER in kwargs or SEED_PARAMETER in build_estimator(p.model).get_params()
    own = kwargs.get(SEED_PARAMETER)
    own_seed = own if isinstance(own, int) and not isinstance(own, bool) else p.seed
    record: dict[str, Any] = {
        "refits": p.evaluate.seed_refits,
        "seed_parameter": SEED_PARAMETER if has_seed else None,
        "seeds": [own_seed],
        "deterministic": None,
        "metrics": {k: [v] for k, v in trained.items()},
    }
    if not has_seed:
        record["deterministic"] = True
        record["note"] = f"{p.model.target} has no {SEED_PARAMETER}: one fit is every fit"
        return record
    if p.evaluate.seed_refits == 0:
        record["note"] = "not measured (evaluate.seed_refits: 0)"
        return record
    task = get_task(p.data.task)
    features = feature_specs(p.data)
    for j, seed in enumerate(refit_seeds(own_seed, p.evaluate.seed_refits)):
        model = dataclasses.replace(p.model, kwargs={**kwargs, SEED_PARAMETER: seed})
        # The whole train stage under the other seed: its threshold too, which the seed moves.
        chosen = choose(train, dataclasses.replace(p, model=model))
        cut = DEFAULT_THRESHOLD if chosen is None else chosen
        pipeline = fit(train, p.data, model)
        with threadpool_limits(limits=1, user_api="openmp"):  # as evaluate scores
            _, y, values, classes = model_outputs(pipeline, test, features, p)
        found = scalar_metrics(task.compute_metrics(y, values, classes, cut))
        record["seeds"].append(seed)
        for name in record["metrics"]:
            record["metrics"][name].append(found.get(name, math.nan))
        if j == 0:
            same = all(found.get(k) == v for k, v in trained.items())
            record["deterministic"] = same
            if same:
                record["note"] = "the first refit scored exactly as the trained model: no refits"
                break
    log.info(
        "seed_noise: %d seeds, deterministic=%s", len(record["seeds"]), record["deterministic"]
    )
    return record


def run(params: str, train: str, test: str, metrics: str, out: str) -> None:
    """Refit under other seeds and write the per-seed metrics to `out`."""
    p = load_params(params)
    try:
        trained = scalar_metrics(json.loads(Path(metrics).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise GitmlError(
            f"Could not read the trained model's metrics {metrics}: {exc}.",
            "Run the evaluate stage first (`dvc repro`).",
        ) from exc
    record = seed_noise(pd.read_parquet(train), pd.read_parquet(test), p, trained)
    write_json(Path(out), record)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "seed_noise",
        __doc__ or "",
        [
            ("params", "params.yaml"),
            ("train", "train Parquet"),
            ("test", "test Parquet"),
            ("metrics", "the trained model's metrics JSON"),
            ("out", "per-seed metrics JSON"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
