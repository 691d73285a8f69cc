"""compile: convert the whole fitted pipeline to ONNX and keep it only if scoring parity holds.

Writes `<out>/model.onnx` (the output directory stays empty when the model is not compiled) and
the parity record `<record>` (reports/compile.json): labels and probabilities of both runtimes
on the test split, the opsets and the library versions, or why the model was not compiled. A
conversion gap is recorded, never an error: everything keeps using the skops model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from gitml.compile import MODEL_FILE, Compiled, compile_pipeline, not_compiled
from gitml.fileio import write_bytes, write_json
from gitml.modeling import load_model, load_signature, prepare_features
from gitml.policy import load_policy
from gitml.stagekit import stage_main

log = logging.getLogger(__name__)


def run(policy: str, model: str, signature: str, test: str, out: str, record: str) -> None:
    """Compile `model`, check it on `test`; write `out`/model.onnx on parity and the record."""
    pol = load_policy(Path(), policy)
    pipeline = load_model(model, list(pol.trusted_types))
    sig = load_signature(signature)
    if pol.compile.enabled:
        frame = prepare_features(pd.read_parquet(test), sig.features)
        result = compile_pipeline(pipeline, sig.features, frame, pol.compile.tolerance)
    else:
        result = not_compiled(
            pipeline, "disabled by compile.enabled in the policy", pol.compile.tolerance
        )
    write_outputs(result, Path(out), Path(record))


def write_outputs(result: Compiled, out: Path, record: Path) -> None:
    """Write the compiled model (or leave `out` empty) and the parity record."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / MODEL_FILE
    if result.model is not None:
        write_bytes(target, result.model)
        log.info("compiled -> %s (%d bytes)", target, len(result.model))
    else:
        target.unlink(missing_ok=True)
    write_json(record, result.record)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "compile",
        __doc__ or "",
        [
            ("policy", "conf/gitml.yaml (compile: enabled, tolerance; trusted_types)"),
            ("model", "skops model"),
            ("signature", "signature JSON"),
            ("test", "test Parquet"),
            ("out", "directory of the compiled model (empty when not compiled)"),
            ("record", "parity record JSON"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
