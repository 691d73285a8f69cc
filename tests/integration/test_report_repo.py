"""`gitml report` against a real temp git + DVC repo: numbers equal DVC's own diffs."""

from __future__ import annotations

import json
import math
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from gitml.cli import app
from gitml.report.adapter import Experiment, Project
from gitml.report.api import build
from gitml.report.core import fmt
from tests.integration.report_repo import (
    copy_report_repo,
    git,
    make_review_repo,
    run,
    set_params,
)
from tests.pipeline_repo import dvc

# One worker runs the whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("report_repo")]


@pytest.fixture(scope="module")
def review_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_review_repo(tmp_path_factory.mktemp("report") / "repo")


@pytest.fixture
def repo(tmp_path: Path, review_template: Path) -> Path:
    return copy_report_repo(review_template, tmp_path / "repo")


def gitml(repo: Path, *args: str) -> tuple[int, str, str]:
    """Run `gitml report` in-process (typer's runner) and return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, ["report", "--root", str(repo), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def dvc_json(repo: Path, *args: str) -> dict:
    return json.loads(dvc(*args, "--json", cwd=repo).stdout)


def test_numbers_equal_dvc_metrics_and_params_diff(repo: Path) -> None:
    code, out, _ = gitml(repo, "--base", "main", "--format", "json")
    assert code == 0
    report = json.loads(out)
    expected = dvc_json(repo, "metrics", "diff", "main")
    metrics = expected["reports/metrics.json"]  # dvc lists changed metrics only
    assert set(metrics) == {"accuracy", "f1"}
    for row in report["metrics"]:
        if row["name"] in metrics:
            want = metrics[row["name"]]
            assert row["base"] == want["old"] and row["head"] == want["new"]
            assert math.isclose(row["delta"], want["diff"], abs_tol=1e-12)
        else:
            assert row["base"] == row["head"] and row["delta"] == 0, row
    slices = {
        f"{s['attribute']}.{'groups.' + s['group'] + '.' if s['group'] else ''}{s['stat']}": s
        for s in report["slices"]
    }
    for key, want in expected["reports/slices.json"].items():
        assert slices[key]["base"] == want["old"] and slices[key]["head"] == want["new"], key
    changed_slices = {k for k, s in slices.items() if s["change"] not in ("same",)}
    assert changed_slices == set(expected["reports/slices.json"])
    params = dvc_json(repo, "params", "diff", "main")["params.yaml"]
    shown = {("model.name" if p["group"] else p["key"]): p for p in report["params"]}
    assert set(shown) == set(params)
    for key, want in params.items():
        assert shown[key]["base"] == want["old"] and shown[key]["head"] == want["new"]


def test_branch_report_markdown_and_verdict(repo: Path) -> None:
    report = build(repo)  # head = workspace, base = merge-base(HEAD, main)
    assert report.base is not None and report.base.rev == git("rev-parse", "main", cwd=repo).strip()
    statuses = {m.name: m.status for m in report.metrics}
    # random_forest depth 5 -> boosting depth 3: roc_auc 0.75 -> 0.75, accuracy +0.01, f1 -0.02.
    assert statuses == {
        "roc_auc": "unchanged",
        "average_precision": "unchanged",
        "accuracy": "improved",
        "f1": "within_tolerance",
        "log_loss": "unchanged",
        "brier": "unchanged",
    }
    assert report.verdict.status == "improved" and report.verdict.passed
    code, md, _ = gitml(repo)
    assert code == 0
    assert md.splitlines()[0] == "<!-- gitml-report -->"
    assert "`model: random_forest → hist_gradient_boosting`" in md
    assert "{{" not in md and "{%" not in md
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    assert sum(t.type == "table_open" for t in tokens) >= 5


def test_fail_on_regression_exits_one(repo: Path) -> None:
    set_params(repo, model={"max_depth": 1})  # roc_auc 0.75 -> 0.73: beyond tolerance 0.005
    dvc("repro", "-q", cwd=repo)
    out = repo / "report.md"
    code, _, _ = gitml(repo, "--fail-on-regression", "-o", str(out))
    assert code == 1
    text = out.read_text()
    assert "❌ Regressed" in text and "roc_auc regressed" in text
    code, _, _ = gitml(repo, "-o", str(out))
    assert code == 0


def test_nan_one_sided_and_non_numeric_metrics(repo: Path) -> None:
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    metrics["roc_auc"] = float("nan")
    metrics["f1"] = float("inf")
    del metrics["brier"]
    metrics["threshold_note"] = "tuned"
    (repo / "reports/metrics.json").write_text(json.dumps(metrics))
    code, out, _ = gitml(repo, "--format", "json", "--fail-on-regression")
    assert code == 1
    rows = {m["name"]: m for m in json.loads(out)["metrics"]}
    assert rows["roc_auc"]["status"] == "invalid" and rows["roc_auc"]["head"] == "NaN"
    assert rows["f1"]["head"] == "Infinity" and rows["f1"]["delta"] is None
    assert rows["brier"]["status"] == "removed"
    assert rows["threshold_note"]["status"] == "added"
    code, md, _ = gitml(repo)
    assert "| `roc_auc` ↑ | 0.7500 | NaN | — | — | ⚠️ not a number" in md


def test_no_baseline_shows_new_values_only(repo: Path) -> None:
    # `pipeline-only` has dvc.yaml but no results yet: the first model's pull request.
    report = build(repo, base="pipeline-only")
    assert not report.has_baseline and report.verdict.status == "no_baseline"
    assert {m.status for m in report.metrics} == {"added"}
    code, md, _ = gitml(repo, "--base", "pipeline-only")
    assert code == 0 and "No baseline yet: new values only." in md
    assert "| `roc_auc` ↑ | 0.7500 | ✅ 0.7 |" in md


def test_experiment_table_matches_dvc_exp_show(repo: Path) -> None:
    code, out, _ = gitml(repo, "--all-exps", "--format", "json")
    assert code == 0
    table = json.loads(out)
    names = [r["name"] for r in table["rows"]]
    assert sorted(names) == ["d4", "d6", "feature", "lr2"]
    shown = dvc_json(repo, "exp", "show")
    truth = {}
    for row in shown:
        for exp in row.get("experiments") or []:
            for rev in exp["revs"]:
                truth[rev["name"]] = rev["data"]
    # The same experiments as DVC's own table (the workspace and baseline rows aside) ...
    assert set(truth) == {"d4", "d6", "lr2"}, sorted(truth)
    head = {row["name"] for row in shown if row["rev"] != "workspace"}
    assert set(names) == set(truth) | head == {"d4", "d6", "lr2", "feature"}, head
    # ... with exactly DVC's metrics and params.
    rows = {r["name"]: r for r in table["rows"]}
    for name, data in truth.items():
        assert rows[name]["metrics"] == data["metrics"]["reports/metrics.json"]["data"], name
        model = data["params"]["params.yaml"]["data"]["model"]
        assert rows[name]["params"]["model.max_depth"] == model["max_depth"], name
        assert rows[name]["params"]["model.learning_rate"] == model["learning_rate"], name
    aucs = [r["metrics"]["roc_auc"] for r in table["rows"]]
    assert aucs == sorted(aucs, reverse=True)
    assert "roc_auc" in table["rows"][0]["best"]
    assert "model.max_depth" in table["param_keys"] and "model.name" not in table["param_keys"]
    code, md, _ = gitml(repo, "--exp", "d4", "--exp", "lr2")
    assert code == 0
    lines = [
        line for line in md.splitlines() if line.startswith("| d4") or line.startswith("| lr2")
    ]
    assert len(lines) == 2


def test_experiments_read_from_git_equal_dvc_exp_show(repo: Path) -> None:
    # The git shortcut (refs/exps + cat-file) must give exactly `dvc exp show --json`'s rows.
    project = Project(repo)
    metrics = "reports/metrics.json"

    def rows(exps: list[Experiment]) -> list[tuple]:
        return sorted((e.name, e.rev, json.dumps(e.params), json.dumps(e.metrics)) for e in exps)

    assert project._git_experiments(metrics) is not None  # the shortcut answers here
    assert rows(project.experiments(None, metrics)) == rows(project.dvc_experiments(None, metrics))
    names = ["lr2", "feature"]
    assert rows(project.experiments(names, metrics)) == rows(
        project.dvc_experiments(names, metrics)
    )
    # A queued experiment has no commit: DVC answers, and lists it with params, no metrics.
    dvc("exp", "run", "--queue", "-q", "-n", "queued9", "-S", "model.max_depth=9", cwd=repo)
    assert project._git_experiments(metrics) is None
    queued = {e.name: e for e in project.experiments(None, metrics)}["queued9"]
    assert queued.params["model"]["max_depth"] == 9 and not queued.metrics


def test_site_lists_experiments_of_older_baselines(repo: Path, tmp_path: Path) -> None:
    # A user's report: experiments, then a new commit whose dvc.yaml interpolates params
    # (`${...}`, as the shipped project's does): the site must still list every experiment.
    import yaml

    baseline = git("rev-parse", "HEAD", cwd=repo).strip()
    truth = {}
    for row in dvc_json(repo, "exp", "show", "--rev", baseline):
        for exp in row.get("experiments") or []:
            for rev in exp["revs"]:
                truth[rev["name"]] = rev["data"]["metrics"]["reports/metrics.json"]["data"]
    assert set(truth) == {"d4", "d6", "lr2"}
    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc_yaml["stages"]["evaluate"]["cmd"] = "python evaluate.py --seed ${seed}"
    project, metrics = Project(repo), "reports/metrics.json"
    for step in ("a templated cmd", "vars: params DVC resolves itself"):
        if step.startswith("vars"):
            dvc_yaml = {"vars": ["params.yaml"], **dvc_yaml}
        (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
        git("commit", "-q", "-am", step, cwd=repo)
        out = tmp_path / step[:4]
        result = CliRunner().invoke(
            app, ["site", "build", "--root", str(repo), "-o", str(out), "--branch", "feature"]
        )
        assert result.exit_code == 0, result.output
        page = (out / "experiments.html").read_text()
        assert [n for n in truth if f"exp:{n}:" not in page] == [], step
        # git answers a templated cmd (the fast path); vars need DVC (`exp show --rev`).
        via_dvc = step.startswith("vars")
        assert (project._git_experiments(metrics) is None) == via_dvc
        head, reference = project.experiments(None, metrics), project.dvc_experiments(None, metrics)
        assert head == reference and "seed" in head[0].params  # the templated commit's row
        found = {e.name: (base, e) for base, e in project.all_experiments(metrics)}
        assert set(found) == set(truth), step
        for name, metric_values in truth.items():
            base, e = found[name]
            assert e.metrics == metric_values, (step, name)
            assert base == (baseline if via_dvc else None), (step, name)


def test_bad_inputs_exit_two_without_output(repo: Path) -> None:
    out = repo / "out.md"
    code, _, err = gitml(repo, "--base", "no-such-branch", "-o", str(out))
    assert code == 2 and "Unknown revision 'no-such-branch'" in err and not out.exists()
    assert "DVC experiment" not in err
    code, _, err = gitml(repo, "--base", "lr2", "-o", str(out))  # an experiment's name
    assert code == 2 and "'lr2' is a DVC experiment" in err and "--exp lr2" in err
    assert not out.exists()
    git("checkout", "-q", "--orphan", "bare", cwd=repo)
    git("rm", "-rq", "--cached", ".", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "no pipeline", cwd=repo)
    git("checkout", "-q", "-f", "feature", cwd=repo)
    code, _, err = gitml(repo, "--base", "bare", "-o", str(out))
    assert code == 2 and "has no dvc.yaml" in err and not out.exists()
    code, _, err = gitml(repo, "--exp", "nope", "-o", str(out))
    assert code == 2 and "No experiment named 'nope'" in err and not out.exists()
    (repo / "reports/metrics.json").write_text('{"roc_auc": 0.7,')
    code, _, err = gitml(repo, "-o", str(out))
    assert code == 2 and "corrupt" in err and not out.exists()


def test_shallow_clone_advises_full_fetch(repo: Path, tmp_path: Path) -> None:
    # main moves on after the branch point, so a depth-1 clone lacks the merge-base.
    git("checkout", "-q", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "main moves on", cwd=repo)  # origin/HEAD: main
    shallow = tmp_path / "shallow"
    run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "feature",
            f"file://{repo}",
            str(shallow),
        ],
        tmp_path,
    )
    code, _, err = gitml(shallow)
    assert code == 2
    assert "git fetch --unshallow" in err and "fetch-depth: 0" in err


class RenderedDom(HTMLParser):
    """What a reader sees in the DOM Chromium rendered: the verdict, table cells, SVG plots."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict: list[str] = []
        self.rows: list[list[str]] = []
        self.svg_labels: list[str | None] = []
        self.svg_polylines: list[int] = []
        self._in_verdict = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div" and "verdict" in classes:
            self._in_verdict = True
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "svg":
            self.svg_labels.append(dict(attrs).get("aria-label"))
            self.svg_polylines.append(0)
        elif tag == "polyline" and self.svg_polylines:
            self.svg_polylines[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._in_verdict = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_verdict:
            self.verdict.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_html_in_headless_chromium(repo: Path, tmp_path: Path) -> None:
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, (
        "chromium is not installed; the HTML check needs it: "
        "apt-get update && apt-get install -y chromium"
    )
    page = tmp_path / "report.html"
    code, _, _ = gitml(repo, "--format", "html", "-o", str(page))
    assert code == 0
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            "--enable-logging=stderr",
            "--v=0",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    network = [line for line in proc.stderr.splitlines() if "http://" in line or "https://" in line]
    assert network == [], network
    # The DOM the browser built (not the file we wrote) shows the report's content.
    dom = RenderedDom()
    dom.feed(proc.stdout)
    report = build(repo)
    assert "".join(dom.verdict).strip() == report.verdict.headline == "✅ Improved"
    rows = {row[0]: row for row in dom.rows if row}
    for metric in report.metrics:
        arrow = {True: " ↑", False: " ↓", None: ""}[metric.higher_is_better]
        row = rows[metric.name + arrow]
        assert row[1:3] == [fmt(metric.base), fmt(metric.head)], row
    assert rows["roc_auc ↑"][1:3] == ["0.7500", "0.7500"]
    assert rows["accuracy ↑"][1:3] == ["0.8000", "0.8100"]
    assert dom.svg_labels == [p.title for p in report.plots] and len(dom.svg_labels) == 3
    assert dom.svg_polylines == [2, 2, 2]  # base and head lines in each plot
