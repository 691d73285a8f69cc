"""Request-body schemas of the scoring routes, built from the served model's signature (pure).

/openapi.json describes the bodies the server accepts for the model it serves: every feature as
a required key of each row with its own type (integers in int64's range, finite numbers, the
training categories, null where the feature is nullable, the input contract's missing-value
markers), the declared context columns as plain values, a CSV body as a pattern (header, then
rows of typed cells) and the OIP v2 tensors one per feature. A body that matches the schema
scores (200); one that does not is refused with a 4xx. Schemathesis checks both directions in
the suite. What JSON Schema cannot say (OIP v2 tensors of equal length) is described for one row
per request; the description says that n rows work the same way. One gap is left on purpose:
float columns have no bounds (a decimal bound at float64's limit cannot agree with a binary
parser), so an integer of more than 308 digits is schema-valid and refused as not finite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gitml.contract import CSV_DEFAULT_MISSING, InputContract
from gitml.modeling import Signature
from gitml.scoring import PAYLOAD_KEYS, V2_DATATYPES, ContextSpec

INT64 = (-(2**63), 2**63 - 1)
#: A plain value of a context column (id, sensitive, time): text, a number, true/false or null.
CONTEXT_VALUE: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
#: Category values a CSV pattern can spell as they are (no quoting, no separators, no blanks).
_PLAIN = re.compile(r"^[A-Za-z0-9_.+/-](?:[A-Za-z0-9_.+/ -]*[A-Za-z0-9_.+/-])?$")
MAX_CSV_ROWS = 20


def _one_of(options: list[dict[str, Any]]) -> dict[str, Any]:
    return options[0] if len(options) == 1 else {"anyOf": options}


def feature_schema(
    spec: Mapping[str, Any], contract: InputContract, unknown_categories: str = "error"
) -> dict[str, Any]:
    """The JSON values `gitml.scoring.validate` accepts for one feature."""
    name, nullable = spec["name"], bool(spec.get("nullable", True))
    markers = sorted(contract.markers(name))
    options: list[dict[str, Any]] = []
    if spec["kind"] == "numeric":
        dtype = spec.get("dtype")
        if dtype == "int64":
            options.append({"type": "integer", "minimum": INT64[0], "maximum": INT64[1]})
        elif dtype == "bool":
            options += [{"type": "boolean"}, {"enum": [0, 1]}]
        elif dtype == "datetime":
            options += [
                {"type": "string", "format": "date-time"},
                {"type": "number"},
            ]
        else:
            # No bounds: a decimal bound near float64's limit cannot match a binary parser (a
            # literal just past it rounds back in); finite is all the validator asks.
            options.append({"type": "number"})
        numeric_markers = sorted(contract.numeric_markers(name))
        if numeric_markers and not nullable:  # a marker number reads as missing: refused
            options = [{"allOf": [o, {"not": {"enum": numeric_markers}}]} for o in options]
    else:
        categories = list(spec.get("categories") or [])
        if categories and unknown_categories == "error":
            values: list[Any] = list(categories)
            # An integer whose text is a category is that category (integer codes).
            values += [int(c) for c in categories if isinstance(c, str) and c.isdigit()]
            options.append({"enum": [v for v in values if v not in markers]})
        else:
            options.append({"type": ["string", "integer"]})
    if nullable:
        options.append({"type": "null"})
        if markers:
            options.append({"enum": markers})
    return _one_of(options)


def record_schema(
    signature: Signature, context: ContextSpec, unknown_categories: str = "error"
) -> dict[str, Any]:
    """One row object: every feature required, context columns optional, other keys ignored."""
    contract = signature.contract
    properties = {
        f["name"]: feature_schema(f, contract, unknown_categories) for f in signature.features
    }
    for name in (*context.logged, *context.pii):
        properties.setdefault(name, CONTEXT_VALUE)
    required = [f["name"] for f in signature.features]
    return {"type": "object", "required": required, "properties": properties}


def invocations_schema(
    signature: Signature, context: ContextSpec, unknown_categories: str = "error"
) -> dict[str, Any]:
    """The JSON body of POST /invocations for this signature (MLflow's scoring protocol)."""
    record = record_schema(signature, context, unknown_categories)
    names = [f["name"] for f in signature.features]
    cells = [record["properties"][n] for n in names]
    rows = {"type": "array", "minItems": 1, "items": record}
    flag = {"type": ["boolean", "null"]}
    return {
        "type": "object",
        "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs "
        "(rows as objects; `instances`/`inputs` also take rows as lists in signature order, "
        'or an object of column lists); optional params (e.g. {"probabilities": true}).',
        "oneOf": [{"required": [key]} for key in PAYLOAD_KEYS],
        "additionalProperties": False,
        "properties": {
            "dataframe_split": {
                "type": "object",
                "required": ["columns", "data"],
                "properties": {
                    "columns": {"const": names},
                    "data": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "array",
                            "prefixItems": cells,
                            "minItems": len(names),
                            "maxItems": len(names),
                        },
                    },
                },
            },
            "dataframe_records": rows,
            "instances": rows,
            "inputs": rows,
            "params": {
                "type": ["object", "null"],
                "properties": {"probabilities": flag, "explain": flag},
            },
        },
    }


def _csv_cell(spec: Mapping[str, Any], contract: InputContract) -> str | None:
    """A regex for one CSV cell of a feature, or None when no plain pattern fits it."""
    nullable = bool(spec.get("nullable", True))
    if spec["kind"] == "numeric":
        dtype = spec.get("dtype")
        if dtype == "int64":
            cell = r"-?[1-9][0-9]{0,8}|0"
        elif dtype in (None, "float64", "float32"):
            cell = r"-?(?:[1-9][0-9]{0,5}|0)(?:\.[0-9]{1,6})?"
        else:
            return None
    else:
        categories = [str(c) for c in spec.get("categories") or []]
        missing = set(CSV_DEFAULT_MISSING) | set(contract.missing_values)
        missing |= set(contract.markers(spec["name"]))
        if not categories or any(not _PLAIN.match(c) or c in missing for c in categories):
            return None
        cell = "|".join(re.escape(c) for c in categories)
    return f"(?:{cell})?" if nullable else f"(?:{cell})"


def csv_schema(signature: Signature) -> dict[str, Any] | None:
    """A CSV body (a header naming the features, then 1-20 rows) as a pattern, or None when a
    feature's values cannot be spelled as plain cells (dates, categories needing quotes)."""
    contract = signature.contract
    if contract.strip_leading_space:
        return None
    names = [f["name"] for f in signature.features]
    cells = [_csv_cell(f, contract) for f in signature.features]
    if any(c is None for c in cells) or not all(_PLAIN.match(n) for n in names):
        return None
    header = ",".join(re.escape(n) for n in names)
    row = ",".join(c for c in cells if c is not None)
    return {
        "type": "string",
        "pattern": f"^{header}(?:\\n{row}){{1,{MAX_CSV_ROWS}}}\\n?$",
        "description": "A header naming the features, then one row per line (shown here for up "
        f"to {MAX_CSV_ROWS} rows; any number works).",
    }


def v2_schema(signature: Signature) -> dict[str, Any]:
    """The JSON body of POST /v2/models/{name}/infer: one input tensor per feature.

    Shown for one row (`shape: [1]`): JSON Schema cannot say that every tensor has the same
    length, so n rows (`shape: [n]`, n values per tensor) are described, not schematised. The
    declared context columns may come as extra tensors; any other name is refused."""
    contract = signature.contract
    tensors: list[dict[str, Any]] = []
    for spec in signature.features:
        tensors.append(
            {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"const": spec["name"]},
                    "shape": {"const": [1]},
                    "datatype": {"enum": sorted(V2_DATATYPES)},
                    "data": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1,
                        "items": feature_schema(spec, contract),
                    },
                },
            }
        )
    return {
        "type": "object",
        "required": ["inputs"],
        "description": "One tensor per feature, `{name, shape: [n], datatype, data}` (shown "
        "here for one row: shape [1], one value per tensor; n rows work the same way).",
        "properties": {
            "id": {"type": ["string", "null"]},
            "parameters": {
                "type": ["object", "null"],
                "properties": {"explain": {"type": ["boolean", "null"]}},
            },
            "inputs": {
                "type": "array",
                "prefixItems": tensors,
                "minItems": len(tensors),
                "maxItems": len(tensors),
            },
            "outputs": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"enum": ["predict", "predict_proba"]}},
                },
            },
        },
    }
