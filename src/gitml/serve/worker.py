"""What the micro-batcher's worker thread runs: score a batch, log it, split the results.

`make_processor(state)` is the batcher's processing function. It scores all queued requests with
one predict call (each request alone if the merged batch fails, so one cannot fail the others) and
writes their prediction-log lines, one per request and one write per batch, before any of them
is answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitml import scoring
from gitml.serve.batcher import Job
from gitml.serve.bundle import ModelBundle
from gitml.serve.predlog import Hasher, dumps_line
from gitml.serve.state import ServerState

log = logging.getLogger(__name__)


@dataclass
class Work:
    """A validated request inside the batcher."""

    columns: scoring.Columns
    endpoint: str
    context: dict[str, list[Any]] | None = None


@dataclass
class Outcome:
    """A request's share of a batch's scores, and the bundle that produced them."""

    scores: scoring.Scores
    bundle: ModelBundle
    latency_ms: float


def now() -> str:
    """The current UTC time as the prediction log writes it (ISO 8601, milliseconds, Z)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PredictFailed(RuntimeError):
    """The model raised while scoring a request (logged, and its prediction-log line written)."""


def log_record(
    bundle: ModelBundle,
    request_id: str,
    endpoint: str,
    status: int,
    latency_ms: float,
    inputs: list[dict[str, Any]] | None,
    scores: scoring.Scores | None,
    error: str | None = None,
    timestamp: str | None = None,
    context: dict[str, list[Any]] | None = None,
    spec: scoring.ContextSpec | None = None,
    hasher: Hasher | None = None,
) -> dict[str, Any]:
    """One prediction-log line (see docs/serve.md for the fields).

    PII never reaches the line: PII-flagged features in `inputs` and PII context columns are
    dropped, or with `hasher` logged as their keyed hash (`pii_hmac`); the other declared context
    columns go under `context`, one object per row."""
    if spec is not None and inputs is not None and spec.pii_features:
        inputs = _redact_inputs(inputs, spec.pii_features, hasher)
    record: dict[str, Any] = {
        "request_id": request_id,
        "timestamp": timestamp or now(),
        "model_name": bundle.name,
        "model_version": bundle.version,
        "model_digest": bundle.digest,
        "model_stage": bundle.stage,
        "model_runtime": bundle.runtime,
        "endpoint": endpoint,
        "status": status,
        "latency_ms": round(latency_ms, 3),
        "inputs": inputs,
    }
    if scores is not None:
        record["outputs"] = {
            "predictions": scoring.predictions_list(scores),
            "probabilities": None
            if scores.probabilities is None
            else scores.probabilities.tolist(),
            "classes": scores.classes,
        }
        record["score"] = scores.positive_scores(bundle.signature.positive_class)
    if error is not None:
        record["error"] = error
    if context and spec is not None:
        plain = [n for n in spec.logged if n in context]
        if plain:
            record["context"] = _row_objects(context, plain)
        hashed = [n for n in spec.pii if n in context]
        if hashed and hasher is not None:
            record["pii_hmac"] = _row_objects(
                {
                    n: [v if v is scoring.NOT_SENT else hasher(v) for v in context[n]]
                    for n in hashed
                },
                hashed,
            )
    return record


def _row_objects(columns: dict[str, list[Any]], names: list[str]) -> list[dict[str, Any]]:
    """One object per row; a column the row did not send (NOT_SENT) is left out of it."""
    return [
        {n: v for n, v in zip(names, row, strict=True) if v is not scoring.NOT_SENT}
        for row in zip(*(columns[n] for n in names), strict=True)
    ]


def _redact_inputs(
    inputs: list[dict[str, Any]], names: tuple[str, ...], hasher: Hasher | None
) -> list[dict[str, Any]]:
    out = []
    for row in inputs:
        kept = {k: v for k, v in row.items() if k not in names}
        if hasher is not None:
            kept.update({f"{n}_hmac": hasher(row.get(n)) for n in names if n in row})
        out.append(kept)
    return out


def make_processor(state: ServerState) -> Callable[[Sequence[Job]], list[Any]]:
    """The batcher's worker-thread function: score a batch, write its log lines, split results."""

    def score_jobs(bundle: ModelBundle, jobs: Sequence[Job]) -> list[Any]:
        works: list[Work] = [job.payload for job in jobs]
        try:
            merged = scoring.concat_columns([work.columns for work in works])
            scores = bundle.score(merged)
        except Exception:
            if len(jobs) == 1:
                raise
            # Isolate the failing request: score each one alone.
            return [part for job in jobs for part in score_jobs(bundle, [job])]
        out: list[Any] = []
        start = 0
        for job in jobs:
            out.append(scores.slice(start, start + job.rows))
            start += job.rows
        return out

    def process(jobs: Sequence[Job]) -> list[Any]:
        bundle = state.bundle  # one bundle per batch, even if a reload swaps it meanwhile
        try:
            parts = score_jobs(bundle, jobs)
        except Exception as exc:  # score_jobs isolates the failing request(s)
            parts = [exc] * len(jobs)
        failed = [
            job.request_id for job, p in zip(jobs, parts, strict=True) if isinstance(p, Exception)
        ]
        if failed:
            first = next(p for p in parts if isinstance(p, Exception))
            log.error(
                "predict failed for request(s) %s: %s: %s",
                ", ".join(failed[:10]),
                type(first).__name__,
                str(first)[:300],
            )
            log.debug("predict traceback", exc_info=first)
        state.metrics.batch(bundle.version, sum(job.rows for job in jobs))
        results: list[Any] = []
        lines: list[str] = []
        stamp = now()  # the batch's lines are written together, now
        for job, part in zip(jobs, parts, strict=True):
            latency = (time.perf_counter() - job.received) * 1000.0
            work: Work = job.payload
            if isinstance(part, BaseException):
                results.append(PredictFailed(f"{type(part).__name__}: {part}"))
                if state.log is not None:
                    lines.append(
                        dumps_line(
                            log_record(
                                bundle,
                                job.request_id,
                                work.endpoint,
                                500,
                                latency,
                                scoring.to_records(work.columns),
                                None,
                                error=str(part),
                                timestamp=stamp,
                                context=work.context,
                                spec=state.context,
                                hasher=state.pii_hash,
                            )
                        )
                    )
                continue
            results.append(Outcome(part, bundle, latency))
            if state.log is not None:
                lines.append(
                    dumps_line(
                        log_record(
                            bundle,
                            job.request_id,
                            work.endpoint,
                            200,
                            latency,
                            scoring.to_records(work.columns),
                            part,
                            timestamp=stamp,
                            context=work.context,
                            spec=state.context,
                            hasher=state.pii_hash,
                        )
                    )
                )
        if state.log is not None:
            state.log.write(lines)
        return results

    return process
