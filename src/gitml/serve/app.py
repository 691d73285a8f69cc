"""The REST server: MLflow's scoring protocol, Open Inference Protocol v2, health, metrics.

`create_app(bundle, settings)` builds the FastAPI app. Scoring requests are parsed and validated
on the event loop, then handed to the micro-batcher, which scores many requests with one predict
call in a worker thread and writes their prediction-log lines (one per request, one write per
batch) before any of them is answered. Every response carries X-Model-Name, X-Model-Version,
X-Model-Digest and X-Request-ID.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitml import scoring
from gitml.scoring import InputError
from gitml.serve.batcher import BatcherClosed, Job, MicroBatcher
from gitml.serve.bundle import ModelBundle
from gitml.serve.predlog import PredictionLog, dumps_line
from gitml.serve.settings import ServePolicy

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json", "")
CSV_TYPES = ("text/csv",)


# --------------------------------------------------------------------------- state


@dataclass
class ServerState:
    """The model being served (swapped atomically by a reload) and the server's machinery."""

    bundle: ModelBundle
    settings: ServePolicy
    log: PredictionLog | None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    ready: bool = False
    batcher: MicroBatcher | None = None

    def __post_init__(self) -> None:
        self.requests = Counter(
            "gitml_requests_total",
            "Scoring requests answered.",
            ["endpoint", "status", "model_version"],
            registry=self.registry,
        )
        self.errors = Counter(
            "gitml_request_errors_total",
            "Scoring requests answered with an error.",
            ["endpoint", "status", "model_version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gitml_request_latency_seconds",
            "Scoring latency from receipt to answer.",
            ["endpoint", "model_version"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.batch_rows = Histogram(
            "gitml_batch_rows",
            "Rows per predict call (micro-batch size).",
            ["model_version"],
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
        )


@dataclass
class Work:
    """A validated request inside the batcher."""

    columns: scoring.Columns
    endpoint: str


@dataclass
class Outcome:
    """A request's share of a batch's scores, and the bundle that produced them."""

    scores: scoring.Scores
    bundle: ModelBundle
    latency_ms: float


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_record(
    bundle: ModelBundle,
    request_id: str,
    endpoint: str,
    status: int,
    latency_ms: float,
    inputs: list[dict[str, Any]] | None,
    scores: scoring.Scores | None,
    error: str | None = None,
) -> dict[str, Any]:
    """One prediction-log line (see docs/serve.md for the fields)."""
    record: dict[str, Any] = {
        "request_id": request_id,
        "timestamp": _now(),
        "model_name": bundle.name,
        "model_version": bundle.version,
        "model_digest": bundle.digest,
        "model_stage": bundle.stage,
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
    return record


def limit_threads(n: int) -> None:
    """Cap OpenMP/BLAS threads in the predict thread: small batches pay more for waking a
    thread team (and spinning on a busy machine) than they gain from it."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)


def make_processor(state: ServerState) -> Callable[[Sequence[Job]], list[Any]]:
    """The batcher's worker-thread function: score a batch, write its log lines, split results."""

    def score_jobs(bundle: ModelBundle, jobs: Sequence[Job]) -> list[Any]:
        works: list[Work] = [j.payload for j in jobs]
        try:
            merged = scoring.concat_columns([w.columns for w in works])
            scores = scoring.score(bundle.model, bundle.signature, merged)
        except Exception:
            if len(jobs) == 1:
                raise
            # Isolate the failing request: score each one alone.
            return [r for job in jobs for r in score_jobs(bundle, [job])]
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
        except Exception as exc:
            log.exception("predict failed")
            parts = [exc] * len(jobs)
        state.batch_rows.labels(bundle.version).observe(sum(j.rows for j in jobs))
        results: list[Any] = []
        lines: list[str] = []
        for job, part in zip(jobs, parts, strict=True):
            latency = (time.perf_counter() - job.received) * 1000.0
            work: Work = job.payload
            if isinstance(part, BaseException):
                results.append(part)
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
                        )
                    )
                )
        if state.log is not None:
            state.log.write(lines)
        return results

    return process


# --------------------------------------------------------------------------- middleware


class IdentityHeaders:
    """Pure ASGI middleware: request id in scope state, identity headers on every response."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                request_id = value.decode("latin-1").strip()[:200]
                break
        if not request_id or not request_id.isprintable():
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                bundle = scope["state"].get("bundle") or self.state.bundle
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-model-name", bundle.name.encode("latin-1", "replace")),
                    (b"x-model-version", bundle.version.encode("latin-1", "replace")),
                    (b"x-model-digest", bundle.digest.encode("latin-1")),
                    (b"x-request-id", request_id.encode("latin-1", "replace")),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- helpers


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InputError(
            f"The payload is {int(declared)} bytes; the limit is {limit} bytes "
            "(serve.max_payload_bytes in conf/gitml.yaml).",
            None,
            413,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(
                f"The payload exceeds the limit of {limit} bytes "
                "(serve.max_payload_bytes in conf/gitml.yaml).",
                None,
                413,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _json(content: Any, status: int = 200) -> Response:
    body = json.dumps(content, separators=(",", ":"), allow_nan=False, default=str)
    return Response(body, status_code=status, media_type="application/json")


INVOCATIONS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "Exactly one of dataframe_split, dataframe_records, instances, "
                'inputs; optional params (e.g. {"probabilities": true}).',
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "items": {"type": "array"}},
                        },
                    },
                    "dataframe_records": {"type": "array", "items": {"type": "object"}},
                    "instances": {"type": "array"},
                    "inputs": {},
                    "params": {"type": "object"},
                },
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}

V2_INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype", "data"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string"},
                                "data": {"type": "array"},
                            },
                        },
                    },
                    "outputs": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
    },
}

_V2_DTYPES = {"i": "INT64", "u": "UINT64", "f": "FP64", "b": "BOOL"}


def _v2_datatype(values: list[Any]) -> str:
    kind = np.asarray(values).dtype.kind if values else "f"
    return _V2_DTYPES.get(kind, "BYTES")


def _v2_signature_tensors(bundle: ModelBundle) -> list[dict[str, Any]]:
    types = {"int64": "INT64", "float64": "FP64", "bool": "BOOL", "datetime": "BYTES"}
    return [
        {"name": f["name"], "datatype": types.get(f["dtype"], "BYTES"), "shape": [-1]}
        for f in bundle.signature.features
    ]


# --------------------------------------------------------------------------- the app


def create_app(
    bundle: ModelBundle,
    settings: ServePolicy,
    log_path: str | None = None,
    reloader: Callable[[], ModelBundle | None] | None = None,
) -> FastAPI:
    """Build the server for `bundle` with the `serve:` policy.

    Args:
        bundle: the loaded model and its identity.
        settings: batching, payload limit, unseen-category handling, log rotation.
        log_path: where to write the prediction log (None: `settings.log.path`; "" disables).
        reloader: with `--follow-stage`, called every `settings.follow_poll_seconds` in a thread;
            a bundle it returns replaces the served one atomically (in-flight batches finish
            with the old one).
    """
    path = settings.log.path if log_path is None else log_path
    plog = (
        PredictionLog(path, settings.log.rotate_bytes, settings.log.keep)
        if path and settings.log.enabled
        else None
    )
    state = ServerState(bundle=bundle, settings=settings, log=plog)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.batcher = MicroBatcher(
            make_processor(state),
            settings.max_batch_size,
            settings.max_wait_ms,
            initializer=lambda: limit_threads(settings.predict_threads),
        )
        state.batcher.start()
        state.ready = True
        follower = asyncio.get_running_loop().create_task(_follow()) if reloader else None
        try:
            yield
        finally:
            state.ready = False
            if follower is not None:
                follower.cancel()
            await state.batcher.close()
            if state.log is not None:
                state.log.close()
            log.info(
                "stopped after %d requests in %d batches; prediction log closed",
                state.batcher.jobs,
                state.batcher.batches,
            )

    async def _follow() -> None:
        assert reloader is not None
        while True:
            await asyncio.sleep(settings.follow_poll_seconds)
            try:
                new = await asyncio.to_thread(reloader)
            except Exception as exc:  # a failed reload keeps the current model serving
                log.warning(
                    "follow-stage: keeping %s %s: %s", state.bundle.name, state.bundle.version, exc
                )
                continue
            if new is not None and new.digest != state.bundle.digest:
                log.info("follow-stage: now serving %s %s (%s)", new.name, new.version, new.digest)
                state.bundle = new

    app = FastAPI(
        title="gitml model server",
        version="1",
        description="Serves one gitml model: MLflow scoring protocol at /invocations, Open "
        "Inference Protocol v2 under /v2, health, metadata and Prometheus metrics.",
        lifespan=lifespan,
    )
    app.state.server = state

    def error_response(exc: InputError, request: Request, endpoint: str, v2: bool) -> Response:
        version = state.bundle.version
        state.requests.labels(endpoint, str(exc.status), version).inc()
        state.errors.labels(endpoint, str(exc.status), version).inc()
        if state.log is not None:
            state.log.write(
                [
                    dumps_line(
                        log_record(
                            state.bundle,
                            request.state.request_id,
                            endpoint,
                            exc.status,
                            (time.perf_counter() - request.state.t0) * 1000.0,
                            None,
                            None,
                            exc.message,
                        )
                    )
                ]
            )
        body = {"error": exc.message, "field": exc.field} if v2 else exc.to_dict()
        return _json(body, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _json({"error_code": "HTTP_ERROR", "message": str(exc.detail)}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, exc: RequestValidationError) -> Response:
        return _json({"error_code": "INVALID_PARAMETER_VALUE", "message": str(exc.errors())}, 422)

    async def run_jobs(request: Request, columns: scoring.Columns, endpoint: str) -> Outcome:
        assert state.batcher is not None
        job = Job(
            Work(columns, endpoint),
            scoring.n_rows(columns),
            request.state.request_id,
            received=request.state.t0,
        )
        outcome: Outcome = await state.batcher.submit(job)
        request.state.bundle = outcome.bundle
        version = outcome.bundle.version
        state.requests.labels(endpoint, "200", version).inc()
        state.latency.labels(endpoint, version).observe(time.perf_counter() - request.state.t0)
        return outcome

    def not_ready() -> Response:
        return _json({"error_code": "NOT_READY", "message": "The model is not loaded yet."}, 503)

    @app.post(
        "/invocations",
        openapi_extra={"requestBody": INVOCATIONS_BODY},
        summary="Score rows (MLflow scoring protocol)",
    )
    async def invocations(request: Request, probabilities: bool = False) -> Response:
        """Score rows sent as MLflow's `dataframe_split`, `dataframe_records`, `instances` or
        `inputs` JSON, or as CSV with a header. `?probabilities=true` (or `"params":
        {"probabilities": true}`) adds `probabilities` (one list per row, in `classes` order)."""
        request.state.t0 = time.perf_counter()
        if not state.ready or state.batcher is None:
            return not_ready()
        try:
            body = await read_body(request, settings.max_payload_bytes)
            media = _media_type(request)
            params: dict[str, Any] = {}
            if media in CSV_TYPES:
                raw = scoring.columns_from_csv(body)
            elif media in JSON_TYPES:
                raw, params = scoring.columns_from_payload(
                    scoring.parse_json(body), state.bundle.signature
                )
            else:
                raise InputError(
                    f"Unsupported content type '{media}'; send application/json or text/csv.",
                    "content-type",
                    415,
                )
            columns = scoring.validate(raw, state.bundle.signature, settings.unknown_categories)
        except InputError as exc:
            return error_response(exc, request, "invocations", v2=False)
        try:
            outcome = await run_jobs(request, columns, "invocations")
        except BatcherClosed:
            return not_ready()
        content: dict[str, Any] = {"predictions": scoring.predictions_list(outcome.scores)}
        if (probabilities or scoring.truthy(params.get("probabilities", False))) and (
            outcome.scores.probabilities is not None
        ):
            content["probabilities"] = outcome.scores.probabilities.tolist()
            content["classes"] = outcome.scores.classes
        return _json(content)

    @app.get("/ping", summary="Liveness and readiness (MLflow)")
    async def ping() -> Response:
        return PlainTextResponse("\n", status_code=200 if state.ready else 503)

    @app.get("/health", summary="Ready once the model is loaded")
    async def health() -> Response:
        body = {
            "status": "ready" if state.ready else "loading",
            "model": state.bundle.name,
            "version": state.bundle.version,
            "digest": state.bundle.digest,
        }
        return _json(body, 200 if state.ready else 503)

    @app.get("/metadata", summary="Artifact, version, stage, commit, digest and signature")
    async def metadata() -> Response:
        return _json(state.bundle.metadata())

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    # ---- Open Inference Protocol v2

    @app.get("/v2", summary="Server metadata (OIP v2)")
    async def v2_server() -> Response:
        return _json({"name": "gitml", "version": "1", "extensions": []})

    @app.get("/v2/health/live", summary="Server live (OIP v2)")
    async def v2_live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", summary="Server ready (OIP v2)")
    async def v2_ready() -> Response:
        return _json({"ready": state.ready}, 200 if state.ready else 503)

    def unknown_model(name: str) -> Response:
        return _json(
            {"error": f"Unknown model '{name}'; this server serves '{state.bundle.name}'."}, 404
        )

    @app.get("/v2/models/{name}", summary="Model metadata (OIP v2)")
    async def v2_model(name: str) -> Response:
        b = state.bundle
        if name != b.name:
            return unknown_model(name)
        outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
        if b.signature.classes:
            outputs.append(
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": [-1, len(b.signature.classes)],
                }
            )
        return _json(
            {
                "name": b.name,
                "versions": [b.version],
                "platform": "sklearn-skops",
                "inputs": _v2_signature_tensors(b),
                "outputs": outputs,
            }
        )

    @app.get("/v2/models/{name}/ready", summary="Model ready (OIP v2)")
    async def v2_model_ready(name: str) -> Response:
        if name != state.bundle.name:
            return unknown_model(name)
        return _json({"name": name, "ready": state.ready}, 200 if state.ready else 503)

    @app.post(
        "/v2/models/{name}/infer",
        openapi_extra={"requestBody": V2_INFER_BODY},
        summary="Inference (OIP v2): one input tensor per feature column",
    )
    async def v2_infer(name: str, request: Request) -> Response:
        """Each input is one column: `{name, shape: [n], datatype, data}`. Outputs `predict`
        and, for classifiers, `predict_proba` (shape [n, classes]); `outputs` selects them."""
        request.state.t0 = time.perf_counter()
        if name != state.bundle.name:
            return unknown_model(name)
        if not state.ready or state.batcher is None:
            return not_ready()
        try:
            body = await read_body(request, settings.max_payload_bytes)
            if _media_type(request) not in JSON_TYPES:
                raise InputError(
                    "Send the inference request as application/json.", "content-type", 415
                )
            payload = scoring.parse_json(body)
            raw = scoring.columns_from_v2(payload)
            wanted = payload.get("outputs")
            names = ["predict", "predict_proba"]
            if wanted is not None:
                if not isinstance(wanted, list) or not all(
                    isinstance(o, dict) and o.get("name") in names for o in wanted
                ):
                    raise InputError(
                        "'outputs' must list objects named predict or predict_proba.",
                        "outputs",
                        400,
                    )
                names = [o["name"] for o in wanted]
            req_id = payload.get("id")
            if req_id is not None and not isinstance(req_id, str):
                raise InputError("'id' must be a string.", "id", 400)
            columns = scoring.validate(raw, state.bundle.signature, settings.unknown_categories)
        except InputError as exc:
            return error_response(exc, request, "v2_infer", v2=True)
        try:
            outcome = await run_jobs(request, columns, "v2_infer")
        except BatcherClosed:
            return not_ready()
        preds = scoring.predictions_list(outcome.scores)
        out: list[dict[str, Any]] = []
        if "predict" in names:
            out.append(
                {
                    "name": "predict",
                    "shape": [len(preds)],
                    "datatype": _v2_datatype(preds),
                    "data": preds,
                }
            )
        proba = outcome.scores.probabilities
        if "predict_proba" in names and proba is not None:
            out.append(
                {
                    "name": "predict_proba",
                    "shape": list(proba.shape),
                    "datatype": "FP64",
                    "data": proba.ravel().tolist(),
                }
            )
        return _json(
            {
                "model_name": outcome.bundle.name,
                "model_version": outcome.bundle.version,
                "id": req_id or request.state.request_id,
                "outputs": out,
            }
        )

    app.add_middleware(IdentityHeaders, state=state)
    return app
