"""`gitml data init`: infer conf/data/<name>.yaml from a data file, then track both with DVC/git."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import typer
import yaml

from gitml.config import DataConfig
from gitml.data.infer import Inference, infer_config, na_values, render_yaml
from gitml.data.scan import file_format, scan, sniff_separator
from gitml.dvc import Dvc
from gitml.errors import GitmlError, user_errors
from gitml.fileio import write_text
from gitml.git import Git

log = logging.getLogger(__name__)

TASK_CHOICES = ("auto", "binary", "multiclass", "regression")


def config_name(raw: str) -> str:
    """A Hydra option name from a file stem: lower case, [a-z0-9_], not starting with a digit."""
    name = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    if not name:
        name = "data"
    if name[0].isdigit():
        name = f"data_{name}"
    return name


def build(
    data_path: Path, rel_path: str, target: str, name: str, task: str = "auto"
) -> tuple[Inference, str]:
    """Scan the file and infer its data config; returns the inference and the YAML text."""
    if task not in TASK_CHOICES:
        raise GitmlError(f"--task is '{task}'.", f"Use one of: {', '.join(TASK_CHOICES)}.")
    fmt = file_format(data_path)
    options: dict[str, Any] = {}
    if fmt == "csv":
        sep = sniff_separator(data_path)
        if sep != ",":
            options["sep"] = sep
    stats = scan(data_path, fmt, options, target=target)
    read_options: dict[str, Any] = {}
    if fmt == "csv":
        read_options = {**options, "skipinitialspace": True}
        markers = na_values(stats)
        if markers:
            read_options["na_values"] = markers
    inference = infer_config(stats, target, name, fmt, rel_path, read_options, task)
    command = f"gitml data init {rel_path} --target {target}"
    text = render_yaml(inference, command)
    check(text, inference.task)
    return inference, text


def check(text: str, task: str) -> None:
    """The produced YAML must load with the pipeline's own loader (DataConfig.parse)."""
    try:
        DataConfig.parse(yaml.safe_load(text))
    except GitmlError as error:
        if task != "regression":
            raise
        log.warning("the pipeline does not accept this config yet: %s", error.render())


def _track(root: Path, data_path: Path, config_path: Path) -> None:
    """`dvc add` the data file, then `git add` its .dvc file, its .gitignore and the config."""
    how = (
        "Run gitml data init from the root of a git + DVC repository (`git init`, `dvc init`), "
        "with the data file under data/external/."
    )
    Dvc(root).add(str(data_path.relative_to(root)), how_to_fix=how)
    paths = [data_path.with_name(data_path.name + ".dvc"), config_path]
    ignore = data_path.with_name(".gitignore")
    paths += [ignore] if ignore.exists() else []
    Git(root).run("add", "--", *(str(p.relative_to(root)) for p in paths))


def _locate(root: Path, path: Path) -> tuple[Path, str]:
    """The data file's absolute path and its path relative to the repository root."""
    data_path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not data_path.is_file():
        raise GitmlError(f"The data file '{path}' does not exist.", "Check the path.")
    try:
        rel = data_path.relative_to(root).as_posix()
    except ValueError as exc:
        raise GitmlError(
            f"The data file '{path}' is outside the repository {root}.",
            "Move or copy it under data/external/ in the repository, then run this again.",
        ) from exc
    return data_path, rel


def init(
    root: Path, path: Path, target: str, name: str | None, task: str, force: bool
) -> tuple[Inference, Path]:
    """Infer, write conf/data/<name>.yaml and track the file and the config; nothing on failure."""
    root = root.resolve()
    data_path, rel = _locate(root, path)
    name = config_name(name or data_path.stem)
    config_path = root / "conf" / "data" / f"{name}.yaml"
    if config_path.exists() and not force:
        raise GitmlError(
            f"{config_path.relative_to(root)} exists already.",
            "Pass --force to overwrite it, or --name to write another config.",
        )
    inference, text = build(data_path, rel, target, name, task)
    previous = config_path.read_bytes() if config_path.exists() else None
    write_text(config_path, text)
    try:
        _track(root, data_path, config_path)
    except GitmlError:
        if previous is None:
            config_path.unlink()
        else:
            config_path.write_bytes(previous)
        raise
    return inference, config_path


def init_command(
    path: Path = typer.Argument(..., help="The data file (.csv or .parquet) inside the repo."),
    target: str = typer.Option(..., "--target", help="The column to predict."),
    name: str | None = typer.Option(
        None, "--name", help="Config name (conf/data/<name>.yaml); default: the file's stem."
    ),
    task: str = typer.Option(
        "auto", "--task", help="auto, binary, multiclass or regression (auto: from the target)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config."),
    root: Path = typer.Option(Path("."), "--root", help="The project repository."),
) -> None:
    """Infer conf/data/<name>.yaml from a CSV/Parquet file, `dvc add` it and `git add` both."""
    with user_errors():
        inference, config_path = init(root, path, target, name, task, force)
    for col in inference.columns:
        extra = " (pii)" if col.pii else ""
        extra += f" (candidate sensitive: {col.sensitive})" if col.sensitive else ""
        typer.echo(f"  {col.name:28} {col.dtype:9} {col.role}{extra}")
    markers = inference.read_options.get("na_values", [])
    if markers:
        typer.echo(f"missing-value markers: {', '.join(repr(m) for m in markers)}")
    typer.echo(
        f"wrote {config_path} ({inference.task}, target {inference.target}); review it, commit, "
        f"then run:\n  dvc exp run -S data={inference.name}"
    )
