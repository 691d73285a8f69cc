"""Contracts between conf/, params.yaml, dvc.yaml, stages/ and the CLI."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from typer.main import get_command

from gitml.config import Params
from gitml.data.synthetic import generate
from gitml.schema import coerce
from stages.train import fit

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def composed(overrides: list[str] | None = None) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("config", overrides=overrides or [])
    OmegaConf.resolve(cfg)
    return OmegaConf.to_container(cfg)  # type: ignore[return-value]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_params_yaml_is_the_composition_of_conf() -> None:
    assert yaml.safe_load((ROOT / "params.yaml").read_text()) == composed()


@pytest.mark.parametrize("group", ["data", "model", "split"])
def test_every_group_option_composes_and_validates(group: str) -> None:
    for option in options(group):
        params = Params.parse(composed([f"{group}={option}"]))
        assert getattr(params, group).name == option, "file name == option name == name key"


@pytest.mark.parametrize("option", options("model"))
def test_every_model_option_trains_on_tiny_data(option: str) -> None:
    params = Params.parse(composed([f"model={option}"]))
    frame = coerce(generate(400, seed=1), params.data)
    model = fit(frame, params.data, params.model)
    assert list(model.classes_) == [0, 1]


@pytest.mark.parametrize("option", options("experiment"))
def test_every_experiment_composes_and_trains(option: str) -> None:
    text = (CONF / "experiment" / f"{option}.yaml").read_text()
    assert text.startswith("# @package _global_") and "To run:" in text
    params = Params.parse(composed([f"+experiment={option}"]))
    frame = coerce(generate(400, seed=1), params.data)
    assert list(fit(frame, params.data, params.model).classes_) == [0, 1]


def test_every_dvc_stage_is_a_module_with_main() -> None:
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, stage in dvc["stages"].items():
        assert stage["cmd"].startswith(f"python -m stages.{name} "), name
        module = importlib.import_module(f"stages.{name}")
        assert callable(module.main) and module.__doc__.startswith(f"{name}:")
        assert f"stages/{name}.py" in stage["deps"]


def test_yaml_files_open_with_a_usage_comment() -> None:
    files = [ROOT / "dvc.yaml", *CONF.rglob("*.yaml")]
    for path in files:
        assert path.read_text().startswith("#"), f"{path} has no opening comment"


def test_every_cli_command_has_help_and_is_documented() -> None:
    from gitml.cli import app

    readme = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in (ROOT / "docs").glob("*.md")
    )

    def walk(cmd, prefix: str):
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{prefix} {name}")
        if not getattr(cmd, "commands", None):
            yield prefix, cmd

    for path, cmd in walk(get_command(app), "gitml"):
        assert (cmd.help or "").strip(), f"`{path}` has no help"
        assert path in readme, f"`{path}` is not documented in README.md or docs/"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_command_table_links_to_docs_that_document_each_command() -> None:
    rows = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `gitml")
    ]
    assert len(rows) >= 6
    for row in rows:
        commands = [
            c.split(" ...")[0] for c in re.findall(r"`(gitml [a-z ]+?)(?: --| \.\.\.|`)", row)
        ]
        for target, anchor in re.findall(r"\]\((docs/[\w.]+\.md)(?:#([\w-]+))?\)", row):
            text = (ROOT / target).read_text()
            for command in commands:
                assert command.strip() in text, (
                    f"{target} never mentions `{command}` (README: {row})"
                )
            if anchor:
                headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
                assert anchor in headings, f"{target} has no heading #{anchor}"
