"""What changed besides the metrics: params (with Hydra group choices) and data (dvc.lock, schema)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitml.report.values import MISSING, flatten, fmt


@dataclass(frozen=True)
class ParamChange:
    """One changed param (dotted key), or a Hydra group choice (`model`, from `model.name`)."""

    key: str
    base: Any
    head: Any
    kind: str  # changed | added | removed
    group: bool = False

    @property
    def arrow(self) -> str:
        return f"{fmt(self.base)} → {fmt(self.head)}"


def diff_params(base: Mapping[str, Any] | None, head: Mapping[str, Any]) -> list[ParamChange]:
    """Changed keys only, Hydra group choices first (`model.name` shown as `model`)."""
    old = flatten(base or {})
    new = flatten(head)
    groups: list[ParamChange] = []
    rest: list[ParamChange] = []
    for key in sorted(set(old) | set(new)):
        old_value = old.get(key, MISSING)
        new_value = new.get(key, MISSING)
        if old_value == new_value and type(old_value) is type(new_value):
            continue
        if old_value is MISSING:
            kind = "added"
        else:
            kind = "removed" if new_value is MISSING else "changed"
        change = ParamChange(
            key=key,
            base=None if old_value is MISSING else old_value,
            head=None if new_value is MISSING else new_value,
            kind=kind,
        )
        parts = key.split(".")
        if len(parts) == 2 and parts[1] == "name" and kind == "changed":
            groups.append(ParamChange(parts[0], change.base, change.head, kind, group=True))
        else:
            rest.append(change)
    return groups + rest


@dataclass(frozen=True)
class OutChange:
    """One output recorded in dvc.lock whose content hash differs between the revisions."""

    path: str
    stage: str
    base_hash: str | None
    head_hash: str | None
    base_size: int | None
    head_size: int | None


@dataclass(frozen=True)
class SchemaChange:
    """One column whose presence, dtype or role differs in the validation reports."""

    column: str
    base: str | None  # "dtype/role", None when absent
    head: str | None


@dataclass(frozen=True)
class DataDiff:
    """Dataset hashes, code/input deps, row counts and schema, base against head."""

    outs: list[OutChange]
    deps: list[str]  # dependencies (code, external inputs) whose hash changed
    rows_base: int | None
    rows_head: int | None
    validation_base: bool | None
    validation_head: bool | None
    schema: list[SchemaChange]
    unchanged_outs: int

    @property
    def changed(self) -> bool:
        return bool(self.outs or self.deps or self.schema or self.rows_base != self.rows_head)


def _lock_entries(lock: Mapping[str, Any] | None, kind: str) -> dict[str, tuple[str, Any]]:
    """path -> (stage, entry) for every `outs` or `deps` entry in a dvc.lock mapping."""
    found: dict[str, tuple[str, Any]] = {}
    for stage, body in ((lock or {}).get("stages") or {}).items():
        for entry in (body or {}).get(kind) or []:
            if isinstance(entry, Mapping) and "path" in entry:
                found.setdefault(str(entry["path"]), (str(stage), entry))
    return found


def _hash(entry: Mapping[str, Any] | None) -> str | None:
    if entry is None:
        return None
    for key in ("md5", "etag", "checksum", "hash"):
        value = entry.get(key)
        if isinstance(value, str) and value not in ("md5",):
            return value
    return None


def diff_data(
    base_lock: Mapping[str, Any] | None,
    head_lock: Mapping[str, Any] | None,
    base_validation: Mapping[str, Any] | None,
    head_validation: Mapping[str, Any] | None,
    skip: Sequence[str] = (),
) -> DataDiff:
    """Compare dvc.lock outputs/dependencies and the validation reports.

    Args:
        skip: path prefixes to leave out of the hash table (report files diffed elsewhere).
    """
    old_outs, new_outs = _lock_entries(base_lock, "outs"), _lock_entries(head_lock, "outs")
    outs: list[OutChange] = []
    unchanged = 0
    for path in sorted(set(old_outs) | set(new_outs)):
        if any(path == s or path.startswith(s.rstrip("/") + "/") for s in skip):
            continue
        base_out = old_outs.get(path)
        head_out = new_outs.get(path)
        stage = head_out[0] if head_out else base_out[0] if base_out else ""
        base_entry = base_out[1] if base_out else None
        head_entry = head_out[1] if head_out else None
        base_hash, head_hash = _hash(base_entry), _hash(head_entry)
        if base_hash == head_hash:
            unchanged += 1
            continue
        outs.append(
            OutChange(
                path=path,
                stage=stage,
                base_hash=base_hash,
                head_hash=head_hash,
                base_size=base_entry.get("size") if base_entry else None,
                head_size=head_entry.get("size") if head_entry else None,
            )
        )
    old_deps, new_deps = _lock_entries(base_lock, "deps"), _lock_entries(head_lock, "deps")
    produced = set(old_outs) | set(new_outs)
    deps = sorted(
        path
        for path in set(old_deps) | set(new_deps)
        if path not in produced
        and base_lock is not None
        and _hash(old_deps.get(path, ("", None))[1]) != _hash(new_deps.get(path, ("", None))[1])
    )
    schema: list[SchemaChange] = []
    old_cols = (base_validation or {}).get("columns") or {}
    new_cols = (head_validation or {}).get("columns") or {}
    if base_validation is not None:
        for col in sorted(set(old_cols) | set(new_cols)):
            base_desc = _column(old_cols.get(col))
            head_desc = _column(new_cols.get(col))
            if base_desc != head_desc:
                schema.append(SchemaChange(col, base_desc, head_desc))
    return DataDiff(
        outs=outs,
        deps=deps,
        rows_base=_int_or_none((base_validation or {}).get("rows")),
        rows_head=_int_or_none((head_validation or {}).get("rows")),
        validation_base=(base_validation or {}).get("passed") if base_validation else None,
        validation_head=(head_validation or {}).get("passed") if head_validation else None,
        schema=schema,
        unchanged_outs=unchanged,
    )


def _column(raw: Any) -> str | None:
    if not isinstance(raw, Mapping):
        return None
    return f"{raw.get('dtype', '?')}/{raw.get('role', '?')}"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
