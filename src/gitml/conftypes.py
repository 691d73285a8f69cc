"""Shared field types of gitml's typed config, and the one formatter of its validation errors.

params.yaml (`gitml.config`) and every section of conf/gitml.yaml (`gitml.policy`,
`gitml.policy.monitor`, `gitml.policy.serve`) are frozen pydantic dataclasses with `STRICT`
config. `validate` turns a pydantic `ValidationError` into one `GitmlError`: the file, the key's
full dotted path, the bad value and a did-you-mean for unknown keys and bad choices. Nothing here
imports another gitml module but `gitml.errors`.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BeforeValidator,
    ConfigDict,
    Strict,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo

from gitml.errors import GitmlError

T = TypeVar("T")

#: Every config dataclass: unknown keys are errors (the dataclasses themselves are frozen).
STRICT = ConfigDict(extra="forbid")
POLICY_PATH = Path("conf") / "gitml.yaml"


class Invalid(ValueError):
    """A check of a validator failed: `problem` follows the key's path, `hint` says what to do."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.hint = hint


class MissingKeys(ValueError):
    """Keys a file must set, although the dataclass has defaults for them."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)
        super().__init__(f"missing key(s) {', '.join(self.keys)}")


def require(raw: Any, *keys: str) -> Any:
    """Refuse a file mapping that lacks one of `keys` (a before-validator helper)."""
    if isinstance(raw, Mapping):
        missing = [k for k in keys if k not in raw]
        if missing:
            raise MissingKeys(missing)
    return raw


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise Invalid("lists the same name twice.")
    return values


def empty_if_none(value: Any) -> Any:
    """A key the file leaves empty (`quality:` with nothing under it) is an empty mapping."""
    return {} if value is None else value


EmptyIfNone = BeforeValidator(empty_if_none)
Flag = StrictBool
Int = StrictInt
#: A finite number; an int is accepted, a bool or a string is not.
Number = Annotated[float, Strict(), AllowInfNan(False)]
Text = Annotated[str, Strict(), StringConstraints(min_length=1)]
Names = Annotated[tuple[Text, ...], AfterValidator(_unique)]


@dataclass(frozen=True)
class Source:
    """Which file is validated and the default advice for a bad key in it."""

    label: str
    fix: str
    add: str


POLICY = Source(
    str(POLICY_PATH),
    "Fix '{path}' in conf/gitml.yaml (see the comments in that file).",
    "Add them to conf/gitml.yaml (see its comments).",
)
PARAMS = Source(
    "params.yaml",
    "Fix the file under conf/ that sets it (params.yaml is composed from conf/).",
    "Add them to the config under conf/ (see the templates in conf/data/ and conf/model/).",
)


def validate(kind: type[T], raw: Any, source: Source, section: str = "") -> T:
    """`raw` validated as `kind`; any problem becomes one GitmlError naming the key's path."""
    try:
        return TypeAdapter(kind).validate_python(raw)
    except ValidationError as error:
        raise format_error(error, kind, raw, source, section) from None


# --- the formatter ----------------------------------------------------------------------------

_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_KINDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
    "dataclass_type": "a mapping",
    "dataclass_args_type": "a mapping",
    "model_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}


def format_error(
    error: ValidationError, kind: Any, raw: Any, source: Source, section: str = ""
) -> GitmlError:
    """The first (most telling) problem of `error` as the house error message."""
    errors = list(error.errors())
    missing = [e for e in errors if _missing_keys(e) is not None]
    others = [e for e in errors if _missing_keys(e) is None]
    others.sort(key=lambda e: 0 if _is_unknown_key(e) else 1)
    more = len(errors) - 1
    if not others:
        paths = [
            _path(section, [*e["loc"], key], raw) for e in missing for key in _missing_keys(e) or ()
        ]
        return GitmlError(f"{source.label}: missing key(s) {', '.join(paths)}.", source.add)
    first = others[0]
    path = _path(section, first["loc"], raw)
    problem, hint = _describe(first, kind)
    tail = f" ({more} more problem(s) in the file.)" if more else ""
    fix = source.fix.format(path=path)
    return GitmlError(f"{source.label}: '{path}' {problem}{tail}", f"{hint} {fix}".strip())


def _missing_keys(e: Any) -> tuple[str, ...] | None:
    if e["type"] in ("missing", "missing_argument"):
        return ("",)
    exc = (e.get("ctx") or {}).get("error")
    return exc.keys if isinstance(exc, MissingKeys) else None


def _is_unknown_key(e: Any) -> bool:
    return e["type"] in _UNKNOWN or (e["loc"] and e["loc"][-1] == "[key]")


def _path(section: str, loc: Iterable[Any], raw: Any) -> str:
    """The dotted path of `loc`, with list positions of a YAML mapping turned back into keys."""
    out = section
    node = raw
    for item in loc:
        if item in ("[key]", ""):
            continue
        key = item
        if isinstance(item, int) and isinstance(node, Mapping) and item not in node:
            keys = list(node)
            key = keys[item] if 0 <= item < len(keys) else item
        if isinstance(key, int) and not isinstance(node, Mapping):
            out += f"[{key}]"
        else:
            out = f"{out}.{key}" if out else str(key)
        node = _child_value(node, key)
    return out or "(top level)"


def _child_value(node: Any, key: Any) -> Any:
    if isinstance(node, Mapping):
        return node.get(key)
    if isinstance(node, list | tuple) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _describe(e: Any, kind: Any) -> tuple[str, str]:
    """(what is wrong, what to do) for one pydantic error."""
    loc = [x for x in e["loc"] if x != "[key]"]
    value = e["input"]
    kind_at, meta = _walk(kind, loc)
    if _is_unknown_key(e):
        return "is not a known key.", _suggest(str(loc[-1]), _keys(_walk(kind, loc[:-1])[0]))
    etype = e["type"]
    if etype == "literal_error":
        options = _literal_options(kind_at)
        return (
            f"is {value!r}, which is not one of: {', '.join(map(str, options))}.",
            _suggest(str(value), [str(o) for o in options], list_them=False),
        )
    if etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{_bounds(meta, e.get('ctx') or {})}, not {value!r}.", ""
    if etype in ("too_short", "string_too_short"):
        return "must not be empty.", ""
    if etype in ("value_error", "assertion_error"):
        exc = (e.get("ctx") or {}).get("error")
        return str(exc), getattr(exc, "hint", "")
    if etype in _KINDS:
        what = _KINDS[etype]
        if what == "a list" and _item_is_str(kind_at):
            what = "a list of strings, such as [a, b]"
        shown = type(value).__name__ if what == "a mapping" else repr(value)
        return f"must be {what}, not {shown}.", ""
    return f"is invalid: {e['msg']} (got {value!r}).", ""


def _suggest(word: str, options: list[str], list_them: bool = True) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f"Did you mean '{close[0]}'?"
    return f"Allowed: {', '.join(options)}." if options and list_them else ""


def _bounds(meta: list[Any], ctx: Mapping[str, Any]) -> str:
    """Both declared bounds of a number ("must lie between 0.0 and 1.0"), else the broken one."""
    low: Any = None
    high: Any = None
    strict_low = strict_high = False
    for m in [*meta, *(cls(ctx[key]) for key, cls in _CTX_BOUNDS.items() if key in ctx)]:
        if isinstance(m, Ge | Gt) and low is None:
            low, strict_low = (m.ge, False) if isinstance(m, Ge) else (m.gt, True)
        elif isinstance(m, Le | Lt) and high is None:
            high, strict_high = (m.le, False) if isinstance(m, Le) else (m.lt, True)
    if low is not None and high is not None:
        strictly = "strictly " if strict_low and strict_high else ""
        return f"must lie {strictly}between {low} and {high}"
    if low is not None:
        return f"must be {'greater than' if strict_low else 'at least'} {low}"
    return f"must be {'less than' if strict_high else 'at most'} {high}"


_CTX_BOUNDS: dict[str, Any] = {"ge": Ge, "gt": Gt, "le": Le, "lt": Lt}


# --- walking the declared types along an error's location -------------------------------------


def _unwrap(tp: Any, meta: list[Any]) -> Any:
    """`tp` without Annotated (its metadata appended to `meta`) and without `| None`."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp, *extra = get_args(tp)
            for m in extra:
                meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _walk(kind: Any, loc: Iterable[Any]) -> tuple[Any, list[Any]]:
    """The declared type at `loc` inside `kind`, and its constraints (Ge, Le, ...)."""
    meta: list[Any] = []
    tp = _unwrap(kind, meta)
    for item in loc:
        meta = []
        origin = get_origin(tp)
        if is_dataclass(tp) and isinstance(item, str):
            fields: dict[str, FieldInfo] = getattr(tp, "__pydantic_fields__", {})
            if item not in fields:
                return None, []
            meta.extend(fields[item].metadata)
            tp = fields[item].annotation
        elif origin in (dict, Mapping) or (origin is not None and _is_mapping(origin)):
            tp = get_args(tp)[1]
        elif origin in (tuple, list):
            tp = get_args(tp)[0]
        else:
            return None, []
        tp = _unwrap(tp, meta)
    return tp, meta


def _is_mapping(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _keys(tp: Any) -> list[str]:
    if is_dataclass(tp):
        fields: dict[str, FieldInfo] = getattr(tp, "__pydantic_fields__", {})
        return [name for name, info in fields.items() if info.init is not False]
    if get_origin(tp) in (dict, Mapping) or _is_mapping(get_origin(tp)):
        return [str(o) for o in _literal_options(_unwrap(get_args(tp)[0], []))]
    return []


def _literal_options(tp: Any) -> list[Any]:
    if get_origin(tp) is Literal:
        return list(get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return [o for a in get_args(tp) for o in _literal_options(a)]
    return []


def _item_is_str(tp: Any) -> bool:
    args = get_args(tp) if get_origin(tp) in (tuple, list) else ()
    return bool(args) and _unwrap(args[0], []) is str
