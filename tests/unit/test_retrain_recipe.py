"""`gitml retrain` keeps the version's recipe: its model and split groups and changed values."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitml.retrain import recipe_overrides

ROOT = Path(__file__).resolve().parents[2]


def composed(**model: object) -> dict[str, object]:
    """A params.yaml as composed with the regressor, the stratified split and `model` values."""
    conf = ROOT / "conf"
    raw = yaml.safe_load((conf / "model/hist_gradient_boosting_regressor.yaml").read_text())
    raw["random_state"] = 42  # composed: ${seed} resolved
    split = yaml.safe_load((conf / "split/stratified.yaml").read_text())
    return {"data": {"name": "diabetes"}, "model": {**raw, **model}, "split": split}


def test_groups_are_kept_and_only_changed_values_are_carried() -> None:
    params = composed(max_iter=20, early_stopping=True, learning_rate=0.1)
    params["model"]["preprocessing"] = {"scale_numeric": True, "categorical": "native"}
    assert recipe_overrides(params, ROOT / "conf") == (
        "model=hist_gradient_boosting_regressor",
        "model.learning_rate=0.1",
        "model.max_iter=20",
        "model.early_stopping=true",
        "model.preprocessing.scale_numeric=true",
        "split=stratified",
    )


def test_the_unchanged_recipe_is_just_the_groups() -> None:
    assert recipe_overrides(composed(), ROOT / "conf") == (
        "model=hist_gradient_boosting_regressor",
        "split=stratified",
    )


def test_gone_groups_and_keys_are_left_to_the_current_config(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model/ridge.yaml").write_text("name: ridge\n_target_: x.Ridge\nalpha: 1.0\n")
    params = {
        "model": {"name": "ridge", "_target_": "x.Ridge", "alpha": 0.5, "removed": 3},
        "split": {"name": "gone", "test_size": 0.3},
    }
    assert recipe_overrides(params, tmp_path) == ("model=ridge", "model.alpha=0.5")
