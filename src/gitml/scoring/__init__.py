"""Scoring core shared by `gitml serve`, `gitml predict` and `gitml replay` (pure: no IO).

Inputs arrive as MLflow scoring-protocol JSON, CSV, Open Inference Protocol v2 tensors or
DataFrame chunks. All of them become a mapping of column name to values, which `validate`
checks against the model's signature and normalises into one NumPy array per feature: float64
for numeric features (NaN = missing), object for categorical ones (str, or NaN = missing).
Validated columns from many requests can be concatenated (`concat_columns`) and scored with a
single call (`score`), which is what the server's micro-batcher does.

One module per job: `payload` (request bodies and CSV to raw columns), `validation` (raw
columns against the signature), `prediction` (scores), `context` (non-feature columns kept for
the log); `columns` holds what they share.
"""

from gitml.scoring.columns import (
    NO_ROWS,
    Columns,
    InputError,
    concat_columns,
    is_missing,
    n_rows,
    short,
    to_records,
)
from gitml.scoring.context import (
    CONTEXT_ROLES,
    NOT_SENT,
    ContextSpec,
    context_columns,
)
from gitml.scoring.payload import (
    MAX_ELEMENTS,
    MAX_JSON_DEPTH,
    PAYLOAD_KEYS,
    V2_DATATYPES,
    check_json_shape,
    columns_from_csv,
    columns_from_payload,
    columns_from_v2,
    param_flag,
    parse_json,
)
from gitml.scoring.prediction import (
    Scores,
    classified,
    model_classes,
    model_frame,
    predictions_array,
    predictions_list,
    regressed,
    score,
)
from gitml.scoring.validation import (
    Rows,
    validate,
)

__all__ = [
    "CONTEXT_ROLES",
    "MAX_ELEMENTS",
    "MAX_JSON_DEPTH",
    "NOT_SENT",
    "NO_ROWS",
    "PAYLOAD_KEYS",
    "V2_DATATYPES",
    "Columns",
    "ContextSpec",
    "InputError",
    "Rows",
    "Scores",
    "check_json_shape",
    "classified",
    "columns_from_csv",
    "columns_from_payload",
    "columns_from_v2",
    "concat_columns",
    "context_columns",
    "is_missing",
    "model_classes",
    "model_frame",
    "n_rows",
    "param_flag",
    "parse_json",
    "predictions_array",
    "predictions_list",
    "regressed",
    "score",
    "short",
    "to_records",
    "validate",
]
