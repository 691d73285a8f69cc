"""What the workflows' decisions read from the repository: git through `gitml.git`, DVC through
`gitml.dvc`, versions through the registry, settings through the policy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitml.dvc import Dvc
from gitml.errors import GitmlError
from gitml.git import Git


def read_lock(root: Path, rev: str | None) -> Any:
    """`dvc.lock` parsed at `rev` (None or an all-zero sha, as GitHub sends for a new branch)."""
    if rev is None or not rev.strip("0"):
        return None
    git = Git(Path(root))
    if git.rev_parse(rev) is None:
        raise GitmlError(f"'{rev}' is not a commit in {root}.", "Check out with fetch-depth: 0.")
    return Dvc(Path(root), git).read_yaml("dvc.lock", rev)


def artifact_path(root: Path, artifact: str | None = None) -> str:
    """The artifact's path from the working tree's `dvc.yaml` (name default: the policy's)."""
    from gitml.policy import load_policy

    name = artifact or load_policy(root).artifact
    dvc_yaml = Dvc(Path(root)).read_yaml("dvc.yaml") or {}
    entry = (dvc_yaml.get("artifacts") or {}).get(name)
    if not isinstance(entry, Mapping) or not entry.get("path"):
        raise GitmlError(
            f"The artifact '{name}' is not declared under `artifacts:` in dvc.yaml.",
            "Declare it, or pass --artifact with the declared name.",
        )
    return str(entry["path"])


def gate_check(root: Path, ref: str, artifact: str | None = None) -> tuple[Any, str | None]:
    """Judge the commit `ref` with the promotion gates against the newest registered version.

    Returns (GateReport, the version judged against or None when none is registered yet).
    """
    from gitml import registry
    from gitml.compare import Evidence, evaluate_gates
    from gitml.policy import load_policy

    policy = load_policy(root)
    name = artifact or policy.artifact
    git = Git(Path(root))
    commit = git.rev_parse(ref)
    if commit is None:
        raise GitmlError(f"'{ref}' does not name a commit.", "Pass a branch, tag or commit.")
    art = registry.state(root).artifact(name)
    latest = next((v for v in art.sorted_versions() if v.registered and v.active), None)
    dvc = Dvc(Path(root), git)
    out = policy.outputs
    reports = (out.metrics, out.slices, out.validation)

    def evidence(at: str) -> Evidence:
        snap = dvc.snapshot(name, at, reports=reports, params=policy.registry.params)
        files = snap.files

        def mapping(path: str) -> Mapping[str, Any] | None:
            value = files.get(path)
            return value if isinstance(value, Mapping) else None

        return Evidence(
            metrics=mapping(out.metrics) or {},
            slices=mapping(out.slices),
            validation=mapping(out.validation),
            params=snap.params if isinstance(snap.params, Mapping) else None,
        )

    champion = evidence(latest.commit) if latest is not None else None
    report = evaluate_gates(policy.gates, policy.metrics, evidence(commit), champion)
    return report, latest.version if latest is not None else None


def remote_name(root: Path) -> str | None:
    """The default DVC remote of the repository at `root` (None when none is configured)."""
    return Dvc(Path(root)).default_remote()
