"""Batch quality: schema failures (merged across chunks), null-rate changes, new categories.

Pure: the caller hands in the per-column results, the accumulators and the schema failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gitml.monitor.accumulators import Accumulator, CategoricalAccumulator

#: Examples kept per (column, check) schema failure.
MAX_EXAMPLES = 3
#: Columns a scored batch or the serving log carries besides the data: never "undeclared".
KNOWN_EXTRAS = ("prediction", "request_id", "row", "model_version")
KNOWN_EXTRA_PREFIXES = ("probability_",)  # `gitml predict` writes one per class
#: A chunk's `attrs` key for the rows that did not carry a column (the serving log: a context
#: column some requests sent, others not), as {column: boolean mask}: not nulls to report.
ABSENT = "gitml_absent"


class SchemaFailures:
    """The schema checks' failures over all chunks, one entry per (column, check)."""

    def __init__(self) -> None:
        self.checked = False
        self.by_check: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, failures: Iterable[Mapping[str, Any]]) -> None:
        """Merge one chunk's failures: counts add up, examples are kept up to `MAX_EXAMPLES`."""
        self.checked = True
        for failure in failures:
            key = (failure["column"], failure["check"])
            seen = self.by_check.get(key)
            if seen is None:
                self.by_check[key] = dict(failure)
                continue
            seen["failures"] += failure["failures"]
            for example in failure["examples"]:
                if example not in seen["examples"] and len(seen["examples"]) < MAX_EXAMPLES:
                    seen["examples"].append(example)

    def merge(self, other: SchemaFailures) -> None:
        """Add another part of the batch's failures (after this part's)."""
        if other.checked:
            self.add({**f, "examples": list(f["examples"])} for f in other.by_check.values())

    def sorted(self) -> list[dict[str, Any]]:
        """The failures by column, then check."""
        return sorted(self.by_check.values(), key=lambda f: (f["column"], f["check"]))


def new_categories(accumulators: Mapping[str, Accumulator]) -> dict[str, dict[str, Any]]:
    """Categories the batch has and the reference lacks, per categorical column, with their share."""
    found: dict[str, dict[str, Any]] = {}
    for name, acc in accumulators.items():
        if isinstance(acc, CategoricalAccumulator):
            ref = acc.reference.get("frequencies", {})
            new = {k: int(v) for k, v in sorted(acc.counts.items()) if k not in ref}
            if new:
                found[name] = {"values": new, "share": sum(new.values()) / max(acc.rows, 1)}
    return found


def undeclared_columns(
    seen: Iterable[str], declared: Iterable[str], extras: Iterable[str] = ()
) -> list[str]:
    """The batch's columns that the data contract does not declare, known extras aside, sorted."""
    known = {*declared, *extras, *KNOWN_EXTRAS}
    return sorted({c for c in seen if c not in known and not c.startswith(KNOWN_EXTRA_PREFIXES)})


def quality(
    columns: Mapping[str, dict[str, Any]],
    accumulators: Mapping[str, Accumulator],
    schema: SchemaFailures,
    null_rate_tolerance: float,
    undeclared: list[str] | None,
    undeclared_policy: str = "warn",
) -> dict[str, Any]:
    """The quality section: it passes without schema failures, null-rate changes, new categories
    and, when `undeclared_policy` is "fail", undeclared columns.

    `undeclared` is None when no data contract is known (nothing to compare with).
    """
    null_changes = {
        name: {"reference": c["reference_null_rate"], "current": c["current_null_rate"]}
        for name, c in columns.items()
        if abs(c["current_null_rate"] - c["reference_null_rate"]) > null_rate_tolerance
    }
    categories = new_categories(accumulators)
    failures = schema.sorted()
    failing_undeclared = undeclared_policy == "fail" and bool(undeclared)
    return {
        "passed": not failures and not null_changes and not categories and not failing_undeclared,
        "schema_checked": schema.checked,
        "schema_failures": failures,
        "null_rate_changes": null_changes,
        "new_categories": categories,
        "undeclared_checked": undeclared is not None,
        "undeclared_columns": undeclared or [],
        "undeclared_policy": undeclared_policy,
        "undeclared_failed": failing_undeclared,
    }
