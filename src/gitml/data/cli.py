"""`gitml data init`: infer conf/data/<name>.yaml and its column schema conf/schema/<name>.yaml
from a data file, then track them with DVC/git."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from gitml.dvc import Dvc
from gitml.errors import GitmlError, user_errors
from gitml.fileio import write_text
from gitml.git import Git

if TYPE_CHECKING:
    from gitml.data.infer import Inference

# The scanner, inference and config loader are imported by the functions that use them: every
# `gitml` command imports this module to register `gitml data init`, and pays for what it imports.

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
    from gitml.data.infer import infer_config
    from gitml.data.render import na_values, render_yaml
    from gitml.data.scan import file_format, scan, sniff_decimal, sniff_separator

    if task not in TASK_CHOICES:
        raise GitmlError(f"--task is '{task}'.", f"Use one of: {', '.join(TASK_CHOICES)}.")
    fmt = file_format(data_path)
    options: dict[str, Any] = {}
    if fmt == "csv":
        sep = sniff_separator(data_path)
        if sep != ",":
            options["sep"] = sep
        if sniff_decimal(data_path, sep) == ",":
            options["decimal"] = ","
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
    from gitml.config import DataConfig, data_section

    try:
        DataConfig.parse(data_section(yaml.safe_load(text)))
    except GitmlError as error:
        if task != "regression":
            raise
        log.warning("the pipeline does not accept this config yet: %s", error.render())


def schema_rel(name: str) -> str:
    """Where the column schema of data config `name` goes (its `schema:` key)."""
    return f"conf/schema/{name}.yaml"


def split_schema(text: str, name: str) -> tuple[str, str]:
    """The inferred YAML as the data config (naming its schema file) and that schema file.

    The columns go to their own file, as in the shipped configs: a file dependency of the
    stages in dvc.yaml rather than one `dvc exp show` column per declaration.
    """
    lines = text.splitlines(keepends=True)
    at = lines.index("columns:\n")
    config = "".join(lines[:at]) + (
        "# The column declarations (review them there): a file dependency of the stages.\n"
        f"schema: {schema_rel(name)}\n"
    )
    schema = (
        f"# Columns of the data config conf/data/{name}.yaml (its data.schema), inferred with "
        "it. Review every one: see docs/data.md.\n" + "".join(lines[at:])
    )
    return config, schema


def _track(root: Path, data_path: Path, *configs: Path) -> None:
    """`dvc add` the data file, then `git add` its .dvc file, its .gitignore and the configs."""
    how = (
        "Run gitml data init from the root of a git + DVC repository (`git init`, `dvc init`), "
        "with the data file under data/external/."
    )
    Dvc(root).add(str(data_path.relative_to(root)), how_to_fix=how)
    paths = [data_path.with_name(data_path.name + ".dvc"), *configs]
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
    """Infer, write conf/data/<name>.yaml and its schema, and track the file and both configs;
    nothing on failure."""
    root = root.resolve()
    data_path, rel = _locate(root, path)
    name = config_name(name or data_path.stem)
    config_path = root / "conf" / "data" / f"{name}.yaml"
    schema_path = root / schema_rel(name)
    for existing in (config_path, schema_path):
        if existing.exists() and not force:
            raise GitmlError(
                f"{existing.relative_to(root)} exists already.",
                "Pass --force to overwrite it, or --name to write another config.",
            )
    data_rel = str(data_path.relative_to(root))
    if Git(root).tracks(data_rel):
        raise GitmlError(
            f"{data_rel} is committed to git, so DVC cannot track it (gitml data init runs "
            "`dvc add` on it).",
            f"Untrack it from git, keeping the file: `git rm --cached {data_rel}`, then run "
            "gitml data init again.",
        )
    inference, text = build(data_path, rel, target, name, task)
    previous = {p: p.read_bytes() if p.exists() else None for p in (config_path, schema_path)}
    for target_path, content in zip(
        (config_path, schema_path), split_schema(text, name), strict=True
    ):
        write_text(target_path, content)
    try:
        _track(root, data_path, config_path, schema_path)
    except GitmlError:
        for written, before in previous.items():
            if before is None:
                written.unlink(missing_ok=True)
            else:
                written.write_bytes(before)
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
        f"wrote {config_path} and {schema_rel(inference.name)} ({inference.task}, target "
        f"{inference.target}); review them, commit, then run:\n"
        f"  dvc exp run -S data={inference.name}"
    )
