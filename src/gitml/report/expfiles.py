"""What `dvc exp show` would list for one experiment commit, read from its committed files.

An experiment commit's dvc.yaml and params.yaml (and the metrics file) come from one
`git cat-file --batch` (`gitml.report.adapter.Project`); this module works out the params and
`cache: false` metrics DVC would show from them, or says (None) that only DVC can answer:
params DVC resolves itself (vars/foreach/matrix, `${...}` outside a stage's
cmd/deps/outs/plots/desc/meta), DVC-tracked or globbed params files, a metrics directory or a
metrics file DVC caches.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitml.dvc import load_yaml

_PARAMS_PARSERS = (".yaml", ".yml", ".json", ".toml")


@dataclass(frozen=True)
class Blob:
    """A git object from `cat-file --batch`: its sha and text (both None when missing)."""

    sha: str | None
    text: str | None

    @property
    def parents(self) -> list[str]:
        """The parent shas, when this is a commit."""
        head = (self.text or "").split("\n\n", 1)[0]
        return [line.split()[1] for line in head.splitlines() if line.startswith("parent ")]


@dataclass(frozen=True)
class ExpFiles:
    """One experiment commit's dvc.yaml and params.yaml, and what DVC would read from them."""

    commit: Blob
    dvc_yaml: Blob
    params_yaml: Blob

    def _stages(self) -> dict[str, Any] | None:
        text = self.dvc_yaml.text
        if text is None:
            return {}
        stages = _parse_dvc_yaml(text)
        if "${" in text and not _templating_is_inert(stages, self.params_yaml.text is not None):
            return None  # vars/foreach/matrix or templated params/metrics: DVC resolves them
        return stages

    def params_files(self) -> list[str | None]:
        """Params files besides params.yaml (None: one DVC must resolve itself)."""
        tracked = self._tracked()
        return [None] if tracked is None else list(tracked)

    def _tracked(self) -> dict[str | None, list[str]] | None:
        """Params files and the keys DVC shows from each ([] = the whole file)."""
        dvc_yaml = self._stages()
        if dvc_yaml is None:
            return None
        entries: list[Any] = []
        for stage in (dvc_yaml.get("stages") or {}).values():
            entries.extend((stage or {}).get("params") or [])
        entries.extend({p: []} for p in dvc_yaml.get("params") or [])
        if self.params_yaml.text is not None:
            entries.append({"params.yaml": []})
        tracked: dict[str | None, list[str]] = {}
        for entry in entries:
            for path, keys in entry.items() if isinstance(entry, dict) else []:
                path = str(path)
                if not path.endswith(_PARAMS_PARSERS) or any(c in path for c in "*?["):
                    return {None: []}
                if tracked.get(path) == [] or not keys:
                    tracked[path] = []
                else:
                    tracked.setdefault(path, []).extend(map(str, keys))
        return tracked

    def params(self, blob: Any) -> dict[str, Any] | None:
        """Params as `dvc exp show` merges them, or None when DVC must resolve them."""
        tracked = self._tracked()
        if tracked is None or None in tracked:
            return None
        merged: dict[str, Any] = {}
        for path, keys in tracked.items():
            text = self.params_yaml.text if path == "params.yaml" else blob(path).text
            if text is None:
                return None  # DVC-tracked or missing: DVC knows which
            try:
                data = _load_params(str(path), text)
            except Exception:  # DVC reports a corrupt params file as an error: no params
                continue
            if keys:
                if any(c in k for k in keys for c in "*?["):
                    return None
                data = _select(data, keys)
            if isinstance(data, dict):
                merged.update(data)
        return merged

    def metrics(self, path: str, blob: Blob | None) -> dict[str, Any] | None:
        """Scalar metrics of `path` if dvc.yaml declares it; None when only DVC can read it."""
        dvc_yaml = self._stages()
        if dvc_yaml is None:
            return None
        declared: list[str] = [str(p) for p in dvc_yaml.get("metrics") or []]
        for stage in (dvc_yaml.get("stages") or {}).values():
            for out in (stage or {}).get("metrics") or []:
                declared.extend(map(str, out) if isinstance(out, dict) else [str(out)])
        if path not in declared:
            if any(path.startswith(d.rstrip("/") + "/") for d in declared):
                return None  # a declared metrics directory
            return {}
        if blob is None or blob.text is None:
            return None  # cached by DVC rather than committed
        try:
            data = _load_params(path, blob.text)
        except Exception:  # DVC shows an error for that file: no metrics
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if not isinstance(v, Mapping)}


_INERT_STAGE_KEYS = frozenset({"cmd", "deps", "outs", "plots", "desc", "meta"})


def _templating_is_inert(dvc_yaml: dict[str, Any] | None, has_params_yaml: bool) -> bool:
    """Whether a dvc.yaml's `${...}` leave what `dvc exp show` lists unchanged.

    True when every `${...}` sits in a stage's cmd, deps, outs, plots, desc or meta (e.g. a
    `${data.schema}` dependency) and nothing defines vars, foreach or matrix: then the
    interpolated values come from params.yaml, which is listed whole anyway, and the stages,
    params and metrics read here are the ones DVC resolves.
    """
    if dvc_yaml is None or not has_params_yaml:
        return False
    if any("${" in json.dumps(v, default=str) for k, v in dvc_yaml.items() if k != "stages"):
        return False
    stages = dvc_yaml.get("stages") or {}
    if not isinstance(stages, dict):
        return False
    for name, stage in stages.items():
        if "${" in str(name) or not isinstance(stage, dict):
            return False
        if {"vars", "foreach", "matrix", "do"} & set(stage):
            return False
        templated = {k for k, v in stage.items() if "${" in json.dumps(v, default=str)}
        if not templated <= _INERT_STAGE_KEYS:
            return False
    return "vars" not in dvc_yaml


@functools.lru_cache(maxsize=64)
def _parse_dvc_yaml(text: str) -> dict[str, Any] | None:
    """A dvc.yaml's content, parsed once per distinct text (experiments mostly share it)."""
    try:
        loaded = load_yaml(text) or {}
    except Exception:  # a broken dvc.yaml: let DVC report it
        return None
    return loaded if isinstance(loaded, dict) else None


def _load_params(path: str, text: str) -> Any:
    if path.endswith(".json"):
        return json.loads(text)
    if path.endswith(".toml"):
        return tomllib.loads(text)
    return load_yaml(text) or {}


def _select(data: Any, keys: Sequence[str]) -> dict[str, Any]:
    """The nested sub-dict holding each dotted key that exists (DVC's `dpath` selection)."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(keys):
        node, parts = data, key.split(".")
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = node
    return out
