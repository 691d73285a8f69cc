"""The OpenAPI entries of the two scoring routes, which have no FastAPI handler.

POST /invocations and POST /v2/models/{name}/infer are answered by the ASGI layer
(`gitml.serve.asgi`) before FastAPI's routing, so FastAPI does not know them. `document_scoring`
adds them to the app's generated spec (/openapi.json, /docs), where they appear as if they were
routes: request bodies, parameters and descriptions. The request bodies are the served model's
(`gitml.serve.schemas`, rebuilt when `--follow-stage` swaps the model); the constants below are
the protocols' layout, used when no model is known.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from gitml.modeling import Signature
from gitml.scoring import V2_DATATYPES, ContextSpec
from gitml.serve import schemas

if TYPE_CHECKING:
    from gitml.serve.state import ServerState

INVOCATIONS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "Exactly one of dataframe_split, dataframe_records, instances, "
                'inputs; optional params (e.g. {"probabilities": true}).',
                "oneOf": [
                    {"required": ["dataframe_split"]},
                    {"required": ["dataframe_records"]},
                    {"required": ["instances"]},
                    {"required": ["inputs"]},
                ],
                "additionalProperties": False,
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "required": ["columns", "data"],
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "items": {"type": "array"}, "minItems": 1},
                        },
                    },
                    "dataframe_records": {
                        "type": "array",
                        "items": {"type": "object"},
                        "minItems": 1,
                    },
                    "instances": {"type": "array", "minItems": 1},
                    "inputs": {
                        "anyOf": [
                            {"type": "array", "minItems": 1},
                            {"type": "object", "minProperties": 1},
                        ]
                    },
                    "params": {
                        "type": "object",
                        "properties": {
                            "probabilities": {"type": ["boolean", "null"]},
                            "explain": {"type": ["boolean", "null"]},
                        },
                    },
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
                    "parameters": {
                        "type": "object",
                        "properties": {"explain": {"type": ["boolean", "null"]}},
                    },
                    "inputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype", "data"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "shape": {
                                    "type": "array",
                                    "items": {"type": "integer", "minimum": 0},
                                    "minItems": 1,
                                },
                                "datatype": {"enum": sorted(V2_DATATYPES)},
                                "data": {"type": "array", "minItems": 1},
                            },
                        },
                    },
                    "outputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"enum": ["predict", "predict_proba"]}},
                        },
                    },
                },
            }
        }
    },
}

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
    signature: Signature | None, context: ContextSpec, unknown_categories: str = "error"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The /invocations and v2 infer entries; with a signature, their request bodies are the
    served model's (`gitml.serve.schemas`), else the protocols' layout."""
    invocations, v2 = copy.deepcopy(INVOCATIONS), copy.deepcopy(V2_INFER)
    if signature is None:
        return invocations, v2
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


def document_scoring(app: FastAPI, state: ServerState | None = None) -> None:
    """Make `app`'s OpenAPI spec list the scoring routes: /invocations first, v2 infer last.

    With the server's state, the request bodies describe the model it serves, rebuilt when a
    reload (`--follow-stage`) swaps the model."""
    generate = app.openapi
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        digest = state.bundle.digest if state is not None else ""
        if app.openapi_schema is None or built.get("digest") != digest:
            schema = generate() if app.openapi_schema is None else app.openapi_schema
            others = {
                k: v
                for k, v in schema["paths"].items()
                if k not in ("/invocations", "/v2/models/{name}/infer")
            }
            invocations, v2 = scoring_paths(
                state.bundle.signature if state is not None else None,
                state.context if state is not None else ContextSpec(),
                state.settings.unknown_categories if state is not None else "error",
            )
            schema["paths"] = {
                "/invocations": invocations,
                **others,
                "/v2/models/{name}/infer": v2,
            }
            if state is not None:
                _name_is_the_served_model(schema["paths"], state.bundle.name)
            app.openapi_schema = schema
            built["digest"] = digest
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
