"""Whether two revisions' metrics can be compared at all: same dataset, target, task, test rows.

Metrics measured on different data say nothing about which model is better, so the report gives
no improved/regressed verdict then: its status is "not comparable", with the reasons. Pure: it
reads the params and dvc.lock the adapter read at each revision.

The test rows are the data files the evaluating stage (the one writing the metrics file) depends
on, identified by their md5 in dvc.lock; their row count comes from the score profile when it
could be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitml.lockfile import writer_deps
from gitml.problem import data_section, differences

#: Dependency suffixes that count as evaluation data (not code, models or signatures).
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".feather", ".arrow")


@dataclass(frozen=True)
class EvalRows:
    """The rows a revision's metrics were measured on: data files (path -> md5) and a count."""

    files: Mapping[str, str]
    count: int | None = None

    @property
    def digest(self) -> str:
        """A short digest of the files, for the report ("md5 1a2b3c4d")."""
        return ", ".join(md5[:8] for _, md5 in sorted(self.files.items())) or "—"


@dataclass(frozen=True)
class Comparability:
    """Whether base and head measure the same thing, and if not, why not."""

    comparable: bool
    reasons: tuple[str, ...] = ()


COMPARABLE = Comparability(True)


def evaluation_rows(
    lock: Mapping[str, Any] | None, metrics_path: str, count: int | None = None
) -> EvalRows | None:
    """The data files the stage writing `metrics_path` depends on (None: unknown)."""
    deps = writer_deps(lock, metrics_path)
    files = {path: md5 for path, md5 in (deps or {}).items() if path.endswith(DATA_SUFFIXES)}
    return EvalRows(files, count) if files else None


def _count(rows: EvalRows) -> str:
    return f"{rows.count:,}" if rows.count is not None else "?"


def comparability(
    base_params: Mapping[str, Any] | None,
    head_params: Mapping[str, Any] | None,
    base_rows: EvalRows | None,
    head_rows: EvalRows | None,
) -> Comparability:
    """Compare the dataset (data config name), target, task and test rows of two revisions.

    A side that does not declare a key (or whose test rows are unknown) is not held against the
    other: only a difference both sides state makes them not comparable. The dataset, target and
    task are `gitml.problem.differences`, which the promotion gates use too.
    """
    reasons = list(differences(data_section(base_params), data_section(head_params)))
    if base_rows is not None and head_rows is not None and base_rows.files != head_rows.files:
        reasons.append(
            f"test rows differ: {_count(base_rows)} vs {_count(head_rows)} "
            f"(md5 {base_rows.digest} vs {head_rows.digest})"
        )
    return Comparability(not reasons, tuple(reasons))
