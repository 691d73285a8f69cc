"""Context columns: declared non-feature columns (id, sensitive, time) a request may carry,
kept for the prediction log and never passed to the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitml.scoring.columns import InputError, SparseColumn, is_missing


class _NotSent:
    """A context value a row did not send (its request's other rows did): left out of the log."""

    def __repr__(self) -> str:
        return "NOT_SENT"


#: The value of a context column in a row that did not send it (see `context_columns`).
NOT_SENT: Any = _NotSent()

#: Roles of declared non-feature columns a request may carry and the prediction log keeps.
CONTEXT_ROLES = ("id", "sensitive", "time")


@dataclass(frozen=True)
class ContextSpec:
    """Declared non-feature columns a request may carry besides the features: never passed to
    the model; logged (`logged`), or, flagged `pii: true`, dropped or keyed-hashed (`pii`).

    `pii_features` are features flagged PII (only with `data.allow_pii_features`): scored, but
    redacted in the log like the other PII columns."""

    logged: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    pii_features: tuple[str, ...] = ()

    @classmethod
    def from_columns(cls, columns: Sequence[Mapping[str, Any]]) -> ContextSpec:
        """From declared columns (name, role, pii), as in params.yaml's `data.columns`."""
        logged: list[str] = []
        pii: list[str] = []
        pii_features: list[str] = []
        for col in columns:
            name, role, flagged = str(col["name"]), col.get("role"), bool(col.get("pii"))
            if role == "feature":
                if flagged:
                    pii_features.append(name)
            elif flagged and role != "target":
                pii.append(name)
            elif role in CONTEXT_ROLES:
                logged.append(name)
        return cls(tuple(logged), tuple(pii), tuple(pii_features))

    @property
    def empty(self) -> bool:
        return not (self.logged or self.pii or self.pii_features)


def _context_value(name: str, i: int, value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise InputError(
        f"Context column '{name}' holds a {type(value).__name__} in row {i}; send plain values "
        "(text, numbers, true/false or null).",
        name,
    )


def context_columns(raw: Mapping[str, Any], spec: ContextSpec, rows: int) -> dict[str, list[Any]]:
    """The declared context and PII columns a request carries, as JSON-safe lists (never model
    input). A column of another length than the features is a 400. A row object that lacked a
    column other rows sent holds NOT_SENT there (the log leaves it out; a sent null stays None)."""
    out: dict[str, list[Any]] = {}
    for name in (*spec.logged, *spec.pii):
        if name not in raw:
            continue
        values = raw[name]
        seq = values.tolist() if isinstance(values, pd.Series) else list(values)
        if len(seq) != rows:
            raise InputError(
                f"Context column '{name}' has {len(seq)} values for {rows} rows.", name, 400
            )
        unsent = values.unsent if isinstance(values, SparseColumn) else frozenset()
        out[name] = [
            NOT_SENT if i in unsent else _context_value(name, i, v) for i, v in enumerate(seq)
        ]
    return out
