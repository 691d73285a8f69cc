"""The subcommands of `python -m gitml.ci` (each prints `key=value` lines for `$GITHUB_OUTPUT`)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from gitml.ci.core import (
    expand_sweep,
    find_marked_comment,
    model_changed,
    open_prs_with_prefix,
    outputs,
    parse_json_pages,
)
from gitml.ci.project import artifact_path, gate_check, read_lock, remote_name
from gitml.ci.smoke import smoke_test
from gitml.errors import GitmlError, user_errors

log = logging.getLogger(__name__)

app = typer.Typer(
    name="gitml.ci",
    help="Decisions the GitHub workflows make (prints key=value lines for $GITHUB_OUTPUT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_ROOT = typer.Option(Path("."), "--root", help="Project root.")


def _stdin_json() -> list[Any]:
    text = sys.stdin.read()
    try:
        return parse_json_pages(text) if text.strip() else []
    except ValueError as error:
        raise GitmlError(
            f"The input is not a JSON array: {error}.", "Pipe `gh ... --json` output."
        ) from None


@app.command("model-changed")
def model_changed_command(
    base: str = typer.Option(..., "--base", help="Base commit (github.event.before)."),
    head: str = typer.Option("HEAD", "--head", help="Head commit."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Print changed=true when the model's md5 in dvc.lock differs between BASE and HEAD."""
    with user_errors():
        path = artifact_path(root, artifact)
        changed = model_changed(read_lock(root, base), read_lock(root, head), path)
    typer.echo(outputs(changed=changed, path=path), nl=False)


@app.command("gates")
def gates_command(
    ref: str = typer.Argument("HEAD", help="Commit to judge."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Judge REF with the promotion gates against the newest registered version; exit 1 on failure."""
    with user_errors():
        report, against = gate_check(root, ref, artifact)
    who = against or "the floors (no version registered yet)"
    typer.echo(f"gates of {ref} against {who}:", err=True)
    for result in report.results:
        typer.echo(
            f"  {'pass' if result.result == 'ok' else result.result}  {result.gate}: "
            f"{result.detail}",
            err=True,
        )
    typer.echo(outputs(passed=report.passed, against=against or ""), nl=False)
    if not report.passed:
        raise typer.Exit(1)


@app.command("remote")
def remote_command(root: Path = _ROOT) -> None:
    """Print configured=true and the name when the repository has a default DVC remote."""
    name = remote_name(root)
    typer.echo(outputs(configured=name is not None, name=name or ""), nl=False)


@app.command("restore-run-cache")
def restore_run_cache_command(root: Path = _ROOT) -> None:
    """Check out the stages DVC's run-cache holds, pulling their outputs (after `dvc pull
    --run-cache`), so that `dvc repro` reruns none of them; prints restored=<stages>."""
    from gitml.dvc import Dvc

    with user_errors():
        found = Dvc(Path(root)).restore_from_run_cache()
    for name, what in found.items():
        typer.echo(f"  {name}: {what}", err=True)
    restored = [name for name, what in found.items() if what == "restored"]
    typer.echo(outputs(restored=",".join(restored), count=len(restored)), nl=False)


@app.command("marker")
def marker_command(root: Path = _ROOT) -> None:
    """Print the hidden marker of the report comment (`report.marker` in conf/gitml.yaml)."""
    from gitml.policy import load_policy

    with user_errors():
        typer.echo(load_policy(root).report.marker)


@app.command("find-comment")
def find_comment_command(
    marker: str = typer.Option(..., "--marker", help="The hidden marker line."),
    author: str | None = typer.Option(None, "--author", help="Only comments by this login."),
) -> None:
    """Read `gh api .../comments` JSON on stdin; print the id of the marked comment, if any."""
    with user_errors():
        found = find_marked_comment(_stdin_json(), marker, author)
    if found is not None:
        typer.echo(found)


@app.command("open-pr")
def open_pr_command(
    prefix: str = typer.Option(..., "--prefix", help="Head branch prefix, e.g. gitml/retrain/."),
) -> None:
    """Read `gh pr list --json number,headRefName,state` on stdin; print open=true|false."""
    with user_errors():
        found = open_prs_with_prefix(_stdin_json(), prefix)
    number = found[0].get("number", "") if found else ""
    typer.echo(outputs(open=bool(found), number=number), nl=False)


@app.command("sweep-matrix")
def sweep_matrix_command(
    spec: str = typer.Argument(..., help="Overrides, e.g. 'model.max_depth=3,5 seed=1,2'."),
) -> None:
    """Print matrix=<JSON> for `strategy.matrix` from a sweep spec (one entry per run)."""
    with user_errors():
        runs = expand_sweep(spec)
    include = [{"index": i, "overrides": r} for i, r in enumerate(runs)]
    typer.echo(outputs(matrix=json.dumps({"include": include}), count=len(runs)), nl=False)


@app.command("deploy-target")
def deploy_target_command(
    tag: str | None = typer.Option(None, "--tag", help="An assignment tag (name#stage#N)."),
    stage: str | None = typer.Option(None, "--stage", help="Or the stage to deploy."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Resolve what to deploy: the version now holding the tag's (or the given) stage.

    Events the registry's trust policy ignores are listed on stderr; a triggering tag it ignores
    stops the deployment (exit 1).
    """
    from gitml import registry
    from gitml.policy import load_policy
    from gitml.registry.grammar import Action, parse_tag

    with user_errors():
        name = artifact or None
        if tag:
            parsed = parse_tag(tag)
            if parsed is None or parsed.action is not Action.ASSIGN:
                raise GitmlError(
                    f"'{tag}' is not a stage assignment tag.", "Expected name#stage#N."
                )
            name, stage = parsed.artifact, parsed.stage
        if not stage:
            raise GitmlError("Nothing to deploy: pass --tag or --stage.", "See docs/ci.md.")
        name = name or load_policy(root).artifact
        resolution = registry.resolve_stage(root, name, stage)
        for line in resolution.reasons():  # the trust policy's refusals, in the job's log
            log.warning("%s#%s: %s", name, stage, line)
        refused = next((e for e in resolution.ignored if e.tag == tag), None)
        if refused is not None:
            raise GitmlError(
                f"The tag '{tag}' that triggered this deployment does not count for '{stage}' "
                f"under the registry's trust policy: {refused.ignored}. Nothing was deployed.",
                "Promote through gitml (promote.yml or gitml model promote), which writes a tag "
                "the policy accepts; see registry.trust in conf/gitml.yaml and docs/registry.md.",
            )
        holder = resolution.holder
        if holder is None:
            raise GitmlError(
                f"No version of '{name}' holds '{stage}' now.",
                "Promote one first (promote.yml, or gitml model promote).",
            )
    typer.echo(
        outputs(artifact=name, stage=stage, version=holder.version, commit=holder.commit), nl=False
    )


@app.command("verify")
def verify_command(
    version: str = typer.Option(..., "--version", help="The registered version."),
    file: Path = typer.Option(..., "--file", help="The fetched artifact."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Check the fetched file's md5 against dvc.lock at the version and its registration tag."""
    from gitml import registry
    from gitml.fileio import md5_file

    with user_errors():
        info = registry.lineage(root, version, artifact)
        expected = info.get("artifact_md5")
        recorded = [
            e.get("artifact_md5")
            for e in registry.history(root, artifact)
            if e.get("action") == "register" and e.get("version") == info.get("version")
        ]
        actual = md5_file(file)
        if not expected or actual != expected or any(r and r != actual for r in recorded):
            raise GitmlError(
                f"Digest mismatch for {version}: the file has md5 {actual}, dvc.lock at the "
                f"version's commit says {expected}, the registration tag says {recorded}.",
                "The artifact is not the registered one; do not deploy it.",
                exit_code=1,
            )
    typer.echo(outputs(digest=actual), nl=False)


@app.command("smoke")
def smoke_command(
    url: str = typer.Option("http://127.0.0.1:8080", "--url", help="The server's base URL."),
    digest: str | None = typer.Option(None, "--digest", help="Expected model digest (md5)."),
    wait: float = typer.Option(120, "--wait", help="Seconds to wait for /health."),
) -> None:
    """Smoke-test a running `gitml serve`: /health, /metadata digest, one /invocations row."""
    with user_errors():
        result = smoke_test(url, digest, wait)
    typer.echo(f"smoke test passed: {json.dumps(result)}", err=True)
    typer.echo(outputs(version=result["version"], digest=result["digest"]), nl=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m gitml.ci`."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    app(args=list(argv) if argv is not None else None, prog_name="python -m gitml.ci")
