"""The server's FastAPI routes: health, metadata, metrics and OIP v2 metadata, and error bodies.

The two scoring routes are not here: `gitml.serve.asgi.ScoringFrontend` answers them before
routing, and `gitml.serve.openapi` documents them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from gitml.serve.bundle import ModelBundle
from gitml.serve.handlers import dumps, unknown_model
from gitml.serve.state import ServerState


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps(content), status_code=status, media_type="application/json", headers=headers
    )


_NOT_READY: dict[str, Any] = {"description": "The model is not ready (loading or stopping)"}
_UNKNOWN: dict[str, Any] = {"description": "Unknown model name"}


def _v2_signature_tensors(bundle: ModelBundle) -> list[dict[str, Any]]:
    types = {"int64": "INT64", "float64": "FP64", "bool": "BOOL", "datetime": "BYTES"}
    return [
        {"name": feature["name"], "datatype": types.get(feature["dtype"], "BYTES"), "shape": [-1]}
        for feature in bundle.signature.features
    ]


def add_routes(app: FastAPI, state: ServerState) -> None:
    """Declare the non-scoring routes and the JSON error handlers on `app`."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _json(
            {"error_code": "HTTP_ERROR", "message": str(exc.detail)},
            exc.status_code,
            dict(exc.headers or {}),  # e.g. Allow on a 405
        )

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, exc: RequestValidationError) -> Response:
        return _json({"error_code": "INVALID_PARAMETER_VALUE", "message": str(exc.errors())}, 422)

    def unknown(name: str) -> Response:
        return _json(unknown_model(name, state.bundle.name), 404)

    @app.get(
        "/ping",
        summary="Liveness and readiness (MLflow)",
        response_class=PlainTextResponse,
        responses={503: {"description": "Not ready", "content": {"text/plain": {}}}},
    )
    async def ping() -> Response:
        return PlainTextResponse("\n", status_code=200 if state.ready else 503)

    @app.get("/health", summary="Ready once the model is loaded", responses={503: _NOT_READY})
    async def health() -> Response:
        body = {
            "status": "ready" if state.ready else "loading",
            "model": state.bundle.name,
            "version": state.bundle.version,
            "digest": state.bundle.digest,
            "runtime": state.bundle.runtime,
        }
        return _json(body, 200 if state.ready else 503)

    @app.get("/metadata", summary="Artifact, version, stage, commit, digest, runtime and signature")
    async def metadata() -> Response:
        return _json(state.bundle.metadata())

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # ---- Open Inference Protocol v2 (POST /v2/models/{name}/infer: see the module docstring)

    @app.get("/v2", summary="Server metadata (OIP v2)")
    async def v2_server() -> Response:
        return _json({"name": "gitml", "version": "1", "extensions": []})

    @app.get("/v2/health/live", summary="Server live (OIP v2)")
    async def v2_live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", summary="Server ready (OIP v2)", responses={503: _NOT_READY})
    async def v2_ready() -> Response:
        return _json({"ready": state.ready}, 200 if state.ready else 503)

    @app.get("/v2/models/{name}", summary="Model metadata (OIP v2)", responses={404: _UNKNOWN})
    async def v2_model(name: str) -> Response:
        bundle = state.bundle
        if name != bundle.name:
            return unknown(name)
        outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
        if bundle.signature.classes:
            outputs.append(
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": [-1, len(bundle.signature.classes)],
                }
            )
        return _json(
            {
                "name": bundle.name,
                "versions": [bundle.version],
                "platform": "onnxruntime" if bundle.runtime == "onnx" else "sklearn-skops",
                "inputs": _v2_signature_tensors(bundle),
                "outputs": outputs,
            }
        )

    @app.get(
        "/v2/models/{name}/ready",
        summary="Model ready (OIP v2)",
        responses={404: _UNKNOWN, 503: _NOT_READY},
    )
    async def v2_model_ready(name: str) -> Response:
        if name != state.bundle.name:
            return unknown(name)
        return _json({"name": name, "ready": state.ready}, 200 if state.ready else 503)
