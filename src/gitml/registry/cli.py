"""`gitml model ...`: a thin skin over `gitml.registry`. Each command's docstring is its --help."""

from __future__ import annotations

import copy
import functools
import inspect
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gitml.errors import user_errors

if TYPE_CHECKING:
    from gitml.registry import WriteOptions, Written
_ROOT_ALIAS = "gitml.root_alias"


def _stash_root_alias(ctx: Any, param: Any, value: Path | None) -> None:
    """The hidden `--repo` (the flag's old name): remembered for `--root` to pick up."""
    if value is not None:
        ctx.meta[_ROOT_ALIAS] = value


def _root_or_alias(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    """`--root`, or the hidden `--repo` when only that was given (both: an error)."""
    alias = ctx.meta.get(_ROOT_ALIAS)
    if alias is None:
        return value
    source = ctx.get_parameter_source(param.name or "")
    if source is not None and source.name == "COMMANDLINE":
        raise typer.BadParameter("give the repository once: --root (--repo is its old name)")
    return Path(alias)


class _RootAliasGroup(typer.core.TyperGroup):
    """`gitml model` commands: every `--root` also answers to a hidden `--repo` (its old name)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command in self.commands.values():
            root = next((p for p in command.params if p.name == "repo"), None)
            if root is None:
                continue
            alias = copy.copy(root)
            alias.name, alias.opts, alias.secondary_opts = "repo_alias", ["--repo"], []
            alias.default, alias.hidden, alias.expose_value = None, True, False  # type: ignore[attr-defined]
            alias.is_eager, alias.callback = True, _stash_root_alias
            command.params.append(alias)


model_app = typer.Typer(
    help="Git-tag model registry (GTO-compatible): register, promote, roll back, audit, get.",
    no_args_is_help=True,
    cls=_RootAliasGroup,
)

_REPO = typer.Option(
    Path("."),
    "--root",
    callback=_root_or_alias,
    help="The project root (its git repository). Same flag as every gitml command.",
)
_ARTIFACT = typer.Option(None, "--artifact", help="Artifact name (default: `artifact` in conf).")
_SIGN = typer.Option(False, "--sign", help="Sign the tag with git's configured GPG/SSH key.")
_NO_PUSH = typer.Option(False, "--no-push", help="Create the tag locally; do not push it.")
_REMOTE = typer.Option(None, "--remote", help="Remote to push to (default: registry.remote).")
_NO_FETCH = typer.Option(False, "--no-fetch", help="Do not fetch the remote's tags first.")
_JSON = typer.Option(False, "--json", help="Print JSON.")


def _options(sign: bool, no_push: bool, remote: str | None, no_fetch: bool) -> Any:
    from gitml.registry import WriteOptions

    return WriteOptions(sign=sign, push=not no_push, remote=remote, fetch=not no_fetch)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[("-" if c is None else str(c)) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(value: Any) -> str | None:
    return f"{value:.4f}" if isinstance(value, int | float) else None


def _gate_table(report: Any) -> str:
    rows = [
        (
            r.gate,
            r.kind,
            _num(r.candidate),
            _num(r.champion),
            r.detail,
            r.result,
        )
        for r in report.results
    ]
    return _table(rows, ("gate", "kind", "candidate", "champion", "detail", "result"))


#: The options every tag-writing command takes, shown in --help before --repo.
_WRITE_PARAMETERS = tuple(
    inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind
    )
    for name, default, kind in (
        ("sign", _SIGN, bool),
        ("no_push", _NO_PUSH, bool),
        ("remote", _REMOTE, str | None),
        ("no_fetch", _NO_FETCH, bool),
    )
)


def _write_command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command that writes one tag.

    The decorated function takes `options` (a `WriteOptions`) instead of the four write options
    (--sign, --no-push, --remote, --no-fetch), which this adds to the command; it returns the
    `Written` tag, which is then reported. Errors a user can hit exit cleanly.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command)
        *own, repo = (p for p in signature.parameters.values() if p.name != "options")
        parameters = [*own, *_WRITE_PARAMETERS, repo]

        @functools.wraps(command)
        def run(
            sign: bool, no_push: bool, remote: str | None, no_fetch: bool, **kwargs: Any
        ) -> None:
            from gitml.registry import WriteOptions

            options = WriteOptions(sign=sign, push=not no_push, remote=remote, fetch=not no_fetch)
            with user_errors():
                written = command(options=options, **kwargs)
            where = "pushed" if written.pushed else "local only"
            typer.echo(f"created tag {written.tag} -> {written.commit[:12]} ({where})")

        run.__signature__ = signature.replace(parameters=parameters, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return model_app.command(name)(run)

    return decorate


@_write_command("register")
def register(
    ref: str = typer.Argument("HEAD", help="Commit to register (default HEAD)."),
    version: str | None = typer.Option(None, "--version", help="Version, e.g. v1.2.0."),
    bump: str | None = typer.Option(None, "--bump", help="major, minor or patch (default patch)."),
    reason: str | None = typer.Option(None, "--reason", help="Why; recorded in the tag."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
    *,
    options: WriteOptions,
) -> Written:
    """Register the artifact at REF as a new version (tag `name@vX.Y.Z`)."""
    from gitml import registry

    return registry.register(
        repo, ref, version=version, bump=bump, artifact=artifact, reason=reason, options=options
    )


@_write_command("promote")
def promote(
    version: str = typer.Argument(..., help="Registered version, e.g. v1.2.0."),
    to: str = typer.Option(..., "--to", help="Target stage (from registry.stages)."),
    reason: str | None = typer.Option(None, "--reason", help="Why; recorded in the tag."),
    force: bool = typer.Option(False, "--force", help="Override failed gates (needs --reason)."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
    *,
    options: WriteOptions,
) -> Written:
    """Promote VERSION to a stage if it passes the gates against the stage's current holder.

    Prints the comparison table. Exit code 1 when a gate fails (no tag is created).
    """
    from gitml import registry

    try:
        written = registry.promote(
            repo, version, to, reason=reason, force=force, artifact=artifact, options=options
        )
    except registry.GateFailed as failed:
        typer.echo(_gate_table(failed.report))
        raise
    if written.gates is not None:
        typer.echo(_gate_table(written.gates))
    if force and written.gates is not None and not written.gates.passed:
        typer.echo("gates failed but were overridden with --force; the reason is in the tag")
    return written


@_write_command("rollback")
def rollback(
    stage: str = typer.Argument(..., help="Stage to roll back, e.g. production."),
    to: str | None = typer.Option(None, "--to", help="Version to restore (default: previous)."),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the tag."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
    *,
    options: WriteOptions,
) -> Written:
    """Give STAGE back to its previous holder (or --to VERSION), recording rollback_of."""
    from gitml import registry

    written = registry.rollback(
        repo, stage, reason=reason, to=to, artifact=artifact, options=options
    )
    typer.echo(f"{stage}: {written.champion or '(empty)'} -> {written.version}")
    return written


@_write_command("unassign")
def unassign(
    stage: str = typer.Argument(..., help="Stage to empty."),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the tag."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
    *,
    options: WriteOptions,
) -> Written:
    """Empty STAGE (tag `name#stage!#N`); no older version takes its place."""
    from gitml import registry

    return registry.unassign(repo, stage, reason=reason, artifact=artifact, options=options)


@_write_command("deregister")
def deregister(
    version: str = typer.Argument(..., help="Version to withdraw."),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the tag."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
    *,
    options: WriteOptions,
) -> Written:
    """Withdraw VERSION (tag `name@vX.Y.Z!#N`); a stage it holds becomes empty."""
    from gitml import registry

    return registry.deregister(repo, version, reason=reason, artifact=artifact, options=options)


@model_app.command("show")
def show(
    artifact: str | None = _ARTIFACT,
    as_json: bool = _JSON,
    repo: Path = _REPO,
) -> None:
    """Show who holds each stage and the registered versions."""
    from gitml import registry

    with user_errors():
        data = registry.show(repo, artifact)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    flag = " (deprecated)" if data["deprecated"] else ""
    typer.echo(f"artifact {data['artifact']}{flag}")
    stage_rows = [(s, v, data["trust"].get(s)) for s, v in data["stages"].items()]
    typer.echo(_table(stage_rows, ("stage", "version", "trust")))
    typer.echo("")
    rows = [
        (
            v["version"],
            v["commit"][:12],
            ", ".join(v["stages"]),
            "active" if v["active"] else "deregistered",
            v["registered_at"],
        )
        for v in data["versions"]
    ]
    typer.echo(_table(rows, ("version", "commit", "stages", "status", "registered")))
    if data["ignored"]:
        typer.echo("")
        typer.echo("ignored by the trust policy (registry.trust in conf/gitml.yaml):")
        for item in data["ignored"]:
            typer.echo(f"  {item['tag']} ({item['stage']}): {item['reason']}")


@model_app.command("history")
def history(
    artifact: str | None = typer.Option(None, "--artifact", help="Only this artifact."),
    fmt: str = typer.Option(
        "table",
        "--format",
        help="table, json or csv (an audit export: actor, verified signer, reason, gate "
        "verdict, forced, commit, timestamp, counted by the trust policy).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    repo: Path = _REPO,
) -> None:
    """Show every registry event, oldest first, with reasons, actors and gate verdicts."""
    from gitml import registry

    fmt = "json" if as_json else fmt
    with user_errors():
        if fmt not in ("table", "json", "csv"):
            from gitml.errors import GitmlError

            raise GitmlError(f"--format is '{fmt}'.", "Use table, json or csv.")
        rows = registry.history(repo, artifact, verify=fmt != "table")
        if fmt != "table":
            typer.echo(registry.export_history(rows, fmt), nl=False)
            return
    table = [
        (
            r["timestamp"],
            r["artifact"],
            r["event"],
            r["version"],
            r["stage"],
            r["counter"],
            r["author"],
            "yes" if r["forced"] else None,
            r["rollback_of"],
            r["reason"] if r["counted"] else f"IGNORED: {r['ignored_reason']}",
        )
        for r in rows
    ]
    typer.echo(
        _table(
            table,
            (
                "time",
                "artifact",
                "event",
                "version",
                "stage",
                "N",
                "author",
                "forced",
                "rollback_of",
                "reason",
            ),
        )
    )


@model_app.command("lineage")
def lineage(
    version: str = typer.Argument(..., help="Registered version."),
    artifact: str | None = _ARTIFACT,
    as_json: bool = _JSON,
    repo: Path = _REPO,
) -> None:
    """Show where VERSION came from: commit, author, params, data hashes, metrics, events."""
    from gitml import registry

    with user_errors():
        data = registry.lineage(repo, version, artifact)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key in (
        "artifact",
        "version",
        "commit",
        "author",
        "date",
        "subject",
        "artifact_path",
        "artifact_md5",
        "params_hash",
        "validation_passed",
    ):
        typer.echo(f"{key:18} {data[key]}")
    for path, md5 in data["data_md5"].items():
        typer.echo(f"{'data':18} {path} {md5}")
    for name, value in data["metrics"].items():
        typer.echo(f"{'metric':18} {name} {value}")
    typer.echo("")
    rows = [(e["timestamp"], e["event"], e["stage"], e["tag"], e["reason"]) for e in data["events"]]
    typer.echo(_table(rows, ("time", "event", "stage", "tag", "reason")))


@model_app.command("card")
def card(
    version: str = typer.Argument(..., help="Registered version."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write here, not stdout."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
) -> None:
    """Print VERSION's model card (committed by the pipeline) with its version filled in."""
    from gitml import registry
    from gitml.fileio import write_text

    with user_errors():
        text = registry.card(repo, version, artifact)
        if output is not None:
            write_text(output, text)
    if output is None:
        typer.echo(text, nl=False)


@model_app.command("doctor")
def doctor(
    require_signed: bool = typer.Option(
        False,
        "--require-signed",
        help="Also require every registry tag to verify (git verify-tag).",
    ),
    as_json: bool = _JSON,
    repo: Path = _REPO,
) -> None:
    """Check the registry's tags; exit code 1 when there are errors.

    Errors include events a protected stage does not count (registry.trust), tags moved after
    they were written, and two versions on one commit. See docs/registry.md.
    """
    from gitml import registry

    with user_errors():
        report = registry.doctor(repo, require_signed=True if require_signed else None)
    if as_json:
        typer.echo(json.dumps([f.to_dict() for f in report.findings], indent=2))
    else:
        for f in report.findings:
            typer.echo(f"{f.severity:8} {f.tag or '-'}: {f.message}")
        typer.echo(
            f"{len(report.errors)} error(s), {len(report.findings) - len(report.errors)} warning(s)"
        )
    if not report.ok:
        sys.exit(1)


@model_app.command("get")
def get(
    ref: str = typer.Argument(..., help="A version (v1.2.0) or a stage (production)."),
    output: Path = typer.Option(..., "-o", "--output", help="File or directory to write."),
    artifact: str | None = _ARTIFACT,
    repo: Path = _REPO,
) -> None:
    """Write the artifact of a version or stage, verified against the md5 in dvc.lock."""
    from gitml import registry

    with user_errors():
        fetched = registry.get(repo, ref, output, artifact=artifact)
    typer.echo(
        f"wrote {fetched.artifact}@{fetched.version} to {fetched.path} (md5 {fetched.md5} ok)"
    )
    if fetched.compiled is not None:
        typer.echo(
            f"wrote its compiled model to {fetched.compiled} (md5 {fetched.compiled_md5}, "
            "matches dvc.lock)"
        )
