"""The REST server: MLflow's scoring protocol, Open Inference Protocol v2, health, metrics.

`create_app(bundle, settings)` builds the FastAPI app. The two scoring routes (POST
/invocations and POST /v2/models/{name}/infer) are answered by `Front`, a pure ASGI middleware
in front of FastAPI's routing: it reads the body, parses it with orjson and validates it in
plain Python, hands the columns to the micro-batcher and writes the JSON answer itself. Per
request that saves FastAPI's dependency solving, request/response objects and middleware
layers; the FastAPI routes stay declared (same code) for the OpenAPI schema and /docs. The
batcher scores many requests with one predict call in a worker thread and writes their
prediction-log lines (one per request, one write per batch) before any of them is answered.
Every response carries X-Model-Name, X-Model-Version, X-Model-Digest and X-Request-ID.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
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
from gitml.serve.batcher import BatcherClosed, Job, MicroBatcher, limit_threads
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

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: the lookup takes a lock and builds a key per call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def __post_init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
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
    timestamp: str | None = None,
) -> dict[str, Any]:
    """One prediction-log line (see docs/serve.md for the fields)."""
    record: dict[str, Any] = {
        "request_id": request_id,
        "timestamp": timestamp or _now(),
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
        state.child(state.batch_rows, bundle.version).observe(sum(j.rows for j in jobs))
        results: list[Any] = []
        lines: list[str] = []
        stamp = _now()  # the batch's lines are written together, now
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
                                timestamp=stamp,
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
                        )
                    )
                )
        if state.log is not None:
            state.log.write(lines)
        return results

    return process


# --------------------------------------------------------------------------- the scoring call


class Disconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


@dataclass
class Call:
    """One scoring request, whichever layer received it (`Front` or a FastAPI route)."""

    request_id: str
    t0: float
    media: str
    query: str
    read: Callable[[], Awaitable[bytes]]
    bundle: ModelBundle | None = None  # the bundle that answered, for the identity headers


Reply = tuple[int, bytes]

_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))


def query_flag(query: str, key: str) -> bool:
    """A boolean query parameter (as FastAPI parses one); anything else is a 422 naming it."""
    if not query:
        return False
    value = None
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k == key:
            value = v
    if value is None:
        return False
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise InputError(
        f"The query parameter '{key}' must be true or false, not {_short(value)}.", key, 422
    )


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def _too_large(size: int, limit: int, declared: bool) -> InputError:
    head = (
        f"The payload is {size} bytes; the limit is"
        if declared
        else "The payload exceeds the limit of"
    )
    return InputError(
        f"{head} {limit} bytes (serve.max_payload_bytes in conf/gitml.yaml).", None, 413
    )


def dumps(content: Any) -> bytes:
    """Compact JSON (orjson: NaN and infinities become null)."""
    return orjson.dumps(content, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def _json(content: Any, status: int = 200) -> Response:
    return Response(dumps(content), status_code=status, media_type="application/json")


# --------------------------------------------------------------------------- middleware


_JSON_HEADER = (b"content-type", b"application/json")


class Front:
    """Pure ASGI middleware: request id and identity headers on every response; the two scoring
    routes answered here directly (see the module docstring), everything else passed on."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServerState,
        invocations: Callable[[Call], Awaitable[Reply]],
        infer: Callable[[Call, str], Awaitable[Reply]],
    ) -> None:
        self.app = app
        self.state = state
        self.invocations = invocations
        self.infer = infer
        self._identity: tuple[ModelBundle | None, list[tuple[bytes, bytes]]] = (None, [])

    def identity(self, bundle: ModelBundle) -> list[tuple[bytes, bytes]]:
        cached, headers = self._identity
        if cached is not bundle:
            headers = [
                (b"x-model-name", bundle.name.encode("latin-1", "replace")),
                (b"x-model-version", bundle.version.encode("latin-1", "replace")),
                (b"x-model-digest", bundle.digest.encode("latin-1")),
            ]
            self._identity = (bundle, headers)
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        media = ""
        length = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1").strip()[:200]
            elif key == b"content-type":
                media = value.decode("latin-1").split(";")[0].strip().lower()
            elif key == b"content-length":
                length = value.decode("latin-1")
        if not request_id or not request_id.isprintable():
            request_id = os.urandom(16).hex()  # what uuid4().hex looks like, cheaper
        if scope["method"] == "POST":
            path: str = scope["path"]
            if path == "/invocations":
                await self.score(scope, receive, send, request_id, media, length, None)
                return
            if path.startswith("/v2/models/") and path.endswith("/infer"):
                name = path[len("/v2/models/") : -len("/infer")]
                if name and "/" not in name:
                    await self.score(scope, receive, send, request_id, media, length, name)
                    return
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                bundle = scope["state"].get("bundle") or self.state.bundle
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", ()),
                        *self.identity(bundle),
                        (b"x-request-id", request_id.encode("latin-1", "replace")),
                    ],
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def score(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        media: str,
        length: str,
        name: str | None,
    ) -> None:
        limit = self.state.settings.max_payload_bytes

        async def read() -> bytes:
            if length.isdigit() and int(length) > limit:
                raise _too_large(int(length), limit, declared=True)
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(size, limit, declared=False)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)

        call = Call(
            request_id,
            time.perf_counter(),
            media,
            scope.get("query_string", b"").decode("latin-1"),
            read,
        )
        try:
            status, body = await (
                self.invocations(call) if name is None else self.infer(call, name)
            )
        except Disconnected:
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    _JSON_HEADER,
                    (b"content-length", str(len(body)).encode()),
                    *self.identity(call.bundle or self.state.bundle),
                    (b"x-request-id", request_id.encode("latin-1", "replace")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- helpers


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit, declared=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, declared=False)
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _call(request: Request, limit: int) -> Call:
    return Call(
        request.state.request_id,
        time.perf_counter(),
        _media_type(request),
        request.url.query,
        lambda: read_body(request, limit),
    )


def _reply(request: Request, call: Call, reply: Reply) -> Response:
    request.state.bundle = call.bundle
    return Response(reply[1], status_code=reply[0], media_type="application/json")


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

    def error_reply(exc: InputError, call: Call, endpoint: str, v2: bool) -> Reply:
        version = state.bundle.version
        state.child(state.requests, endpoint, str(exc.status), version).inc()
        state.child(state.errors, endpoint, str(exc.status), version).inc()
        if state.log is not None:
            state.log.write(
                [
                    dumps_line(
                        log_record(
                            state.bundle,
                            call.request_id,
                            endpoint,
                            exc.status,
                            (time.perf_counter() - call.t0) * 1000.0,
                            None,
                            None,
                            exc.message,
                        )
                    )
                ]
            )
        body = {"error": exc.message, "field": exc.field} if v2 else exc.to_dict()
        return exc.status, dumps(body)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _json({"error_code": "HTTP_ERROR", "message": str(exc.detail)}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, exc: RequestValidationError) -> Response:
        return _json({"error_code": "INVALID_PARAMETER_VALUE", "message": str(exc.errors())}, 422)

    async def run_jobs(call: Call, columns: scoring.Columns, endpoint: str) -> Outcome:
        assert state.batcher is not None
        job = Job(Work(columns, endpoint), scoring.n_rows(columns), call.request_id, call.t0)
        outcome: Outcome = await state.batcher.submit(job)
        call.bundle = outcome.bundle
        version = outcome.bundle.version
        state.child(state.requests, endpoint, "200", version).inc()
        state.child(state.latency, endpoint, version).observe(time.perf_counter() - call.t0)
        return outcome

    not_ready: Reply = (
        503,
        dumps({"error_code": "NOT_READY", "message": "The model is not loaded yet."}),
    )

    async def score_invocations(call: Call) -> Reply:
        if not state.ready or state.batcher is None:
            return not_ready
        try:
            probabilities = query_flag(call.query, "probabilities")
            body = await call.read()
            params: Mapping[str, Any] = {}
            if call.media in CSV_TYPES:
                raw = scoring.columns_from_csv(body)
            elif call.media in JSON_TYPES:
                raw, params = scoring.columns_from_payload(
                    scoring.parse_json(body), state.bundle.signature
                )
            else:
                raise InputError(
                    f"Unsupported content type '{call.media}'; send application/json or text/csv.",
                    "content-type",
                    415,
                )
            columns = scoring.validate(raw, state.bundle.signature, settings.unknown_categories)
        except InputError as exc:
            return error_reply(exc, call, "invocations", v2=False)
        try:
            outcome = await run_jobs(call, columns, "invocations")
        except BatcherClosed:
            return not_ready
        scores = outcome.scores
        content: dict[str, Any] = {"predictions": scoring.predictions_list(scores)}
        if (probabilities or scoring.truthy(params.get("probabilities", False))) and (
            scores.probabilities is not None
        ):
            content["probabilities"] = scores.probabilities
            content["classes"] = scores.classes
        return 200, dumps(content)

    async def score_v2(call: Call, name: str) -> Reply:
        if name != state.bundle.name:
            return 404, dumps(unknown_model_body(name))
        if not state.ready or state.batcher is None:
            return not_ready
        try:
            body = await call.read()
            if call.media not in JSON_TYPES:
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
            return error_reply(exc, call, "v2_infer", v2=True)
        try:
            outcome = await run_jobs(call, columns, "v2_infer")
        except BatcherClosed:
            return not_ready
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
                    "data": proba.ravel(),
                }
            )
        content = {
            "model_name": outcome.bundle.name,
            "model_version": outcome.bundle.version,
            "id": req_id or call.request_id,
            "outputs": out,
        }
        return 200, dumps(content)

    def unknown_model_body(name: str) -> dict[str, str]:
        return {"error": f"Unknown model '{name}'; this server serves '{state.bundle.name}'."}

    def unknown_model(name: str) -> Response:
        return _json(unknown_model_body(name), 404)

    @app.post(
        "/invocations",
        openapi_extra={"requestBody": INVOCATIONS_BODY},
        summary="Score rows (MLflow scoring protocol)",
    )
    async def invocations(request: Request, probabilities: bool = False) -> Response:
        """Score rows sent as MLflow's `dataframe_split`, `dataframe_records`, `instances` or
        `inputs` JSON, or as CSV with a header. `?probabilities=true` (or `"params":
        {"probabilities": true}`) adds `probabilities` (one list per row, in `classes` order)."""
        # Normally answered by `Front` before routing; this route documents it (and would
        # answer the same way without `Front`).
        call = _call(request, settings.max_payload_bytes)
        return _reply(request, call, await score_invocations(call))

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
        call = _call(request, settings.max_payload_bytes)  # normally answered by `Front`
        return _reply(request, call, await score_v2(call, name))

    app.add_middleware(Front, state=state, invocations=score_invocations, infer=score_v2)
    return app
