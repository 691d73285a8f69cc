"""Git-tag model registry, GTO-compatible: register, promote through gates, roll back, audit.

The CLI (`gitml model ...`), the server and CI all call these functions; every read goes through
one resolver over the tags from one `git for-each-ref` call. See docs/registry.md.

Modules: `store` (one repository: policy, adapters, tags read once, the tag writer), `reads`,
`writes`, `fetch` (`get`) and `checks` (`doctor`); `grammar` and `model` are the pure tag grammar
and resolver. No module may share a name with a function exported here: once imported, the
module would hide the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitml.registry.checks import DoctorReport, Finding, doctor
    from gitml.registry.fetch import Fetched, get
    from gitml.registry.model import Event, RegistryState, Version
    from gitml.registry.reads import (
        Resolution,
        card,
        export_history,
        history,
        lineage,
        resolve,
        resolve_stage,
        show,
        state,
    )
    from gitml.registry.store import WriteOptions
    from gitml.registry.writes import (
        GateFailed,
        Written,
        deregister,
        promote,
        register,
        rollback,
        unassign,
    )

__all__ = [
    "DoctorReport",
    "Event",
    "Fetched",
    "Finding",
    "GateFailed",
    "RegistryState",
    "Resolution",
    "Version",
    "WriteOptions",
    "Written",
    "card",
    "deregister",
    "doctor",
    "export_history",
    "get",
    "history",
    "lineage",
    "promote",
    "register",
    "resolve",
    "resolve_stage",
    "rollback",
    "show",
    "state",
    "unassign",
]

#: Where each exported name lives (modules are imported on first use).
_HOMES = {
    "checks": ("DoctorReport", "Finding", "doctor"),
    "fetch": ("Fetched", "get"),
    "model": ("Event", "RegistryState", "Version"),
    "reads": (
        "Resolution",
        "card",
        "export_history",
        "history",
        "lineage",
        "resolve",
        "resolve_stage",
        "show",
        "state",
    ),
    "store": ("WriteOptions",),
    "writes": (
        "GateFailed",
        "Written",
        "deregister",
        "promote",
        "register",
        "rollback",
        "unassign",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import the API on first use, so `gitml --help` and other commands stay fast."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'gitml.registry' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"gitml.registry.{_MODULE_OF[name]}"), name)
