"""Where a monitoring run's reference comes from: a profile file, or a registry stage or version.

For `--stage`/`--version` the registry resolves the version's commit and the files the pipeline
wrote at that commit are read through DVC (the DVC adapter `gitml.dvc`, `dvc.api.open`): the
training profile, the score profile, the recorded metrics, the params (for the data contract) and
the signature (for the decision threshold the train stage chose).
Monitoring never needs the training set itself.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gitml.config import DataConfig, FileReader, Params, files_under, with_schema
from gitml.errors import GitmlError
from gitml.monitor.io import read_json_file

log = logging.getLogger(__name__)


@dataclass
class Reference:
    """The reference side of a run: profiles, data contract and recorded metrics."""

    label: str
    profile: dict[str, Any]
    score_profile: dict[str, Any] | None = None
    data: DataConfig | None = None
    metrics: dict[str, Any] | None = None
    importance: dict[str, Any] | None = None
    threshold: float = 0.5
    positive_class: Any = 1


def _params(
    raw: Any, source: str, read: FileReader, where: str
) -> tuple[DataConfig | None, float, Any]:
    """The data contract and threshold of `raw` params; `read` reads its schema file in `where`."""
    try:
        params = Params.parse(with_schema(raw, read, where))
    except GitmlError as exc:
        log.warning(
            "monitor: %s does not validate (%s); the data contract is not checked.",
            source,
            exc.message,
        )
        return None, 0.5, 1
    # The fixed threshold; a threshold the train stage chose (models/signature.json) replaces it.
    return params.data, params.threshold.value, params.data.positive_class


def chosen_threshold(raw: Any) -> float | None:
    """The decision threshold the train stage chose, from a signature's JSON (None: none)."""
    value = raw.get("threshold") if isinstance(raw, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def from_files(
    profile: Path,
    score_profile: Path | None = None,
    params: Path | None = None,
    metrics: Path | None = None,
    importance: Path | None = None,
    signature: Path | None = None,
) -> Reference:
    """A reference from local files (the profile is required, the rest optional).

    The decision threshold is the one the signature records, else params' fixed one: decay
    judges accuracy and F1 at the threshold the recorded metrics were computed at."""
    ref = Reference(label=str(profile), profile=read_json_file(profile, "reference profile"))
    if score_profile is None and (profile.parent / "score_profile.json").is_file():
        score_profile = profile.parent / "score_profile.json"
    if score_profile is not None:
        ref.score_profile = read_json_file(score_profile, "score profile")
    if params is not None:
        if not params.is_file():
            raise GitmlError(f"The params file '{params}' does not exist.", "Check the path.")
        raw = yaml.safe_load(params.read_text(encoding="utf-8"))
        ref.data, ref.threshold, ref.positive_class = _params(
            raw, str(params), files_under(params.parent), f"'{params.parent}'"
        )
    if metrics is not None:
        ref.metrics = read_json_file(metrics, "metrics file")
    if importance is not None:
        ref.importance = read_json_file(importance, "importance file")
    if signature is not None:
        chosen = chosen_threshold(read_json_file(signature, "signature"))
        ref.threshold = ref.threshold if chosen is None else chosen
    return ref


def _read_at(dvc: Any, path: str, commit: str) -> bytes | None:
    """The bytes of `path` at `commit` through DVC, or None when it cannot be read."""
    with tempfile.TemporaryDirectory(prefix="gitml-monitor-") as tmp:
        target = Path(tmp) / PurePosixPath(path).name
        try:
            dvc.fetch_bytes_to(path, commit, target)
        except GitmlError as exc:
            log.debug("monitor: %s at %s: %s", path, commit[:12], exc.message)
            return None
        return target.read_bytes()


def from_registry(root: Path, stage: str | None, version: str | None) -> Reference:
    """The reference of the version holding `stage`, or of `version`, via the registry and DVC."""
    from gitml.dvc import Dvc
    from gitml.git import Git
    from gitml.policy import load_policy
    from gitml.registry import resolve, state

    policy = load_policy(root)
    artifact = policy.artifact
    if stage is not None:
        found = resolve(root, artifact, stage)
        if found is None:
            raise GitmlError(
                f"No version of '{artifact}' holds stage '{stage}'.",
                "Promote one with `gitml model promote`, or pass --version.",
            )
        label = f"{artifact} {found.version} ({stage})"
    else:
        assert version is not None
        name = version.split("@", 1)[-1]
        found = state(root).artifact(artifact).versions.get(name)
        if found is None or not found.registered:
            raise GitmlError(
                f"Version '{version}' of '{artifact}' is not registered.",
                "See `gitml model show` for the registered versions.",
            )
        label = f"{artifact} {found.version}"
    commit = found.commit
    dvc = Dvc(Path(root).resolve(), Git(Path(root).resolve()))
    outputs = policy.outputs
    raw_profile = _read_at(dvc, outputs.profile, commit)
    if raw_profile is None:
        raise GitmlError(
            f"{label} has no readable reference profile ({outputs.profile} at commit "
            f"{commit[:12]}).",
            "Versions trained before the split stage wrote profiles cannot be monitored; "
            "otherwise make sure it was pushed (`dvc push`) and the DVC remote is reachable.",
        )
    ref = Reference(label=f"{label} @ {commit[:12]}", profile=_loads(raw_profile, outputs.profile))
    score_path = str(PurePosixPath(outputs.profile).parent / "score_profile.json")
    raw_score = _read_at(dvc, score_path, commit)
    if raw_score is not None:
        ref.score_profile = _loads(raw_score, score_path)
    raw_metrics = _read_at(dvc, outputs.metrics, commit)
    if raw_metrics is not None:
        ref.metrics = _loads(raw_metrics, outputs.metrics)
    raw_importance = _read_at(dvc, outputs.importance, commit)
    if raw_importance is not None:
        ref.importance = _loads(raw_importance, outputs.importance)
    raw_params = _read_at(dvc, "params.yaml", commit)
    if raw_params is not None:

        def read(path: str) -> str | None:  # the schema file (data.schema) at the same commit
            data = _read_at(dvc, path, commit)
            return None if data is None else data.decode("utf-8")

        ref.data, ref.threshold, ref.positive_class = _params(
            yaml.safe_load(raw_params),
            f"params.yaml at {commit[:12]}",
            read,
            f"commit {commit[:12]}",
        )
    raw_signature = _read_at(dvc, outputs.signature, commit)
    if raw_signature is not None:
        chosen = chosen_threshold(_loads(raw_signature, outputs.signature))
        ref.threshold = ref.threshold if chosen is None else chosen
    return ref


def _loads(raw: bytes, path: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise GitmlError(
            f"'{path}' is not valid JSON ({exc}).", "Rebuild it (dvc repro)."
        ) from None
    if not isinstance(data, dict):
        raise GitmlError(f"'{path}' is not a JSON object.", "Rebuild it (dvc repro).")
    return data
