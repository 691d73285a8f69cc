"""`gitml serve`, `gitml predict` and `gitml replay`: thin commands over gitml.serve."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from gitml.errors import GitmlError, user_errors
from gitml.serve.runtimes import RUNTIME_HELP

log = logging.getLogger(__name__)

STAGE_HELP = "Serve the version this registry stage points to (e.g. production)."
VERSION_HELP = "Serve this registered version (vX.Y.Z)."
MODEL_HELP = "Serve a local skops file (its signature.json next to it); version 'local'."
ENV_SPEC = "GITML_SERVE_SPEC"
RUNTIME_OPTION = typer.Option("auto", "--runtime", help=RUNTIME_HELP)


def _policy(root: Path) -> Any:
    from gitml.policy import load_policy

    return load_policy(root)


def load_bundle(
    root: Path,
    stage: str | None,
    version: str | None,
    model: Path | None,
    runtime: str = "skops",
    load: bool = True,
) -> Any:
    """Load the model chosen by exactly one of --stage, --version, --model, set to score with
    `runtime` (skops, onnx or auto: see gitml.serve.compiled); with `load` False its bytes only
    (see `gitml.serve.bundle.from_bytes`)."""
    from gitml.serve import bundle as b
    from gitml.serve.compiled import check_runtime

    check_runtime(runtime)

    chosen = [x for x in (stage, version, model) if x]
    if len(chosen) != 1:
        raise GitmlError(
            "Choose the model with exactly one of --stage, --version or --model.",
            "For example: --stage production, --version v1.2.0 or --model models/model.skops.",
        )
    policy = _policy(root)
    if model is not None:
        loaded = b.from_file(model, policy.trusted_types, policy.artifact, load=load)
        return b.with_runtime(loaded, runtime, root, policy.outputs)
    return b.from_registry(
        root,
        policy.trusted_types,
        policy.outputs.signature,
        stage=stage,
        version=version,
        artifact=policy.artifact,
        runtime=runtime,
        outputs=policy.outputs,
        load=load,
    )


def _spec_app() -> Any:
    """App factory for `--workers N`: each worker process loads the model itself."""
    import json

    from gitml.serve.app import create_app

    spec = json.loads(os.environ[ENV_SPEC])
    root = Path(spec["root"])
    model = Path(spec["model"]) if spec["model"] else None
    bundle = load_bundle(root, spec["stage"], spec["version"], model, spec["runtime"])
    settings = _policy(root).serve
    from gitml.serve.shutdown import protocol_class

    protocol_class(settings.shutdown_idle_seconds)  # this worker process's connections
    log_path = spec["log"]
    if log_path:  # one log per worker process: appends from several processes never interleave
        p = Path(log_path)
        log_path = str(p.with_name(f"{p.stem}.{os.getpid()}{p.suffix}"))
    web = create_app(bundle, settings, log_path=log_path)
    from gitml.serve.project import configure

    configure(web.state.server, root, _policy(root))
    return web


def register(app: typer.Typer) -> None:
    """Add serve, predict and replay to the `gitml` app."""

    @app.command("serve")
    def serve(
        stage: str | None = typer.Option(None, "--stage", help=STAGE_HELP),
        version: str | None = typer.Option(None, "--version", help=VERSION_HELP),
        model: Path | None = typer.Option(None, "--model", help=MODEL_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
        port: int = typer.Option(8080, "--port", help="TCP port."),
        workers: int = typer.Option(1, "--workers", min=1, help="Server processes."),
        follow_stage: bool = typer.Option(
            False,
            "--follow-stage",
            help="With --stage: poll the registry and swap in a newly promoted model.",
        ),
        log_path: str | None = typer.Option(
            None,
            "--log",
            help="Prediction log path (default: serve.log.path in conf/; '' disables it).",
        ),
        runtime: str = RUNTIME_OPTION,
        root: Path = typer.Option(Path("."), "--root", help="Project root (conf/, the repo)."),
    ) -> None:
        """Serve a model over HTTP: MLflow scoring protocol, Open Inference Protocol v2, metrics.

        Resolves the model (registry stage or version, fetched through DVC and md5-checked
        against dvc.lock, or a local file), loads it with skops trusting only the types in
        conf/gitml.yaml, and refuses to start if any step fails.
        """
        import json

        import uvicorn

        from gitml.serve.app import create_app
        from gitml.serve.shutdown import protocol_class

        with user_errors():
            if follow_stage and not stage:
                raise GitmlError("--follow-stage needs --stage.", "Add --stage production.")
            if follow_stage and workers > 1:
                raise GitmlError("--follow-stage works with one worker.", "Drop --workers.")
            bundle = load_bundle(root, stage, version, model, runtime)
            policy = _policy(root)
            settings = policy.serve
            from gitml.serve.predlog import pii_hasher

            pii_hasher(settings.log.pii, settings.log.pii_key_env)  # refuse early: no key
            path = settings.log.path if log_path is None else log_path
            if path and not Path(path).is_absolute():
                path = str(root / path)
        typer.echo(
            f"serving {bundle.name} {bundle.version} ({bundle.digest}, runtime {bundle.runtime}) "
            f"on http://{host}:{port}",
            err=True,
        )
        if workers > 1:
            os.environ[ENV_SPEC] = json.dumps(
                {
                    "root": str(root.resolve()),
                    "stage": stage,
                    "version": version,
                    "model": str(model.resolve()) if model else None,
                    "log": path,
                    "runtime": runtime,
                }
            )
            uvicorn.run(
                "gitml.serve.cli:_spec_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                access_log=False,
                http=protocol_class(settings.shutdown_idle_seconds),
                timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            )
            return
        reloader = None
        if follow_stage:
            from gitml.registry import resolve
            from gitml.serve.bundle import from_registry

            def reloader() -> Any:
                current = resolve(root, policy.artifact, stage or "")
                if current is None or current.commit == bundle_ref["commit"]:
                    return None
                new = from_registry(
                    root,
                    policy.trusted_types,
                    policy.outputs.signature,
                    stage=stage,
                    artifact=policy.artifact,
                    runtime=runtime,
                    outputs=policy.outputs,
                )
                bundle_ref["commit"] = new.commit
                return new

            bundle_ref = {"commit": bundle.commit}
        web = create_app(bundle, settings, log_path=path or "", reloader=reloader)
        with user_errors():
            from gitml.serve.project import configure

            configure(web.state.server, root, policy)
        uvicorn.run(
            web,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http=protocol_class(settings.shutdown_idle_seconds),
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        )

    @app.command("predict")
    def predict(
        input_arg: str | None = typer.Argument(
            None,
            metavar="INPUT",
            help="CSV or Parquet file to score; with --engine dask a Parquet dataset (a "
            "directory, a glob or s3://bucket/prefix).",
        ),
        output: Path | None = typer.Option(
            None,
            "-o",
            "--output",
            help="Where to write (.csv or .parquet); with --engine dask a directory.",
        ),
        stage: str | None = typer.Option(None, "--stage", help=STAGE_HELP),
        version: str | None = typer.Option(None, "--version", help=VERSION_HELP),
        model: Path | None = typer.Option(None, "--model", help=MODEL_HELP),
        stream: bool = typer.Option(
            False, "--stream", help="Score JSON Lines from stdin to stdout, line by line."
        ),
        chunk_rows: int | None = typer.Option(
            None, "--chunk-rows", min=1, help="Rows per chunk (default: serve.chunk_rows)."
        ),
        progress: bool = typer.Option(
            True, "--progress/--no-progress", help="Show a progress bar on stderr."
        ),
        id_column: str | None = typer.Option(
            None, "--id-column", help="Input column to copy into the output first (a row id)."
        ),
        keep: str | None = typer.Option(
            None,
            "--keep",
            help='Comma-separated input columns to copy into the output ("quote, a name" with a comma).',
        ),
        engine: str = typer.Option(
            "local",
            "--engine",
            help="local (one process) or dask (one task per partition on a Dask cluster).",
        ),
        scheduler: str | None = typer.Option(
            None,
            "--scheduler",
            help="With --engine dask: the scheduler's address (default: a local cluster, one "
            "worker process per core).",
        ),
        explain: bool = typer.Option(
            False,
            "--explain",
            help="Add contrib_<feature> columns (contributions to the log-odds) and contrib_base; "
            "needs pip install 'gitml[explain]'.",
        ),
        runtime: str = RUNTIME_OPTION,
        root: Path = typer.Option(Path("."), "--root", help="Project root (conf/, the repo)."),
    ) -> None:
        """Score a CSV/Parquet file in chunks, or a JSON Lines stream with --stream.

        The output has the --id-column and --keep columns, a `prediction` column, one
        `probability_<class>` column per class and a `model_version` column, in input order; it
        replaces OUTPUT only if every row validated. With --engine dask, INPUT is a Parquet
        dataset and OUTPUT a directory with one part-<i>-<input name>.parquet per input
        partition, in the same row order (docs/scale.md).
        """
        from gitml.serve import batch

        input_path = Path(input_arg) if input_arg is not None else None
        with user_errors():
            if engine not in ("local", "dask"):
                raise GitmlError(f"Unknown engine '{engine}'.", "Use --engine local or dask.")
            if scheduler is not None and engine != "dask":
                raise GitmlError("--scheduler goes with --engine dask.", "Add --engine dask.")
            if engine == "dask" and runtime == "onnx":
                raise GitmlError(
                    "--engine dask scores with the skops model only.",
                    "Drop --runtime onnx (or use the local engine).",
                )
            # The Dask engine ships the model's bytes: its workers load and check them (trusted
            # types, signature), so the client does not import scikit-learn and skops for it.
            bundle = load_bundle(
                root,
                stage,
                version,
                model,
                "skops" if engine == "dask" else runtime,
                load=engine != "dask" or explain,
            )
            settings = _policy(root).serve
            explainer = batch.make_explainer(bundle, root, _policy(root)) if explain else None
            if explainer is not None and stream:
                raise GitmlError("--explain scores files, not --stream.", "Drop one of them.")
            kept = batch.column_list(keep)
            carry = batch.carried_columns(bundle, id_column, kept)
            if stream:
                if engine == "dask":
                    raise GitmlError("--stream scores one process's stdin.", "Drop --engine.")
                if input_path is not None or output is not None:
                    raise GitmlError(
                        "--stream reads stdin and writes stdout.",
                        "Drop INPUT and -o, or drop --stream.",
                    )
                ok, bad = batch.stream(
                    bundle, sys.stdin, sys.stdout, settings.unknown_categories, carry
                )
                if bad:
                    raise GitmlError(
                        f"{bad} of {ok + bad} lines were rejected (see their 'error' lines).",
                        None,
                        exit_code=1,
                    )
                return
            if input_path is None or output is None:
                raise GitmlError(
                    "predict needs INPUT and -o OUTPUT (or --stream).",
                    "For example: gitml predict --model models/model.skops "
                    "data/test.parquet -o predictions.parquet",
                )
            if engine == "dask":
                if explainer is not None:
                    raise GitmlError(
                        "--explain is not available with --engine dask yet.",
                        "Drop one of them (explain a sample with the local engine).",
                    )
                assert input_arg is not None
                rows = _predict_dask(
                    bundle,
                    input_arg,
                    output,
                    chunk_rows or settings.chunk_rows,
                    settings.unknown_categories,
                    carry,
                    _policy(root).trusted_types,
                    scheduler,
                    progress,
                )
                typer.echo(
                    f"scored {rows} rows with {bundle.name} {bundle.version} -> {output}",
                    err=True,
                )
                return
            from gitml.malloc import keep_freed_memory
            from gitml.serve.batcher import limit_threads

            limit_threads(settings.predict_threads)
            keep_freed_memory()  # chunk after chunk: reuse the freed pages (gitml.malloc)
            rows = _predict_with_progress(
                batch,
                bundle,
                input_path,
                output,
                chunk_rows or settings.chunk_rows,
                settings.unknown_categories,
                progress,
                carry,
                explainer,
            )
        typer.echo(
            f"scored {rows} rows with {bundle.name} {bundle.version} (runtime {bundle.runtime}) "
            f"-> {output}",
            err=True,
        )

    @app.command("replay")
    def replay(
        logs: list[Path] = typer.Argument(..., metavar="LOG...", help="Prediction log file(s)."),
        model: list[Path] = typer.Option(
            [], "--model", help="Model file(s) for lines served with --model (matched by md5)."
        ),
        root: Path = typer.Option(Path("."), "--root", help="Project root (conf/, the repo)."),
        atol: float = typer.Option(1e-12, "--atol", help="Tolerance on probabilities."),
    ) -> None:
        """Recompute every logged prediction with the model version named on its line.

        Registry versions are fetched at their commit; lines served with --model are matched to
        the given files by digest. Prints a summary and exits 1 on any mismatch.
        """
        from gitml.serve import bundle as b
        from gitml.serve.replay import local_loader
        from gitml.serve.replay import replay as run_replay

        with user_errors():
            policy = _policy(root)
            models = {}
            for path in model:
                loaded = b.from_file(path, policy.trusted_types, policy.artifact)
                models[loaded.digest] = b.with_runtime(loaded, "auto", root, policy.outputs)
            for path in logs:
                if not path.is_file():
                    raise GitmlError(f"The log '{path}' does not exist.", "Check the path.")

            def registry(version: str, runtime: str) -> Any:
                return b.from_registry(
                    root,
                    policy.trusted_types,
                    policy.outputs.signature,
                    version=version,
                    artifact=policy.artifact,
                    runtime=runtime if runtime in ("skops", "onnx") else "skops",
                    outputs=policy.outputs,
                )

            report = run_replay(logs, local_loader(models, registry), atol=atol)
        for mm in report.mismatches[:20]:
            typer.echo(f"MISMATCH {mm.where} request {mm.request_id}: {mm.reason}")
        if len(report.mismatches) > 20:
            typer.echo(f"... and {len(report.mismatches) - 20} more mismatches")
        share = 100.0 * report.matched / report.replayed if report.replayed else 100.0
        typer.echo(
            f"replayed {report.replayed} predictions from {report.lines} lines: "
            f"{report.matched} matched ({share:.2f}%), {len(report.mismatches)} "
            f"mismatched, {report.skipped} rejected requests skipped"
        )
        if not report.ok:
            raise typer.Exit(1)


def _predict_with_progress(
    batch: Any,
    bundle: Any,
    input_path: Path,
    output: Path,
    chunk_rows: int,
    unknown: str,
    show: bool,
    carry: list[str],
    explainer: Any = None,
) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    if not show:
        return int(
            batch.predict_file(
                bundle, input_path, output, chunk_rows, unknown, carry=carry, explainer=explainer
            )
        )
    total = batch.count_rows(input_path) if input_path.is_file() else None
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=_stderr_console(),
    ) as bar:
        task = bar.add_task(f"scoring {input_path.name}", total=total)
        return int(
            batch.predict_file(
                bundle,
                input_path,
                output,
                chunk_rows,
                unknown,
                progress=lambda n: bar.advance(task, n),
                carry=carry,
                explainer=explainer,
            )
        )


def _predict_dask(
    bundle: Any,
    source: str,
    output: Path,
    chunk_rows: int,
    unknown: str,
    carry: list[str],
    trusted: Any,
    scheduler: str | None,
    show: bool,
) -> int:
    """`gitml predict --engine dask`, with a progress bar over the partitions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from gitml.serve.partitions import predict_dataset

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=_stderr_console(),
        disable=not show,
    ) as bar:
        task = bar.add_task("scoring partitions", total=None)
        return int(
            predict_dataset(
                bundle,
                source,
                output,
                chunk_rows=chunk_rows,
                unknown_categories=unknown,
                carry=carry,
                trusted=trusted,
                scheduler=scheduler,
                on_partitions=lambda n: bar.update(task, total=n),
                on_done=lambda _i, _rows: bar.advance(task),
            )
        )


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
