"""The REST server: MLflow's scoring protocol, Open Inference Protocol v2, health, metrics.

`create_app(bundle, settings)` builds the FastAPI app from these parts:

- `gitml.serve.asgi`: `ScoringFrontend`, a pure ASGI middleware in front of FastAPI's routing.
  It answers the two scoring routes (POST /invocations and POST /v2/models/{name}/infer) itself
  and puts X-Model-Name, X-Model-Version, X-Model-Digest and X-Request-ID on every response.
- `gitml.serve.handlers`: what those two routes do (parse, validate, batch, shape the answer).
- `gitml.serve.worker`: the micro-batcher's worker function; it scores many requests with one
  predict call and writes their prediction-log lines (one per request, one write per batch)
  before any of them is answered.
- `gitml.serve.routes`: the FastAPI routes (health, metadata, metrics, OIP v2 metadata).
- `gitml.serve.openapi`: the scoring routes' entries in /openapi.json and /docs.
- `gitml.serve.metrics`: the Prometheus metrics; `gitml.serve.state`: what the server holds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from gitml.policy.serve import ServePolicy
from gitml.serve.asgi import ScoringFrontend, scoring_route
from gitml.serve.batcher import MicroBatcher, limit_threads
from gitml.serve.bundle import ModelBundle
from gitml.serve.handlers import ScoringHandlers
from gitml.serve.openapi import document_scoring
from gitml.serve.predlog import PredictionLog
from gitml.serve.routes import add_routes
from gitml.serve.state import ServerState
from gitml.serve.worker import make_processor

log = logging.getLogger(__name__)


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
        loop = asyncio.get_running_loop()
        hup = state.log is not None and _on_sighup(loop, state.log.reopen)
        state.ready = True
        follower = asyncio.get_running_loop().create_task(_follow()) if reloader else None
        try:
            yield
        finally:
            state.ready = False
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)
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

    app = ServedApp(
        title="gitml model server",
        version="1",
        description="Serves one gitml model: MLflow scoring protocol at /invocations, Open "
        "Inference Protocol v2 under /v2, health, metadata and Prometheus metrics.",
        lifespan=lifespan,
    )
    app.state.server = state
    add_routes(app, state)
    document_scoring(app, state)
    handlers = ScoringHandlers(state)
    app.add_middleware(ScoringFrontend, state=state, handlers=handlers)
    app.scoring = ScoringFrontend(app.router, state, handlers)
    return app


class ServedApp(FastAPI):
    """FastAPI whose two scoring routes are answered before its middleware stack.

    `ScoringFrontend` is also a middleware inside FastAPI's stack, for the identity headers and
    the JSON 500 on every other route. A scoring request goes straight to a second frontend
    instance instead of through FastAPI's error, telemetry and body-limit layers, which it does not
    need (the frontend catches every exception and enforces serve.max_payload_bytes itself): per
    request that is four fewer coroutine layers (benchmarks/RESULTS.md, "Input contract"). When
    FastAPI's OpenTelemetry tracing is on, scoring requests take the full stack to be traced.
    """

    scoring: ScoringFrontend | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.scoring
        if (
            front is not None
            and scope["type"] == "http"
            and scoring_route(scope["path"]) is not None
            and not _traced(self)
        ):
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _traced(app: FastAPI) -> bool:
    """FastAPI's native OpenTelemetry is configured (a tracer or meter provider is set)."""
    telemetry = getattr(app, "_native_telemetry", None)
    return telemetry is not None and bool(telemetry.enabled())


def _on_sighup(loop: asyncio.AbstractEventLoop, reopen: Callable[[], None]) -> bool:
    """Reopen the prediction log on SIGHUP (logrotate's postrotate); False where signals are
    not available (not the main thread, Windows)."""
    try:
        loop.add_signal_handler(signal.SIGHUP, reopen)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        return False
    return True
