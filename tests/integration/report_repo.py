"""A tiny real git + DVC project for `gitml report` tests and benchmarks.

Two stages (`prepare` writes a small CSV and a validation report; `evaluate` turns params into
metrics, slices, importance and plots) run by real `dvc repro` / `dvc exp run` in well under a
second, so the report is exercised end to end without the heavy pipeline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.pipeline_repo import ROOT, dvc, run

PREPARE = '''"""prepare: a deterministic CSV of n_rows rows and its validation report."""
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))
n = p["data"]["n_rows"]
os.makedirs("data", exist_ok=True); os.makedirs("reports", exist_ok=True)
cols = ["age", "income"] + (["tenure"] if p["data"].get("tenure") else [])
with open("data/train.csv", "w") as f:
    f.write(",".join(cols) + "\\n")
    for i in range(n):
        f.write(",".join(str((i * (j + 7)) % 97) for j in range(len(cols))) + "\\n")
json.dump({"data": p["data"]["name"], "passed": True, "rows": n, "failures": [],
           "columns": {c: {"dtype": "int64", "role": "feature", "nulls": 0} for c in cols}},
          open("reports/validation.json", "w"), indent=2)
'''

EVALUATE = '''"""evaluate: metrics, slices, importance and plots as smooth functions of the params."""
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))
m = p["model"]
k = {"random_forest": 0.0, "hist_gradient_boosting": 0.02, "logistic_regression": -0.03}[m["name"]]
d, lr = m["max_depth"], m["learning_rate"]
auc = 0.70 + k + 0.01 * d - 0.2 * (lr - 0.1) ** 2
os.makedirs("reports/plots", exist_ok=True)
w = lambda path, obj: json.dump(obj, open(path, "w"), indent=2)
w("reports/metrics.json", {"roc_auc": round(auc, 6), "average_precision": round(auc / 2, 6),
  "accuracy": round(0.8 + k / 2, 6), "f1": round(0.1 + 0.01 * d, 6),
  "log_loss": round(0.5 - auc / 4, 6), "brier": round(0.2 - auc / 10, 6)})
w("reports/slices.json", {"gender": {"groups": {g: {"count": 100 + i, "selection_rate": round(0.1 + i * k, 6),
  "tpr": round(auc - i / 50, 6), "fpr": round(0.05 + i / 100, 6)} for i, g in enumerate(["female", "male"])},
  "demographic_parity_difference": round(abs(k) + 0.01, 6), "equalized_odds_difference": 0.02}})
imp = {"income": round(0.05 + k, 6), "age": round(0.02 + d / 1000, 6), "region": 0.001}
w("reports/importance.json", {f: {"mean": v, "std": 0.001} for f, v in sorted(imp.items(), key=lambda x: -x[1])})
pts = [i / 10 for i in range(11)]
w("reports/plots/roc.json", [{"fpr": x, "tpr": round(min(1.0, x ** (1 - auc)), 6)} for x in pts])
w("reports/plots/prc.json", [{"recall": x, "precision": round(1 - x * (1 - auc), 6)} for x in pts])
w("reports/plots/calibration.json", [{"bin": i, "mean_predicted": x, "fraction_positive": round(x * auc + 0.1, 6),
  "count": 10} for i, x in enumerate(pts)])
w("reports/plots/confusion.json", [{"actual": str(a), "predicted": str(b)} for a, b in [(0, 0), (0, 1), (1, 1), (1, 1)]])
'''

PARAMS = {
    "seed": 42,
    "data": {"name": "synthetic_credit", "n_rows": 200, "tenure": False},
    "model": {"name": "random_forest", "max_depth": 5, "learning_rate": 0.1},
}

PLOT_FILES = ("roc", "prc", "calibration", "confusion")

DVC_YAML = {
    "stages": {
        "prepare": {
            "cmd": "python prepare.py",
            "deps": ["prepare.py"],
            "params": ["data"],
            "outs": ["data/train.csv", {"reports/validation.json": {"cache": False}}],
        },
        "evaluate": {
            "cmd": "python evaluate.py",
            "deps": ["evaluate.py", "data/train.csv"],
            "params": ["seed", "model"],
            "metrics": [
                {f"reports/{n}.json": {"cache": False}} for n in ("metrics", "slices", "importance")
            ],
            "plots": [{f"reports/plots/{n}.json": {"cache": False}} for n in PLOT_FILES],
        },
    }
}


def set_params(repo: Path, **sections: dict[str, object]) -> None:
    """Update params.yaml sections in place (e.g. model={"name": "hist_gradient_boosting"})."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd` and return its stdout."""
    return run(["git", *args], cwd).stdout


def make_report_repo(path: Path) -> Path:
    """A repo whose `main` holds the pipeline without results (tag `pipeline-only`, a first
    model's situation), then one reproduced baseline commit (random_forest, depth 5)."""
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=path)
    (path / "prepare.py").write_text(PREPARE)
    (path / "evaluate.py").write_text(EVALUATE)
    (path / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    (path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (path / "conf").mkdir()
    shutil.copy(ROOT / "conf" / "gitml.yaml", path / "conf" / "gitml.yaml")
    dvc("init", "-q", cwd=path)
    dvc("config", "core.autostage", "true", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "pipeline", cwd=path)
    git("tag", "pipeline-only", cwd=path)
    dvc("repro", "-q", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "baseline", cwd=path)
    return path


def copy_report_repo(template: Path, dest: Path) -> Path:
    """A private copy of a template repo (git history, DVC cache and workspace)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def make_review_repo(path: Path) -> Path:
    """The baseline on `main`, then branch `feature` switching to hist_gradient_boosting (depth 3),
    committed, with three experiments run on top of it (`d4`, `d6`, `lr2`) and a clean workspace."""
    repo = make_report_repo(path)
    git("checkout", "-q", "-b", "feature", cwd=repo)
    set_params(repo, model={"name": "hist_gradient_boosting", "max_depth": 3})
    dvc("repro", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "boosting", cwd=repo)
    for name, override in (
        ("d4", "model.max_depth=4"),
        ("d6", "model.max_depth=6"),
        ("lr2", "model.learning_rate=0.2"),
    ):
        dvc("exp", "run", "-q", "-n", name, "-S", override, cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)
    return repo
