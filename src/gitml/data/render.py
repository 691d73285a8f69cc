"""Render an inferred data config as commented YAML (`gitml data init`; pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import yaml

from gitml import tasks
from gitml.data.colstats import ColumnStats
from gitml.data.infer import Inference

#: Below this many rows a data config selects a random forest: the project's default boosting
#: (min_samples_leaf: 50, or 20 for the regressor) has too few rows per leaf to learn much once
#: the split and the threshold's validation slice have taken theirs (iris: accuracy 0.73).
SMALL_ROWS = 1_000


def default_model(inf: Inference) -> tuple[str | None, str]:
    """The model a data config selects (None: the project's default) and why, as a comment."""
    kind = tasks.get(inf.task).estimator
    options = tasks.MODEL_OPTIONS[kind]
    if inf.rows < SMALL_ROWS:
        return options.forest, (
            f"{inf.rows} rows, fewer than {SMALL_ROWS:,}: this config's default model is "
            f"{options.forest} (min_samples_leaf: 5), since boosting's larger leaves "
            "would leave it little to learn; -S model=... picks another (conf/model/)."
        )
    if kind == "regressor":
        return options.boosting, (
            "A regression trains a regressor: this config's default model, unless -S model=... "
            f"picks another (conf/model/: {', '.join(options.names())})."
        )
    return None, ""


def na_values(stats: Iterable[ColumnStats]) -> list[str]:
    """Every missing-value marker met, as raw text (pandas matches na_values exactly), sorted."""
    found: set[str] = set()
    for s in stats:
        found.update(s.markers)
    return sorted(found)


def _flow(value: Any) -> str:
    """One YAML scalar or flow mapping/list on one line; non-ASCII text as written
    (`Température °C`, not `"Temp\\xE9rature \\xB0C"`), so a reviewer can read it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=math.inf, allow_unicode=True
    )
    return text.removesuffix("\n...\n").strip()


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def _wrapped(text: str, width: int = 98) -> list[str]:
    """`text` as comment lines of at most `width` characters."""
    import textwrap

    return ["# " + line for line in textwrap.wrap(" ".join(text.split()), width - 2)]


def render_yaml(inf: Inference, command: str) -> str:
    """The data config as commented YAML: each choice visible, opening with a usage comment."""
    lines = [
        f"# {inf.name}: inferred by `{command}`. To use: dvc exp run -S data={inf.name}",
        _comment(
            f"{inf.rows} rows scanned. Review every column below (dtype int64|float64|bool|"
            "category|string|datetime; role feature|target|sensitive|id|time|ignore) and commit "
            "this file: see docs/data.md."
        ),
    ]
    model, why = default_model(inf)
    if model is not None:
        lines += [*_wrapped(why), "defaults:", f"  - override /model@_global_.model: {model}"]
    lines += [
        f"name: {_flow(inf.name)}",
        f"source: {inf.source}",
        f"path: {_flow(inf.path)}",
    ]
    if inf.read_options:
        lines.append(
            "# Passed to pandas.read_csv. na_values: the missing-value markers found in the file."
        )
    if inf.read_options.get("thousands"):
        lines.append(
            "# thousands: numbers in the file are written with ',' between digit groups (52,791)."
        )
    lines.append(f"read_options: {_flow(inf.read_options)}")
    lines.append("n_rows: null")
    lines.append(f"target: {_flow(inf.target)}")
    lines.extend(_comment(n) for n in inf.notes)
    lines.append(f"task: {inf.task}")
    lines.append(f"positive_class: {_flow(inf.positive_class)}")
    lines.append(f"time_column: {_flow(inf.time_column)}")
    lines.append("# PII-flagged columns may not be features unless this is true (privacy review).")
    lines.append("allow_pii_features: false")
    lines.append("columns:")
    for col in inf.columns:
        for note in col.notes:
            lines.append("  " + _comment(note))
        if col.sensitive:
            lines.append(
                f"  # candidate sensitive attribute ({col.sensitive}): confirm and set role: "
                "sensitive (kept out of the features, used for the fairness slices)"
            )
        lines.append(f"  {_flow(col.name)}: {_flow(col.to_dict())}")
    return "\n".join(lines) + "\n"
