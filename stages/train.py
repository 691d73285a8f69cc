"""train: fit the configured estimator on the training split, save it with skops and a signature."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from gitml.config import DataConfig, ModelParams, load_params
from gitml.errors import GitmlError
from gitml.fileio import md5_file, write_bytes, write_json
from gitml.modeling import Signature, build_pipeline, dumps_model, feature_specs, prepare_features
from gitml.stagekit import stage_main
from gitml.tasks import get as get_task

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
        pipeline.fit(x, y)
    except (ValueError, TypeError) as exc:
        raise GitmlError(
            f"Training '{model.name}' failed: {str(exc).splitlines()[0]}",
            f"Check the hyperparameters in conf/model/{model.name}.yaml.",
        ) from exc
    return pipeline


def run(params: str, train: str, model: str, signature: str) -> None:
    """Train on `train`; write the model to `model` and its signature to `signature`."""
    p = load_params(params)
    frame = pd.read_parquet(train)
    pipeline = fit(frame, p.data, p.model)
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
