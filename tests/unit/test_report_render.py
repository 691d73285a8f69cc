"""Rendering `gitml report`: golden Markdown/HTML, GFM tables, size limit, no template leftovers.

Regenerate the goldens after an intended template change with
`GITML_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_report_render.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from gitml.compare import MetricRule
from gitml.report.core import (
    Report,
    Snapshot,
    build_report,
    combine,
    compare_by_problem,
    compare_experiments,
)
from gitml.report.render import (
    fit_markdown,
    render_compare_html,
    render_compare_markdown,
    render_html,
    render_json,
    render_markdown,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "gitml" / "templates"
GOLDEN = Path(__file__).parent / "golden"
MARKER = "<!-- gitml-report -->"
RULES = {
    "roc_auc": MetricRule(True, 0.002, 0.0, 0.005, 0.70),
    "average_precision": MetricRule(True, 0.002, 0.0, 0.01, None),
    "f1": MetricRule(True, 0.005, 0.0, 0.02, None),
    "log_loss": MetricRule(False, 0.002, 0.0, 0.01, None),
    "brier": MetricRule(False, 0.001, 0.0, 0.005, None),
}


def curve(power: float) -> list[dict[str, float]]:
    return [{"fpr": i / 10, "tpr": round((i / 10) ** power, 4)} for i in range(11)]


def lock(data: str, model: str) -> dict:
    return {"schema": "2.0", "stages": {
        "split": {"deps": [{"path": "stages/split.py", "md5": "s1"}],
                  "outs": [{"path": "data/train.parquet", "md5": data, "size": 1000}]},
        "train": {"deps": [{"path": "data/train.parquet", "md5": data},
                           {"path": "stages/train.py", "md5": model[:2]}],
                  "outs": [{"path": "models/model.skops", "md5": model, "size": 5000}]},
    }}  # fmt: skip


def validation(rows: int, extra: bool) -> dict:
    cols = {"age": {"dtype": "int64", "role": "feature", "nulls": 0},
            "gender": {"dtype": "category", "role": "sensitive", "nulls": 0}}  # fmt: skip
    if extra:
        cols["tenure"] = {"dtype": "float64", "role": "feature", "nulls": 3}
    return {"passed": True, "rows": rows, "failures": [], "columns": cols}


def slices(tpr_f: float, gap: float) -> dict:
    return {"gender": {"groups": {
        "female": {"count": 500, "selection_rate": 0.1, "tpr": tpr_f, "fpr": 0.05},
        "male": {"count": 480, "selection_rate": 0.12, "tpr": 0.6, "fpr": 0.07}},
        "demographic_parity_difference": gap, "equalized_odds_difference": 0.1}}  # fmt: skip


BASE = Snapshot(
    label="main",
    rev="a" * 40,
    metrics={
        "roc_auc": 0.75,
        "average_precision": 0.40,
        "f1": 0.30,
        "log_loss": 0.40,
        "brier": 0.12,
        "legacy": 1.0,
    },
    params={
        "model": {"name": "random_forest", "max_depth": 5},
        "seed": 42,
        "split": {"name": "stratified"},
    },
    lock=lock("d1", "m1"),
    validation=validation(1000, extra=False),
    slices=slices(0.62, 0.02),
    importance={"income": {"mean": 0.10}, "age": {"mean": 0.05}, "region": {"mean": 0.01}},
    plots={
        "roc": curve(0.5),
        "confusion": [{"actual": "0", "predicted": "0"}] * 3 + [{"actual": "1", "predicted": "0"}],
    },
)
HEAD = Snapshot(
    label="workspace",
    rev=None,
    metrics={
        "roc_auc": 0.76,
        "average_precision": 0.395,
        "f1": 0.25,
        "log_loss": float("nan"),
        "brier": 0.1205,
        "pr_auc_new": 0.5,
    },
    params={
        "model": {"name": "hist_gradient_boosting", "max_depth": 3, "learning_rate": 0.1},
        "seed": 42,
        "split": {"name": "stratified"},
    },
    lock=lock("d2", "m2"),
    validation=validation(1200, extra=True),
    slices=slices(0.58, 0.04),
    importance={"income": {"mean": 0.12}, "tenure": {"mean": 0.06}, "age": {"mean": 0.02}},
    plots={
        "roc": curve(0.4),
        "confusion": [{"actual": "0", "predicted": "0"}] * 2
        + [{"actual": "1", "predicted": "1"}] * 2,
    },
)


def report(base: Snapshot | None = BASE) -> Report:
    return build_report(base, HEAD, RULES, primary_metric="roc_auc", top_k=10,
                        skip_outs=["reports"], notes=["base is the merge-base of HEAD and main"])  # fmt: skip


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GITML_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; create it with GITML_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden"


def tables(md: str) -> list[list[list[str]]]:
    """Every GFM table as rows of cell texts, as a CommonMark + tables renderer parses them."""
    found: list[list[list[str]]] = []
    row: list[str] = []
    cell: list[str] | None = None
    for token in MarkdownIt("commonmark").enable("table").parse(md):
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            cell = []
        elif token.type == "inline" and cell is not None:
            cell.append(token.content)
        elif token.type in ("th_close", "td_close"):
            row.append(re.sub(r"[`*]", "", "".join(cell or [])))
            cell = None
        elif token.type == "tr_close":
            found[-1].append(row)
    return found


def no_leftovers(text: str) -> None:
    assert "{{" not in text and "{%" not in text and "{#" not in text


def test_markdown_golden_and_tables_parse() -> None:
    md = render_markdown(report(), TEMPLATES, marker=MARKER, limit=60000)
    check_golden("report.md", md)
    no_leftovers(md)
    assert md.splitlines()[0] == MARKER
    parsed = tables(md)
    # metrics, params, outputs, schema, slices, importance, confusion
    assert len(parsed) == 7
    metrics = parsed[0]
    assert metrics[0] == ["Metric", "Base", "Head", "Δ", "Δ%", "Status"]
    by_name = {row[0]: row for row in metrics[1:]}
    assert by_name["roc_auc ↑"][1:] == ["0.7500", "0.7600", "+0.0100", "+1.33%", "🟢 improved"]
    assert by_name["f1 ↑"][-1] == "🔴 regressed"
    assert by_name["log_loss ↓"][2] == "NaN" and by_name["log_loss ↓"][-1] == "⚠️ not a number"
    assert by_name["legacy"][-1] == "⚠️ removed" and by_name["pr_auc_new"][-1] == "🆕 new"
    assert all(len(row) == len(table[0]) for table in parsed for row in table)
    assert "`model: random_forest → hist_gradient_boosting`" in md
    assert md.count("```mermaid") == 1 and "xychart-beta" in md


def test_html_golden_self_contained() -> None:
    html = render_html(report(), TEMPLATES)
    check_golden("report.html", html)
    no_leftovers(html)
    assert not re.search(r"https?://|<script|<link|<img|url\(", html)
    assert html.count("<svg") == 1 and "<polyline" in html


def test_no_baseline_markdown() -> None:
    md = render_markdown(report(None), TEMPLATES, marker=MARKER, limit=60000)
    no_leftovers(md)
    assert "No baseline yet: new values only." in md
    assert tables(md)[0][0] == ["Metric", "Value", "Floor"]
    assert "❌ Regressed" in md  # log_loss is NaN at head: fails even with no baseline


def test_markdown_truncates_under_limit_with_note() -> None:
    many = {f"feature_{i:04d}": {"mean": i / 1e4} for i in range(3000)}
    wide = Snapshot(**{**HEAD.__dict__, "params": {"grid": {f"p{i}": i for i in range(3000)}},
                       "importance": many})  # fmt: skip
    big = build_report(BASE, wide, RULES, primary_metric="roc_auc", top_k=3000)
    for limit in (1500, 5000, 20000):
        md = render_markdown(big, TEMPLATES, marker=MARKER, limit=limit)
        assert len(md) <= limit
        assert md.startswith(MARKER) and "Truncated" in md
        no_leftovers(md)
        parsed = tables(md)
        assert parsed and all(len(row) == len(t[0]) for t in parsed for row in t)
    full = render_markdown(big, TEMPLATES, marker=MARKER, limit=10**7)
    assert "Truncated" not in full and len(full) > 20000


def test_hard_cut_keeps_fences_closed() -> None:
    text = "x\n```mermaid\n" + "line\n" * 500

    def render(omit: object, cap: object) -> str:
        return text

    cut = fit_markdown(render, 1000)
    assert len(cut) <= 1000 and cut.count("```") % 2 == 0 and "Truncated" in cut


def test_json_spells_out_non_finite_values() -> None:
    data = json.loads(render_json(report()))
    rows = {m["name"]: m for m in data["metrics"]}
    assert rows["log_loss"]["head"] == "NaN"
    assert data["verdict"]["status"] == "regressed" and data["verdict"]["passed"] is False
    assert data["base"] == {"label": "main", "rev": "a" * 40}


def test_compare_goldens() -> None:
    exps = [
        (
            "exp-a",
            "1" * 40,
            {"model": {"name": "rf", "max_depth": 3}},
            {"roc_auc": 0.71, "log_loss": 0.35},
        ),
        (
            "exp-b",
            "2" * 40,
            {"model": {"name": "rf", "max_depth": 6}},
            {"roc_auc": 0.74, "log_loss": 0.37},
        ),
        ("exp|c", "3" * 40, {"model": {"name": "hgb", "max_depth": 6}}, {"roc_auc": float("inf")}),
    ]
    table = compare_experiments(exps, RULES, "roc_auc")
    md = render_compare_markdown(table, TEMPLATES, marker=MARKER, limit=60000)
    check_golden("compare.md", md)
    no_leftovers(md)
    parsed = tables(md)[0]
    assert [row[0] for row in parsed[1:]] == ["exp-b", "exp-a", "exp|c"]
    assert parsed[1][parsed[0].index("roc_auc ↑")] == "0.7400 ★"
    assert parsed[2][parsed[0].index("log_loss ↓")] == "0.3500 ★"
    html = render_compare_html(table, TEMPLATES)
    check_golden("compare.html", html)
    no_leftovers(html)
    assert not re.search(r"https?://|<script", html)


def test_compare_markdown_truncates_rows() -> None:
    exps = [
        (f"exp-{i:03d}", f"{i:040d}", {"lr": i / 1000}, {"roc_auc": 0.5 + i / 1000})
        for i in range(400)
    ]
    table = compare_experiments(exps, RULES, "roc_auc")
    md = render_compare_markdown(table, TEMPLATES, marker=MARKER, limit=5000)
    assert len(md) <= 5000 and "more experiments not shown" in md
    assert tables(md)[0][1][0] == "exp-399"


def test_compare_separates_problems_and_shows_params_as_written() -> None:
    binary = {"name": "breast_cancer", "target": "diagnosis", "task": "binary"}
    engel = {"name": "engel", "target": "foodexp", "task": "regression"}
    exps = [
        ("rf50", "1" * 40, {"data": binary, "max_features": "sqrt"}, {"roc_auc": 0.97}),
        ("engel1", "2" * 40, {"data": engel, "max_features": 1.0}, {"rmse": 80.0}),
        ("lr", "3" * 40, {"data": binary, "max_features": 1.0}, {"roc_auc": 0.95}),
    ]
    groups = compare_by_problem(exps, RULES, lambda ms: "rmse" if "rmse" in ms[0] else "roc_auc")
    md = render_compare_markdown(combine(groups), TEMPLATES, marker=MARKER, limit=60000)
    no_leftovers(md)
    assert "Not comparable across problems" in md
    assert "### dataset breast_cancer, target diagnosis (binary)" in md
    assert "### dataset engel, target foodexp (regression)" in md
    binary_table, engel_table = tables(md)
    assert [row[0] for row in binary_table[1:]] == ["rf50", "lr"]
    assert [row[0] for row in engel_table[1:]] == ["engel1"]
    assert "★" not in " ".join(engel_table[1]) and "roc_auc ↑" not in engel_table[0]
    assert binary_table[2][binary_table[0].index("max_features")] == "1.0"
    html = render_compare_html(combine(groups), TEMPLATES)
    no_leftovers(html)
    assert (
        html.count("<table>") == 2 and "<h2>dataset engel, target foodexp (regression)</h2>" in html
    )
    assert "<td>1.0</td>" in html and "1.0000" not in html
    parsed = json.loads(render_json(combine(groups)))
    assert [o["problem"] for o in parsed["others"]] == [
        "dataset engel, target foodexp (regression)"
    ]
    assert "others" not in json.loads(render_json(compare_experiments(exps[:1], RULES, "roc_auc")))
