"""The project's params composed from conf/ as `dvc exp run` composes them (Hydra), for tests
that run a stage or a feature on a shipped data/model option without a pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gitml.config import Params, files_under, with_schema

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def composed_raw(*overrides: str) -> dict:
    """params.yaml's content for `-S` overrides such as "data=diabetes", resolved."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def composed(*overrides: str) -> Params:
    """The validated params for `overrides`, columns read from conf/schema/."""
    return Params.parse(with_schema(composed_raw(*overrides), files_under(ROOT)))


def shipped_table(params: Params) -> pd.DataFrame:
    """The data option's table as the pipeline ingests it (loaded, then coerced)."""
    from gitml.data.sources import load_source
    from gitml.schema import coerce

    return coerce(load_source(params.data, params.seed), params.data)


def project_params(folder: Path, *overrides: str) -> Path:
    """A params.yaml for `overrides` in `folder`, next to a copy of conf/ (its schema files):
    what a stage's `run(params, ...)` reads."""
    shutil.copytree(CONF, folder / "conf")
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(composed_raw(*overrides)))
    return path
