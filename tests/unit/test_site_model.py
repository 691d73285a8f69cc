"""The site's pure transforms: curves, confusion counts, run times, holders over time, charts."""

from __future__ import annotations

import pytest

from gitml.site.charts import line_chart
from gitml.site.model import (
    Links,
    confusion,
    curve,
    downsample,
    holder_at,
    slug,
    stamp,
)

pytestmark = pytest.mark.unit


def test_downsample_keeps_ends_and_limit() -> None:
    pts = [(i / 99, i / 99) for i in range(100)]
    out = downsample(pts, 10)
    assert len(out) == 10 and out[0] == [0.0, 0.0] and out[-1] == [1.0, 1.0]
    assert downsample(pts[:5], 10) == [
        [p[0], p[1]] for p in [(round(x, 6), round(y, 6)) for x, y in pts[:5]]
    ]


def test_curve_skips_non_numbers_and_sorts() -> None:
    records = [{"fpr": 0.5, "tpr": 0.8}, {"fpr": 0.0, "tpr": 0.0}, {"fpr": "x", "tpr": 1}]
    assert curve(records, "fpr", "tpr") == [[0.0, 0.0], [0.5, 0.8]]
    assert curve({"not": "a list"}, "fpr", "tpr") == []


def test_confusion_counts() -> None:
    records = [
        {"actual": 1, "predicted": 1},
        {"actual": 1, "predicted": 0},
        {"actual": 0, "predicted": 0},
    ]
    assert confusion(records) == {"labels": ["0", "1"], "counts": [[1, 0], [1, 1]]}


def test_stamp_reads_the_file_name() -> None:
    assert stamp("20240501T061700Z-77.json") == "2024-05-01T06:17:00Z"
    assert stamp("report.json") is None


def test_holder_at_replays_assignments_until_then() -> None:
    rows = [
        {"event": "assign", "stage": "production", "version": "v1", "timestamp": "2024-01-01T00:00:00Z"},
        {"event": "assign", "stage": "staging", "version": "v2", "timestamp": "2024-01-02T00:00:00Z"},
        {"event": "assign", "stage": "production", "version": "v2", "timestamp": "2024-01-03T00:00:00Z"},
        {"event": "unassign", "stage": "production", "version": "v2", "timestamp": "2024-01-05T00:00:00Z"},
    ]  # fmt: skip
    assert holder_at(rows, "production", "2023-12-31T00:00:00Z") is None
    assert holder_at(rows, "production", "2024-01-02T12:00:00Z") == "v1"
    assert holder_at(rows, "production", "2024-01-04T00:00:00Z") == "v2"
    assert holder_at(rows, "production", "2024-01-06T00:00:00Z") is None
    assert holder_at(rows, "production", None) is None


def test_links_and_slug() -> None:
    links = Links("https://f/c/{sha}", None)
    assert links.commit("abc") == "https://f/c/abc" and links.tag("t") is None
    assert Links().commit("abc") is None
    assert slug("team/model:v1") == "team-model-v1"


def test_line_chart_one_point_per_value_and_gaps() -> None:
    svg = line_chart("t", ["a", "b", "c"], {"x": [0.1, None, 0.3], "y": [1.0, 2.0, 3.0]},
                     x_label="run", y_label="v", table_id="tbl")  # fmt: skip
    assert svg.count('class="point"') == 5
    assert svg.count("<polyline") == 3  # x is split by its gap
    assert 'aria-describedby="tbl"' in svg and "<script" not in svg
