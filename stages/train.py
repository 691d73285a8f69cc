"""train: fit the configured estimator on the training split, save it with skops and a signature.

Binary tasks also get their decision threshold here (params `threshold:`): unless the strategy is
`fixed`, a stratified validation slice (`threshold.validation_size`, drawn with the seed) is
carved from the TRAINING split, a model fitted on the rest scores it, the threshold is chosen on
those held-out scores, and the final model is then refitted on the whole training split. The test
split is never read, so the threshold cannot leak test information into the reported metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from gitml.config import DataConfig, ModelParams, Params, ThresholdParams, load_params
from gitml.contract import InputContract
from gitml.errors import GitmlError
from gitml.fileio import md5_file, write_bytes, write_json
from gitml.modeling import Signature, build_pipeline, dumps_model, feature_specs, prepare_features
from gitml.stagekit import stage_main
from gitml.tasks import MODEL_OPTIONS
from gitml.tasks import get as get_task
from gitml.thresholds import choose_threshold

log = logging.getLogger(__name__)


def fit(frame: pd.DataFrame, data: DataConfig, model: ModelParams) -> Pipeline:
    """Fit the schema-derived pipeline on `frame` (pure: no IO)."""
    x = prepare_features(frame, feature_specs(data))
    y = frame[data.target].to_numpy()
    if len(set(y.tolist())) < 2:
        what = "class" if get_task(data.task).estimator == "classifier" else "value"
        raise GitmlError(
            f"The training split has a single {what} of '{data.target}'.",
            f"The model needs at least two {what}s; check the data and the split.",
        )
    pipeline = build_pipeline(data, model)
    try:
        # One OpenMP thread: HistGradientBoosting's floating-point sums depend on the number of
        # threads, so the model's bytes (and dvc.lock) would change with the machine's cores or an
        # inherited OMP_NUM_THREADS. Fitting is a few seconds either way on this data.
        with threadpool_limits(limits=1, user_api="openmp"):
            pipeline.fit(x, y)
    except (ValueError, TypeError) as exc:
        raise GitmlError(
            f"Training '{model.name}' failed: {str(exc).splitlines()[0]}",
            f"Check the hyperparameters in conf/model/{model.name}.yaml.",
        ) from exc
    return pipeline


CONSTANT_CHECK_ROWS = 10_000
#: Fewer training rows than this: the constant model's warning also asks for more rows.
SMALL_TRAINING_ROWS = 50


def constant_model(pipeline: Pipeline, frame: pd.DataFrame, data: DataConfig) -> bool:
    """Whether the fitted model gives every training row (the first 10,000) the same output: a
    model that learned nothing, e.g. boosting whose `min_samples_leaf` exceeds half the rows, so
    no tree can split."""
    x = prepare_features(frame.head(CONSTANT_CHECK_ROWS), feature_specs(data))
    scorer = getattr(pipeline, "predict_proba", None) if hasattr(pipeline, "classes_") else None
    out = np.asarray(scorer(x) if scorer is not None else pipeline.predict(x), dtype=float)
    return bool(np.all(np.ptp(out, axis=0) == 0))


def constant_model_advice(rows: int, model: ModelParams, task: str) -> str:
    """What to do about a constant model (`constant_model`), for the train stage's warning:
    a smaller min_samples_leaf when it leaves no split, another model than the one that ran."""
    leaf = model.kwargs.get("min_samples_leaf")
    advice = []
    if isinstance(leaf, int) and leaf > 1 and rows < 2 * leaf:
        advice.append(
            f"{model.name}'s min_samples_leaf: {leaf} leaves no split on {rows} training rows "
            f"(-S model.min_samples_leaf={max(1, rows // 4)})"
        )
    # a forest, or when the forest learned nothing, a linear model (a slope fits on a few rows)
    options = MODEL_OPTIONS[get_task(task).estimator]
    other = options.linear if model.name == options.forest else options.forest
    advice.append(f"another model (-S model={other})")
    if rows < SMALL_TRAINING_ROWS:
        advice.append(f"more rows: {rows} training rows are few to learn from")
    return (
        "the model predicts the same output for every training row: it learned nothing. "
        f"Try {'; or '.join(advice)}."
    )


def choose(frame: pd.DataFrame, p: Params) -> float | None:
    """The binary decision threshold, chosen on a validation slice of `frame` (None: not binary)."""
    t: ThresholdParams = p.threshold
    if p.data.task != "binary":
        return None
    if t.strategy == "fixed":
        return float(t.value)
    y = frame[p.data.target].to_numpy()
    fit_part, held_out = train_test_split(
        frame, test_size=t.validation_size, random_state=p.seed, stratify=y
    )
    pipeline = fit(fit_part, p.data, p.model)
    classes = [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
    if p.data.positive_class not in classes:
        return float(t.value)
    x = prepare_features(held_out, feature_specs(p.data))
    score = pipeline.predict_proba(x)[:, classes.index(p.data.positive_class)]
    y_pos = (held_out[p.data.target].to_numpy() == p.data.positive_class).astype(np.int8)
    chosen = choose_threshold(
        y_pos,
        score,
        t.strategy,
        value=t.value,
        precision=t.precision,
        cost_fp=t.cost_fp,
        cost_fn=t.cost_fn,
    )
    log.info("threshold %s on %d held-out training rows: %.6f", t.strategy, len(held_out), chosen)
    return chosen


def run(params: str, train: str, model: str, signature: str) -> None:
    """Train on `train`; write the model to `model` and its signature to `signature`."""
    p = load_params(params)
    frame = pd.read_parquet(train)
    threshold = choose(frame, p)
    pipeline = fit(frame, p.data, p.model)
    if constant_model(pipeline, frame, p.data):
        log.warning("warning: %s", constant_model_advice(len(frame), p.model, p.data.task))
    write_bytes(Path(model), dumps_model(pipeline))
    # A regressor has no classes_: its signature lists none (and no positive class).
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    sig = Signature(
        features=feature_specs(p.data),
        target=p.data.target,
        task=p.data.task,
        classes=classes,
        positive_class=p.data.positive_class,
        training_data_md5=md5_file(train),
        model=p.model.name,
        estimator=p.model.target,
        contract=InputContract.from_read_options(p.data.source, p.data.read_options),
        threshold=threshold,
        threshold_strategy=p.threshold.strategy if threshold is not None else None,
    )
    write_json(Path(signature), sig.to_dict())
    log.info("trained %s on %d rows -> %s", p.model.name, len(frame), model)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "train",
        __doc__ or "",
        [
            ("params", "params.yaml"),
            ("train", "train Parquet"),
            ("model", "skops model"),
            ("signature", "signature JSON"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
