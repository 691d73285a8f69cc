"""Contracts between conf/, params.yaml, dvc.yaml, stages/ and the CLI."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from typer.main import get_command

from gitml.config import Params, files_under, with_schema
from gitml.data.sources import load_source
from gitml.data.synthetic import generate
from gitml.errors import GitmlError
from gitml.modeling import build_estimator, feature_specs, prepare_features, supported_tasks
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


def resolved(overrides: list[str] | None = None) -> dict:
    """`composed`, with the columns read from the data config's schema file (as the stages do)."""
    return with_schema(composed(overrides), files_under(ROOT))  # type: ignore[no-any-return]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_params_yaml_is_the_composition_of_conf() -> None:
    assert yaml.safe_load((ROOT / "params.yaml").read_text()) == composed()


@pytest.mark.parametrize("group", ["data", "model", "split"])
def test_every_group_option_composes_and_validates(group: str) -> None:
    for option in options(group):
        params = Params.parse(resolved([f"{group}={option}"]))
        assert getattr(params, group).name == option, "file name == option name == name key"


#: The built-in data option each task's model options are trained on in these contracts.
TASK_DATA = {"binary": "synthetic_credit", "regression": "diabetes"}


def model_tasks(option: str) -> list[str]:
    """The tasks a model option supports, from its estimator's type (gitml.modeling)."""
    params = Params.parse(resolved([f"model={option}"]))
    return supported_tasks(build_estimator(params.model))


def tiny_frame(params: Params) -> pd.DataFrame:
    if params.data.source == "synthetic_credit":
        return coerce(generate(400, seed=1), params.data)
    return coerce(load_source(params.data, params.seed), params.data)


@pytest.mark.parametrize("option", options("model"))
def test_every_model_option_trains_on_tiny_data_of_its_task(option: str) -> None:
    supported = model_tasks(option)
    assert supported, f"conf/model/{option}.yaml builds neither a classifier nor a regressor"
    task = next(t for t in supported if t in TASK_DATA)
    params = Params.parse(resolved([f"model={option}", f"data={TASK_DATA[task]}"]))
    assert params.data.task == task
    model = fit(tiny_frame(params), params.data, params.model)
    if task == "binary":
        assert list(model.classes_) == [0, 1]
    else:
        assert not hasattr(model, "classes_")
        prediction = model.predict(
            prepare_features(tiny_frame(params)[:5], feature_specs(params.data))
        )
        assert prediction.dtype.kind == "f" and len(prediction) == 5


def test_model_options_cover_every_task_with_data() -> None:
    covered = {t for option in options("model") for t in model_tasks(option)}
    assert set(TASK_DATA) <= covered
    data_tasks = {Params.parse(resolved([f"data={o}"])).data.task for o in options("data")}
    assert set(TASK_DATA) <= data_tasks


def test_a_model_of_the_wrong_task_is_refused_before_training() -> None:
    params = Params.parse(resolved(["model=ridge"]))  # the default data is binary
    with pytest.raises(GitmlError, match="needs a classifier") as raised:
        fit(coerce(generate(50, seed=1), params.data), params.data, params.model)
    assert "-S model=hist_gradient_boosting;" in raised.value.hint  # a real option, not "..."
    for name in ("random_forest", "logistic_regression"):
        assert (CONF / "model" / f"{name}.yaml").exists() and name in raised.value.hint


@pytest.mark.parametrize("option", options("experiment"))
def test_every_experiment_composes_and_trains(option: str) -> None:
    text = (CONF / "experiment" / f"{option}.yaml").read_text()
    assert text.startswith("# @package _global_") and "To run:" in text
    params = Params.parse(resolved([f"+experiment={option}"]))
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
