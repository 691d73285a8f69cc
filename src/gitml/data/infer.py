"""Infer a data config (conf/data/<name>.yaml) from column statistics collected chunk by chunk.

Pure: no file, no clock, no subprocess. `ColumnStats.update` folds one chunk of a column (the raw
text of a CSV, or typed values of a Parquet batch) into bounded accumulators: exact distinct values
and counts up to `MAX_TRACKED` values, a k-minimum-values sketch for the number of distinct values
beyond that, a bounded sample for pattern checks (email, phone, national id, dates), min/max, and
the missing-value markers met. `infer_config` turns the statistics into column guesses and a task,
and `render_yaml` writes them as a commented data config.

Rules, in order (every choice is also written as a comment in the produced file):
- missing: empty or whitespace-only cells, pandas' own NA strings, and `?`, `-`, `--`, `.`,
  `missing`, `unknown`-style markers (case-insensitive, stray whitespace stripped);
- dtype: all non-missing values numbers -> int64 (all integral) or float64; True/False -> bool;
  ISO dates (YYYY-MM-DD[ hh:mm[:ss]]) -> datetime; else category when at most
  `MAX_CATEGORIES` distinct values making up at most `MAX_UNIQUE_SHARE` of the rows, else string;
- PII: by name (email, phone, ssn, address, first/last name, ...) or by value shape (most values
  look like emails, phone numbers, ###-##-#### ids or card numbers) -> pii: true and role id
  (unique-ish) or ignore, never feature;
- role: the target column -> target; datetime -> time; high-cardinality strings -> id when nearly
  every value is distinct (`ID_UNIQUE_SHARE`), else ignore (free text); integer columns named like
  an id and nearly unique -> id; anything else -> feature. Columns whose name suggests a protected
  attribute (sex, gender, race, age, ...) stay features, with a comment asking a person to confirm
  and set role: sensitive;
- task: 2 distinct target values -> binary; 3..`MAX_CLASSES` discrete values (integers or text)
  -> multiclass; a numeric target with more values (or non-integral) -> regression;
- positive class (binary): the value that reads as positive (1, true, yes, y, positive, pos, or a
  `>`-prefixed bucket such as `>50K`) when exactly one of the two does; otherwise the minority class
  (ties: the larger value in sorted order).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from gitml.contract import CSV_DEFAULT_MISSING
from gitml.errors import GitmlError

MAX_TRACKED = 1000  # exact distinct values tracked per column; beyond, a sketch estimates them
MAX_CATEGORIES = 50  # more distinct text values than this -> not a category
MAX_UNIQUE_SHARE = 0.5  # more distinct values than this share of rows -> not a category
ID_UNIQUE_SHARE = 0.9  # high-cardinality text at least this unique -> id, else ignored text
MAX_CLASSES = 20  # a discrete numeric target with more values -> regression
SAMPLE_SIZE = 200  # distinct values kept per column for the pattern checks
PATTERN_SHARE = 0.8  # share of sampled values that must match a PII/date shape
SKETCH_K = 1024  # size of the k-minimum-values sketch

# pandas' default NA strings (read_csv keep_default_na), the same list the input contract keeps.
PANDAS_NA = frozenset(CSV_DEFAULT_MISSING)
EXTRA_MARKERS = frozenset(
    {"?", "??", "-", "--", ".", "na", "none", "missing", "unknown", "not available", "#n/a"}
)

PII_NAME_TOKENS = frozenset(
    {
        "email",
        "mail",
        "phone",
        "telephone",
        "tel",
        "mobile",
        "cellphone",
        "fax",
        "ssn",
        "sin",
        "nino",
        "passport",
        "address",
        "street",
        "zip",
        "zipcode",
        "postcode",
        "postal",
        "iban",
        "dob",
        "birthdate",
        "birthday",
        "surname",
        "firstname",
        "lastname",
        "fullname",
        "username",
        "ip",
        "creditcard",
    }
)
PII_NAME_PAIRS = (
    ("first", "name"),
    ("last", "name"),
    ("full", "name"),
    ("given", "name"),
    ("family", "name"),
    ("middle", "name"),
    ("user", "name"),
    ("customer", "name"),
    ("patient", "name"),
    ("person", "name"),
    ("social", "security"),
    ("date", "birth"),
    ("credit", "card"),
    ("card", "number"),
    ("account", "number"),
    ("national", "id"),
    ("tax", "id"),
)
SENSITIVE_NAME_TOKENS = frozenset(
    {
        "sex",
        "gender",
        "race",
        "ethnicity",
        "ethnic",
        "religion",
        "religious",
        "age",
        "nationality",
        "citizenship",
        "marital",
        "disability",
        "disabled",
        "pregnant",
        "pregnancy",
        "orientation",
        "veteran",
        "caste",
    }
)
ID_NAME_TOKENS = frozenset({"id", "uuid", "guid", "key", "identifier"})
POSITIVE_WORDS = frozenset({"1", "1.0", "true", "yes", "y", "positive", "pos", "t"})

EMAIL_RE = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$")
PHONE_RE = re.compile(r"^\+?\(?\d{1,4}\)?([ .-]?\(?\d{2,4}\)?){2,5}$")
NATIONAL_ID_RE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
CARD_RE = re.compile(r"^\d{4}([ -]?\d{4}){3}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
BOOL_TEXT = {
    "True": True,
    "TRUE": True,
    "true": True,
    "False": False,
    "FALSE": False,
    "false": False,
}
_PANDAS_NA = pa.array(sorted(PANDAS_NA), type=pa.string())
_EXTRA_MARKERS = pa.array(sorted(EXTRA_MARKERS), type=pa.string())
_BOOL_TEXT = pa.array(sorted(BOOL_TEXT), type=pa.string())


def _strings(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """A chunk of raw text as one Arrow string array without nulls (a null is an empty cell)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(pd.Series(values).astype(object).fillna("").astype(str), type=pa.string())
    if values.type != pa.string():
        values = pc.cast(values, pa.string())
    return pc.fill_null(values, "")


def is_marker(text: str) -> bool:
    """Whether a raw cell reads as a missing value (stray whitespace and case ignored)."""
    stripped = text.strip()
    return stripped in PANDAS_NA or stripped.lower() in EXTRA_MARKERS


def name_tokens(name: str) -> list[str]:
    """Lower-case words of a column name: snake_case, kebab-case, camelCase and spaces split."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def pii_by_name(name: str) -> str | None:
    """The reason a column name suggests personal data, or None."""
    tokens = name_tokens(name)
    joined = "".join(tokens)
    for token in tokens:
        if token in PII_NAME_TOKENS:
            return f"name contains '{token}'"
    if joined in PII_NAME_TOKENS or tokens == ["name"]:
        return f"name '{name}'"
    for a, b in PII_NAME_PAIRS:
        if a in tokens and b in tokens:
            return f"name contains '{a}' and '{b}'"
    return None


def sensitive_by_name(name: str) -> str | None:
    """The protected attribute a column name suggests (sex, race, age, ...), or None."""
    tokens = name_tokens(name)
    for token in tokens:
        if token in SENSITIVE_NAME_TOKENS:
            return token
    if "native" in tokens and "country" in tokens:
        return "national origin"
    return None


def _sketch_merge(kept: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Keep the SKETCH_K smallest distinct hashes (k-minimum-values)."""
    if len(kept) >= SKETCH_K:
        hashes = hashes[hashes < kept[-1]]
    if not len(hashes):
        return kept
    merged = np.unique(np.concatenate([kept, hashes]))
    return merged[:SKETCH_K]


def _sketch_estimate(kept: np.ndarray) -> float:
    """Estimated number of distinct values from a k-minimum-values sketch."""
    if len(kept) < SKETCH_K:
        return float(len(kept))
    return (SKETCH_K - 1) / (float(kept[-1]) / 2.0**64)


@dataclass
class ColumnStats:
    """Bounded accumulators for one column, updated one chunk at a time."""

    name: str
    rows: int = 0
    missing: int = 0
    markers: dict[str, int] = field(default_factory=dict)  # raw text -> count
    counts: dict[Any, int] = field(default_factory=dict)  # exact, while not overflowed
    overflowed: bool = False
    sketch: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    sample: list[str] = field(default_factory=list)  # distinct non-missing texts, bounded
    numeric: bool = True  # every non-missing value so far is a number
    integral: bool = True  # ... and an integer
    boolean: bool = True  # every non-missing value so far is True/False text
    dates: bool = True  # every non-missing value so far is an ISO date/time
    vmin: Any = None
    vmax: Any = None
    smin: str | None = None  # text min/max (ISO dates order as text)
    smax: str | None = None
    padded: int = 0  # values carrying leading/trailing whitespace

    @property
    def present(self) -> int:
        """Number of non-missing values."""
        return self.rows - self.missing

    @property
    def distinct(self) -> float:
        """Exact distinct count while tracked, else the sketch's estimate."""
        if not self.overflowed:
            return float(len(self.counts))
        return max(_sketch_estimate(self.sketch), float(MAX_TRACKED + 1))

    def update(self, values: pd.Series | pa.Array, text: bool = True) -> None:
        """Fold one chunk in: `values` is raw text (CSV, markers apply) or typed (Parquet)."""
        self.rows += len(values)
        if text:
            self._update_text(_strings(values))
        else:
            self._update_typed(pd.Series(values))

    def _track(self, values: pa.Array, numbers: np.ndarray | None) -> None:
        """Exact counts up to MAX_TRACKED distinct values; past that, a bounded sketch."""
        if not self.overflowed:
            counted = pc.value_counts(values)
            uniques = counted.field("values").to_pylist()
            if len(uniques) + len(self.counts) > MAX_TRACKED and len(uniques) > MAX_TRACKED:
                self._overflow(list(self.counts))
            else:
                for value, count in zip(uniques, counted.field("counts").to_pylist(), strict=True):
                    if value not in self.counts and len(self.sample) < SAMPLE_SIZE:
                        self.sample.append(str(value))
                    self.counts[value] = self.counts.get(value, 0) + int(count)
                if len(self.counts) > MAX_TRACKED:
                    self._overflow(list(self.counts))
                return
        if numbers is not None:
            hashes = pd.util.hash_array(numbers)
        else:
            distinct = pc.unique(values).to_numpy(zero_copy_only=False)
            hashes = pd.util.hash_array(np.asarray(distinct, dtype=object))
        self.sketch = _sketch_merge(self.sketch, hashes.astype(np.uint64))

    def _overflow(self, seen: list[Any]) -> None:
        self.overflowed = True
        self.counts = {}
        if seen:
            keys = np.asarray([str(v) for v in seen], dtype=object)
            self.sketch = _sketch_merge(self.sketch, pd.util.hash_array(keys).astype(np.uint64))

    def _update_text(self, raw: pa.Array) -> None:
        raw = pc.utf8_ltrim(raw, characters=" ")  # what pandas' skipinitialspace does
        stripped = pc.utf8_trim_whitespace(raw)
        marker = pc.or_(
            pc.is_in(stripped, value_set=_PANDAS_NA),
            pc.is_in(pc.utf8_lower(stripped), value_set=_EXTRA_MARKERS),
        )
        n_marker = int(pc.sum(marker).as_py() or 0)
        if n_marker:
            counted = pc.value_counts(pc.filter(raw, marker))
            for text, count in zip(
                counted.field("values").to_pylist(),
                counted.field("counts").to_pylist(),
                strict=True,
            ):
                self.markers[str(text)] = self.markers.get(str(text), 0) + int(count)
            self.missing += n_marker
        keep = pc.invert(marker)
        present_raw = pc.filter(raw, keep)
        present = pc.filter(stripped, keep)
        if not len(present):
            return
        widths = pc.not_equal(pc.utf8_length(present_raw), pc.utf8_length(present))
        self.padded += int(pc.sum(widths).as_py() or 0)
        numbers: np.ndarray | None = None
        if self.numeric:
            try:
                numbers = pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self.numeric = False
                if self.vmin is not None:  # earlier chunks were numbers: not dates either
                    self.dates = False
            else:
                self._minmax(numbers)
        if self.boolean and not pc.all(pc.is_in(present, value_set=_BOOL_TEXT)).as_py():
            self.boolean = False
        if not self.numeric and self.dates:
            self.dates = bool(
                pc.all(pc.match_substring_regex(present, DATETIME_RE.pattern)).as_py()
            )
            if self.dates:
                bounds = pc.min_max(present)
                lo, hi = str(bounds["min"].as_py()), str(bounds["max"].as_py())
                self.smin = lo if self.smin is None else min(self.smin, lo)
                self.smax = hi if self.smax is None else max(self.smax, hi)
        # Categories are the values exactly as pandas will read them (leading blanks skipped as
        # the written read_options make it do; trailing ones stay), so they match the pipeline.
        self._track(present_raw, numbers if self.numeric else None)

    def _update_typed(self, values: pd.Series) -> None:
        isna = values.isna()
        self.missing += int(isna.sum())
        present = values[~isna]
        if present.empty:
            return
        if pd.api.types.is_bool_dtype(present.dtype):
            self.numeric = self.dates = False
            self._track(pa.array(present.astype(bool)), None)
            return
        self.boolean = False
        if pd.api.types.is_numeric_dtype(present.dtype):
            self.dates = False
            numbers = present.to_numpy(dtype=np.float64)
            self._minmax(numbers)
            self._track(pa.array(present), numbers)
            return
        self.numeric = False
        if pd.api.types.is_datetime64_any_dtype(present.dtype):
            text = present.dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00", "")
        else:
            text = present.astype(str)
            self.dates = self.dates and bool(text.str.fullmatch(DATETIME_RE.pattern).all())
        if self.dates:
            lo, hi = str(text.min()), str(text.max())
            self.smin = lo if self.smin is None else min(self.smin, lo)
            self.smax = hi if self.smax is None else max(self.smax, hi)
        self._track(pa.array(text, type=pa.string()), None)

    def _minmax(self, numbers: np.ndarray) -> None:
        lo, hi = float(numbers.min()), float(numbers.max())
        self.vmin = lo if self.vmin is None else min(self.vmin, lo)
        self.vmax = hi if self.vmax is None else max(self.vmax, hi)
        if self.integral and not bool(np.all(np.floor(numbers) == numbers)):
            self.integral = False


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


def _pattern_share(sample: Iterable[str], pattern: re.Pattern[str]) -> float:
    values = [s.strip() for s in sample]
    if not values:
        return 0.0
    return sum(1 for v in values if pattern.match(v)) / len(values)


def pii_by_value(stats: ColumnStats) -> str | None:
    """The shape most sampled values share (email, phone, national id, card), or None."""
    if stats.numeric or stats.boolean or stats.dates:
        return None
    for label, pattern in (
        ("email addresses", EMAIL_RE),
        ("national-id numbers (###-##-####)", NATIONAL_ID_RE),
        ("card numbers", CARD_RE),
        ("phone numbers", PHONE_RE),
    ):
        if _pattern_share(stats.sample, pattern) >= PATTERN_SHARE:
            return f"values look like {label}"
    return None


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
    if n < 2:
        raise GitmlError(
            f"{where} has {int(n)} distinct value(s); a model needs at least two.",
            "Pick another --target, or add rows of the missing class(es).",
        )
    discrete = not stats.overflowed and (not stats.numeric or stats.integral)
    if requested == "auto":
        if n == 2:
            return "binary"
        if discrete and (not stats.numeric or n <= MAX_CLASSES):
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
    names = [s.name for s in stats]
    if target not in names:
        raise GitmlError(
            f"The file has no column '{target}' to use as the target.",
            f"Its columns: {', '.join(names)}. Pass one of them to --target.",
        )
    by_name = {s.name: s for s in stats}
    tstats = by_name[target]
    chosen = guess_task(tstats, task)
    guesses = [infer_column(s, target) for s in stats]
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


def na_values(stats: Iterable[ColumnStats]) -> list[str]:
    """Every missing-value marker met, as raw text (pandas matches na_values exactly), sorted."""
    found: set[str] = set()
    for s in stats:
        found.update(s.markers)
    return sorted(found)


def _flow(value: Any) -> str:
    """One YAML scalar or flow mapping/list on one line."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=math.inf)
    return text.removesuffix("\n...\n").strip()


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def render_yaml(inf: Inference, command: str) -> str:
    """The data config as commented YAML: each choice visible, opening with a usage comment."""
    lines = [
        f"# {inf.name}: inferred by `{command}`. To use: dvc exp run -S data={inf.name}",
        _comment(
            f"{inf.rows} rows scanned. Review every column below (dtype int64|float64|bool|"
            "category|string|datetime; role feature|target|sensitive|id|time|ignore) and commit "
            "this file: see docs/data.md."
        ),
        f"name: {_flow(inf.name)}",
        f"source: {inf.source}",
        f"path: {_flow(inf.path)}",
    ]
    if inf.read_options:
        lines.append(
            "# Passed to pandas.read_csv. na_values: the missing-value markers found in the file."
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
