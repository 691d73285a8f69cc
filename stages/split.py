"""split: split the validated table into train/test and profile the training features."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from gitml.config import DataConfig, SplitParams, load_params
from gitml.errors import GitmlError
from gitml.fileio import write_json, write_parquet
from gitml.profile import build_profile
from gitml.schema import coerce, labelled
from gitml.stagekit import stage_main
from gitml.tasks import get as get_task

log = logging.getLogger(__name__)


def method(data: DataConfig, split: SplitParams) -> str:
    """How the rows are split: "time", "stratified", or "random" (seeded) for a task whose row
    in `gitml.tasks` does not stratify (regression) under split=stratified."""
    if split.method == "time":
        return "time"
    return "stratified" if get_task(data.task).stratify else "random"


def split_frame(
    frame: pd.DataFrame, data: DataConfig, split: SplitParams, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split stratified on the target, or by time (the latest rows are the test set).

    A task whose row in `gitml.tasks` does not stratify (regression) gets a seeded random split.
    """
    how = method(data, split)
    if how == "time":
        if not data.time_column:
            raise GitmlError(
                f"split=time needs a time column, but data config '{data.name}' has none.",
                "Set data.time_column to a datetime column, or use -S split=stratified.",
            )
        order = np.argsort(frame[data.time_column].to_numpy(), kind="stable")
        cut = round(len(frame) * (1.0 - split.test_size))
        train, test = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
        if get_task(data.task).stratify:
            _every_test_class_trained(train[data.target], test[data.target], split.test_size)
        return train, test
    if how == "random":
        train, test = train_test_split(frame, test_size=split.test_size, random_state=seed)
        return train, test
    counts = frame[data.target].value_counts()
    if counts.min() < 2:
        raise GitmlError(
            f"Class {counts.idxmin()!r} of target '{data.target}' has a single row; "
            "a stratified split needs at least two per class.",
            "Add data for that class, or use -S split=time.",
        )
    train, test = train_test_split(
        frame, test_size=split.test_size, random_state=seed, stratify=frame[data.target]
    )
    return train, test


#: Fewer test rows than this make every metric noise (one row moves accuracy by over 3 points).
MIN_TEST_ROWS = 30


def split_warnings(
    train: pd.DataFrame, test: pd.DataFrame, data: DataConfig, split: SplitParams
) -> list[str]:
    """What the split leaves unmeasurable or noisy: a test set under MIN_TEST_ROWS rows, and
    (classification) classes whose rows all went to training."""
    out = []
    if len(test) < MIN_TEST_ROWS:
        out.append(
            f"the test set has only {len(test)} rows: metrics on so few rows are noise; add data "
            f"or raise the test share (now {split.test_size:g}) with -S split.test_size=..."
        )
    if get_task(data.task).stratify:
        in_test = set(test[data.target].dropna().unique())
        counts = train[data.target].value_counts()
        for cls, rows in counts.items():
            if cls not in in_test:
                shown = cls.item() if isinstance(cls, np.generic) else cls
                out.append(
                    f"class {shown!r} has {int(rows)} rows: none is in the test set, so its metrics "
                    "cannot be measured; add rows or merge it"
                )
    return out


def _every_test_class_trained(train: pd.Series, test: pd.Series, test_size: float) -> None:
    """A class seen only after the time cut cannot be learned, and its test rows cannot be
    scored (penguins ordered by species put every Chinstrap in the latest 20%)."""
    unseen = sorted(set(test.dropna().unique()) - set(train.dropna().unique()), key=str)
    if unseen:
        shown = ", ".join(repr(c.item() if isinstance(c, np.generic) else c) for c in unseen[:5])
        raise GitmlError(
            f"The time split leaves class(es) {shown} of target '{train.name}' only in the test "
            f"rows (the latest {test_size:.0%}): the model would never see them.",
            "Use -S split=stratified, a smaller split.test_size, or data in which every class "
            "occurs before the cut.",
        )


def run(params: str, data: str, validation: str, train: str, test: str, profile: str) -> None:
    """Split `data` (which `validation` must have passed) into `train`/`test`, write `profile`."""
    p = load_params(params)
    report = json.loads(Path(validation).read_text(encoding="utf-8"))
    if not report.get("passed"):
        raise GitmlError(
            f"{validation} says the data did not pass validation.",
            "Run the validate stage and fix what it reports.",
        )
    frame = labelled(coerce(pd.read_parquet(data), p.data), p.data.column(p.data.target))
    train_df, test_df = split_frame(frame, p.data, p.split, p.seed)
    write_parquet(Path(train), train_df.reset_index(drop=True))
    write_parquet(Path(test), test_df.reset_index(drop=True))
    write_json(
        Path(profile),
        build_profile(
            train_df, p.data.numeric_features, p.data.categorical_features, p.split.profile_bins
        ),
    )
    how = method(p.data, p.split)
    log.info("%s split: %d train / %d test rows", how, len(train_df), len(test_df))
    for warning in split_warnings(train_df, test_df, p.data, p.split):
        log.warning("warning: %s", warning)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "split",
        __doc__ or "",
        [
            ("params", "params.yaml"),
            ("data", "raw Parquet"),
            ("validation", "validation JSON"),
            ("train", "train Parquet"),
            ("test", "test Parquet"),
            ("profile", "profile JSON"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
