"""`gitml monitor`: the command-line skin over `gitml.monitor.core`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitml.errors import GitmlError, user_errors

if TYPE_CHECKING:
    from gitml.contract import InputContract
    from gitml.policy import Outputs

log = logging.getLogger(__name__)


def monitor_command(
    stage: str | None = typer.Option(None, "--stage", help="Reference: the version in this stage."),
    version: str | None = typer.Option(None, "--version", help="Reference: this version (v1.2.3)."),
    profile: Path | None = typer.Option(
        None, "--profile", help="Reference: a profile file (data/profile.json) instead."
    ),
    current: str | None = typer.Option(
        None,
        "--current",
        help="The batch (.csv or .parquet); with --engine dask a Parquet dataset (a directory, "
        "a glob or s3://bucket/prefix).",
    ),
    prediction_log: Path | None = typer.Option(
        None, "--log", help="The serving prediction log (JSON Lines) instead of a batch."
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        help="Labels for decay against the recorded metrics: a column of the batch, or a file "
        "(.csv/.parquet/.jsonl) joined to the log by request_id and row.",
    ),
    label_column: str | None = typer.Option(
        None,
        "--label-column",
        help="With --labels FILE: its label column (default: the data contract's target).",
    ),
    fmt: str = typer.Option("md", "--format", help="Report format: md, html or json."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the report here."),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit 1 on dataset drift, prediction drift or decay."
    ),
    score_profile: Path | None = typer.Option(
        None, "--score-profile", help="With --profile: the score profile (default: beside it)."
    ),
    params: Path | None = typer.Option(
        None, "--params", help="With --profile: params.yaml, for the data contract."
    ),
    metrics: Path | None = typer.Option(
        None, "--metrics", help="With --profile: recorded metrics (reports/metrics.json)."
    ),
    score_column: str | None = typer.Option(
        None, "--score-column", help="The batch's score column (default: monitor.prediction)."
    ),
    importance: Path | None = typer.Option(
        None,
        "--importance",
        help="With --profile: permutation importance (reports/importance.json), for "
        "monitor.critical_top_features.",
    ),
    root: Path = typer.Option(
        Path("."), "--root", help="The project root (conf/, its git repository)."
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (one process) or dask (each partition of --current on a Dask worker, the "
        "summaries merged: the same statistics and decisions).",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="With --engine dask: the scheduler's address (default: a local cluster, one worker "
        "process per core).",
    ),
) -> None:
    """Compare a production batch with a version's training profile: drift, quality, decay.

    Exit 0 when nothing is wrong (or without --fail-on-drift), 1 on drift with --fail-on-drift or
    on undeclared columns with monitor.quality.undeclared: fail, 2 on an error.
    """
    with user_errors():
        if engine not in ("local", "dask"):
            raise GitmlError(f"Unknown engine '{engine}'.", "Use --engine local or dask.")
        if scheduler is not None and engine != "dask":
            raise GitmlError("--scheduler goes with --engine dask.", "Add --engine dask.")
        code = run(
            stage=stage,
            version=version,
            profile=profile,
            current=Path(current) if current is not None and engine == "local" else None,
            dataset=current if engine == "dask" else None,
            scheduler=scheduler,
            prediction_log=prediction_log,
            labels=labels,
            label_column=label_column,
            fmt=fmt,
            output=output,
            fail_on_drift=fail_on_drift,
            score_profile=score_profile,
            params=params,
            metrics=metrics,
            score_column=score_column,
            importance=importance,
            root=root,
        )
    raise typer.Exit(code)


def run(
    *,
    stage: str | None,
    version: str | None,
    profile: Path | None,
    current: Path | None,
    prediction_log: Path | None,
    labels: str | None,
    fmt: str,
    output: Path | None,
    fail_on_drift: bool,
    score_profile: Path | None = None,
    params: Path | None = None,
    metrics: Path | None = None,
    score_column: str | None = None,
    importance: Path | None = None,
    root: Path = Path("."),
    label_column: str | None = None,
    dataset: str | None = None,
    scheduler: str | None = None,
) -> int:
    """Run one monitoring pass and write the report; return the exit code.

    `dataset` (instead of `current`) monitors a Parquet dataset on a Dask cluster (`scheduler`,
    or a local one)."""
    from gitml.contract import InputContract
    from gitml.fileio import write_text
    from gitml.monitor import reference as refs
    from gitml.monitor.core import PREDICTION, Inputs, Monitor
    from gitml.monitor.io import BatchSource, read_labels
    from gitml.monitor.labels import REQUEST_ID, ROW
    from gitml.monitor.render import FORMATS, render
    from gitml.policy import load_policy_if_present

    if sum(x is not None for x in (stage, version, profile)) != 1:
        raise GitmlError(
            "Give exactly one reference: --stage, --version or --profile.",
            "e.g. `gitml monitor --stage production --current batch.parquet`.",
        )
    if dataset is not None and (prediction_log is not None or current is not None):
        raise GitmlError(
            "--engine dask monitors a Parquet dataset given with --current, not a log.",
            "Drop --engine dask to monitor the prediction log.",
        )
    if (current is None and dataset is None) == (prediction_log is None):
        raise GitmlError(
            "Give exactly one batch: --current PATH or --log PREDICTION_LOG.",
            "e.g. `gitml monitor --stage production --current batch.parquet`.",
        )
    if fmt not in FORMATS:
        raise GitmlError(f"Unknown format '{fmt}'.", f"Use one of: {', '.join(FORMATS)}.")
    conf = load_policy_if_present(root)
    policy = conf.monitor
    if profile is not None:
        if metrics is None and labels:
            default = root / conf.outputs.metrics
            metrics = default if default.is_file() else None
        if importance is None:
            importance = _workspace_importance(root, profile, conf.outputs)
        signature = root / conf.outputs.signature if labels else None
        signature = signature if signature is not None and signature.is_file() else None
        reference = refs.from_files(
            profile, score_profile, params, metrics, importance, signature=signature
        )
    else:
        reference = refs.from_registry(root, stage, version)
    join = None
    if labels is not None and is_labels_file(labels) and dataset is not None:
        raise GitmlError(
            "--engine dask takes --labels as a column of the dataset, not a file to join.",
            "Join the labels into the dataset first, or drop --engine dask.",
        )
    if labels is not None and is_labels_file(labels):
        target = label_column or (reference.data.target if reference.data is not None else None)
        join = read_labels(Path(labels), target)
        labels = join.column
    elif label_column is not None:
        raise GitmlError(
            "--label-column goes with --labels FILE.",
            "e.g. `--labels labels.csv --label-column default`.",
        )
    inputs = Inputs(
        profile=reference.profile,
        policy=policy,
        score_profile=reference.score_profile,
        data=reference.data,
        labels=labels,
        score_column=score_column,
        recorded_metrics=reference.metrics,
        importance=reference.importance,
        threshold=reference.threshold,
        positive_class=reference.positive_class,
        label_join=join,
    )
    monitor = Monitor(inputs)
    batch_path = current if current is not None else prediction_log
    columns = monitor.profile["columns"]
    kinds = {name: str(col.get("kind")) for name, col in columns.items()}
    if reference.data is not None:
        kinds.update(
            {
                c.name: ("numeric" if c.is_numeric else "categorical")
                for c in reference.data.columns
                if c.name not in kinds and c.dtype != "datetime"
            }
        )
    reader = dict(
        kinds=kinds,
        extra=tuple(
            x
            for x in (
                monitor.score_name,
                labels,
                PREDICTION if labels else None,  # multiclass decay judges the predicted class
                *((REQUEST_ID, ROW) if join else ()),
            )
            if x
        ),
        chunk_rows=policy.chunk_rows,
        inputs_field=policy.log_inputs_field,
        score_field=policy.log_score_field,
        score_column=monitor.score_name,
        contract=InputContract.from_read_options(reference.data.source, reference.data.read_options)
        if reference.data is not None
        else _workspace_format(root / conf.outputs.signature if profile is not None else None),
        log=prediction_log is not None,
    )
    log_summary = None
    if dataset is not None:
        _consume_dataset(monitor, dataset, reader, scheduler)
    else:
        assert batch_path is not None
        source = BatchSource(batch_path, **reader)  # type: ignore[arg-type]
        _consume(monitor, source)
        monitor.see_columns(source.columns)
        log_summary = source.log_summary
    result = monitor.result()
    if log_summary:
        result["log"] = log_summary
    text = render(result, fmt, reference=reference.label, current=str(dataset or batch_path))
    if output is not None:
        write_text(output, text)
    else:
        sys.stdout.write(text)
    from gitml.monitor.render import verdict

    sys.stderr.write(
        f"monitor: {verdict(result)} ({result['n_drifted']}/{result['n_columns']} columns drifted"
        f"{', report in ' + str(output) if output else ''})\n"
    )
    failing = result["dataset_drift"] or result["prediction_drift"] or result["decay"]
    return 1 if (fail_on_drift and failing) or result["quality"]["undeclared_failed"] else 0


def is_labels_file(value: str) -> bool:
    """Whether `--labels` names a file (a path or a known suffix) rather than a column."""
    return (
        "/" in value
        or Path(value).suffix.lower() in (".csv", ".parquet", ".pq", ".jsonl", ".ndjson", ".txt")
        or Path(value).is_file()
    )


def _consume(monitor: object, source: object) -> None:
    """Feed the batch to the monitor, with a progress bar on an interactive terminal."""
    from gitml.malloc import keep_freed_memory
    from gitml.monitor.core import Monitor
    from gitml.monitor.io import BatchSource

    assert isinstance(monitor, Monitor) and isinstance(source, BatchSource)
    keep_freed_memory()  # chunk after chunk: reuse the freed pages (gitml.malloc)
    if not sys.stderr.isatty():
        for chunk in source:
            monitor.update(chunk)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("monitor"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=source.total_rows)
        for chunk in source:
            monitor.update(chunk)
            bar.advance(task, len(chunk))


def _consume_dataset(
    monitor: object, dataset: str, reader: dict[str, object], scheduler: str | None
) -> None:
    """Monitor the dataset's partitions on Dask workers, with a bar over the partitions."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gitml.monitor.core import Monitor
    from gitml.monitor.partitions import monitor_dataset

    assert isinstance(monitor, Monitor)
    with Progress(
        TextColumn("monitor partitions"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("partitions", total=None)
        monitor_dataset(
            monitor,
            dataset,
            reader,
            scheduler=scheduler,
            on_partitions=lambda n: bar.update(task, total=n),
            on_done=lambda _i, _part: bar.advance(task),
        )


def _workspace_format(signature: Path | None) -> InputContract | None:
    """Without params (no data contract): the CSV format of the workspace model's input contract
    (models/signature.json), so a batch in the training file's format (`;`, decimal commas)
    reads; None without a readable signature."""
    import dataclasses
    import json

    from gitml.contract import InputContract

    if signature is None or not signature.is_file():
        return None
    try:
        raw = json.loads(signature.read_text(encoding="utf-8")).get("input_contract")
        stored = InputContract.from_dict(raw if isinstance(raw, dict) else None)
    except (ValueError, TypeError, AttributeError):
        return None
    fields = {f.name for f in dataclasses.fields(InputContract)}
    return InputContract(**{k: v for k, v in stored.format_options().items() if k in fields})


def _workspace_importance(root: Path, profile: Path, outputs: Outputs) -> Path | None:
    """The workspace's importance file when `profile` is the workspace's own profile."""
    if profile.resolve() != (root / outputs.profile).resolve():
        return None
    found = root / outputs.importance
    return found if found.is_file() else None
