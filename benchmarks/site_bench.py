"""Benchmark `gitml site build` (issue 17) on a large synthetic repository.

The repository is written in one `git fast-import` stream: 500 commits on main (params, dvc.yaml,
dvc.lock, metrics and four plot files each), 100 DVC experiments (`refs/exps/...`, one commit on
top of their baseline), 50 registered versions and 1,500 registry tags in all (registrations,
then promotions through staging and production, annotated with gitml's YAML body), and 30
monitoring reports on `gitml/monitoring`. Measures the build (in-process `build_site`, and the
CLI), the largest page, and each page's render time in headless Chromium (navigation to the
load event, from file://). Targets: build <= 5 s, largest page <= 2 MB, render <= 1 s.

Run: .venv/bin/python benchmarks/site_bench.py [--screenshot docs/img/site.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

COMMITS, EXPERIMENTS, VERSIONS, TAGS, RUNS = 500, 100, 50, 1500, 30
T0 = 1_700_000_000
WHO = "Ada Tester <ada@example.com>"
DVC_YAML = """stages:
  train:
    cmd: python train.py
    params: [train]
    outs: [models/model.skops, data/train.parquet]
    metrics:
      - reports/metrics.json: {cache: false}
    plots:
      - reports/plots/roc.json: {cache: false}
      - reports/plots/prc.json: {cache: false}
      - reports/plots/calibration.json: {cache: false}
      - reports/plots/confusion.json: {cache: false}
artifacts:
  classifier:
    path: models/model.skops
    type: model
"""


def _files(i: int, auc: float) -> dict[str, str]:
    pts = [k / 20 for k in range(21)]
    metrics = {"roc_auc": round(auc, 6), "average_precision": round(auc - 0.2, 6),
               "accuracy": 0.8, "f1": round(0.6 + i % 7 / 100, 6),
               "log_loss": round(0.9 - auc / 2, 6), "brier": round(0.3 - auc / 5, 6)}  # fmt: skip
    lock = (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
        f"    - path: models/model.skops\n      md5: {i:032x}\n      size: 100\n"
        f"    - path: data/train.parquet\n      md5: {i + 7:032x}\n      size: 100\n"
    )
    return {
        "params.yaml": f"train:\n  seed: {i}\n  max_depth: {3 + i % 6}\n  learning_rate: {0.05 + i % 5 / 100}\n",
        "dvc.yaml": DVC_YAML,
        "dvc.lock": lock,
        "reports/metrics.json": json.dumps(metrics),
        "reports/plots/roc.json": json.dumps([{"fpr": x, "tpr": round(min(1, x ** (1 - auc)), 6)} for x in pts]),
        "reports/plots/prc.json": json.dumps([{"recall": x, "precision": round(1 - x * (1 - auc), 6)} for x in pts]),
        "reports/plots/calibration.json": json.dumps([{"mean_predicted": x, "fraction_positive": round(x * auc + 0.05, 6)} for x in pts]),
        "reports/plots/confusion.json": json.dumps([{"actual": str(k % 2), "predicted": str(k % 3 % 2)} for k in range(50)]),
    }  # fmt: skip


def _blob(out: list[bytes], text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    out.append(b"data %d\n" % len(data) + data + b"\n")


def _commit(out: list[bytes], ref: str, mark: int, when: int, msg: str, parent: int | None,
            files: dict[str, str]) -> None:  # fmt: skip
    out.append(f"commit {ref}\nmark :{mark}\ncommitter {WHO} {when} +0000\n".encode())
    _blob(out, msg)
    if parent is not None:
        out.append(f"from :{parent}\n".encode())
    for path, text in files.items():
        out.append(f"M 100644 inline {path}\n".encode())
        _blob(out, text)


def _tag(out: list[bytes], name: str, mark: int, when: int, subject: str, body: dict) -> None:
    lines = "\n".join(f"{k}: {json.dumps(v)}" for k, v in {"gitml": 1, **body}.items())
    out.append(f"tag {name}\nfrom :{mark}\ntagger {WHO} {when} +0000\n".encode())
    _blob(out, f"{subject}\n\n{lines}\n")


def make_repo(repo: Path) -> None:
    """Write the benchmark repository with one `git fast-import`."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    out: list[bytes] = []
    conf = (ROOT / "conf" / "gitml.yaml").read_text()
    aucs = {}
    for i in range(1, COMMITS + 1):
        auc = 0.75 + 0.1 * (i / COMMITS) + (i % 11) / 1000
        aucs[i] = auc
        files = _files(i, auc)
        if i == 1:
            files["conf/gitml.yaml"] = conf
        _commit(
            out, "refs/heads/main", i, T0 + i * 60, f"train {i}", i - 1 if i > 1 else None, files
        )
    for e in range(EXPERIMENTS):
        base = COMMITS - e % 20
        mark = 10_000 + e
        _commit(out, f"refs/exps/tmp/{e}", mark, T0 + COMMITS * 60 + e, f"exp {e}", base,
                _files(base * 1000 + e, aucs[base] + (e % 9 - 4) / 200))  # fmt: skip
    versions = list(range(COMMITS - VERSIONS * 4 + 4, COMMITS + 1, 4))[:VERSIONS]
    when = T0 + COMMITS * 60 + 1000
    counter = 0
    for n, i in enumerate(versions):
        version = f"v1.{n}.0"
        when += 10
        _tag(out, f"classifier@{version}", i, when, f"Registering artifact classifier version {version}",
             {"action": "register", "version": version, "reason": f"candidate {n}",
              "metrics": {"roc_auc": round(aucs[i], 6)}})  # fmt: skip
    tags = VERSIONS
    while tags < TAGS:
        i = versions[counter % VERSIONS]
        for stage in ("staging", "production"):
            if tags >= TAGS:
                break
            counter += 1
            when += 10
            gates = {"passed": True, "results": [{"gate": "roc_auc", "kind": "metric", "passed": True,
                     "detail": "improved", "candidate": aucs[i], "champion": None, "status": "improved"}]}  # fmt: skip
            _tag(out, f"classifier#{stage}#{counter}", i, when,
                 f"Assigning stage {stage} to artifact classifier version",
                 {"action": "assign", "stage": stage, "reason": f"promotion {counter}",
                  "forced": False, "rollback_of": None, "gates": gates})  # fmt: skip
            tags += 1
    cols = [f"f{k}" for k in range(12)]
    for r in range(RUNS):
        report = {
            "status": "ok", "dataset_drift": False, "drift_share": 0.0, "n_columns": len(cols),
            "n_drifted": 0, "drifted_columns": [], "critical_drifted": [], "prediction_drift": False,
            "decay": False, "quality_passed": True, "rows": 10000, "reference_rows": 50000,
            "columns": {c: {"kind": "numeric", "method": "wasserstein", "score": (r * k % 13) / 100,
                            "threshold": 0.1, "drifted": False} for k, c in enumerate(cols)},
            "prediction": None, "quality": {"passed": True}, "metrics": None,
        }  # fmt: skip
        day = time.strftime("%Y%m%d", time.gmtime(when + r * 86400))
        _commit(out, "refs/heads/gitml/monitoring", 20_000 + r, when + r * 86400, f"monitor {r}",
                20_000 + r - 1 if r else None, {f"runs/{day}T061700Z-{r}.json": json.dumps(report)})  # fmt: skip
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out), check=True)
    # experiments live under refs/exps/<baseline[:2]>/<baseline[2:]>/<name>: rename the temp refs
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/tmp"],
                          cwd=repo, capture_output=True, text=True, check=True).stdout.split("\n")  # fmt: skip
    pairs = [line.split() for line in refs if line]
    parents = subprocess.run(["git", "rev-parse", *(f"{sha}^" for _, sha in pairs)], cwd=repo,
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    updates = []
    for (ref, sha), parent in zip(pairs, parents, strict=True):
        name = ref.rsplit("/", 1)[1]
        updates.append(f"create refs/exps/{parent[:2]}/{parent[2:]}/exp-{name} {sha}\n")
        updates.append(f"delete {ref}\n")
    subprocess.run(
        ["git", "update-ref", "--stdin"], cwd=repo, input="".join(updates).encode(), check=True
    )
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)


def render_times(site: Path, screenshot: Path | None) -> dict[str, float]:
    """Navigation-to-load time of each page type in headless Chromium (best of 3)."""
    from playwright.sync_api import sync_playwright

    pages = ["index.html", "models.html", "experiments.html", "history.html", "health.html",
             next(str(p.relative_to(site)) for p in (site / "versions").rglob("*.html"))]  # fmt: skip
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    times: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for name in pages:
            best = float("inf")
            for _ in range(3):
                page.goto((site / name).as_uri(), wait_until="load")
                best = min(best, page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.loadEventEnd - n.startTime; }"))  # fmt: skip
            times[name] = best / 1000
        if screenshot is not None:  # README's picture: two experiments compared
            page.set_viewport_size({"width": 1280, "height": 720})
            page.goto((site / "experiments.html").as_uri())
            page.select_option("#kind", "experiment")
            boxes = page.locator("#runs tbody tr:not([hidden]) input[type=checkbox]")
            boxes.nth(0).check()
            boxes.nth(boxes.count() - 1).check()
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--screenshot", type=Path, default=None, help="Also save a PNG here.")
    args = parser.parse_args()
    from gitml.site.render import build_site

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        start = time.perf_counter()
        make_repo(repo)
        made = time.perf_counter() - start
        n_tags = len(
            subprocess.run(["git", "tag"], cwd=repo, capture_output=True, text=True).stdout.split()
        )
        site = Path(tmp) / "site"
        builds = []
        for _ in range(3):
            start = time.perf_counter()
            built = build_site(repo, site)
            builds.append(time.perf_counter() - start)
        gitml = Path(sys.executable).with_name("gitml")
        start = time.perf_counter()
        subprocess.run([str(gitml), "site", "build", "-o", str(site), "--root", str(repo)],
                       check=True, capture_output=True)  # fmt: skip
        cli = time.perf_counter() - start
        sizes = {str(p.relative_to(site)): p.stat().st_size for p in site.rglob("*.html")}
        largest = max(sizes, key=lambda k: sizes[k])
        times = render_times(site, args.screenshot)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        )
        print(f"repo: {COMMITS} commits, {EXPERIMENTS} experiments, {VERSIONS} versions, "
              f"{n_tags} tags, {RUNS} monitoring runs (fast-import {made:.2f} s)")  # fmt: skip
        print(f"build_site: best {min(builds):.2f} s, median {sorted(builds)[1]:.2f} s "
              f"({len(built.pages)} pages); CLI {cli:.2f} s")  # fmt: skip
        print(f"largest page: {largest} {sizes[largest] / 1e6:.2f} MB; total "
              f"{sum(sizes.values()) / 1e6:.2f} MB")  # fmt: skip
        for name, seconds in times.items():
            print(f"render {name}: {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
