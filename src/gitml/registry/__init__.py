"""Git-tag model registry, GTO-compatible: register, promote through gates, roll back, audit.

The CLI (`gitml model ...`), the server and CI all call these functions; every read goes through
one resolver over the tags from one `git for-each-ref` call. See docs/registry.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitml.registry.api import (
        DoctorReport,
        Fetched,
        Finding,
        GateFailed,
        WriteOptions,
        Written,
        card,
        deregister,
        doctor,
        get,
        history,
        lineage,
        promote,
        register,
        resolve,
        rollback,
        show,
        state,
        unassign,
    )
    from gitml.registry.model import Event, RegistryState, Version

__all__ = [
    "DoctorReport",
    "Event",
    "Fetched",
    "Finding",
    "GateFailed",
    "RegistryState",
    "Version",
    "WriteOptions",
    "Written",
    "card",
    "deregister",
    "doctor",
    "get",
    "history",
    "lineage",
    "promote",
    "register",
    "resolve",
    "rollback",
    "show",
    "state",
    "unassign",
]


_MODEL_NAMES = {"Event", "RegistryState", "Version"}


def __getattr__(name: str) -> Any:
    """Import the API on first use, so `gitml --help` and other commands stay fast."""
    if name not in __all__:
        raise AttributeError(f"module 'gitml.registry' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(
        "gitml.registry.model" if name in _MODEL_NAMES else "gitml.registry.api"
    )
    return getattr(module, name)
