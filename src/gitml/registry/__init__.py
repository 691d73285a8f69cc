"""Git-tag model registry, GTO-compatible: register, promote through gates, roll back, audit.

The CLI (`gitml model ...`), the server and CI all call these functions; every read goes through
one resolver over the tags from one `git for-each-ref` call. See docs/registry.md.
"""

from __future__ import annotations

from gitml.registry.api import (
    DoctorReport,
    Fetched,
    Finding,
    GateFailed,
    WriteOptions,
    Written,
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
