"""The workflows' decisions, pure: parsed inputs in, answers out (no subprocesses, no files)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from gitml.errors import GitmlError


def lock_md5(lock: Any, path: str) -> str | None:
    """The md5 that a parsed `dvc.lock` records for the output `path` (None when absent)."""
    stages = lock.get("stages") if isinstance(lock, Mapping) else None
    if not isinstance(stages, Mapping):
        return None
    for stage in stages.values():
        outs = stage.get("outs") if isinstance(stage, Mapping) else None
        for out in outs or ():
            if isinstance(out, Mapping) and out.get("path") == path and out.get("md5"):
                return str(out["md5"])
    return None


def model_changed(base_lock: Any, head_lock: Any, path: str) -> bool:
    """Whether the model's md5 differs between two parsed `dvc.lock` files.

    A head without the model never counts as a change (nothing to register); a base without it
    (the first model, or no base commit) does.
    """
    head = lock_md5(head_lock, path)
    if head is None:
        return False
    return head != lock_md5(base_lock, path)


def parse_json_pages(text: str) -> list[Any]:
    """Items of a JSON array, or of several arrays printed back to back (`gh api --paginate`)."""
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        page, pos = decoder.raw_decode(text, pos)
        if isinstance(page, list):
            # `--slurp` wraps the pages in one more list
            if page and all(isinstance(p, list) for p in page):
                items.extend(itertools.chain.from_iterable(page))
            else:
                items.extend(page)
        else:
            raise ValueError(f"expected a JSON array, got {type(page).__name__}")
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return items


def find_marked_comment(
    comments: Iterable[Mapping[str, Any]], marker: str, author: str | None = None
) -> int | None:
    """The id of the first comment whose body contains `marker` (written by `author`, if given)."""
    for comment in comments:
        body = comment.get("body") or ""
        login = (comment.get("user") or {}).get("login")
        if marker in body and (author is None or login == author):
            return int(comment["id"])
    return None


def open_prs_with_prefix(prs: Iterable[Mapping[str, Any]], prefix: str) -> list[Mapping[str, Any]]:
    """Open pull requests whose head branch starts with `prefix` (`gh pr list --json` rows)."""
    return [
        pr
        for pr in prs
        if str(pr.get("headRefName", "")).startswith(prefix)
        and str(pr.get("state", "OPEN")).upper() == "OPEN"
    ]


_OVERRIDE = re.compile(r"^(?P<key>[+~]{0,2}[A-Za-z_][\w.@/-]*)=(?P<values>[\w.,:@/+-]*)$")


def expand_sweep(spec: str, limit: int = 256) -> list[str]:
    """Expand a sweep spec into one `-S` override set per run (the cartesian product).

    `"model.max_depth=3,5 model=random_forest"` gives `["model.max_depth=3 model=random_forest",
    "model.max_depth=5 model=random_forest"]`. Only plain keys and values are accepted (letters,
    digits and `._-:@/+`), so a value can never smuggle shell syntax into a runner.
    """
    axes: list[list[str]] = []
    for token in spec.split():
        match = _OVERRIDE.match(token)
        if match is None or not match["values"]:
            raise GitmlError(
                f"'{token}' in the sweep spec is not an override like key=value or key=a,b,c.",
                "Write space-separated Hydra overrides, e.g. 'model.max_depth=3,5,8 seed=1,2'.",
            )
        values = [v for v in match["values"].split(",") if v]
        axes.append([f"{match['key']}={v}" for v in values])
    if not axes:
        raise GitmlError("The sweep spec is empty.", "Pass overrides like 'model.max_depth=3,5'.")
    runs = [" ".join(combo) for combo in itertools.product(*axes)]
    if len(runs) > limit:
        raise GitmlError(
            f"The sweep spec expands to {len(runs)} runs, more than GitHub's matrix limit ({limit}).",
            "Split it into several sweeps.",
        )
    return runs


def example_row(signature: Mapping[str, Any]) -> dict[str, Any]:
    """One valid input row for a model signature (`models/signature.json`), for smoke tests."""
    row: dict[str, Any] = {}
    for feature in signature.get("features", []):
        dtype = str(feature.get("dtype", ""))
        categories = feature.get("categories")
        if categories:
            row[feature["name"]] = categories[0]
        elif dtype == "bool":
            row[feature["name"]] = False
        elif dtype.startswith("int"):
            row[feature["name"]] = 1
        elif dtype.startswith("float"):
            row[feature["name"]] = 1.0
        else:
            row[feature["name"]] = "x"
    return row


def outputs(**values: Any) -> str:
    """`key=value` lines for `$GITHUB_OUTPUT` (booleans as true/false)."""
    lines = []
    for key, value in values.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if "\n" in text:
            raise ValueError(f"output {key} spans lines")
        lines.append(f"{key}={text}")
    return "\n".join(lines) + "\n"
