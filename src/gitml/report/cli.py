"""The `gitml report` command: a thin skin over `gitml.report.api`."""

from __future__ import annotations

from pathlib import Path

import typer

from gitml.errors import user_errors


def report_command(
    base: str | None = typer.Option(
        None, "--base", help="Baseline revision (default: merge-base of HEAD and main)."
    ),
    head: str | None = typer.Option(None, "--head", help="Revision to judge (default: workspace)."),
    exp: list[str] | None = typer.Option(
        None, "--exp", help="Compare these experiments (repeat the option)."
    ),
    all_exps: bool = typer.Option(False, "--all-exps", help="Compare all experiments of HEAD."),
    fmt: str = typer.Option("md", "--format", help="md (PR comment), html or json."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write here (default: stdout)."
    ),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression", help="Exit 1 when the verdict is a regression (for CI)."
    ),
    root: Path = typer.Option(Path("."), "--root", help="Project root (default: current folder)."),
) -> None:
    """Compare metrics, params, data, slices, importance and plots between two revisions,
    or tabulate experiments (--exp/--all-exps), as Markdown, HTML or JSON."""
    from gitml.report.api import report

    with user_errors():
        rendered = report(root, base=base, head=head, exps=exp or (), all_exps=all_exps, fmt=fmt)
        if output is None:
            typer.echo(rendered.text, nl=False)
        else:
            _write_atomic(output, rendered.text)
            typer.echo(f"wrote {output}", err=True)
    if fail_on_regression and rendered.regressed:
        raise typer.Exit(1)


def _write_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text via a temp file and rename (`gitml.fileio.write_text`)."""
    from gitml.fileio import write_text

    write_text(path, text)
