"""A real repository for `gitml site` tests: commits, DVC experiments, registry events, monitoring.

Starts from the registry's template (tests/integration/registry_repo.py: commits `bare`, `good`,
`better`, `worse`, a bare `origin` and a DVC remote), then
- commits `plots`: the stage also writes ROC/PR/calibration/confusion plot files (dvc.yaml
  declares them, `cache: false`), reproduced with `dvc repro`;
- runs two DVC experiments on it (`deep`, `shallow`) with `dvc exp run`;
- writes registry events through the registry's API: register v1.0.0 (good), v1.1.0 (better),
  v1.2.0 (worse); promote v1.0.0 and v1.1.0 to staging and production; force v1.2.0 into staging
  past its failed gates; then roll production back from v1.1.0 to v1.0.0;
- records two monitoring reports on the `gitml/monitoring` branch with ci/record_monitoring.sh.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.integration.registry_repo import (
    DVC_YAML,
    MAKE,
    Project,
    copy_project,
    dvc_inproc,
    git,
    run,
)

ROOT = Path(__file__).resolve().parents[2]

PLOTS = """
# Plots: curves that depend on the auc, and a small confusion record list.
pathlib.Path("reports/plots").mkdir(exist_ok=True)
pts = [i / 10 for i in range(11)]
a = p["auc"]
json.dump([{"fpr": x, "tpr": round(min(1.0, x ** (1 - a)), 6)} for x in pts], open("reports/plots/roc.json", "w"))
json.dump([{"recall": x, "precision": round(1 - x * (1 - a), 6)} for x in pts], open("reports/plots/prc.json", "w"))
json.dump([{"mean_predicted": x, "fraction_positive": round(x * a + 0.1, 6)} for x in pts], open("reports/plots/calibration.json", "w"))
json.dump([{"actual": "0", "predicted": "0"}, {"actual": "1", "predicted": "1"}, {"actual": "1", "predicted": "0"}], open("reports/plots/confusion.json", "w"))
"""

PLOTS_YAML = "".join(
    f"      - reports/plots/{n}.json: {{{{cache: false}}}}\n"
    for n in ("roc", "prc", "calibration", "confusion")
)

FORCED_REASON = "hotfix: the old model mislabels a new product line"
ROLLBACK_REASON = "p95 latency doubled after v1.1.0"

#: Two monitoring runs (the shape of `gitml monitor --format json`), oldest first.
MONITOR_RUNS = (
    ("20990501T061700Z", {"age": (0.02, False), "income": (0.04, False)}, "ok", None),
    ("20990502T061700Z", {"age": (0.31, True), "income": (0.05, False)}, "drift", 0.71),
)


def monitor_report(columns: dict[str, tuple[float, bool]], status: str, auc: float | None) -> dict:
    """A monitoring report as `gitml monitor --format json` writes it (the fields the site reads)."""
    drifted = sorted(c for c, (_, d) in columns.items() if d)
    decay = None
    if auc is not None:
        decay = {
            "decayed": True,
            "labelled_rows": 500,
            "note": None,
            "metrics": {
                "roc_auc": {"current": auc, "recorded": 0.83, "tolerance": 0.05, "decayed": True}
            },
        }
    return {
        "status": status,
        "dataset_drift": bool(drifted),
        "drift_share": len(drifted) / len(columns),
        "n_columns": len(columns),
        "n_drifted": len(drifted),
        "drifted_columns": drifted,
        "critical_drifted": [],
        "prediction_drift": False,
        "decay": bool(decay and decay["decayed"]),
        "quality_passed": True,
        "rows": 1000,
        "reference_rows": 5000,
        "columns": {
            c: {
                "kind": "numeric",
                "method": "wasserstein",
                "score": s,
                "p_value": None,
                "threshold": 0.1,
                "drifted": d,
                "critical": False,
            }
            for c, (s, d) in columns.items()
        },
        "prediction": None,
        "quality": {"passed": True},
        "metrics": decay,
    }


@dataclass(frozen=True)
class SiteRepo:
    """The built repository and what the tests check against."""

    project: Project
    plots_commit: str
    experiments: tuple[str, ...]


def build_site_repo(template: Path, dest: Path) -> SiteRepo:
    """Copy the registry template to `dest` and add plots, experiments, events and monitoring."""
    from gitml.registry import promote, register, rollback
    from gitml.registry.store import WriteOptions

    project = copy_project(template, dest)
    repo = project.root
    (repo / "make.py").write_text(MAKE + PLOTS)
    dvc_yaml = DVC_YAML.replace("      - reports/metrics.json: {{cache: false}}\n",
                                "      - reports/metrics.json: {{cache: false}}\n    plots:\n" + PLOTS_YAML)  # fmt: skip
    (repo / "dvc.yaml").write_text(dvc_yaml.format(python=sys.executable))
    dvc_inproc("repro", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "write the evaluation plots", cwd=repo)
    plots_commit = git("rev-parse", "HEAD", cwd=repo)
    for name, auc in (("deep", 0.86), ("shallow", 0.76)):
        dvc_inproc("exp", "run", "-q", "-n", name, "-S", f"train.auc={auc}", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)

    local = WriteOptions(push=False)
    c = project.commits
    register(repo, c["good"], version="v1.0.0", reason="first model", options=local)
    register(repo, c["better"], version="v1.1.0", reason="more data", options=local)
    register(repo, c["worse"], version="v1.2.0", reason="new features", options=local)
    promote(repo, "v1.0.0", "staging", reason="smoke tests passed", options=local)
    promote(repo, "v1.0.0", "production", reason="launch", options=local)
    promote(repo, "v1.1.0", "staging", reason="better auc", options=local)
    promote(repo, "v1.1.0", "production", reason="better auc in staging", options=local)
    promote(repo, "v1.2.0", "staging", reason=FORCED_REASON, force=True, options=local)
    rollback(repo, "production", reason=ROLLBACK_REASON, options=local)

    script = ROOT / "ci" / "record_monitoring.sh"
    for stamp, columns, status, auc in MONITOR_RUNS:
        report = dest / f"monitor-{stamp}.json"
        report.write_text(json.dumps(monitor_report(columns, status, auc), indent=2))
        env_run = ["env", f"GITML_MONITOR_STAMP={stamp}", "GITHUB_RUN_ID=7"]
        run(*env_run, "bash", str(script), str(report), "origin", cwd=repo)
    return SiteRepo(project, plots_commit, ("deep", "shallow"))
