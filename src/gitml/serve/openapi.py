"""The OpenAPI entries of the two scoring routes, which have no FastAPI handler.

POST /invocations and POST /v2/models/{name}/infer are answered by the ASGI layer
(`gitml.serve.asgi`) before FastAPI's routing, so FastAPI does not know them. `document_scoring`
adds them to the app's generated spec (/openapi.json, /docs), where they appear as if they were
routes: request bodies, parameters and descriptions.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

INVOCATIONS_BODY: dict[str, Any] = {
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

V2_INFER_BODY: dict[str, Any] = {
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

# What FastAPI writes for a route's responses: any JSON, and its own 422 schema.
_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "Successful Response",
        "content": {"application/json": {"schema": {}}},
    },
    "422": {
        "description": "Validation Error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    },
}

INVOCATIONS: dict[str, Any] = {
    "post": {
        "summary": "Score rows (MLflow scoring protocol)",
        "description": "Score rows sent as MLflow's `dataframe_split`, `dataframe_records`, "
        "`instances` or\n`inputs` JSON, or as CSV with a header. `?probabilities=true` (or "
        '`"params":\n{"probabilities": true}`) adds `probabilities` (one list per row, in '
        "`classes` order).",
        "operationId": "invocations_invocations_post",
        "parameters": [
            {
                "name": "probabilities",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False, "title": "Probabilities"},
            }
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
        "selects them.",
        "operationId": "v2_infer_v2_models__name__infer_post",
        "parameters": [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "title": "Name"},
            }
        ],
        "responses": _RESPONSES,
        "requestBody": V2_INFER_BODY,
    }
}


def document_scoring(app: FastAPI) -> None:
    """Make `app`'s OpenAPI spec list the scoring routes: /invocations first, v2 infer last."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"] = {
                "/invocations": copy.deepcopy(INVOCATIONS),
                **schema["paths"],
                "/v2/models/{name}/infer": copy.deepcopy(V2_INFER),
            }
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
