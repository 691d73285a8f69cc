"""The compiled (ONNX) runtime for serving and batch scoring: find it, verify it, score with it.

`gitml serve` and `gitml predict` take `--runtime skops|onnx|auto` (default auto). The compile
stage's model (`outputs.compiled`, models/compiled/model.onnx) is used only when it is verified:

* its parity record (`outputs.compile_record`) says `compiled: true` with the file's md5;
* dvc.lock ties it to the served skops model: the stage that writes its folder depends on
  `outputs.model` with the served bytes' md5, records the folder's md5 (DVC's directory hash of
  the file's md5) and the record's md5.

`auto` uses it when all of that holds and the skops model otherwise (the log says why); `onnx`
refuses to start without it (GitmlError, exit 2). Scoring with it reuses the input contract
(`gitml.scoring.validate`) and the signature's decision rule (`gitml.scoring.classified`): only
the probabilities (or a regressor's predictions) come from onnxruntime, fed typed arrays built
from the validated columns without a DataFrame. The skops model stays loaded: explanations use it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gitml import scoring
from gitml.errors import GitmlError
from gitml.fileio import md5_bytes
from gitml.lockfile import dir_md5, json_or_none, out_md5, writer_deps
from gitml.modeling import Signature
from gitml.serve.runtimes import ONNX, RUNTIMES, SKOPS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A compiled model found for a skops model (bytes, parity record, where), or why not."""

    data: bytes | None
    record: Any
    where: str
    reason: str | None = None


@dataclass(frozen=True)
class CompiledModel:
    """A verified ONNX session and what identifies it."""

    session: Any  # gitml.onnx.Runtime
    md5: str
    record: Mapping[str, Any]
    classes: list[Any]

    def score(self, signature: Signature, columns: scoring.Columns) -> scoring.Scores:
        """Score validated columns: the skops path's outputs, from onnxruntime."""
        values, proba = self.session.predict_columns(columns)
        if proba is None:
            return scoring.regressed(values)
        return scoring.classified(proba, self.classes, signature)

    def describe(self) -> dict[str, Any]:
        """What /metadata says about it."""
        return {
            "md5": self.md5,
            "parity": self.record.get("parity"),
            "opset": self.record.get("opset"),
            "versions": self.record.get("versions"),
        }


def check_runtime(runtime: str) -> str:
    """`runtime` if it is one of RUNTIMES; a GitmlError naming them otherwise."""
    if runtime not in RUNTIMES:
        raise GitmlError(
            f"Unknown runtime '{runtime}'.",
            "Use --runtime auto, --runtime skops or --runtime onnx.",
        )
    return runtime


def bind(
    lock: Any, outputs: Any, model_md5: str, onnx_md5: str, record_md5: str | None
) -> str | None:
    """Why dvc.lock does not tie the compiled model to the served skops model (None: it does)."""
    compiled = PurePosixPath(outputs.compiled)
    folder = str(compiled.parent)
    deps = writer_deps(lock, folder)
    if deps is None:
        return f"dvc.lock has no stage that writes {folder}"
    if deps.get(outputs.model) != model_md5:
        return (
            f"it was compiled from {outputs.model} with md5 {deps.get(outputs.model)}, not from "
            f"the served model (md5 {model_md5})"
        )
    locked = out_md5(lock, folder)
    if locked != dir_md5({compiled.name: onnx_md5}):
        return f"{compiled} has md5 {onnx_md5}, which does not match dvc.lock ({folder}: {locked})"
    if record_md5 is None or record_md5 != out_md5(lock, outputs.compile_record):
        return f"{outputs.compile_record} does not match its md5 in dvc.lock"
    return None


def verify(candidate: Candidate) -> str | None:
    """Why a candidate cannot be used (None: it can): record, compiled flag, md5."""
    if candidate.reason is not None:
        return candidate.reason
    record = candidate.record
    if not isinstance(record, Mapping):
        return "its parity record is missing or not valid JSON"
    if not record.get("compiled"):
        return f"the compile stage did not compile it ({record.get('reason') or 'no reason'})"
    if candidate.data is None:
        return f"there is no {candidate.where}"
    md5 = md5_bytes(candidate.data)
    if md5 != record.get("md5"):
        return f"{candidate.where} has md5 {md5}, but its parity record says {record.get('md5')}"
    return None


def in_workspace(root: Path, outputs: Any, model_md5: str) -> Candidate:
    """The compiled model of the project at `root` (for `--model PATH`), checked against the
    workspace's dvc.lock."""
    from gitml.dvc import Dvc

    path = root / outputs.compiled
    record_path = root / outputs.compile_record
    raw = record_path.read_bytes() if record_path.is_file() else None
    record = json_or_none(raw)
    if not path.is_file():
        why = f"there is no {outputs.compiled}"
        if isinstance(record, Mapping) and not record.get("compiled"):
            why += f" (the compile stage did not compile it: {record.get('reason')})"
        return Candidate(None, record, str(path), why)
    data = path.read_bytes()
    try:
        lock = Dvc(root).read_yaml("dvc.lock")
    except GitmlError as exc:
        return Candidate(data, record, str(path), exc.message)
    if lock is None:
        return Candidate(data, record, str(path), "there is no dvc.lock to tie it to the model")
    reason = bind(lock, outputs, model_md5, md5_bytes(data), md5_bytes(raw) if raw else None)
    return Candidate(data, record, str(path), reason)


def attach(bundle: Any, runtime: str, find: Any) -> Any:
    """`bundle` set to score with `runtime`; `find()` returns the `Candidate` (called unless
    runtime is skops). auto falls back to skops (logged); onnx without one is a GitmlError."""
    from dataclasses import replace

    check_runtime(runtime)
    if runtime == SKOPS:
        return replace(bundle, runtime=SKOPS, compiled=None)
    candidate: Candidate = find()
    reason = verify(candidate)
    made = None
    if reason is None:
        assert candidate.data is not None
        try:
            made = load(candidate.data, candidate.record, bundle)
        except Exception as exc:  # an unloadable model is a reason, never a traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = f"onnxruntime cannot load it ({type(exc).__name__}: {first})"
    if made is None:
        if runtime == ONNX:
            raise GitmlError(
                f"--runtime onnx: there is no verified compiled model for {bundle.name} "
                f"{bundle.version}: {reason}.",
                "Run the compile stage (dvc exp run) and commit its outputs, or serve with "
                "--runtime skops (or auto, which falls back to skops).",
            )
        log.info("runtime auto: scoring with skops: %s", reason)
        return replace(bundle, runtime=SKOPS, compiled=None)
    log.info("runtime %s: scoring with onnx (%s, md5 %s)", runtime, candidate.where, made.md5)
    return replace(bundle, runtime=ONNX, compiled=made)


def load(data: bytes, record: Mapping[str, Any], bundle: Any) -> CompiledModel:
    """An onnxruntime session of verified bytes (one intra-op thread: batches are small)."""
    from gitml import onnx as onnx_adapter

    session = onnx_adapter.Runtime.load(data, bundle.signature.features)
    classes = (
        scoring.model_classes(bundle.model, bundle.signature)
        if hasattr(bundle.model, "predict_proba")
        else []
    )
    return CompiledModel(session, md5_bytes(data), dict(record), classes)
