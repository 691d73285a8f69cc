"""Drift, quality and decay of a batch against a reference profile: the monitor's verdict.

The batch arrives in chunks (DataFrames). Each monitored column has an accumulator
(`gitml.monitor.accumulators`) that keeps only what the statistics need, in memory bounded by the
reference profile, never by the batch. `Monitor.result` turns the accumulators into per-column
results (`gitml.monitor.drift`), applies the multiple-testing correction, and assembles the
verdict: dataset drift, prediction drift, batch quality (`gitml.monitor.quality`) and decay
(`gitml.monitor.decay`). Pure apart from the data it is given: no files, no clock, no git.

This module, the accumulators, the readers (`gitml.monitor.io`, `gitml.contract`) and the label
join import pandas inside the functions that take frames: the Dask monitor's client imports them
to send the job and merge summaries, reads no rows, and so starts ~0.25 s sooner without it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gitml.config import DataConfig
from gitml.errors import GitmlError
from gitml.monitor.accumulators import Accumulator, NumericAccumulator, accumulator_for, to_float
from gitml.monitor.decay import decay
from gitml.monitor.drift import BINNED_METHODS, column_result, decide
from gitml.monitor.labels import LabelJoin
from gitml.monitor.quality import ABSENT, SchemaFailures, quality, undeclared_columns
from gitml.policy.monitor import MonitorPolicy

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: The predicted-class column of a scored batch (`gitml predict`) and of the serving log's rows.
PREDICTION = "prediction"


@dataclasses.dataclass
class Inputs:
    """What one monitoring run compares, besides the batch itself."""

    profile: Mapping[str, Any]
    policy: MonitorPolicy = dataclasses.field(default_factory=MonitorPolicy)
    score_profile: Mapping[str, Any] | None = None
    data: DataConfig | None = None
    labels: str | None = None
    score_column: str | None = None
    recorded_metrics: Mapping[str, Any] | None = None
    #: The version's permutation importance (reports/importance.json), for critical_top_features.
    importance: Mapping[str, Any] | None = None
    threshold: float = 0.5
    positive_class: Any = 1
    #: Labels joined by request id (`--labels FILE`); `labels` then names its label column.
    label_join: LabelJoin | None = None


def check_profile(profile: Any, source: str = "profile") -> Mapping[str, Any]:
    """A clear error unless `profile` looks like a gitml reference profile."""
    if not isinstance(profile, Mapping) or not isinstance(profile.get("columns"), Mapping):
        raise GitmlError(
            f"The {source} is not a gitml reference profile (no 'columns').",
            "Point at data/profile.json as written by the split stage.",
        )
    if not profile["columns"]:
        raise GitmlError(
            f"The {source} profiles no columns.",
            "Rebuild it with the split stage (dvc repro split).",
        )
    return profile


class Monitor:
    """Accumulate a batch chunk by chunk, then `result()` gives the report's data."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        policy = inputs.policy
        self.profile = check_profile(inputs.profile)
        self.accumulators: dict[str, Accumulator] = {}
        for name, ref in self.profile["columns"].items():
            rule = policy.columns.get(name)
            coarse = rule is not None and rule.method in BINNED_METHODS
            self.accumulators[name] = accumulator_for(name, ref, coarse)
        for name in policy.critical_columns:
            if name not in self.accumulators:
                raise GitmlError(
                    f"monitor.critical_columns names '{name}', which the reference profile lacks.",
                    f"Profiled columns: {', '.join(self.accumulators)}. Fix conf/gitml.yaml.",
                )
        self.by_importance, self.critical_note = top_features(
            inputs.importance, list(self.accumulators), policy.critical_top_features
        )
        self.critical = (
            *policy.critical_columns,
            *(n for n in self.by_importance if n not in policy.critical_columns),
        )
        self.score_name = inputs.score_column or policy.score_column
        self.score: NumericAccumulator | None = None
        if inputs.score_profile is not None:
            ref = check_profile(inputs.score_profile, "score profile")["columns"]
            if "score" not in ref:
                raise GitmlError(
                    "The score profile has no 'score' column.",
                    "Point at data/score_profile.json as written by evaluate.",
                )
            rule = policy.prediction
            self.score = NumericAccumulator("score", ref["score"], rule.method in BINNED_METHODS)
        self.rows = 0
        self.chunks = 0
        self.schema = SchemaFailures()
        self.columns_seen: list[str] | None = None
        self.checked = False
        self.label_chunks: list[np.ndarray] = []
        self.score_chunks: list[np.ndarray] = []
        #: The predicted class per labelled chunk (None: the chunk has no `prediction` column).
        self.prediction_chunks: list[np.ndarray | None] = []
        self.score_seen = False
        #: Sensitive columns (data contract) of labelled rows, for the group metrics.
        self.group_chunks: dict[str, list[np.ndarray]] = {}

    def see_columns(self, names: Iterable[str]) -> None:
        """Note columns the batch has beyond the chunks' (a reader that skips unused columns)."""
        seen = self.columns_seen or []
        self.columns_seen = [*seen, *(str(n) for n in names if str(n) not in seen)]

    def update(self, chunk: pd.DataFrame) -> None:
        """Add one chunk of the batch."""
        import pandas as pd

        if self.inputs.label_join is not None:
            chunk = self.inputs.label_join.apply(chunk)
        self.see_columns(chunk.columns)
        if not self.checked:
            self.checked = True
            missing = [n for n in self.accumulators if n not in chunk.columns]
            if missing:
                raise GitmlError(
                    f"The batch lacks {len(missing)} profiled column(s): {', '.join(missing)}.",
                    "Monitor a batch with the columns the model was trained on "
                    f"({', '.join(self.accumulators)}).",
                )
            if self.inputs.labels and self.inputs.labels not in chunk.columns:
                raise GitmlError(
                    f"The batch has no label column '{self.inputs.labels}'.",
                    f"Its columns: {', '.join(map(str, chunk.columns))}.",
                )
        if len(chunk) == 0:
            return
        self.rows += len(chunk)
        self.chunks += 1
        for name, acc in self.accumulators.items():
            acc.update(chunk[name])
        has_score = self.score_name in chunk.columns
        if has_score:
            self.score_seen = True
            if self.score is not None:
                self.score.update(chunk[self.score_name])
        if self.inputs.labels:  # every labelled row counts; NaN scores where the batch has none
            self.label_chunks.append(chunk[self.inputs.labels].to_numpy())
            self.score_chunks.append(
                to_float(chunk[self.score_name], self.score_name)
                if has_score
                else np.full(len(chunk), np.nan)
            )
            self.prediction_chunks.append(
                chunk[PREDICTION].to_numpy(dtype=object) if PREDICTION in chunk.columns else None
            )
            for name in self._sensitive():
                column = (
                    chunk[name] if name in chunk.columns else pd.Series(None, index=chunk.index)
                )
                self.group_chunks.setdefault(name, []).append(column.to_numpy(dtype=object))
        if self.inputs.data is not None and self.inputs.policy.schema:
            self._validate(chunk)

    def merge(self, other: Monitor) -> None:
        """Add the summaries of another part of the batch, monitored with the same inputs.

        Parts merged in batch order give the statistics and decisions of one monitor fed every
        chunk in that order: counts exactly, sums up to float rounding (`gitml monitor --engine
        dask` monitors each partition on a worker and merges them here).
        """
        for name, acc in self.accumulators.items():
            acc.merge(other.accumulators[name])  # type: ignore[arg-type]
        if self.score is not None and other.score is not None:
            self.score.merge(other.score)
        self.rows += other.rows
        self.chunks += other.chunks
        self.schema.merge(other.schema)
        if other.columns_seen is not None:
            self.see_columns(other.columns_seen)
        self.checked = self.checked or other.checked
        self.label_chunks.extend(other.label_chunks)
        self.score_chunks.extend(other.score_chunks)
        self.prediction_chunks.extend(other.prediction_chunks)
        for name, parts in other.group_chunks.items():
            self.group_chunks.setdefault(name, []).extend(parts)
        self.score_seen = self.score_seen or other.score_seen

    def _sensitive(self) -> list[str]:
        data = self.inputs.data
        return [] if data is None else list(data.sensitive)

    def _groups(self) -> dict[str, Any] | None:
        if not self.label_chunks or not self.group_chunks or not self.score_seen:
            return None
        return group_metrics(
            np.concatenate(self.label_chunks),
            np.concatenate(self.score_chunks),
            {name: np.concatenate(parts) for name, parts in self.group_chunks.items()},
            positive_class=self.inputs.positive_class,
            threshold=self.inputs.threshold,
            min_rows=self.inputs.policy.small_sample,
        )

    def _validate(self, chunk: pd.DataFrame) -> None:
        from gitml.schema import validate_frame

        data = self.inputs.data
        assert data is not None
        joined = self.inputs.label_join.column if self.inputs.label_join else None
        declared = [
            c
            for c in data.columns
            if (c.name in chunk.columns or c.name in self.accumulators) and c.name != joined
        ]
        # A column that was not sent in some rows (not a feature: serving requires those) is
        # judged on the rows that carried it; absent is not null.
        absent: Mapping[str, np.ndarray] = chunk.attrs.get(ABSENT, {})
        partial = [c for c in declared if c.name in absent and c.name not in self.accumulators]
        whole = [c for c in declared if c not in partial]
        subset = dataclasses.replace(data, columns=tuple(whole))
        frame = chunk[[c.name for c in whole if c.name in chunk.columns]]
        self.schema.add(validate_frame(frame, subset, numbers=True).failures)
        for spec in partial:
            sent = ~absent[spec.name]
            if sent.any():
                one = dataclasses.replace(data, columns=(spec,))
                self.schema.add(
                    validate_frame(chunk.loc[sent, [spec.name]], one, numbers=True).failures
                )

    # -------------------------------------------------------------------------- results

    def result(self) -> dict[str, Any]:
        """Per-column drift, the verdict, prediction drift, quality and decay."""
        if self.rows == 0:
            raise GitmlError(
                "The batch is empty: it has no rows to monitor.",
                "Check the file (or the log) you passed with --current/--log.",
            )
        policy = self.inputs.policy
        columns: dict[str, dict[str, Any]] = {}
        for name, acc in self.accumulators.items():
            rule = policy.columns.get(name)
            columns[name] = column_result(
                acc, policy, rule.method if rule else None, rule.threshold if rule else None
            )
            columns[name]["critical"] = name in self.critical
        decide(columns, policy.correction)
        monitored = [c for c in columns.values() if c["method"] is not None]
        n_drifted = sum(1 for c in monitored if c["drifted"])
        share = n_drifted / len(monitored) if monitored else 0.0
        critical = sorted(n for n, c in columns.items() if c["critical"] and c["drifted"])
        dataset_drift = bool(monitored) and (share >= policy.drift_share or bool(critical))
        prediction = self._prediction()
        quality = self._quality(columns)
        decay = self._decay()
        drift = dataset_drift or bool(prediction and prediction["drifted"])
        decayed = bool(decay and decay["decayed"])
        status = (
            "drift"
            if drift
            else "decay"
            if decayed
            else ("quality" if not quality["passed"] else "ok")
        )
        return {
            "status": status,
            "dataset_drift": dataset_drift,
            "drift_share": share,
            "n_columns": len(monitored),
            "n_drifted": n_drifted,
            "drifted_columns": sorted(n for n, c in columns.items() if c["drifted"]),
            "critical_drifted": critical,
            "prediction_drift": bool(prediction and prediction["drifted"]),
            "decay": decayed,
            "quality_passed": quality["passed"],
            "rows": self.rows,
            "reference_rows": int(self.profile.get("rows", 0)),
            "policy": {
                "drift_share": policy.drift_share,
                "correction": policy.correction,
                "small_sample": policy.small_sample,
                "critical_columns": list(self.critical),
                "critical_top_features": policy.critical_top_features,
                "critical_by_importance": list(self.by_importance),
                "critical_note": self.critical_note,
            },
            "columns": columns,
            "prediction": prediction,
            "quality": quality,
            "metrics": decay,
            "groups": self._groups(),
        }

    def _prediction(self) -> dict[str, Any] | None:
        if self.score is None or not self.score_seen:
            return None
        rule = self.inputs.policy.prediction
        result = column_result(self.score, self.inputs.policy, rule.method, rule.threshold)
        decide({"score": result}, "none")
        return result

    def _quality(self, columns: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        data = self.inputs.data
        undeclared = (
            None
            if data is None
            else undeclared_columns(
                self.columns_seen or [],
                [c.name for c in data.columns],
                [n for n in (self.score_name, self.inputs.labels) if n],
            )
        )
        policy = self.inputs.policy
        return quality(
            columns,
            self.accumulators,
            self.schema,
            policy.null_rate_tolerance,
            undeclared,
            policy.undeclared,
        )

    def _decay(self) -> dict[str, Any] | None:
        if not self.inputs.labels:
            return None
        found = decay(
            self.label_chunks,
            self.score_chunks,
            score_name=self.score_name,
            positive_class=self.inputs.positive_class,
            threshold=self.inputs.threshold,
            recorded_metrics=self.inputs.recorded_metrics or {},
            tolerances=self.inputs.policy.decay,
            task=self.inputs.data.task if self.inputs.data is not None else None,
            prediction_chunks=self.prediction_chunks,
        )
        if self.inputs.label_join is not None:
            found["join"] = self.inputs.label_join.summary()
        return found


def group_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: Mapping[str, np.ndarray],
    *,
    positive_class: Any,
    threshold: float,
    min_rows: int = 30,
) -> dict[str, Any]:
    """Per sensitive column and group, on the labelled rows: rows, positives, selection rate,
    TPR and FPR with Wilson intervals (`gitml.stats.group_rates`; small groups are marked
    "insufficient data"). Rows without a label, a score or a group value are left out."""
    import pandas as pd

    from gitml.stats.proportions import group_rates

    labels = np.asarray(labels, dtype=object)
    scores = np.asarray(scores, dtype="float64")
    out: dict[str, Any] = {}
    for name, values in groups.items():
        values = np.asarray(values, dtype=object)
        keep = ~pd.isna(labels) & ~np.isnan(scores) & ~pd.isna(values)
        truth = (pd.Series(labels[keep]).astype(str) == str(positive_class)).to_numpy()
        predicted = scores[keep] >= threshold
        rates = group_rates(truth, predicted, values[keep].astype(str), min_rows=min_rows)
        out[name] = {
            "rows": int(keep.sum()),
            "threshold": threshold,
            "groups": [g.to_dict() for g in rates],
        }
    return out


def top_features(
    importance: Mapping[str, Any] | None, profiled: Sequence[str], k: int
) -> tuple[tuple[str, ...], str | None]:
    """The `k` profiled features the model relies on most (mean permutation importance > 0).

    Returns them, most important first (ties by name), and a note when `k` asks for some but the
    reference recorded no importance.
    """
    if k <= 0:
        return (), None
    if not importance:
        return (), (
            f"monitor.critical_top_features is {k}, but the reference has no recorded importance "
            "(reports/importance.json), so no column is critical by importance."
        )
    ranked = []
    for name in profiled:
        entry = importance.get(name)
        mean = entry.get("mean") if isinstance(entry, Mapping) else entry
        if isinstance(mean, int | float) and not isinstance(mean, bool) and mean > 0:
            ranked.append((-float(mean), name))
    return tuple(name for _, name in sorted(ranked)[:k]), None


def analyse(
    batches: Iterable[pd.DataFrame], inputs: Inputs, on_chunk: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Monitor a batch given as an iterable of chunks; `on_chunk(rows)` after each one."""
    monitor = Monitor(inputs)
    for chunk in batches:
        monitor.update(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return monitor.result()


def analyse_frame(frame: pd.DataFrame, inputs: Inputs) -> dict[str, Any]:
    """Monitor an in-memory batch, in chunks of the policy's `chunk_rows`."""
    step = inputs.policy.chunk_rows
    chunks = (frame.iloc[i : i + step] for i in range(0, max(len(frame), 1), step))
    return analyse(chunks, inputs)
