"""The `gitml` command line: a thin skin over the library. Each command's docstring is its --help."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gitml.errors import user_errors

app = typer.Typer(
    name="gitml",
    help="Git-native MLOps: reports, a Git-tag model registry, serving and monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Your data and built-in data: declare a file, generate tables and drift scenarios.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
from gitml.data.cli import init_command  # noqa: E402

data_app.command("init")(init_command)
from gitml.registry.cli import model_app  # noqa: E402

app.add_typer(model_app, name="model")
from gitml.monitor.cli import monitor_command  # noqa: E402

app.command("monitor")(monitor_command)
from gitml.serve.cli import register as register_serve  # noqa: E402

register_serve(app)
from gitml.report.cli import report_command  # noqa: E402

app.command("report")(report_command)
from gitml.site.cli import site_app  # noqa: E402

app.add_typer(site_app, name="site")


@data_app.command("generate")
def data_generate(
    output: Path = typer.Option(..., "-o", "--output", help="Where to write (.csv or .parquet)."),
    scenario: str = typer.Option(
        "none", "--scenario", help="Drift scenario (see `data scenarios`)."
    ),
    rows: int = typer.Option(20_000, "--rows", help="Number of rows."),
    seed: int = typer.Option(42, "--seed", help="Random seed."),
) -> None:
    """Generate a synthetic_credit table, optionally with an injected drift scenario."""
    from gitml.data.synthetic import generate
    from gitml.fileio import atomic_path, write_parquet

    with user_errors():
        frame = generate(rows, seed=seed, scenario=scenario)
        if output.suffix == ".parquet":
            write_parquet(output, frame)
        elif output.suffix == ".csv":
            with atomic_path(output) as tmp:
                frame.to_csv(tmp, index=False)
        else:
            from gitml.errors import GitmlError

            raise GitmlError(f"Cannot tell the format of '{output}'.", "Name it .csv or .parquet.")
    typer.echo(f"wrote {len(frame)} rows ({scenario}) to {output}")


@app.command("retrain")
def retrain_command(
    data: Path = typer.Option(..., "--data", help="A labelled batch (.csv or .parquet)."),
    stage: str = typer.Option("production", "--stage", help="Report against this stage's version."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Report path (Markdown)."),
    root: Path = typer.Option(Path("."), "--root", help="The project repository."),
) -> None:
    """Add a labelled batch, rerun the pipeline as a DVC experiment on the data config of the
    version in the stage, score both models on the same rows, write the report vs that stage."""
    from gitml.retrain import retrain

    with user_errors():
        done = retrain(root, data, stage=stage, report_path=output)
    base = done.base or "HEAD (no version in that stage yet)"
    typer.echo(
        f"stored {done.batch.name} (+{done.rows} rows) for data config {done.data}; "
        f"report against {base}: {done.report}"
    )


@data_app.command("scenarios")
def data_scenarios() -> None:
    """List the drift scenarios and the columns each one changes."""
    from gitml.data.synthetic import SCENARIOS

    for s in SCENARIOS.values():
        cols = ", ".join(s.drifted_columns) or "-"
        typer.echo(f"{s.name:16} {cols:32} {s.description}")


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app()


if __name__ == "__main__":
    main()
