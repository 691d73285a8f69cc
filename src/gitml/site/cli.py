"""`gitml site build|serve`: the command-line skin over `gitml.site`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from gitml.errors import user_errors

site_app = typer.Typer(
    help="A static web view of the registry, experiments and production health, from Git.",
    no_args_is_help=True,
)


@site_app.command("build")
def build_command(
    output: Path = typer.Option(
        Path("site"), "-o", "--output", help="Folder to write the site to."
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="The main branch (default: origin/HEAD, main or master)."
    ),
    root: Path = typer.Option(Path("."), "--root", help="The project repository."),
) -> None:
    """Render the site (HTML, CSS, JS; no external request) from the repository's Git data."""
    from gitml.site.render import build_site

    with user_errors():
        built = build_site(root, output, branch=branch)
    typer.echo(f"wrote {len(built.pages)} pages to {built.out}")


@site_app.command("serve")
def serve_command(
    port: int = typer.Option(8000, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Folder to build into (default: a temporary folder)."
    ),
    branch: str | None = typer.Option(None, "--branch", help="The main branch."),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between checks for changed refs."),
    root: Path = typer.Option(Path("."), "--root", help="The project repository."),
) -> None:
    """Preview the site on 127.0.0.1, rebuilding when HEAD or any ref changes (Ctrl-C stops)."""
    from gitml.site.serve import serve

    with user_errors(), tempfile.TemporaryDirectory(prefix="gitml-site-") as tmp:
        out = output or Path(tmp) / "site"
        try:
            serve(
                root,
                out,
                port=port,
                branch=branch,
                poll_seconds=poll,
                on_ready=lambda url: typer.echo(f"serving {url} (Ctrl-C stops)"),
                on_build=lambda built: typer.echo(f"built {len(built.pages)} pages"),
            )
        except KeyboardInterrupt:
            typer.echo("stopped")
