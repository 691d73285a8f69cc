"""Replay a prediction log: recompute every logged prediction with the model named on its line.

Lines are grouped by (model version, digest, runtime). A registry version is loaded through the
registry at its commit and must have the digest the line records; a `--model` (version "local")
line is matched to one of the given model files by the md5 of its bytes. A line scored by the
compiled model (`model_runtime: onnx`) is replayed with it, others with the skops model. Predictions must be equal and
probabilities equal to within `atol`; anything else is a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gitml import scoring
from gitml.scoring import InputError
from gitml.serve.bundle import LOCAL_VERSION, ModelBundle
from gitml.serve.compiled import SKOPS
from gitml.serve.predlog import read_lines

CHUNK_LINES = 2000


@dataclass
class Mismatch:
    """One logged request that did not reproduce."""

    where: str
    request_id: str
    reason: str


@dataclass
class ReplayReport:
    """What replay found."""

    lines: int = 0
    replayed: int = 0
    matched: int = 0
    skipped: int = 0  # lines of rejected requests (no outputs to reproduce)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.replayed == self.matched

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "replayed": self.replayed,
            "matched": self.matched,
            "skipped": self.skipped,
            "mismatches": len(self.mismatches),
        }


Loader = Callable[[str, str, str], ModelBundle]


def compare(logged: dict[str, Any], scores: scoring.Scores, atol: float) -> str | None:
    """Why a recomputed result differs from the logged outputs, or None when it matches."""
    preds = scoring.predictions_list(scores)
    if preds != logged.get("predictions"):
        return f"predictions {logged.get('predictions')} != recomputed {preds}"
    lp = logged.get("probabilities")
    if (lp is None) != (scores.probabilities is None):
        return "probabilities present on one side only"
    if lp is not None and scores.probabilities is not None:
        arr = np.asarray(lp, dtype="float64")
        if arr.shape != scores.probabilities.shape or not np.allclose(
            arr, scores.probabilities, rtol=0.0, atol=atol
        ):
            return "probabilities differ"
    return None


def _replay_group(
    bundle: ModelBundle,
    items: list[tuple[str, dict[str, Any]]],
    report: ReplayReport,
    atol: float,
) -> None:
    parts: list[scoring.Columns] = []
    kept: list[tuple[str, dict[str, Any], int]] = []
    for where, rec in items:
        try:
            inputs = rec.get("inputs") or []
            cols = scoring.validate(
                {n: [r.get(n) for r in inputs] for n in bundle.signature.feature_names},
                bundle.signature,
                "unknown",
            )
        except (InputError, AttributeError, TypeError) as exc:
            report.mismatches.append(
                Mismatch(where, str(rec.get("request_id")), f"logged inputs do not validate: {exc}")
            )
            continue
        parts.append(cols)
        kept.append((where, rec, scoring.n_rows(cols)))
    if not parts:
        return
    scores = bundle.score(scoring.concat_columns(parts))
    start = 0
    for where, rec, rows in kept:
        reason = compare(rec.get("outputs") or {}, scores.slice(start, start + rows), atol)
        start += rows
        if reason is None:
            report.matched += 1
        else:
            report.mismatches.append(Mismatch(where, str(rec.get("request_id")), reason))


def replay(logs: Iterable[Path], load: Loader, atol: float = 1e-12) -> ReplayReport:
    """Replay every scored line of `logs`; `load(version, digest, runtime)` returns the model."""
    report = ReplayReport()
    bundles: dict[tuple[str, str, str], ModelBundle | Exception] = {}
    pending: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}

    def flush(key: tuple[str, str, str]) -> None:
        items = pending.pop(key, [])
        if not items:
            return
        bundle = bundles[key]
        if isinstance(bundle, Exception):
            for where, rec in items:
                report.mismatches.append(
                    Mismatch(where, str(rec.get("request_id")), f"model not available: {bundle}")
                )
            return
        _replay_group(bundle, items, report, atol)

    for path in logs:
        try:
            for number, rec in read_lines(path):
                report.lines += 1
                where = f"{path}:{number}"
                if rec.get("status") != 200 or "outputs" not in rec:
                    report.skipped += 1
                    continue
                report.replayed += 1
                key = (
                    str(rec.get("model_version")),
                    str(rec.get("model_digest")),
                    str(rec.get("model_runtime") or SKOPS),  # older lines: skops
                )
                if key not in bundles:
                    try:
                        bundles[key] = load(*key)
                    except Exception as exc:  # reported per line below, replay goes on
                        bundles[key] = exc
                pending.setdefault(key, []).append((where, rec))
                if len(pending[key]) >= CHUNK_LINES:
                    flush(key)
        except ValueError as exc:
            report.mismatches.append(Mismatch(str(path), "-", str(exc)))
    for key in list(pending):
        flush(key)
    return report


def local_loader(
    models: dict[str, ModelBundle], registry: Callable[[str, str], ModelBundle] | None
) -> Loader:
    """A loader: "local" lines by digest among `models` (loaded with their compiled model when
    there is one); others through `registry(version, runtime)`."""

    def load(version: str, digest: str, runtime: str = SKOPS) -> ModelBundle:
        if version == LOCAL_VERSION:
            if digest not in models:
                raise LookupError(f"no --model file has digest {digest}")
            return as_runtime(models[digest], runtime)
        if registry is None:
            raise LookupError(f"version {version} needs the registry")
        bundle = registry(version, runtime)
        if bundle.digest != digest:
            raise LookupError(
                f"the registry's {version} has digest {bundle.digest}, the log says {digest}"
            )
        return as_runtime(bundle, runtime)

    return load


def as_runtime(bundle: ModelBundle, runtime: str) -> ModelBundle:
    """`bundle` scoring with the runtime a log line names (LookupError when it cannot)."""
    if runtime == bundle.runtime:
        return bundle
    if runtime == SKOPS:
        return replace(bundle, runtime=SKOPS, compiled=None)
    raise LookupError(
        f"the line was scored with the {runtime} runtime, which {bundle.name} {bundle.version} "
        "does not have here"
    )
