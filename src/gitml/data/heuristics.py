"""What a column's name or values suggest: personal data, a protected attribute (pure).

Used by `gitml data init` (gitml.data.infer) to flag likely PII, by name (email, phone, ssn,
address, first/last name, ...) or by value shape (most sampled values look like emails, phone
numbers, ###-##-#### ids or card numbers), and to suggest candidate sensitive attributes for a
person to confirm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gitml.data.colstats import ColumnStats

PATTERN_SHARE = 0.8  # share of sampled values that must match a PII value shape

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

EMAIL_RE = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$")
PHONE_RE = re.compile(r"^\+?\(?\d{1,4}\)?([ .-]?\(?\d{2,4}\)?){2,5}$")
NATIONAL_ID_RE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
CARD_RE = re.compile(r"^\d{4}([ -]?\d{4}){3}$")


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
