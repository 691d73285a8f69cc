"""Curve plots (ROC, precision-recall, calibration) and the confusion matrix, base against head."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitml.report.values import number

#: Plots drawn as lines: file stem -> (title, x field, y field).
LINE_PLOTS: dict[str, tuple[str, str, str]] = {
    "roc": ("ROC", "fpr", "tpr"),
    "prc": ("Precision-recall", "recall", "precision"),
    "calibration": ("Calibration", "mean_predicted", "fraction_positive"),
}


@dataclass(frozen=True)
class LinePlot:
    """One curve plot, base and head as (x, y) points sorted by x."""

    name: str
    title: str
    x: str
    y: str
    base: list[tuple[float, float]]
    head: list[tuple[float, float]]

    def sampled(
        self, points: int = 11
    ) -> tuple[list[float], list[float | None], list[float | None]]:
        """Both curves linearly interpolated on one evenly spaced x grid (for Mermaid)."""
        xs = [p[0] for p in self.base + self.head]
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        grid = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
        return grid, [_interp(self.base, x) for x in grid], [_interp(self.head, x) for x in grid]


def _interp(points: Sequence[tuple[float, float]], x: float) -> float | None:
    if not points:
        return None
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _series(
    records: Sequence[Mapping[str, Any]] | None, x: str, y: str
) -> list[tuple[float, float]]:
    out = []
    for record in records or []:
        xv, yv = number(record.get(x)), number(record.get(y))
        if xv is not None and yv is not None:
            out.append((xv, yv))
    # Stable sort by x, then y: ROC-like curves go up-right, so ties keep a monotone path.
    return sorted(out)


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix from per-row (actual, predicted) records, base and head counts."""

    labels: list[str]
    base: dict[tuple[str, str], int] | None
    head: dict[tuple[str, str], int] | None

    def cell(self, side: str, actual: str, predicted: str) -> int | None:
        counts = self.base if side == "base" else self.head
        return None if counts is None else counts.get((actual, predicted), 0)


def _confusion_counts(
    records: Sequence[Mapping[str, Any]] | None,
) -> dict[tuple[str, str], int] | None:
    if records is None:
        return None
    counts: dict[tuple[str, str], int] = {}
    for record in records:
        key = (str(record.get("actual")), str(record.get("predicted")))
        counts[key] = counts.get(key, 0) + 1
    return counts


def build_plots(
    base: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    head: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[list[LinePlot], Confusion | None]:
    """Line plots present on either side, and the confusion matrix when head has one."""
    old = base or {}
    lines = []
    for name, (title, x, y) in LINE_PLOTS.items():
        if head.get(name) or old.get(name):  # an empty file: the run's task does not draw it
            lines.append(
                LinePlot(
                    name, title, x, y, _series(old.get(name), x, y), _series(head.get(name), x, y)
                )
            )
    confusion = None
    if head.get("confusion") or old.get("confusion"):
        base_counts = _confusion_counts(old.get("confusion"))
        head_counts = _confusion_counts(head.get("confusion"))
        sides = (base_counts or {}, head_counts or {})
        labels = sorted({label for counts in sides for pair in counts for label in pair})
        confusion = Confusion(labels, base_counts, head_counts)
    return lines, confusion
