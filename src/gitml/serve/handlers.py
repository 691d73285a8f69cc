"""The two scoring endpoints: MLflow's POST /invocations and OIP v2's POST /v2/models/{name}/infer.

`ScoringHandlers` turns one `Call` (the request as the ASGI layer received it) into a `Reply`
(status and JSON body): parse and validate the payload in plain Python, hand the columns to the
micro-batcher, count the request in the metrics and shape the answer for the protocol. A request
rejected here (4xx) gets its prediction-log line written here; scored ones are logged by the
batcher's worker (`gitml.serve.worker`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson

from gitml import scoring
from gitml.errors import GitmlError
from gitml.modeling import Signature
from gitml.scoring import InputError
from gitml.serve.batcher import BatcherClosed, Job
from gitml.serve.bundle import ModelBundle
from gitml.serve.predlog import dumps_line
from gitml.serve.state import ServerState
from gitml.serve.worker import Outcome, Work, log_record

JSON_TYPES = ("application/json", "")
#: Explanations always use the skops model (also when the compiled ONNX model scores): the
#: responses say so (`explained_with`).
EXPLAINED_WITH = "skops"
CSV_TYPES = ("text/csv",)


@dataclass
class Call:
    """One scoring request as received: identity, receipt time, content type, query, body."""

    request_id: str
    t0: float
    media: str
    query: str
    read: Callable[[], Awaitable[bytes]]
    bundle: ModelBundle | None = None  # the bundle that answered, for the identity headers


Reply = tuple[int, bytes]


def query_flag(query: str, key: str) -> bool:
    """A boolean query parameter: `true` or `false`; anything else is a 422 naming it."""
    if not query:
        return False
    value = None
    for name, text in parse_qsl(query, keep_blank_values=True):
        if name == key:
            value = text
    if value is None:
        return False
    if value == "true":
        return True
    if value == "false":
        return False
    raise InputError(
        f"The query parameter '{key}' must be true or false, not {_short(value)}.", key, 422
    )


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def dumps(content: Any) -> bytes:
    """Compact JSON (orjson: NaN and infinities become null)."""
    return orjson.dumps(content, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def unknown_model(name: str, served: str) -> dict[str, str]:
    """The OIP v2 error body for a model name this server does not serve."""
    return {"error": f"Unknown model '{name}'; this server serves '{served}'."}


NOT_READY: Reply = (
    503,
    dumps({"error_code": "NOT_READY", "message": "The model is not ready (loading or stopping)."}),
)

_V2_DTYPES = {"i": "INT64", "u": "UINT64", "f": "FP64", "b": "BOOL"}
_V2_OUTPUTS = ("predict", "predict_proba")


def _v2_datatype(values: list[Any]) -> str:
    kind = np.asarray(values).dtype.kind if values else "f"
    return _V2_DTYPES.get(kind, "BYTES")


def v2_output_names(signature: Signature) -> tuple[str, ...]:
    """The OIP v2 outputs a model has: `predict`, and `predict_proba` for a classifier."""
    return _V2_OUTPUTS if signature.classes else _V2_OUTPUTS[:1]


def _v2_outputs(wanted: Any, signature: Signature) -> list[str]:
    """The outputs an OIP v2 request asks for (all the model has when it names none); a 400
    naming an output the model does not have."""
    has = v2_output_names(signature)
    if wanted is None:
        return list(has)
    if not isinstance(wanted, list) or not all(
        isinstance(output, dict) and isinstance(output.get("name"), str) for output in wanted
    ):
        raise InputError(
            "'outputs' must be a list of objects with a 'name' "
            f"({' or '.join(has)} for this model).",
            "outputs",
            400,
        )
    for output in wanted:
        if output["name"] not in has:
            raise InputError(
                f"Unknown output {scoring.short(output['name'])}: this {signature.task} model's "
                f"outputs are {', '.join(has)} (GET /v2/models/<name> lists them).",
                "outputs",
                400,
            )
    return [output["name"] for output in wanted]


class ScoringHandlers:
    """Answers the scoring endpoints for the model `state` serves."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._explainers: dict[str, Any] = {}

    async def invocations(self, call: Call) -> Reply:
        """MLflow scoring protocol: JSON (any of MLflow's four layouts) or CSV with a header."""
        state = self.state
        if not state.ready or state.batcher is None:
            return self._not_ready("invocations")
        try:
            probabilities = query_flag(call.query, "probabilities")
            explain = query_flag(call.query, "explain")
            body = await call.read()
            params: Mapping[str, Any] = {}
            if call.media in CSV_TYPES:
                raw = scoring.columns_from_csv(body, state.bundle.signature.contract.csv_options())
            elif call.media in JSON_TYPES:
                raw, params = scoring.columns_from_payload(
                    self._parse(body), state.bundle.signature
                )
                probabilities = scoring.param_flag(params, "probabilities") or probabilities
                explain = scoring.param_flag(params, "explain") or explain
            else:
                raise InputError(
                    f"Unsupported content type '{call.media}'; send application/json or text/csv.",
                    "content-type",
                    415,
                )
            columns = scoring.validate(
                raw, state.bundle.signature, state.settings.unknown_categories
            )
            context = self._context(raw, columns)
            explainer = await self._explainer() if explain else None
        except InputError as exc:
            return self._rejected(exc, call, "invocations", v2=False)
        try:
            outcome = await self._score(call, columns, "invocations", context)
        except BatcherClosed:
            return self._not_ready("invocations")
        scores = outcome.scores
        content: dict[str, Any] = {"predictions": scoring.predictions_list(scores)}
        if probabilities and scores.probabilities is not None:
            content["probabilities"] = scores.probabilities
            content["classes"] = scores.classes
        if explainer is not None:
            found = await self._explain(explainer, outcome.bundle, columns)
            content["contributions"] = found.rows()
            content["base_values"] = found.base
            content["explained_output"] = found.output
            content["explained_with"] = EXPLAINED_WITH
        return 200, dumps(content)

    async def v2_infer(self, call: Call, name: str) -> Reply:
        """Open Inference Protocol v2 inference: one input tensor per feature column."""
        state = self.state
        if name != state.bundle.name:
            state.metrics.rejected("v2_infer", 404, state.bundle.version)
            return 404, dumps(unknown_model(name, state.bundle.name))
        if not state.ready or state.batcher is None:
            return self._not_ready("v2_infer")
        try:
            body = await call.read()
            if call.media not in JSON_TYPES:
                raise InputError(
                    "Send the inference request as application/json.", "content-type", 415
                )
            payload = self._parse(body)
            raw = scoring.columns_from_v2(payload)
            self._known_inputs(raw)
            names = _v2_outputs(payload.get("outputs"), state.bundle.signature)
            req_id = payload.get("id")
            if req_id is not None and not isinstance(req_id, str):
                raise InputError("'id' must be a string.", "id", 400)
            parameters = payload.get("parameters")
            if parameters is None:
                parameters = {}
            elif not isinstance(parameters, Mapping):
                raise InputError("'parameters' must be an object.", "parameters", 400)
            explain = scoring.param_flag(parameters, "explain")
            columns = scoring.validate(
                raw, state.bundle.signature, state.settings.unknown_categories
            )
            context = self._context(raw, columns)
            explainer = await self._explainer() if explain else None
        except InputError as exc:
            return self._rejected(exc, call, "v2_infer", v2=True)
        try:
            outcome = await self._score(call, columns, "v2_infer", context)
        except BatcherClosed:
            return self._not_ready("v2_infer")
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
        if explainer is not None:
            found = await self._explain(explainer, outcome.bundle, columns)
            out.append(
                {
                    "name": "contributions",
                    "shape": list(found.values.shape),
                    "datatype": "FP64",
                    "parameters": {
                        "features": found.features,
                        "output": found.output,
                        "explained_with": EXPLAINED_WITH,
                    },
                    "data": found.values.ravel(),
                }
            )
            out.append(
                {
                    "name": "base_value",
                    "shape": [len(found.base)],
                    "datatype": "FP64",
                    "data": found.base,
                }
            )
        content: dict[str, Any] = {
            "model_name": outcome.bundle.name,
            "model_version": outcome.bundle.version,
            "id": req_id or call.request_id,
            "outputs": out,
        }
        if explainer is not None:
            content["parameters"] = {"explained_with": EXPLAINED_WITH}
        return 200, dumps(content)

    def _parse(self, body: bytes) -> Any:
        settings = self.state.settings
        return scoring.parse_json(body, settings.max_json_depth, settings.max_elements)

    def _known_inputs(self, raw: Mapping[str, Any]) -> None:
        """OIP v2 inputs are the model's: its features and the declared context columns."""
        spec = self.state.context
        known = {*self.state.bundle.signature.feature_names, *spec.logged, *spec.pii}
        unknown = [name for name in raw if name not in known]
        if unknown:
            raise InputError(
                f"Unknown input '{unknown[0]}': the inputs are the model's features (GET "
                "/v2/models/<name> lists them) and the declared context columns.",
                unknown[0],
            )

    def _context(self, raw: Mapping[str, Any], columns: scoring.Columns) -> Any:
        """The request's declared context/PII columns (never model input), or None."""
        spec = self.state.context
        if spec.empty:
            return None
        return scoring.context_columns(raw, spec, scoring.n_rows(columns)) or None

    async def _explainer(self) -> Any:
        """The served bundle's explainer (built once per bundle, in a thread); a 422 when shap
        is missing or the model cannot be explained."""
        from gitml import explain

        bundle = self.state.bundle
        cached = self._explainers.get(bundle.digest)
        if cached is not None:
            return cached
        if not explain.available():
            raise InputError(explain.unavailable_message(), "explain", 422)

        def build() -> Any:
            return explain.Explainer(
                bundle.model,
                bundle.signature.feature_names,
                bundle.signature.positive_class,
                self.state.explain_background,
            )

        try:
            made = await asyncio.to_thread(build)
        except GitmlError as exc:
            raise InputError(exc.render(), "explain", 422) from None
        self._explainers = {bundle.digest: made}
        return made

    async def _explain(self, explainer: Any, bundle: ModelBundle, columns: scoring.Columns) -> Any:
        """Contributions for the scored rows (with the bundle that scored them)."""
        if explainer.model is not bundle.model:  # a reload swapped the model meanwhile
            explainer = await self._explainer()
        frame = scoring.model_frame(columns, bundle.signature.features)
        return await asyncio.to_thread(explainer.explain, frame)

    def _not_ready(self, endpoint: str) -> Reply:
        self.state.metrics.rejected(endpoint, 503, self.state.bundle.version)
        return NOT_READY

    async def _score(
        self, call: Call, columns: scoring.Columns, endpoint: str, context: Any = None
    ) -> Outcome:
        """Queue the request's columns for the batcher and wait for its share of the scores."""
        state = self.state
        assert state.batcher is not None
        work = Work(columns, endpoint, context)
        job = Job(work, scoring.n_rows(columns), call.request_id, call.t0)
        outcome: Outcome = await state.batcher.submit(job)
        call.bundle = outcome.bundle
        state.metrics.scored(endpoint, outcome.bundle.version, time.perf_counter() - call.t0)
        return outcome

    def _rejected(self, exc: InputError, call: Call, endpoint: str, v2: bool) -> Reply:
        """Count, log and answer a request refused before scoring."""
        self.count_and_log(call, endpoint, exc.status, exc.message)
        body = {"error": exc.message, "field": exc.field} if v2 else exc.to_dict()
        return exc.status, dumps(body)

    def count_and_log(self, call: Call, endpoint: str, status: int, error: str) -> None:
        """Count an error answer in the metrics and write its prediction-log line."""
        state = self.state
        state.metrics.rejected(endpoint, status, state.bundle.version)
        if state.log is not None:
            state.log.write(
                [
                    dumps_line(
                        log_record(
                            state.bundle,
                            call.request_id,
                            endpoint,
                            status,
                            (time.perf_counter() - call.t0) * 1000.0,
                            None,
                            None,
                            error,
                        )
                    )
                ]
            )
