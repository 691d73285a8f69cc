"""`gitml data init` on a messy CSV built from a bundled dataset, then `dvc exp run` on it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_wine

from gitml.config import DataConfig, files_under, with_schema
from tests.pipeline_repo import BIN, env, run

pytestmark = pytest.mark.integration


def gitml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gitml"), *args], cwd=cwd, env=env(), capture_output=True, text=True
    )


def messy_wine(path: Path) -> None:
    """scikit-learn's wine table with `?`/NA markers, stray blanks, mixed case, an id and emails."""
    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    wine.columns = [c.replace("/", "_") for c in wine.columns]
    n = len(wine)
    rng = np.random.default_rng(0)
    out = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)]})
    for c in wine.columns:
        out[c] = wine[c].astype(str)
    out["alcohol"] = out["alcohol"].where(rng.random(n) > 0.05, "?")
    out.loc[3, "magnesium"] = " ? "
    out.loc[5, "ash"] = "NA"
    out.loc[7, "hue"] = "   "
    out["email"] = [f"person{i}@example.com" for i in range(n)]
    out["colour"] = rng.choice(["red", "Red", " white", "white "], n)
    out["sex"] = rng.choice(["F", "M"], n)
    out.to_csv(path, index=False)


def test_data_init_writes_a_commented_config_and_stages_it(pipeline_repo: Path) -> None:
    repo = pipeline_repo
    data = repo / "data/external/wine messy.csv"
    messy_wine(data)
    proc = gitml("data", "init", "data/external/wine messy.csv", "--target", "cultivar", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dvc exp run -S data=wine_messy" in proc.stdout
    config_path = repo / "conf/data/wine_messy.yaml"
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith("# wine_messy: inferred by") and "dvc exp run -S data=wine_messy" in text
    raw = yaml.safe_load(text)
    # 178 rows: a random forest, through the Hydra defaults list (Hydra consumes it)
    assert raw.pop("defaults") == [{"override /model@_global_.model": "random_forest"}]
    assert raw["schema"] == "conf/schema/wine_messy.yaml" and "columns" not in raw
    schema = (repo / raw["schema"]).read_text(encoding="utf-8")
    config = DataConfig.parse(with_schema({"data": raw}, files_under(repo))["data"])
    assert config.task == "multiclass" and config.path == "data/external/wine messy.csv"
    assert config.column("email").pii and config.column("email").role != "feature"
    assert config.column("customer_id").role == "id"
    assert config.column("colour").categories == ("Red", "red", "white", "white ")
    assert (
        "# candidate sensitive attribute (sex)" in schema and config.column("sex").role == "feature"
    )
    assert {"?", "? ", "NA"} <= set(raw["read_options"]["na_values"])
    for name in ("alcohol", "magnesium", "ash", "hue"):
        assert config.column(name).nullable, name
    staged = run(["git", "diff", "--cached", "--name-only"], repo).stdout.split("\n")
    assert {
        "conf/data/wine_messy.yaml",
        "conf/schema/wine_messy.yaml",
        "data/external/wine messy.csv.dvc",
    } <= set(staged)
    assert "wine messy.csv" in (repo / "data/external/.gitignore").read_text()

    again = gitml("data", "init", str(data), "--target", "cultivar", cwd=repo)
    assert again.returncode == 2 and "exists already" in again.stderr and "--force" in again.stderr
    assert config_path.read_text(encoding="utf-8") == text
    # Training on an inferred config, served and monitored: tests/integration/test_matrix.py.


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["--target", "y"], "does not exist"),
        (b"a,y\n1,0\n2,1\n", ["--target", "label"], "no column 'label'"),
        (b"a,y\n1,0\n2,0\n3,?\n", ["--target", "y"], "at least two"),
        (b"a,y\n\xff\xfe\x00,1\n2,0\n", ["--target", "y"], "encoding"),
        (b"PAR1 not really parquet", ["--target", "y"], "could not be read as Parquet"),
    ],
)
def test_bad_input_is_one_paragraph_and_writes_nothing(
    tmp_path: Path, content: bytes | None, args: list[str], message: str
) -> None:
    name = "t.parquet" if content and content.startswith(b"PAR1") else "t.csv"
    if content is not None:
        (tmp_path / name).write_bytes(content)
    proc = gitml("data", "init", name, *args, "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "conf").exists()


def test_outside_a_dvc_repo_nothing_is_left_behind(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,y\n1,0\n2,1\n3,0\n4,1\n", encoding="utf-8")
    proc = gitml("data", "init", "t.csv", "--target", "y", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1 and "dvc add" in proc.stderr, proc.stderr
    assert not (tmp_path / "conf/data/t.yaml").exists()
    assert not (tmp_path / "conf/schema/t.yaml").exists()


def test_a_file_committed_to_git_is_refused_with_the_untrack_command(tmp_path: Path) -> None:
    """A user who committed the CSV first: DVC cannot track it; say how to hand it over."""
    run(["git", "init", "-q"], tmp_path)
    (tmp_path / "t.csv").write_text("a,y\n1,0\n2,1\n3,0\n4,1\n", encoding="utf-8")
    run(["git", "add", "t.csv"], tmp_path)
    proc = gitml("data", "init", "t.csv", "--target", "y", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "t.csv is committed to git" in proc.stderr and "git rm --cached t.csv" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "conf").exists()
