"""`gitml report` as a library: pick the revisions, read them, diff, render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitml import tasks
from gitml.errors import GitmlError
from gitml.intervals import Settings
from gitml.policy import Policy, load_policy
from gitml.report.adapter import SHALLOW_HINT, Project
from gitml.report.comparable import EvalRows, evaluation_rows
from gitml.report.core import (
    Comparison,
    Report,
    Snapshot,
    build_report,
    combine,
    compare_by_problem,
)
from gitml.report.intervals import mark_comparison
from gitml.report.render import (
    TEMPLATE_DIR,
    render_compare_html,
    render_compare_markdown,
    render_html,
    render_json,
    render_markdown,
)

FORMATS = ("md", "html", "json")


@dataclass(frozen=True)
class Rendered:
    """A rendered report and whether it failed its verdict."""

    text: str
    regressed: bool


def resolve_base(project: Project, base: str | None) -> tuple[str | None, list[str]]:
    """The base commit and notes: `base` if given, else merge-base(HEAD, default branch).

    Returns (None, notes) when there is no baseline to compare with (a first model).
    """
    if base is not None:
        return project.resolve(base), []
    if not project.has_head_commit():
        return None, ["no commit yet: nothing to compare with"]
    branch = project.default_branch()
    if branch is None:
        if project.is_shallow():
            raise GitmlError("Cannot find the default branch (main) to compare with.", SHALLOW_HINT)
        return None, ["no default branch (main/master) to compare with: pass --base REV"]
    found = project.merge_base("HEAD", branch)
    if found is None:
        if project.is_shallow():
            raise GitmlError(f"Cannot find the merge-base of HEAD and {branch}.", SHALLOW_HINT)
        raise GitmlError(
            f"HEAD and {branch} share no history, so there is no merge-base to compare with.",
            "Pass the baseline explicitly with --base REV.",
        )
    return found, [f"base is the merge-base of HEAD and {branch}"]


def settings(policy: Policy) -> Settings:
    """The bootstrap settings of the policy's `statistics:` section."""
    s = policy.statistics
    return Settings(resamples=s.resamples, confidence=s.confidence, seed=s.seed)


def build(
    root: Path, base: str | None = None, head: str | None = None, policy: Policy | None = None
) -> Report:
    """Read base and head (None: the workspace) and diff them."""
    project = Project(root)
    project.ensure_repo()
    policy = policy or load_policy(project.root)
    head_sha = project.resolve(head) if head is not None else None
    base_sha, notes = resolve_base(project, base)
    head_snap = project.snapshot(
        head_sha, "workspace" if head_sha is None else (head or "")[:20], policy.outputs
    )
    if head_snap.metrics is None:
        raise GitmlError(
            f"No metrics at {head_snap.label}: {policy.outputs.metrics} does not exist there.",
            "Run the pipeline (`dvc repro` or `make run`) first, or pick another --head.",
        )
    base_snap = None
    if base_sha is not None:
        label = (base or "")[:20] if base else project.short(base_sha)
        if base is None and not project.has_file(base_sha, "dvc.yaml"):
            notes.append(f"{label} has no dvc.yaml: no baseline yet")
        else:
            base_snap = project.snapshot(base_sha, label, policy.outputs)
            if base_snap.metrics is None:
                notes.append(f"{label} has no {policy.outputs.metrics}: no baseline yet")
    skip = (
        policy.outputs.metrics,
        policy.outputs.slices,
        policy.outputs.importance,
        policy.outputs.validation,
        policy.outputs.plots_dir,
        policy.outputs.predictions,
    )
    return build_report(
        base_snap,
        head_snap,
        policy.metrics,
        # The policy's primary metric, or the head's task's own when it does not report it.
        primary_metric=tasks.primary_metric(
            policy.report.primary_metric, tasks.task_of_metrics(head_snap.metrics)
        ),
        top_k=policy.report.top_k_importance,
        skip_outs=skip,
        notes=notes,
        statistics=settings(policy),
        metrics_path=policy.outputs.metrics,
        rows=_eval_rows(project, base_snap, head_snap, policy),
    )


def _eval_rows(
    project: Project, base: Snapshot | None, head: Snapshot, policy: Policy
) -> tuple[EvalRows | None, EvalRows | None] | None:
    """Each side's evaluation rows; counted (score profile) only when they differ."""
    if base is None or base.metrics is None:
        return None
    path = policy.outputs.metrics
    sides = (evaluation_rows(base.lock, path), evaluation_rows(head.lock, path))
    if sides[0] is None or sides[1] is None or sides[0].files == sides[1].files:
        return sides
    counts = [project.test_row_count(s.rev, policy.outputs) for s in (base, head)]
    return (
        EvalRows(sides[0].files, counts[0]),
        EvalRows(sides[1].files, counts[1]),
    )


def compare(root: Path, names: Sequence[str] | None, policy: Policy | None = None) -> Comparison:
    """The multi-experiment table: the named experiments, or all of HEAD's (names None)."""
    project = Project(root)
    project.ensure_repo()
    policy = policy or load_policy(project.root)
    exps = project.experiments(names, policy.outputs.metrics)
    if not exps:
        raise GitmlError(
            f"No experiments found in {project.root}.",
            "Run some with `dvc exp run` (or `make run`), then try again.",
        )

    def primary(metrics: Sequence[Mapping[str, Any]]) -> str:
        task = next((t for m in metrics if (t := tasks.task_of_metrics(m))), None)
        return tasks.primary_metric(policy.report.primary_metric, task)

    tables = compare_by_problem(
        [(e.name, e.rev, e.params, e.metrics) for e in exps], policy.metrics, primary
    )
    found = {
        e.name: project.read_predictions(e.rev or None, policy.outputs.predictions, e.name)
        for e in exps
    }
    records = project.read_tracked_json(
        {e.name: e.rev or None for e in exps}, policy.outputs.seed_noise
    )
    return combine(
        [
            mark_comparison(
                t, found, policy.metrics.get(t.primary_metric), settings(policy), records
            )
            for t in tables
        ]
    )


def render(obj: Report | Comparison, fmt: str, root: Path, policy: Policy) -> str:
    """Render a report or comparison as md, html or json with the project's templates."""
    templates = Path(root) / TEMPLATE_DIR
    if fmt == "json":
        return render_json(obj)
    if isinstance(obj, Report):
        if fmt == "md":
            return render_markdown(
                obj, templates, marker=policy.report.marker, limit=policy.report.max_markdown_chars
            )
        return render_html(obj, templates)
    if fmt == "md":
        return render_compare_markdown(
            obj, templates, marker=policy.report.marker, limit=policy.report.max_markdown_chars
        )
    return render_compare_html(obj, templates)


def report(
    root: Path,
    *,
    base: str | None = None,
    head: str | None = None,
    exps: Sequence[str] = (),
    all_exps: bool = False,
    fmt: str = "md",
) -> Rendered:
    """Build and render in one call (what the CLI runs)."""
    if fmt not in FORMATS:
        raise GitmlError(f"Unknown format '{fmt}'.", f"Use one of: {', '.join(FORMATS)}.")
    if (exps or all_exps) and (base is not None or head is not None):
        raise GitmlError(
            "--exp/--all-exps compare experiments and cannot be combined with --base/--head.",
            "Drop one of them.",
        )
    if exps and all_exps:
        raise GitmlError("--exp and --all-exps cannot be used together.", "Drop one of them.")
    root = Path(root).resolve()
    policy = load_policy(root)
    if exps or all_exps:
        comparison = compare(root, list(exps) or None, policy)
        return Rendered(render(comparison, fmt, root, policy), False)
    built = build(root, base, head, policy)
    return Rendered(render(built, fmt, root, policy), not built.verdict.passed)
