"""`gitml monitor` on real files, through a subprocess: exit codes, formats, clean errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gitml.data.synthetic import generate
from gitml.fileio import write_json, write_parquet
from gitml.profile import build_profile

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("monitor_cli")]

REPO = Path(__file__).resolve().parents[2]
NUMERIC = [
    "age",
    "income",
    "debt_to_income",
    "credit_history_years",
    "loan_amount",
    "open_accounts",
    "delinquencies_2y",
]
CATEGORICAL = ["employment_type", "region", "home_ownership"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder: conf/, params.yaml, profiles and batches (templates ship with gitml)."""
    root = tmp_path_factory.mktemp("monitor")
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    rng = np.random.default_rng(0)
    write_json(
        root / "data" / "profile.json",
        build_profile(generate(20_000, seed=1), NUMERIC, CATEGORICAL),
    )
    write_json(
        root / "data" / "score_profile.json",
        build_profile(pd.DataFrame({"score": rng.beta(2, 5, 4000)}), ["score"], []),
    )
    for scenario in ("none", "covariate", "new_category"):
        batch = generate(6_000, seed=9, scenario=scenario)
        batch["score"] = rng.beta(2, 5, len(batch))
        write_parquet(root / f"{scenario}.parquet", batch)
        batch.to_csv(root / f"{scenario}.csv", index=False)
    lines = [
        json.dumps(
            {"inputs": {k: (None if pd.isna(v) else v) for k, v in row.items()}, "score": float(s)}
        )
        for row, s in zip(
            generate(3_000, seed=10, scenario="covariate")[NUMERIC + CATEGORICAL]
            .astype(object)
            .to_dict("records"),
            rng.beta(2, 5, 3000),
            strict=True,
        )
    ]
    (root / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def gitml(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitml.cli", "monitor", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_drift_exits_zero_with_json(project: Path) -> None:
    done = gitml(
        project,
        "--profile",
        "data/profile.json",
        "--current",
        "none.parquet",
        "--format",
        "json",
        "-o",
        "out/none.json",
        "--fail-on-drift",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((project / "out" / "none.json").read_text())
    assert report["n_drifted"] == 0 and report["status"] == "ok"
    assert report["prediction"]["method"] == "wasserstein" and not report["prediction_drift"]
    assert isinstance(report["drift_share"], float)


def test_critical_column_drift_exits_one(project: Path) -> None:
    conf = yaml.safe_load((project / "conf" / "gitml.yaml").read_text())
    conf["monitor"]["critical_columns"] = ["loan_amount"]
    (project / "conf" / "gitml.yaml").write_text(yaml.safe_dump(conf))
    try:
        done = gitml(
            project,
            "--profile",
            "data/profile.json",
            "--current",
            "covariate.csv",
            "--format",
            "json",
            "--fail-on-drift",
        )
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        assert report["drifted_columns"] == ["loan_amount", "open_accounts"]
        assert report["dataset_drift"] and report["critical_drifted"] == ["loan_amount"]
        without = gitml(
            project,
            "--profile",
            "data/profile.json",
            "--current",
            "covariate.csv",
            "--format",
            "json",
        )
        assert without.returncode == 0
    finally:
        shutil.copy(REPO / "conf" / "gitml.yaml", project / "conf" / "gitml.yaml")


def test_top_feature_drift_exits_one_with_the_workspace_importance(project: Path) -> None:
    """No critical_columns: the shipped critical_top_features reads reports/importance.json."""
    importance = project / "reports" / "importance.json"
    write_json(
        importance, {"loan_amount": {"mean": 0.2}, "age": {"mean": 0.1}, "region": {"mean": 0.0}}
    )
    try:
        done = gitml(
            project, "--profile", "data/profile.json", "--current", "covariate.csv",
            "--format", "json", "--fail-on-drift",
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        assert report["policy"]["critical_by_importance"] == ["loan_amount", "age"]
        assert report["critical_drifted"] == ["loan_amount"] and report["dataset_drift"]
        elsewhere = project / "elsewhere.json"
        write_json(elsewhere, {"age": {"mean": 0.3}})
        explicit = gitml(
            project, "--profile", "data/profile.json", "--current", "covariate.csv",
            "--importance", str(elsewhere), "--format", "json", "--fail-on-drift",
        )  # fmt: skip
        assert explicit.returncode == 0, explicit.stderr  # age is critical but does not drift
        assert json.loads(explicit.stdout)["policy"]["critical_by_importance"] == ["age"]
    finally:
        importance.unlink(missing_ok=True)
    blind = gitml(
        project, "--profile", "data/profile.json", "--current", "covariate.csv",
        "--format", "json", "--fail-on-drift",
    )  # fmt: skip
    assert blind.returncode == 0, blind.stderr
    assert "no recorded importance" in json.loads(blind.stdout)["policy"]["critical_note"]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_markdown_and_html_reports(project: Path, fmt: str) -> None:
    out = project / "out" / f"report.{fmt}"
    done = gitml(
        project,
        "--profile",
        "data/profile.json",
        "--current",
        "new_category.parquet",
        "--params",
        "params.yaml",
        "--format",
        fmt,
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "{{" not in text and "{%" not in text
    assert "employment_type" in text and "gig" in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<script" not in text


def test_prediction_log(project: Path) -> None:
    done = gitml(
        project, "--profile", "data/profile.json", "--log", "predictions.jsonl", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 3_000
    assert report["drifted_columns"] == ["loan_amount", "open_accounts"]
    assert report["prediction"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "data/profile.json", "--current", "missing.csv"], "does not exist"),
        (["--profile", "data/nope.json", "--current", "none.csv"], "does not exist"),
        (["--current", "none.csv"], "exactly one reference"),
        (
            ["--profile", "data/profile.json", "--current", "none.csv", "--format", "pdf"],
            "Unknown format",
        ),
        (["--profile", "data/profile.json", "--current", "bad_types.csv"], "wrong type"),
        (["--profile", "data/profile.json", "--current", "empty.csv"], "empty"),
        (["--profile", "data/profile.json", "--current", "few_columns.csv"], "lacks"),
        (["--profile", "score_only.json", "--current", "none.csv"], "profile"),
        (["--version", "v9.9.9", "--current", "none.csv"], "not a git repository"),
    ],
)
def test_errors_exit_two_without_a_traceback(project: Path, args: list[str], message: str) -> None:
    frame = generate(50, seed=3)
    bad = frame.astype({"age": object})
    bad.loc[7, "age"] = "forty"
    bad.to_csv(project / "bad_types.csv", index=False)
    (project / "empty.csv").write_text("")
    frame.iloc[:0].to_csv(project / "header_only.csv", index=False)
    frame[["age", "region"]].to_csv(project / "few_columns.csv", index=False)
    (project / "score_only.json").write_text('{"rows": 3}')
    done = gitml(project, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") or "Usage" in done.stderr
    assert message in done.stderr


def test_root_flag_reads_the_project_from_another_directory(project: Path, tmp_path: Path) -> None:
    original = (project / "conf" / "gitml.yaml").read_text()
    conf = yaml.safe_load(original)
    conf["monitor"]["critical_columns"] = ["loan_amount"]
    (project / "conf" / "gitml.yaml").write_text(yaml.safe_dump(conf))
    args = (
        "--profile",
        str(project / "data/profile.json"),
        "--current",
        str(project / "covariate.csv"),
        "--format",
        "json",
        "--fail-on-drift",
    )
    try:
        # From elsewhere, --root points at the project: its policy (a critical column) applies.
        done = gitml(tmp_path, *args, "--root", str(project))
        assert done.returncode == 1, done.stderr
        assert json.loads(done.stdout)["critical_drifted"] == ["loan_amount"]
        # Without --root, the working directory is the project: no conf/ there, no critical column.
        elsewhere = gitml(tmp_path, *args)
        assert elsewhere.returncode == 0, elsewhere.stderr
        assert json.loads(elsewhere.stdout)["critical_drifted"] == []
    finally:
        (project / "conf" / "gitml.yaml").write_text(original)


def test_undeclared_columns_are_reported_and_fail_when_the_policy_says_so(project: Path) -> None:
    batch = generate(2_000, seed=9)
    batch["score"] = 0.3
    batch["promo_code"] = "X1"
    batch["prediction"] = 0  # a known extra of a scored batch: never undeclared
    write_parquet(project / "extra.parquet", batch)
    args = ["--profile", "data/profile.json", "--params", "params.yaml", "--current"]
    warned = gitml(project, *args, "extra.parquet", "--format", "json")
    assert warned.returncode == 0, warned.stderr
    quality = json.loads(warned.stdout)["quality"]
    assert (
        quality["undeclared_columns"] == ["promo_code"] and quality["undeclared_policy"] == "warn"
    )
    assert quality["passed"]
    without_contract = gitml(
        project, "--profile", "data/profile.json", "--current", "extra.parquet", "--format", "json"
    )
    assert json.loads(without_contract.stdout)["quality"]["undeclared_checked"] is False
    conf = yaml.safe_load((project / "conf" / "gitml.yaml").read_text())
    conf["monitor"]["quality"]["undeclared"] = "fail"
    (project / "conf" / "gitml.yaml").write_text(yaml.safe_dump(conf))
    try:
        batch.to_csv(project / "extra.csv", index=False)
        for name in ("extra.parquet", "extra.csv"):
            failed = gitml(project, *args, name, "--format", "json")
            assert failed.returncode == 1, failed.stderr
            report = json.loads(failed.stdout)
            assert report["quality"]["undeclared_columns"] == ["promo_code"]
            assert not report["quality_passed"] and report["quality"]["undeclared_failed"]
        clean = gitml(project, *args, "none.parquet", "--format", "json")
        assert clean.returncode == 0, clean.stderr
    finally:
        shutil.copy(REPO / "conf" / "gitml.yaml", project / "conf" / "gitml.yaml")


def test_a_bad_log_line_names_file_and_line(project: Path) -> None:
    good = json.dumps({"request_id": "a", "status": 200, "inputs": [], "score": []})
    (project / "bad.jsonl").write_text(good + "\n{not json\n")
    done = gitml(project, "--profile", "data/profile.json", "--log", "bad.jsonl")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "bad.jsonl:2: the prediction log line is not JSON" in done.stderr


def test_labels_join_errors_exit_two(project: Path) -> None:
    pd.DataFrame({"request_id": ["a", "a"], "row": [0, 0], "default": [1, 0]}).to_csv(
        project / "dupes.csv", index=False
    )
    done = gitml(
        project, "--profile", "data/profile.json", "--log", "predictions.jsonl",
        "--labels", "dupes.csv",
    )  # fmt: skip
    assert done.returncode == 2 and "labels request 'a' row 0 twice" in done.stderr
    pd.DataFrame({"request_id": ["a"], "default": [1]}).to_csv(project / "ok.csv", index=False)
    old_format = gitml(
        project, "--profile", "data/profile.json", "--log", "predictions.jsonl",
        "--labels", "ok.csv",
    )  # fmt: skip
    assert old_format.returncode == 2 and "no 'request_id' column to join" in old_format.stderr
