"""The production loop closed: train, serve, log (rotated), then monitor the log and join labels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)

from gitml.modeling import load_signature
from tests.serve_support import BuiltModel, records, start_server

pytestmark = pytest.mark.integration

#: Rows per request: one-row requests and several multi-row ones (28 rows in 12 requests).
SIZES = [1, 3, 1, 5, 2, 1, 4, 1, 3, 1, 5, 1]


def monitor(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitml.cli", "monitor", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_monitor_reads_the_served_rotated_log_and_joins_late_labels(ran_repo: Path) -> None:
    conf_path = ran_repo / "conf" / "gitml.yaml"
    conf = yaml.safe_load(conf_path.read_text())
    conf["serve"]["log"] = {**conf["serve"]["log"], "rotate_bytes": 4096, "keep": 50}
    conf_path.write_text(yaml.safe_dump(conf))
    sig = load_signature(ran_repo / "models" / "signature.json")
    test = pd.read_parquet(ran_repo / "data" / "test.parquet")
    built = BuiltModel(ran_repo, ran_repo / "models" / "model.skops", None, sig, test)
    live = ran_repo / "logs" / "predictions.jsonl"
    live.parent.mkdir()
    server = start_server(built, live)
    sent: list[tuple[str, int, Any, float]] = []  # request id, row, label, served score
    start = 0
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for i, size in enumerate(SIZES):
                frame = test.iloc[start : start + size]
                start += size
                r = http.post(
                    "/invocations?probabilities=true",
                    json={"dataframe_records": records(frame[sig.feature_names])},
                    headers={"X-Request-ID": f"req-{i}"},
                )
                assert r.status_code == 200, r.text
                proba = np.asarray(r.json()["probabilities"], dtype=float)
                positive = list(sig.classes).index(sig.positive_class)
                for row, (label, p) in enumerate(
                    zip(frame[sig.target].tolist(), proba[:, positive], strict=True)
                ):
                    sent.append((f"req-{i}", row, label, float(p)))
            rejected = http.post(
                "/invocations", json={"dataframe_records": [{"age": "old"}]},
                headers={"X-Request-ID": "bad-1"},
            )  # fmt: skip
            assert 400 <= rejected.status_code < 500
    finally:
        server.stop()
    rotated = sorted(live.parent.glob("predictions.jsonl.*"))
    assert rotated, "the log did not rotate; lower rotate_bytes"
    assert live.is_file()

    # Labels arrive later, for most rows; two name requests the log does not have.
    labelled = [s for k, s in enumerate(sent) if k % 4 != 3]
    bogus = [("req-404", 0, 1), ("req-0", 7, 0)]
    labels = pd.DataFrame(
        [(rid, row, label) for rid, row, label, _ in labelled] + bogus,
        columns=["request_id", "row", sig.target],
    )
    labels.to_csv(ran_repo / "labels.csv", index=False)

    done = monitor(
        ran_repo, "--profile", "data/profile.json", "--params", "params.yaml",
        "--metrics", "reports/metrics.json", "--log", "logs/predictions.jsonl",
        "--labels", "labels.csv", "--format", "json", "-o", "monitor.json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((ran_repo / "monitor.json").read_text())
    assert report["rows"] == sum(SIZES) == len(sent)
    assert report["log"]["files"] == [
        *(f"logs/{p.name}" for p in sorted(rotated, key=lambda p: -int(p.suffix[1:]))),
        "logs/predictions.jsonl",
    ]
    assert report["log"]["requests"] == len(SIZES) + 1 and report["log"]["rejected"] == 1
    assert report["quality"]["undeclared_columns"] == []
    assert report["quality"]["schema_checked"] and report["quality"]["schema_failures"] == []
    join = report["metrics"]["join"]
    assert join == {
        "labels_file": "labels.csv",
        "key": ["request_id", "row"],
        "labels": len(labelled) + len(bogus),
        "joined_rows": len(labelled),
        "rows_without_label": len(sent) - len(labelled),
        "labels_without_row": len(bogus),
        "labels_without_value": 0,
    }
    assert report["metrics"]["labelled_rows"] == len(labelled)

    y = np.array([label == sig.positive_class for _, _, label, _ in labelled], dtype=int)
    p = np.array([score for *_, score in labelled])
    assert 0 < y.sum() < len(y), "the joined rows need both classes"
    # decisions at the threshold the train stage chose, as the recorded metrics were computed
    assert sig.threshold is not None and sig.threshold != 0.5
    decided = (p >= sig.threshold).astype(int)
    expected = {
        "roc_auc": roc_auc_score(y, p),
        "average_precision": average_precision_score(y, p),
        "accuracy": accuracy_score(y, decided),
        "f1": f1_score(y, decided),
        "log_loss": log_loss(y, np.column_stack([1 - p, p]), labels=[0, 1]),
        "brier": brier_score_loss(y, p),
    }
    current = {name: m["current"] for name, m in report["metrics"]["metrics"].items()}
    assert current == pytest.approx(expected, abs=1e-9)
    recorded = json.loads((ran_repo / "reports" / "metrics.json").read_text())
    assert report["metrics"]["metrics"]["roc_auc"]["recorded"] is not None, recorded

    # The same log through the Markdown report: the join is reported, not silently dropped.
    md = monitor(
        ran_repo, "--profile", "data/profile.json", "--params", "params.yaml",
        "--log", "logs/predictions.jsonl", "--labels", "labels.csv",
    )  # fmt: skip
    assert md.returncode == 0, md.stderr
    assert (
        f"{len(labelled)} joined" in md.stdout and f"{len(bogus)} label(s) matched no" in md.stdout
    )
