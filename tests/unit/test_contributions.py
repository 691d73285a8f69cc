"""The model card's contribution summary (gitml.contributions, stages.contributions, the card)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, PolynomialFeatures

from gitml import contributions as contrib
from gitml.explain import Explainer, background_from_profile, raw_output
from gitml.fileio import dumps_json
from gitml.modeling import Signature
from gitml.profile import build_profile
from stages import contributions as stage
from stages import model_card

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SPECS: list[dict[str, Any]] = [
    {"name": "x1", "kind": "numeric"},
    {"name": "x2", "kind": "numeric"},
    {"name": "color", "kind": "categorical"},
    {"name": "size", "kind": "categorical"},
]
NAMES = [s["name"] for s in SPECS]


def _frame(n: int = 700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "size": rng.choice(["s", "m", "l"], size=n).astype(object),
        }
    )
    x.loc[x.index[::9], "x2"] = np.nan
    return x


def _signal(x: pd.DataFrame) -> np.ndarray:
    return np.asarray(
        2 * x["x1"] - 0.5 * x["x2"].fillna(0) + np.where(x["color"] == "red", 1.5, 0.0)
    )


def _pipeline(estimator: object, native: bool) -> Pipeline:
    cat: object = (
        OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
        )
        if native
        else OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    pre = ColumnTransformer(
        [("numeric", "passthrough", ["x1", "x2"]), ("categorical", cat, ["color", "size"])],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])


def _signature(task: str, classes: list[Any], positive: Any) -> Signature:
    return Signature(
        features=SPECS,
        target="y",
        task=task,
        classes=classes,
        positive_class=positive,
        training_data_md5="",
        model="m",
        estimator="e",
    )


def _check(summary: dict[str, Any], model: Any, x: pd.DataFrame, rows: int, seed: int) -> None:
    """The summary equals the mean of gitml.explain's per-row contributions on the same rows."""
    index = contrib.sample_index(len(x), rows, seed)
    assert summary["sample"] == {"rows": len(index), "of": len(x), "seed": seed}
    sampled = x.iloc[index].reset_index(drop=True)
    for out in summary["outputs"]:
        found = Explainer(model, NAMES, out["class"], None).explain(sampled)
        by_name = {f["feature"]: f for f in out["features"]}
        for i, name in enumerate(NAMES):
            assert by_name[name]["mean_abs"] == pytest.approx(
                np.abs(found.values[:, i]).mean(), abs=1e-6
            )
            assert by_name[name]["mean"] == pytest.approx(found.values[:, i].mean(), abs=1e-6)
        shares = [f["share"] for f in out["features"]]
        assert sum(shares) == pytest.approx(1.0, abs=1e-5)
        means = [f["mean_abs"] for f in out["features"]]
        assert means == sorted(means, reverse=True)
        assert out["total_mean_abs"] == pytest.approx(sum(means), abs=1e-5)
        # base + contributions = the raw output, on average too
        assert out["mean_base"] + sum(f["mean"] for f in out["features"]) == pytest.approx(
            out["mean_output"], abs=1e-5
        )
        raw = raw_output(model, sampled, 0 if out["class"] is None else out["class"])
        assert out["mean_output"] == pytest.approx(raw.mean(), abs=1e-5)


def test_binary_summary_is_the_mean_of_the_row_contributions_and_deterministic() -> None:
    x = _frame()
    y = (_signal(x) > 0.5).astype(int)
    model = _pipeline(
        HistGradientBoostingClassifier(
            max_iter=30,
            max_depth=3,
            random_state=0,
            categorical_features=[False, False, True, True],
        ),
        native=True,
    ).fit(x, y)
    sig = _signature("binary", [0, 1], 1)
    summary = stage.summarize(model, x, sig, None, seed=7, rows=300)
    assert summary["explained"] and summary["method"] == "tree"
    assert summary["output"] == "log-odds" and [o["class"] for o in summary["outputs"]] == [1]
    _check(summary, model, x, 300, 7)
    top = [f["feature"] for f in summary["outputs"][0]["features"][:2]]
    assert top == ["x1", "color"]
    trends = {f["feature"]: f["trend"] for f in summary["outputs"][0]["features"]}
    assert trends["x1"] > 0.5 and trends["x2"] < 0 and trends["color"] is None
    # rerun: the same bytes; another seed: another sample
    assert dumps_json(stage.summarize(model, x, sig, None, seed=7, rows=300)) == dumps_json(summary)
    assert stage.summarize(model, x, sig, None, seed=8, rows=300) != summary


def test_multiclass_summarises_every_class() -> None:
    x = _frame()
    s = _signal(x)
    y = np.where(s < -1, "low", np.where(s < 1, "mid", "high"))
    model = _pipeline(RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0), False)
    model.fit(x, y)
    classes = sorted(set(y.tolist()))
    summary = stage.summarize(model, x, _signature("multiclass", classes, None), None, 3, 200)
    assert [o["class"] for o in summary["outputs"]] == classes
    assert summary["output"] == "probability"
    _check(summary, model, x, 200, 3)


def test_regression_with_a_tree_and_a_model_agnostic_binary() -> None:
    x = _frame(400)
    target = _signal(x) * 10 + 50
    reg = _pipeline(HistGradientBoostingRegressor(max_iter=30, random_state=0), False)
    reg.fit(x, target)
    summary = stage.summarize(reg, x, _signature("regression", [], None), None, 1, 1000)
    assert summary["sample"]["rows"] == 400 and summary["output"] == "prediction"
    assert [o["class"] for o in summary["outputs"]] == [None]
    _check(summary, reg, x, 1000, 1)

    x = x.fillna(0.0)  # logistic regression takes no missing values
    logit = _pipeline(LogisticRegression(max_iter=500), False).fit(x, (_signal(x) > 0).astype(int))
    background = background_from_profile(build_profile(x, ["x1", "x2"], ["color", "size"]), SPECS)
    sig = _signature("binary", [0, 1], 1)
    found = stage.summarize(logit, x, sig, background, 5, 50)
    assert found["explained"] and found["method"] == "permutation"
    assert found["outputs"][0]["features"][0]["feature"] == "x1"
    out = found["outputs"][0]
    assert out["mean_base"] + sum(f["mean"] for f in out["features"]) == pytest.approx(
        out["mean_output"], abs=1e-5
    )
    # without a background the model-agnostic explainer cannot run: recorded, not raised
    missing = stage.summarize(logit, x, sig, None, 5, 50)
    assert missing["explained"] is False and "background" in missing["reason"]


def _card(tmp_path: Path, summary: dict[str, Any]) -> str:
    """The real template rendered with the project's reports and `summary`."""
    path = tmp_path / "contributions.json"
    path.write_text(dumps_json(summary), encoding="utf-8")
    out = tmp_path / "card.md"
    model_card.run(
        str(ROOT / "params.yaml"),
        str(ROOT / "src/gitml/templates/model_card.md.j2"),
        str(ROOT / "models/signature.json"),
        str(ROOT / "reports/metrics.json"),
        str(ROOT / "reports/slices.json"),
        str(ROOT / "reports/importance.json"),
        str(path),
        str(ROOT / "reports/validation.json"),
        str(out),
    )
    return out.read_text(encoding="utf-8")


def test_card_renders_one_table_per_class_or_a_line_when_not_explained(tmp_path: Path) -> None:
    x = _frame(300)
    s = _signal(x)
    y = np.where(s < -1, "low", np.where(s < 1, "mid", "high"))
    model = _pipeline(RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0), False)
    summary = stage.summarize(
        model.fit(x, y), x, _signature("multiclass", ["high", "low", "mid"], None), None, 0, 100
    )
    card = _card(tmp_path, summary)
    section = card.split("## What drives the predictions\n", 1)[1]
    assert "the probability of class" not in section and "each class's probability" in section
    for label in ("high", "low", "mid"):
        assert f"### class `{label}`" in section
    assert section.count("| feature | mean abs. contribution | share |") == 3
    first = summary["outputs"][0]["features"][0]
    assert f"| {first['feature']} | {first['mean_abs']:.4f} | {100 * first['share']:.1f}% |" in (
        section
    )

    # a model the explainer cannot map back to its input features
    poly = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer([("numeric", PolynomialFeatures(2), ["x1", "x2"])]),
            ),
            ("model", HistGradientBoostingRegressor(max_iter=5)),
        ]
    ).fit(x.fillna(0), s)
    summary = stage.summarize(poly, x.fillna(0), _signature("regression", [], None), None, 0, 50)
    assert summary["explained"] is False and summary["outputs"] == []
    card = _card(tmp_path, summary)
    section = card.split("## What drives the predictions\n", 1)[1]
    assert section.strip() == f"Not computed: {summary['reason']}"
    assert "Not computed: " in card and "{{" not in card


def test_committed_summary_matches_the_committed_card() -> None:
    """reports/contributions.json (from `make run`) is what reports/model_card.md shows."""
    summary = json.loads((ROOT / "reports/contributions.json").read_text(encoding="utf-8"))
    card = (ROOT / "reports/model_card.md").read_text(encoding="utf-8")
    assert summary["explained"] and len(summary["outputs"]) == 1
    for f in summary["outputs"][0]["features"]:
        assert f"| {f['feature']} | {f['mean_abs']:.4f} | {100 * f['share']:.1f}% |" in card


def test_direction_and_sampling() -> None:
    assert contrib.direction(None) == "" and contrib.direction(0.9) == "raises"
    assert contrib.direction(-0.7) == "lowers" and contrib.direction(0.2) == "mixed"
    assert list(contrib.sample_index(5, 10, 0)) == [0, 1, 2, 3, 4]
    picked = contrib.sample_index(5000, 1000, 42)
    assert len(set(picked)) == 1000 and list(picked) == sorted(picked)
    assert np.array_equal(picked, contrib.sample_index(5000, 1000, 42))
