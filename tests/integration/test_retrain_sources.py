"""`gitml retrain` across data sources: the version's data config, per-source batches, the same
rows for champion and challenger, an untouched workspace on failure, and "not comparable" reports.

The two-source repo (built once per module): commit S holds synthetic_credit results, commit B
breast_cancer results (`dvc exp run -S data=breast_cancer`), registered v1.0.0 and in production;
HEAD goes back to synthetic_credit, so only the registry says which data config to retrain.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitml import registry
from gitml.config import load_params
from gitml.data.sources import _breast_cancer
from gitml.modeling import load_signature
from gitml.policy import load_policy
from gitml.registry.store import WriteOptions
from gitml.report.core import fmt
from gitml.retrain import score_rows
from tests.integration.test_retrain import gitml
from tests.pipeline_repo import copy_repo, dvc, run

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("retrain_sources")]


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd).stdout.strip()


@pytest.fixture(scope="module")
def two_sources(
    tmp_path_factory: pytest.TempPathFactory, ran_template: Path
) -> dict[str, Path | str]:
    repo = copy_repo(ran_template, tmp_path_factory.mktemp("two") / "repo")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "synthetic_credit results", cwd=repo)
    synthetic = git("rev-parse", "HEAD", cwd=repo)
    dvc("exp", "run", "-S", "data=breast_cancer", cwd=repo)
    # The built-in breast_cancer config end to end: 30 features, no sensitive column, a good model.
    assert json.loads((repo / "reports/metrics.json").read_text())["roc_auc"] > 0.95
    assert json.loads((repo / "reports/slices.json").read_text()) == {}
    signature = json.loads((repo / "models/signature.json").read_text())
    assert len(signature["features"]) == 30 and signature["target"] == "benign"
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "breast_cancer results", cwd=repo)
    breast = git("rev-parse", "HEAD", cwd=repo)
    local = WriteOptions(push=False)
    registry.register(repo, breast, version="v1.0.0", options=local)
    for stage in ("staging", "production"):  # no sensitive column: no slices for the fairness gate
        registry.promote(repo, "v1.0.0", stage, force=True, reason="test fixture", options=local)
    git("checkout", synthetic, "--", ".", cwd=repo)
    dvc("checkout", "-q", cwd=repo)
    git("commit", "-qm", "back to synthetic_credit", cwd=repo)
    assert yaml.safe_load((repo / "params.yaml").read_text())["data"]["name"] == "synthetic_credit"
    return {"repo": repo, "synthetic": synthetic, "breast": breast}


@pytest.fixture
def repo(two_sources: dict[str, Path | str], tmp_path: Path) -> Path:
    return copy_repo(Path(two_sources["repo"]), tmp_path / "repo")


def breast_batch(path: Path, n: int = 200) -> Path:
    """`n` breast-cancer rows, nudged so none equals a source row (they are new data)."""
    frame = _breast_cancer().head(n).copy()
    frame["mean_radius"] = frame["mean_radius"] * (1 + 1e-6) + 1e-7 * (frame.index + 1)
    frame.to_parquet(path, index=False)
    return path


def test_retrain_uses_the_versions_data_config_and_scores_both_on_the_same_rows(
    repo: Path, tmp_path: Path
) -> None:
    # A synthetic_credit batch already stored for the other source must not reach breast_cancer.
    other = repo / "data/external/batches/synthetic_credit/old.parquet"
    other.parent.mkdir(parents=True)
    made = gitml("data", "generate", "--rows", "50", "-o", str(other), cwd=repo)
    assert made.returncode == 0, made.stderr
    batch = breast_batch(tmp_path / "labelled.parquet")

    proc = gitml("retrain", "--data", str(batch), cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "for data config breast_cancer; report against v1.0.0" in proc.stdout

    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["name"] == "breast_cancer"  # not the default synthetic_credit
    stored = list((repo / "data/external/batches/breast_cancer").glob("labelled-*.parquet"))
    assert len(stored) == 1
    assert len(pd.read_parquet(repo / "data/raw.parquet")) == 569 + 200  # no synthetic rows

    # Champion (production, fetched through the registry) and challenger on the same rows: the
    # batch rows held out in the new test split, recomputed here from the nudged mean_radius.
    test = pd.read_parquet(repo / "data/test.parquet")
    held = test[test["mean_radius"].isin(pd.read_parquet(batch)["mean_radius"])]
    report = (repo / "reports/retrain.md").read_text()
    assert f"Both models scored on the same {len(held):,} rows" in report, report[:1500]
    assert 10 < len(held) < 200
    p = load_params(repo / "params.yaml")
    policy = load_policy(repo)
    fetched = registry.get(repo, "production", tmp_path / "champion.skops")
    assert fetched.version == "v1.0.0"
    sig = load_signature(repo / "models/signature.json")
    champion, _ = score_rows(fetched.path, sig, held, p, policy)
    challenger, _ = score_rows(repo / "models/model.skops", sig, held, p, policy)
    header = (
        "| Metric | champion v1.0.0 | challenger (this experiment) | Δ | 95% CI of Δ | Status |"
    )
    assert header in report
    assert f"statuses from 95% paired-bootstrap intervals on the {len(held):,} shared" in report
    table = {
        m[1]: (m[2].strip(), m[3].strip())
        for m in re.finditer(
            r"^\| `(\w+)` [↑↓] \| ([^|]+) \| ([^|]+) \|", report.split("\n---\n")[0], re.M
        )
    }
    for name in champion:
        assert table[name] == (fmt(champion[name]), fmt(challenger[name])), name
    # The usual report against v1.0.0 gives no verdict: its test rows differ.
    assert "## gitml report: ⚠️ Not comparable" in report
    assert re.search(r"- test rows differ: 114 vs 15\d \(md5 \w+ vs \w+\)", report), report


def test_report_between_two_datasets_is_not_comparable(
    repo: Path, two_sources: dict[str, Path | str]
) -> None:
    base, head = str(two_sources["synthetic"]), str(two_sources["breast"])
    proc = gitml("report", "--base", base, "--head", head, "--format", "json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"]["status"] == "not_comparable" and data["verdict"]["passed"] is True
    assert data["comparability"]["comparable"] is False
    reasons = data["comparability"]["reasons"]
    assert reasons[:2] == [
        "dataset differs: synthetic_credit vs breast_cancer",
        "target differs: default vs benign",
    ]
    assert reasons[2].startswith("test rows differ: 600 vs 114 (md5 ")
    assert {m["status"] for m in data["metrics"]} == {"not_comparable"}
    md = gitml("report", "--base", base, "--head", head, "--fail-on-regression", cwd=repo)
    assert md.returncode == 0, md.stderr  # "not comparable" is not a regression
    assert "## gitml report: ⚠️ Not comparable" in md.stdout
    assert "- dataset differs: synthetic_credit vs breast_cancer" in md.stdout
    assert "Improved" not in md.stdout and "Regressed" not in md.stdout
    html = gitml("report", "--base", base, "--head", head, "--format", "html", cwd=repo)
    assert "⚠️ Not comparable" in html.stdout and "dataset differs" in html.stdout


def snapshot(repo: Path) -> tuple[str, dict[str, str]]:
    """`git status --porcelain` and the md5 of every file outside .git and DVC's tmp/cache."""
    status = git("status", "--porcelain", "--untracked-files=all", cwd=repo)
    hashes = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".dvc/tmp/", ".dvc/cache/")):
            hashes[rel] = hashlib.md5(path.read_bytes()).hexdigest()
    return status, hashes


def test_a_failing_retrain_leaves_the_workspace_as_it_found_it(repo: Path, tmp_path: Path) -> None:
    # A bad column: refused before anything is written, naming the file.
    bad = tmp_path / "bad_batch.csv"
    frame = _breast_cancer().head(30).rename(columns={"mean_radius": "radius"})
    frame.to_csv(bad, index=False)
    before = snapshot(repo)
    proc = gitml("retrain", "--data", str(bad), cwd=repo)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "it lacks mean_radius" in proc.stderr, proc.stderr
    assert snapshot(repo) == before

    # A pipeline failure after ingest and validate ran on the batch: everything is put back.
    split = repo / "stages/split.py"
    split.write_text(split.read_text() + "\nraise SystemExit('split broken on purpose')\n")
    before = snapshot(repo)
    assert before[0] == "M stages/split.py"
    proc = gitml("retrain", "--data", str(breast_batch(tmp_path / "good.parquet")), cwd=repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Nothing was kept: the batch was not stored" in proc.stderr
    assert snapshot(repo) == before
    assert not (repo / "data/external/batches").exists()


def test_dvc_exp_show_lists_only_the_headline_metrics(repo: Path) -> None:
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    data = shown[0]["data"]
    assert set(data["metrics"]) == {"reports/metrics.json"}  # slices/importance are plain outs
    assert len(data["metrics"]["reports/metrics.json"]["data"]) == 6
    # ... still written and locked (cache: false), and read by the report from the files
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = {o["path"] for o in lock["stages"]["evaluate"]["outs"]}
    assert {"reports/slices.json", "reports/importance.json"} <= outs
