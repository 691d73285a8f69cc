"""The ASGI layer in front of FastAPI: request ids, identity headers, the scoring fast path.

`ScoringFrontend` is a pure ASGI middleware. It gives every response X-Model-Name,
X-Model-Version, X-Model-Digest, X-Model-Runtime (skops or onnx) and X-Request-ID. The two scoring routes (POST /invocations and
POST /v2/models/{name}/infer) it answers itself, before FastAPI's routing: it reads the body
(refusing one over `serve.max_payload_bytes`), hands a `Call` to `ScoringHandlers` and writes the
JSON reply. Per request that saves FastAPI's dependency solving, request/response objects and
middleware layers. Everything else goes on to FastAPI.

No exception reaches the client or uvicorn: an unexpected one becomes a generic JSON 500 that
names the request id, is counted in /metrics, written to the prediction log (scoring routes) and
logged as one server log line with that id (the traceback at DEBUG level).
"""

from __future__ import annotations

import logging
import os
import time
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitml.scoring import InputError
from gitml.serve.bundle import ModelBundle
from gitml.serve.handlers import Call, ScoringHandlers, dumps
from gitml.serve.state import ServerState
from gitml.serve.worker import PredictFailed

log = logging.getLogger(__name__)

_JSON_HEADER = (b"content-type", b"application/json")
_ALLOW_POST = (b"allow", b"POST")
_V2_PREFIX = "/v2/models/"
_V2_SUFFIX = "/infer"


def scoring_route(path: str) -> str | None:
    """ "" for /invocations, the model name for /v2/models/{name}/infer, None for other paths."""
    if path == "/invocations":
        return ""
    if path.startswith(_V2_PREFIX) and path.endswith(_V2_SUFFIX):
        name = path[len(_V2_PREFIX) : -len(_V2_SUFFIX)]
        if name and "/" not in name:
            return name
    return None


class Disconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


def too_large(size: int, limit: int, declared: bool) -> InputError:
    """The 413 for a body of `size` bytes (`declared` in Content-Length, or read so far)."""
    head = (
        f"The payload is {size} bytes; the limit is"
        if declared
        else "The payload exceeds the limit of"
    )
    return InputError(
        f"{head} {limit} bytes (serve.max_payload_bytes in conf/gitml.yaml).", None, 413
    )


def internal_error(request_id: str, v2: bool) -> bytes:
    """The body of a 500: generic, with the request id to find the server log line by."""
    message = f"Internal server error (request id {request_id}); the server log has the details."
    if v2:
        return dumps({"error": message, "request_id": request_id})
    return dumps({"error_code": "INTERNAL_ERROR", "message": message, "request_id": request_id})


def log_failure(request_id: str, method: str, path: str, exc: BaseException) -> None:
    """One server log line for a request answered 500 (its traceback at DEBUG level)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    log.error(
        "request %s: %s %s answered 500: %s: %s%s",
        request_id,
        method,
        path,
        type(exc).__name__,
        str(exc)[:300],
        where,
    )
    log.debug("request %s traceback", request_id, exc_info=exc)


class ScoringFrontend:
    """Pure ASGI middleware: request id and identity headers on every response; the two scoring
    routes answered here directly (see the module docstring), everything else passed on."""

    def __init__(self, app: ASGIApp, state: ServerState, handlers: ScoringHandlers) -> None:
        self.app = app
        self.state = state
        self.handlers = handlers
        self._identity: tuple[ModelBundle | None, list[tuple[bytes, bytes]]] = (None, [])

    def identity(self, bundle: ModelBundle) -> list[tuple[bytes, bytes]]:
        """The X-Model-* headers for `bundle` (built once per served bundle)."""
        cached, headers = self._identity
        if cached is not bundle:
            headers = [
                (b"x-model-name", bundle.name.encode("latin-1", "replace")),
                (b"x-model-version", bundle.version.encode("latin-1", "replace")),
                (b"x-model-digest", bundle.digest.encode("latin-1")),
                (b"x-model-runtime", bundle.runtime.encode("latin-1")),
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
        path: str = scope["path"]
        name = scoring_route(path)
        if name is not None:
            if scope["method"] == "POST":
                await self.score(scope, receive, send, request_id, media, length, name or None)
            else:
                await self.reply(
                    send,
                    405,
                    dumps(
                        {
                            "error_code": "METHOD_NOT_ALLOWED",
                            "message": f"{path} accepts POST only.",
                        }
                    ),
                    request_id,
                    None,
                    _ALLOW_POST,
                )
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", ()),
                        *self.identity(self.state.bundle),
                        (b"x-request-id", request_id.encode("latin-1", "replace")),
                    ],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            log_failure(request_id, scope["method"], path, exc)
            self.state.metrics.rejected("other", 500, self.state.bundle.version)
            if not started:
                await self.reply(send, 500, internal_error(request_id, False), request_id, None)

    async def reply(
        self,
        send: Send,
        status: int,
        body: bytes,
        request_id: str,
        bundle: ModelBundle | None,
        *extra: tuple[bytes, bytes],
    ) -> None:
        """Send a complete JSON response with the identity headers."""
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    _JSON_HEADER,
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                    *self.identity(bundle or self.state.bundle),
                    (b"x-request-id", request_id.encode("latin-1", "replace")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

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
        """Answer one scoring request: MLflow's when `name` is None, else OIP v2's for `name`."""
        limit = self.state.settings.max_payload_bytes

        async def read() -> bytes:
            if length.isdigit() and int(length) > limit:
                raise too_large(int(length), limit, declared=True)
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(size, limit, declared=False)
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
                self.handlers.invocations(call)
                if name is None
                else self.handlers.v2_infer(call, name)
            )
        except Disconnected:
            return
        except Exception as exc:  # a bug, not the client's fault: a generic 500
            if not isinstance(exc, PredictFailed):  # the worker has logged that one
                log_failure(request_id, "POST", scope["path"], exc)
            status, body = 500, internal_error(request_id, name is not None)
            endpoint = "invocations" if name is None else "v2_infer"
            try:
                if isinstance(exc, PredictFailed):  # its log line is written already
                    self.state.metrics.rejected(endpoint, 500, self.state.bundle.version)
                else:
                    self.handlers.count_and_log(call, endpoint, 500, "internal error")
            except Exception as again:  # e.g. the prediction log is unwritable
                log.error("request %s: could not record the 500: %s", request_id, again)
        await self.reply(send, status, body, request_id, call.bundle)
