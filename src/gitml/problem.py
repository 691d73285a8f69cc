"""Which problem a revision's model was trained for: its dataset, target and task.

Two revisions trained for different problems have metrics that say nothing about which model is
better: `gitml report` then gives no improved/regressed verdict (`gitml.report.comparable`), and
the promotion gates do not compare a candidate with such a champion (`gitml.compare`). Pure: it
reads the `data:` section of the params the adapters read at each revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What is compared: the data config's key, and the word a difference is named with.
PROBLEM_KEYS = (("name", "dataset"), ("target", "target"), ("task", "task"))


def data_section(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The `data:` section of a revision's params ({} when there is none)."""
    data = params.get("data") if isinstance(params, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def differences(base: Mapping[str, Any], head: Mapping[str, Any]) -> tuple[str, ...]:
    """How two revisions' problems differ, from their `data:` sections (dataset, target, task).

    A side that does not declare a key is not held against the other: only a difference both
    sides state counts ("dataset differs: iris vs breast_cancer", base first).
    """
    reasons = []
    for key, what in PROBLEM_KEYS:
        a, b = base.get(key), head.get(key)
        if a is not None and b is not None and a != b:
            reasons.append(f"{what} differs: {a} vs {b}")
    return tuple(reasons)


def describe(problem: Mapping[str, Any]) -> str:
    """'dataset iris, target species (multiclass)', leaving out what is not declared."""
    parts = [
        f"{what} {problem.get(key)}"
        for key, what in PROBLEM_KEYS
        if key != "task" and problem.get(key) is not None
    ]
    text = ", ".join(parts) or "an undeclared dataset"
    task = problem.get("task")
    return f"{text} ({task})" if task is not None else text


def record(problem: Mapping[str, Any]) -> dict[str, Any]:
    """The problem as plain data for an audit trail: {dataset, target, task}."""
    return {what: problem.get(key) for key, what in PROBLEM_KEYS}
