"""Infer a data config (conf/data/<name>.yaml) from column statistics collected chunk by chunk.

Pure: no file, no clock, no subprocess. `gitml.data.colstats` folds the file into bounded
per-column statistics, `gitml.data.heuristics` says what names and values suggest (PII, protected
attributes), `infer_config` here turns the statistics into column guesses and a task, and
`gitml.data.render` writes them as a commented data config.

Rules, in order (every choice is also written as a comment in the produced file):
- missing: empty or whitespace-only cells, pandas' own NA strings, and `?`, `-`, `--`, `.`,
  `missing`, `unknown`-style markers (case-insensitive, stray whitespace stripped);
- dtype: all non-missing values numbers -> int64 (all integral) or float64; True/False -> bool;
  ISO dates (YYYY-MM-DD[ hh:mm[:ss]][Z|+hh:mm]) -> datetime (a time with a zone or offset:
  min/max in UTC, as `gitml.schema` compares and stores it); else category when at most
  `MAX_CATEGORIES` distinct values making up at most `MAX_UNIQUE_SHARE` of the rows, else string;
- PII: by name (email, phone, ssn, address, first/last name, ...) or by value shape (most values
  look like emails, phone numbers, ###-##-#### ids or card numbers) -> pii: true and role id
  (unique-ish) or ignore, never feature;
- role: the target column -> target; datetime -> time; high-cardinality strings -> id when nearly
  every value is distinct (`ID_UNIQUE_SHARE`), else ignore (free text); integer columns named like
  an id and nearly unique -> id; anything else -> feature. Columns whose name suggests a protected
  attribute (sex, gender, race, age, ...) stay features, with a comment asking a person to confirm
  and set role: sensitive;
- task: 2 distinct target values -> binary; text with 3+ values, or 3..`MAX_CLASSES` whole
  numbers each seen at least twice and numbering at most half the rows -> multiclass; any other
  numeric target (more values, singletons, or non-integral) -> regression;
- positive class (binary): the value that reads as positive (1, true, yes, y, positive, pos, or a
  `>`-prefixed bucket such as `>50K`) when exactly one of the two does; otherwise the minority class
  (ties: the larger value in sorted order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitml.data.colstats import BOOL_TEXT, ColumnStats
from gitml.data.heuristics import name_tokens, pii_by_name, pii_by_value, sensitive_by_name
from gitml.errors import GitmlError

MAX_CATEGORIES = 50  # more distinct text values than this -> not a category
MAX_UNIQUE_SHARE = 0.5  # more distinct values than this share of rows -> not a category
ID_UNIQUE_SHARE = 0.9  # high-cardinality text at least this unique -> id, else ignored text
MAX_CLASSES = 20  # a discrete numeric target with more values -> regression


ID_NAME_TOKENS = frozenset({"id", "uuid", "guid", "key", "identifier"})
POSITIVE_WORDS = frozenset({"1", "1.0", "true", "yes", "y", "positive", "pos", "t"})


@dataclass
class ColumnGuess:
    """The inferred declaration of one column, with the reasons shown as comments."""

    name: str
    dtype: str
    role: str
    nullable: bool
    pii: bool = False
    min: Any = None
    max: Any = None
    categories: list[Any] | None = None
    notes: list[str] = field(default_factory=list)
    sensitive: str | None = None  # candidate protected attribute, for a person to confirm

    def to_dict(self) -> dict[str, Any]:
        """The column's entry in the data config."""
        out: dict[str, Any] = {"dtype": self.dtype, "role": self.role, "nullable": self.nullable}
        out["pii"] = self.pii
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.categories is not None:
            out["categories"] = self.categories
        return out


@dataclass
class Inference:
    """A whole inferred data config."""

    name: str
    source: str
    path: str
    read_options: dict[str, Any]
    target: str
    task: str
    positive_class: Any
    time_column: str | None
    columns: list[ColumnGuess]
    notes: list[str] = field(default_factory=list)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The data config as a mapping (what `DataConfig.parse` reads)."""
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "read_options": self.read_options,
            "n_rows": None,
            "target": self.target,
            "task": self.task,
            "positive_class": self.positive_class,
            "time_column": self.time_column,
            "allow_pii_features": False,
            "columns": {c.name: c.to_dict() for c in self.columns},
        }


def _number(value: float, integral: bool) -> int | float:
    return int(value) if integral else float(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def infer_column(stats: ColumnStats, target: str) -> ColumnGuess:
    """Guess dtype, role, bounds or categories, nullability and PII for one column."""
    name = stats.name
    notes: list[str] = []
    nullable = stats.missing > 0
    if nullable:
        notes.append(f"{stats.missing} missing of {stats.rows}")
    if stats.present == 0:
        if stats.unnamed:
            notes.append(
                "no name in the header and no value (every line ends with a delimiter): pandas "
                f"reads it as '{name}'; ignored"
            )
        return ColumnGuess(name, "string", "ignore", True, notes=[*notes, "every value missing"])
    unique_share = stats.distinct / stats.present
    guess: ColumnGuess
    if stats.numeric:
        integral = stats.integral
        dtype = "int64" if integral else "float64"
        guess = ColumnGuess(name, dtype, "feature", nullable)
        guess.min = _number(stats.vmin, integral)
        guess.max = _number(stats.vmax, integral)
        notes.append(f"numbers; observed range {guess.min}..{guess.max} (widen it if new data may)")
        tokens = set(name_tokens(name))
        if integral and tokens & ID_NAME_TOKENS and unique_share >= ID_UNIQUE_SHARE:
            guess.role, guess.min, guess.max = "id", None, None
            notes[-1] = "integer identifier: named like an id and nearly every value distinct"
    elif stats.boolean:
        guess = ColumnGuess(name, "bool", "feature", nullable)
        notes.append("True/False values")
    elif stats.dates:
        guess = ColumnGuess(name, "datetime", "time", nullable, min=stats.smin, max=stats.smax)
        notes.append("ISO dates/times -> role time (set ignore if it is not the event time)")
        if stats.zoned:
            notes.append(
                "times carry a time zone or UTC offset: min/max are in UTC, as the pipeline "
                "compares and stores them"
            )
    elif not stats.overflowed and (
        len(stats.counts) <= MAX_CATEGORIES and unique_share <= MAX_UNIQUE_SHARE
    ):
        cats = list(typed_counts(stats))
        guess = ColumnGuess(name, "category", "feature", nullable, categories=cats)
        notes.append(f"{len(cats)} distinct values -> category")
        folded: dict[str, list[str]] = {}
        for c in cats:
            folded.setdefault(str(c).strip().lower(), []).append(str(c))
        variants = [v for v in folded.values() if len(v) > 1]
        if variants:
            shown = "; ".join(" / ".join(repr(x) for x in v) for v in variants[:3])
            notes.append(f"values differing only by case or whitespace: {shown} (clean them?)")
    else:
        shown = f"~{int(stats.distinct)}" if stats.overflowed else str(len(stats.counts))
        if unique_share >= ID_UNIQUE_SHARE:
            guess = ColumnGuess(name, "string", "id", nullable)
            notes.append(f"{shown} distinct text values, nearly all unique -> id")
        else:
            guess = ColumnGuess(name, "string", "ignore", nullable)
            notes.append(
                f"{shown} distinct text values -> free text, ignored (too many for a category)"
            )
    if stats.padded and not stats.numeric:
        notes.append(f"{stats.padded} values carry stray whitespace")
    if name == target:
        guess.role = "target"
        return _finish(guess, notes)
    reason = pii_by_name(name) or pii_by_value(stats)
    if reason:
        guess.pii = True
        if guess.role not in ("id", "ignore"):
            guess.role = "id" if unique_share >= ID_UNIQUE_SHARE else "ignore"
        notes.append(f"likely PII ({reason}) -> pii: true, role {guess.role}, never a feature")
    elif guess.role == "feature" and stats.distinct == 1 and not nullable:
        guess.role = "ignore"  # nothing to learn from, and every request would have to send it
        notes.append("the same value in every row -> ignored (set feature if new data may vary)")
    elif guess.role == "feature":
        guess.sensitive = sensitive_by_name(name)
    return _finish(guess, notes)


def _finish(guess: ColumnGuess, notes: list[str]) -> ColumnGuess:
    guess.notes = notes
    return guess


def guess_task(stats: ColumnStats, requested: str = "auto") -> str:
    """binary, multiclass or regression from the target's distinct values (see module doc)."""
    n = stats.distinct
    where = f"Target column '{stats.name}'"
    if stats.present == 0:
        raise GitmlError(
            f"{where} is empty: all {stats.rows} rows are missing.",
            "Pick another --target (a column with values).",
        )
    if n < 2:
        raise GitmlError(
            f"{where} has {int(n)} distinct value(s); a model needs at least two.",
            "Pick another --target, or add rows of the missing class(es).",
        )
    discrete = not stats.overflowed and (not stats.numeric or stats.integral)
    if requested == "auto":
        if n == 2:
            return "binary"
        if discrete and (not stats.numeric or _class_like(stats)):
            return "multiclass"
        if stats.numeric:
            return "regression"
        raise GitmlError(
            f"{where} is text with {int(n)}+ distinct values: too many classes to learn.",
            "Pick another --target, or group its values into fewer classes first.",
        )
    if requested == "binary" and n != 2:
        raise GitmlError(
            f"{where} has {int(n)} distinct values, but --task binary needs exactly two.",
            "Use --task multiclass (or auto), or recode the target to two values.",
        )
    if requested == "multiclass" and not discrete:
        raise GitmlError(
            f"{where} has too many or non-integral values for --task multiclass.",
            "Use --task regression (or auto), or bin the target into classes first.",
        )
    if requested == "regression" and not stats.numeric:
        raise GitmlError(
            f"{where} holds text, but --task regression needs numbers.",
            "Use --task binary or multiclass (or auto).",
        )
    return requested


def _class_like(stats: ColumnStats) -> bool:
    """Whether a whole-number target reads as classes rather than as a quantity: at most
    `MAX_CLASSES` values, each seen at least twice, and far fewer values than rows (stackloss's
    17 values in 21 rows are a measurement, anes96's 7 in 944 are classes)."""
    n = stats.distinct
    counts = stats.counts.values()
    return (
        n <= MAX_CLASSES
        and n <= MAX_UNIQUE_SHARE * stats.present
        and (not counts or min(counts) >= 2)
    )


def guess_positive_class(counts: dict[Any, int]) -> Any:
    """The positive class of a binary target: a positive-looking value, else the minority."""
    values = sorted(counts, key=_sort_key)
    positive = [
        v
        for v in values
        if str(v).strip().lower() in POSITIVE_WORDS or str(v).strip().startswith(">")
    ]
    if len(positive) == 1:
        return positive[0]
    return min(reversed(values), key=lambda v: counts[v])


def typed_counts(stats: ColumnStats) -> dict[Any, int]:
    """The tracked distinct values as the pipeline will see them (numbers parsed), with counts."""
    out: dict[Any, int] = {}
    for raw, count in stats.counts.items():
        value: Any = raw
        if stats.numeric:
            number = float(raw)
            value = int(number) if stats.integral else number
        elif stats.boolean:
            value = BOOL_TEXT.get(str(raw), raw)
        elif not isinstance(raw, str):
            value = raw.item() if hasattr(raw, "item") else raw
        out[value] = out.get(value, 0) + count
    return dict(sorted(out.items(), key=lambda kv: _sort_key(kv[0])))


def _check_duplicates(stats: list[ColumnStats]) -> None:
    """Two columns of one name cannot both be declared (pandas reads the second as `a.1`)."""
    where: dict[str, list[int]] = {}
    for i, s in enumerate(stats):
        where.setdefault(s.name, []).append(i + 1)
    twice = {name: at for name, at in where.items() if len(at) > 1}
    if twice:
        shown = "; ".join(
            f"{name!r} (columns {', '.join(map(str, at[:-1]))} and {at[-1]})"
            for name, at in twice.items()
        )
        raise GitmlError(
            f"The file names more than one column alike: {shown}. Its config could declare only "
            "one of them (pandas reads the next as '<name>.1'), so nothing was written.",
            "Rename the duplicates in the file's header (for Parquet, the column names the "
            "writer was given) so that every column has its own name, then run gitml data init "
            "again.",
        )


def _check_unnamed(stats: list[ColumnStats]) -> None:
    """A column without a name in the header that holds values cannot be declared: say which."""
    for i, s in enumerate(stats):
        if s.unnamed and s.present:
            after = f" (after '{stats[i - 1].name}')" if i else ""
            example = f", e.g. {s.sample[0]!r}" if s.sample else ""
            raise GitmlError(
                f"Column {i + 1} of the file{after} has no name in the header line but holds "
                f"{s.present} value(s){example}.",
                "Give it a name in the file's first line (or delete the column, or the trailing "
                "delimiter that made it), then run gitml data init again.",
            )


def _thousands(
    stats: list[ColumnStats], read_options: dict[str, Any]
) -> tuple[list[ColumnStats], dict[str, Any], dict[str, ColumnStats | None]]:
    """Numbers written with `,` thousands separators (`52,791`): read them as numbers with
    pandas' `thousands: ","` when that is safe. Returns the statistics as the pipeline will see
    them, the read options, and the separated columns (None: read as numbers; else the raw
    statistics of a column left as text, with the reason in `_separated`).

    Not safe, and the columns are left as text: a decimal comma (`decimal: ","`), or another
    column pandas would also turn into numbers (`1,2` -> 12) although it is not grouped by
    three digits."""
    separated = [s for s in stats if s.thousands]
    if not separated:
        return stats, read_options, {}
    blocked = read_options.get("decimal") == "," or any(s.grouped_loosely for s in stats)
    if blocked:
        return stats, read_options, {s.name: s for s in separated}
    converted = [s.with_thousands() if s.thousands else s for s in stats]
    return converted, {**read_options, "thousands": ","}, dict.fromkeys(s.name for s in separated)


def _separated(stats: ColumnStats, text: ColumnStats | None, target: str) -> ColumnGuess:
    """A column of numbers with `,` thousands separators: numeric (read with thousands: ','),
    or, when that is not safe (`text` holds its raw statistics), ignored with what to do."""
    example = next((v for v in (text or stats).sample if "," in v), "")
    if text is None or stats.name == target:
        guess = infer_column(stats, target)
        guess.notes.insert(
            0,
            f"numbers written with ',' thousands separators ({example!r}): read as numbers with "
            "read_options.thousands: ','",
        )
        return guess
    return ColumnGuess(
        stats.name,
        "string",
        "ignore",
        stats.missing > 0,
        notes=[
            f"numbers written with ',' thousands separators ({example!r}), but read_options "
            "cannot say so here (a decimal comma, or another column pandas would also read as "
            "numbers): ignored. To use it, remove the separators in the file, declare it "
            "float64 and run again",
        ],
    )


def infer_config(
    stats: list[ColumnStats],
    target: str,
    name: str,
    source: str,
    path: str,
    read_options: dict[str, Any],
    task: str = "auto",
) -> Inference:
    """The whole data config: a guess per column, the task and the positive class."""
    _check_duplicates(stats)
    names = [s.name for s in stats]
    if target not in names:
        raise GitmlError(
            f"The file has no column '{target}' to use as the target.",
            f"Its columns: {', '.join(names)}. Pass one of them to --target.",
        )
    _check_unnamed(stats)
    stats, read_options, separated = _thousands(stats, read_options)
    by_name = {s.name: s for s in stats}
    tstats = by_name[target]
    chosen = guess_task(tstats, task)
    guesses = [
        _separated(s, separated[s.name], target) if s.name in separated else infer_column(s, target)
        for s in stats
    ]
    tguess = next(g for g in guesses if g.name == target)
    notes = [f"task {chosen}" + (" (guessed)" if task == "auto" else " (--task)")]
    positive: Any = None
    counts = typed_counts(tstats) if not tstats.overflowed else {}
    if chosen in ("binary", "multiclass"):
        tguess.categories = list(counts)
        tguess.min = tguess.max = None
        if tguess.dtype == "float64":  # non-integral numbers as classes: declare them as labels
            tguess.dtype = "category"
            tguess.categories = [str(v) for v in counts]
            counts = {str(k): v for k, v in counts.items()}
        elif tguess.dtype == "string":
            tguess.dtype = "category"
    if chosen == "binary":
        positive = guess_positive_class(counts)
        shown = ", ".join(f"{k}: {v}" for k, v in counts.items())
        notes.append(
            f"positive class {positive!r}: a positive-looking value (1/true/yes/>...) if exactly "
            f"one is, else the minority class (counts {shown})"
        )
    if tstats.missing:
        notes.append(
            f"the target has {tstats.missing} missing value(s): drop those rows before training"
        )
    if not any(g.role == "feature" for g in guesses):
        raise GitmlError(
            "No column of the file can be a feature (every other column is an id, PII, text or "
            "empty).",
            "Check the file and --target; features are numeric, True/False or category columns.",
        )
    times = [g.name for g in guesses if g.role == "time"]
    time_column = times[0] if len(times) == 1 else None
    for g in guesses:
        if g.role == "time" and g.name != time_column:
            g.role = "ignore"
            g.notes.append("several datetime columns: ignored; pick one as time_column")
    return Inference(
        name=name,
        source=source,
        path=path,
        read_options=read_options,
        target=target,
        task=chosen,
        positive_class=positive,
        time_column=time_column,
        columns=guesses,
        notes=notes,
        rows=tstats.rows,
    )
