"""contributions: summarise the model's per-feature contributions (SHAP values) on the test split.

Explains a fixed, seeded sample of the test split (at most `gitml.contributions.SAMPLE_ROWS`
rows) with `gitml.explain`, the same explainer as `?explain=true` and `gitml predict --explain`,
and writes the global summary the model card shows under "What drives the predictions"
(reports/contributions.json, see `gitml.contributions`). A model that cannot be explained (shap
not installed, an estimator or preprocessing step the explainer does not support) is recorded
with the reason, never an error: the card says so in one line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from gitml import contributions as contrib
from gitml.config import load_params
from gitml.errors import GitmlError
from gitml.fileio import write_json
from gitml.modeling import Signature, load_model, load_signature, prepare_features
from gitml.policy import load_policy
from gitml.stagekit import stage_main

log = logging.getLogger(__name__)


def explained_classes(sig: Signature) -> list[Any]:
    """The classes whose raw output is explained: the positive class (binary), every class
    (multiclass) or None (regression: the prediction)."""
    if not sig.classes:
        return [None]
    if len(sig.classes) == 2:
        positive = sig.positive_class if sig.positive_class is not None else sig.classes[-1]
        return [positive]
    return list(sig.classes)


def summarize(
    pipeline: Any,
    frame: pd.DataFrame,
    sig: Signature,
    background: pd.DataFrame | None,
    seed: int,
    rows: int = contrib.SAMPLE_ROWS,
) -> dict[str, Any]:
    """The contributions summary of `pipeline` on a seeded sample of `frame` (the test split)."""
    index = contrib.sample_index(len(frame), rows, seed)
    sample = {"rows": len(index), "of": len(frame), "seed": seed}
    x = prepare_features(frame.iloc[index], sig.features).reset_index(drop=True)
    numeric = [f["name"] for f in sig.features if f["kind"] == "numeric"]
    from gitml import explain

    if not explain.available():
        return contrib.not_explained(explain.unavailable_message(), sample)
    outputs = []
    method = output = ""
    try:
        for label in explained_classes(sig):
            explainer = explain.Explainer(pipeline, sig.feature_names, label, background)
            found = explainer.explain(x)
            method, output = explainer.kind, found.output
            outputs.append(
                contrib.summarize_output(
                    label, found.features, found.base, found.values, x, numeric
                )
            )
    except GitmlError as exc:
        log.warning("not explained: %s", exc.message)
        return contrib.not_explained(exc.message, sample)
    return contrib.summary(method, output, sample, outputs)


def _background(profile: str, sig: Signature) -> pd.DataFrame | None:
    from gitml.explain import background_from_profile

    path = Path(profile)
    if not path.is_file():
        return None
    return background_from_profile(json.loads(path.read_text(encoding="utf-8")), sig.features)


def run(
    params: str, policy: str, model: str, signature: str, test: str, profile: str, out: str
) -> None:
    """Explain a sample of `test` with `model`; write the summary to `out`."""
    p = load_params(params)
    pipeline = load_model(model, list(load_policy(Path(), policy).trusted_types))
    sig = load_signature(signature)
    frame = pd.read_parquet(test)
    with threadpool_limits(limits=1, user_api="openmp"):
        result = summarize(pipeline, frame, sig, _background(profile, sig), p.seed)
    write_json(Path(out), result)
    if result["explained"]:
        top = result["outputs"][0]["features"][:3]
        log.info("top features: %s", ", ".join(f"{f['feature']}={f['share']:.1%}" for f in top))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "contributions",
        __doc__ or "",
        [
            ("params", "params.yaml (seed)"),
            ("policy", "conf/gitml.yaml (trusted types)"),
            ("model", "skops model"),
            ("signature", "signature JSON"),
            ("test", "test Parquet"),
            ("profile", "training profile JSON (background rows for non-tree models)"),
            ("out", "contributions summary JSON"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
