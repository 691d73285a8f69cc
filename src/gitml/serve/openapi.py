"""The OpenAPI entries of the two scoring routes, which have no FastAPI handler.

POST /invocations and POST /v2/models/{name}/infer are answered by the ASGI layer
(`gitml.serve.asgi`) before FastAPI's routing, so FastAPI does not know them. `document_scoring`
adds them to the app's generated spec (/openapi.json, /docs), where they appear as if they were
routes: request bodies, parameters and descriptions. The request bodies are the served model's
(`gitml.serve.schemas`), rebuilt when `--follow-stage` swaps the model.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from gitml.modeling import Signature
from gitml.scoring import ContextSpec
from gitml.serve import schemas

if TYPE_CHECKING:
    from gitml.serve.state import ServerState

#: Request bodies: the schemas come from the served model's signature (`scoring_paths`).
INVOCATIONS_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {}}, "text/csv": {"schema": {"type": "string"}}},
}
V2_INFER_BODY: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": {}}}}

ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": "MLflow error: error_code, message, field (OIP v2: error, field).",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_BODY}}}


# Every status the scoring routes answer with, all of them JSON.
_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "Successful Response",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "400": _error("Malformed request: bad JSON or CSV, wrong layout, too deep, no rows"),
    "405": {
        **_error("Method not allowed (POST only)"),
        "headers": {"Allow": {"schema": {"type": "string"}, "description": "POST"}},
    },
    "413": _error("Payload over serve.max_payload_bytes"),
    "415": _error("Unsupported content type"),
    "422": _error("Does not match the model's signature (names the column)"),
    "500": _error("Internal error (generic; names the request id)"),
    "503": _error("Model not ready (loading or stopping)"),
}

INVOCATIONS: dict[str, Any] = {
    "post": {
        "summary": "Score rows (MLflow scoring protocol)",
        "description": "Score rows sent as MLflow's `dataframe_split`, `dataframe_records`, "
        "`instances` or\n`inputs` JSON, or as CSV with a header. `?probabilities=true` (or "
        '`"params":\n{"probabilities": true}`) adds `probabilities` (one list per row, in '
        '`classes` order). `?explain=true` (or `"params": {"explain": true}`) adds\n'
        "`contributions` (one object per row: each feature's contribution to the raw output),\n"
        "`base_values`, `explained_output` (log-odds for classifiers) and `explained_with`\n"
        "(`skops`: explanations use the skops model on every runtime); needs the optional\n"
        "shap extra (`pip install 'gitml[explain]'`), else 422.",
        "operationId": "invocations_invocations_post",
        "parameters": [
            {
                "name": "probabilities",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False, "title": "Probabilities"},
            },
            {
                "name": "explain",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False, "title": "Explain"},
            },
        ],
        "responses": _RESPONSES,
        "requestBody": INVOCATIONS_BODY,
    }
}

V2_INFER: dict[str, Any] = {
    "post": {
        "summary": "Inference (OIP v2): one input tensor per feature column",
        "description": "Each input is one column: `{name, shape: [n], datatype, data}`. Outputs "
        "`predict`\nand, for classifiers, `predict_proba` (shape [n, classes]); `outputs` "
        "selects them. `parameters: {explain: true}` adds `contributions` (shape [n, features],\n"
        "feature names in its `parameters.features`) and `base_value` (shape [n]): base value +\n"
        "the row's contributions = the raw output (log-odds); needs the shap extra, else 422.",
        "operationId": "v2_infer_v2_models__name__infer_post",
        "parameters": [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "title": "Name"},
            }
        ],
        "responses": {**_RESPONSES, "404": _error("Unknown model name")},
        "requestBody": V2_INFER_BODY,
    }
}


def scoring_paths(
    signature: Signature, context: ContextSpec, unknown_categories: str = "error"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The /invocations and v2 infer entries, with the served model's request bodies
    (`gitml.serve.schemas`)."""
    invocations, v2 = copy.deepcopy(INVOCATIONS), copy.deepcopy(V2_INFER)
    content = invocations["post"]["requestBody"]["content"]
    content["application/json"]["schema"] = schemas.invocations_schema(
        signature, context, unknown_categories
    )
    csv = schemas.csv_schema(signature)
    if csv is None:  # features a plain CSV pattern cannot spell: CSV is described, not schematised
        del content["text/csv"]
        invocations["post"]["description"] += (
            "\nCSV bodies (text/csv, a header naming the features) are accepted too."
        )
    else:
        content["text/csv"]["schema"] = csv
    v2["post"]["requestBody"]["content"]["application/json"]["schema"] = schemas.v2_schema(
        signature
    )
    return invocations, v2


def _name_is_the_served_model(paths: dict[str, Any], name: str) -> None:
    """The v2 routes' `{name}` is the served model's name (any other is a 404)."""
    for path, item in paths.items():
        if "{name}" not in path:
            continue
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param.get("in") == "path" and param.get("name") == "name":
                    param["schema"] = {**param.get("schema", {}), "enum": [name]}


def document_scoring(app: FastAPI, state: ServerState) -> None:
    """Make `app`'s OpenAPI spec list the scoring routes (/invocations first, v2 infer last), with
    the request bodies of the model `state` serves, rebuilt when a reload swaps the model."""
    generate = app.openapi
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        bundle = state.bundle
        if app.openapi_schema is None or built.get("digest") != bundle.digest:
            schema = generate() if app.openapi_schema is None else app.openapi_schema
            others = {
                k: v
                for k, v in schema["paths"].items()
                if k not in ("/invocations", "/v2/models/{name}/infer")
            }
            invocations, v2 = scoring_paths(
                bundle.signature, state.context, state.settings.unknown_categories
            )
            schema["paths"] = {"/invocations": invocations, **others, "/v2/models/{name}/infer": v2}
            _name_is_the_served_model(schema["paths"], bundle.name)
            app.openapi_schema = schema
            built["digest"] = bundle.digest
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
