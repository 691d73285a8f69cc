"""The seed_noise stage in a real DVC pipeline, and `gitml report` judging on its seed means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipeline_repo import commit_all, dvc, gitml_ok

pytestmark = pytest.mark.integration


def record(repo: Path) -> dict:
    return json.loads((repo / "reports" / "seed_noise.json").read_text())


def test_a_deterministic_default_model_pays_for_one_refit(ran_repo: Path) -> None:
    noise = record(ran_repo)
    metrics = json.loads((ran_repo / "reports" / "metrics.json").read_text())
    assert noise["deterministic"] is True and len(noise["seeds"]) == 2
    assert noise["seeds"][0] == 42 and noise["seeds"][1] != 42
    assert {k: v[0] for k, v in noise["metrics"].items()} == metrics
    assert all(v[0] == v[1] for v in noise["metrics"].values())


def test_a_seed_only_change_of_a_forest_is_judged_on_the_seed_means(ran_repo: Path) -> None:
    """Base: a random forest with random_state 42; head: the same forest with random_state 7.
    The report judges each metric on the mean over 5 seeds per side and calls it no change.

    The roc_auc floor (0.70) judges the trained model itself, not the change, and this small
    forest sits near it on 3,000 rows, so the copy's policy drops it."""
    policy = ran_repo / "conf" / "gitml.yaml"
    policy.write_text(policy.read_text().replace("floor: 0.70}", "floor: null}"))
    dvc("exp", "run", "-S", "model=random_forest", cwd=ran_repo)
    commit_all(ran_repo, "random forest")
    base = record(ran_repo)
    dvc("exp", "run", "-S", "model=random_forest", "-S", "model.random_state=7", cwd=ran_repo)
    commit_all(ran_repo, "random forest, another estimator seed")
    head = record(ran_repo)
    for side in (base, head):
        assert side["deterministic"] is False and len(side["seeds"]) == 5
        assert all(len(v) == 5 for v in side["metrics"].values())
        assert len(set(side["metrics"]["log_loss"])) == 5  # every seed gives another forest
    assert head["seeds"][0] == 7 and not set(head["seeds"]) & set(base["seeds"])

    out = gitml_ok("report", "--base", "HEAD~1", "--head", "HEAD", "--format", "json", cwd=ran_repo)
    report = json.loads(out.stdout)
    assert report["verdict"]["status"] == "no_significant_change", report["verdict"]
    judged = {m["name"]: m["interval"] for m in report["metrics"] if m.get("interval")}
    assert judged and all(i["seeds"] == [5, 5] for i in judged.values())
    log_loss = judged["log_loss"]
    means = [sum(side["metrics"]["log_loss"]) / 5 for side in (base, head)]
    assert log_loss["delta"] == pytest.approx(means[1] - means[0])
    assert log_loss["low"] < log_loss["delta"] < log_loss["high"]
    md = gitml_ok("report", "--base", "HEAD~1", "--head", "HEAD", cwd=ran_repo).stdout
    assert "mean over estimator seeds (5 at" in md and "(seed means)" in md
    row = next(line for line in md.splitlines() if line.startswith("| `log_loss` | "))
    assert row.count("(5)") == 2, row  # the seed table: mean ± SD (seeds) at base and head
