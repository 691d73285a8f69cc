"""Field validators shared by every section parser of conf/gitml.yaml.

`gitml.policy` validates the whole file; its sections that live with their feature
(`monitor:` in `gitml.monitor.policy`, `serve:` in `gitml.serve.settings`) parse themselves with
the same validators, so every bad value is reported the same way: the key's dotted path, what is
wrong with it, and what to do.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitml.errors import GitmlError

POLICY_PATH = Path("conf") / "gitml.yaml"


class Fields:
    """Validators for one section of conf/gitml.yaml (`section` "" for the top level).

    Every `where` is a key path relative to the section; messages name the full path.
    """

    def __init__(self, section: str = "") -> None:
        self.section = section

    def path(self, where: str) -> str:
        return ".".join(part for part in (self.section, where) if part) or "(top level)"

    def fail(self, where: str, problem: str, hint: str = "") -> GitmlError:
        path = self.path(where)
        return GitmlError(
            f"{POLICY_PATH}: '{path}' {problem}",
            hint or f"Fix '{path}' in {POLICY_PATH} (see the comments in that file).",
        )

    def mapping(self, where: str, value: Any, *, optional: bool = False) -> Mapping[str, Any]:
        """`value` as a mapping; with `optional`, a missing (None) value is an empty one."""
        if value is None and optional:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, not {type(value).__name__}.")
        return value

    def keys(
        self,
        where: str,
        raw: Mapping[str, Any],
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        """Unknown keys fail with the closest known one; missing required keys fail by name."""
        required = set(required)
        known = sorted(set(allowed) | required)
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"Did you mean '{close[0]}'?" if close else f"Allowed: {', '.join(known)}."
                raise self.fail(
                    f"{where}.{key}" if where else str(key), "is not a known key.", hint
                )
        missing = sorted(required - set(raw))
        if missing:
            names = ", ".join(self.path(f"{where}.{m}" if where else m) for m in missing)
            raise GitmlError(
                f"{POLICY_PATH}: missing key(s) {names}.",
                f"Add them to {POLICY_PATH} (see its comments).",
            )

    def number(
        self,
        where: str,
        value: Any,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(where, f"must be a number, not {value!r}.")
        self._in_range(where, value, minimum, maximum)
        return float(value)

    def integer(
        self, where: str, value: Any, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, not {value!r}.")
        self._in_range(where, value, minimum, maximum)
        return value

    def _in_range(
        self, where: str, value: float, minimum: float | None, maximum: float | None
    ) -> None:
        low = -math.inf if minimum is None else minimum
        high = math.inf if maximum is None else maximum
        if low <= value <= high:
            return
        if minimum is not None and maximum is not None:
            raise self.fail(where, f"must lie between {minimum} and {maximum}, not {value}.")
        if minimum is not None:
            raise self.fail(where, f"must be at least {minimum}, not {value}.")
        raise self.fail(where, f"must be at most {maximum}, not {value}.")

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, not {value!r}.")
        return value

    def string(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a non-empty string.")
        return value

    def str_list(self, where: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, "must be a list of strings, such as [a, b].")
        if len(set(value)) != len(value):
            raise self.fail(where, "lists the same name twice.")
        return tuple(value)

    def choice(self, where: str, value: Any, options: Iterable[str]) -> str:
        options = tuple(options)
        if value not in options:
            close = difflib.get_close_matches(str(value), options, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise self.fail(
                where, f"is '{value}', which is not one of: {', '.join(options)}.{hint}"
            )
        return str(value)
