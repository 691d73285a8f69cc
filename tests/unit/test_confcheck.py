"""conf/gitml.yaml errors read the same in every section: the key's full path, the problem, the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitml.confcheck import Fields
from gitml.errors import GitmlError
from gitml.policy import parse_policy

pytestmark = pytest.mark.unit

SHIPPED = yaml.safe_load((Path(__file__).parents[2] / "conf" / "gitml.yaml").read_text())


def with_value(path: str, value: Any) -> dict[str, Any]:
    """The shipped policy with one dotted key set (or added) to `value`."""
    raw = copy.deepcopy(SHIPPED)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[last] = value
    return raw


def test_the_shipped_policy_parses() -> None:
    policy = parse_policy(SHIPPED)
    assert policy.monitor.critical_top_features == 3
    assert policy.serve.max_batch_size == 256


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("serve.max_batch_size", 0, "'serve.max_batch_size' must be at least 1, not 0."),
        ("serve.log.keep", "five", "'serve.log.keep' must be an integer, not 'five'."),
        ("serve.unknown_categories", "ignore", "'serve.unknown_categories' is 'ignore'"),
        (
            "serve.max_batch",
            3,
            "'serve.max_batch' is not a known key. Did you mean 'max_batch_size'?",
        ),
        ("monitor.drift_share", 2, "'monitor.drift_share' must lie between 0.0 and 1.0, not 2."),
        ("monitor.thresholds.ks", -0.1, "'monitor.thresholds.ks' must be at least 0.0, not -0.1."),
        ("monitor.low_cardinality", 50, "'monitor.low_cardinality' must lie between 0 and 20"),
        ("monitor.critical_columns", "age", "'monitor.critical_columns' must be a list of strings"),
        ("monitor.correction", "holm", "'monitor.correction' is 'holm', which is not one of"),
        ("gates.fairness.parity", 0.1, "'gates.fairness.parity' is not a known key."),
        ("registry.require_signed", "yes", "'registry.require_signed' must be true or false"),
        ("report.top_k_importance", -1, "'report.top_k_importance' must be"),
    ],
)
def test_bad_values_name_their_full_path(path: str, value: Any, expected: str) -> None:
    with pytest.raises(GitmlError) as caught:
        parse_policy(with_value(path, value))
    assert caught.value.message.startswith("conf/gitml.yaml: ")
    assert expected in caught.value.render()
    assert caught.value.hint  # every error says what to do next


def test_missing_required_keys_are_named() -> None:
    raw = copy.deepcopy(SHIPPED)
    del raw["registry"]
    with pytest.raises(GitmlError, match=r"missing key\(s\) registry"):
        parse_policy(raw)


def test_fields_paths_and_optional_mappings() -> None:
    monitor = Fields("monitor")
    assert (
        monitor.path("") == "monitor"
        and monitor.path("log.score_field") == "monitor.log.score_field"
    )
    assert Fields().path("") == "(top level)"
    assert monitor.mapping("log", None, optional=True) == {}
    with pytest.raises(GitmlError, match=r"'monitor\.log' must be a mapping, not NoneType"):
        monitor.mapping("log", None)
    assert monitor.integer("n", 3, minimum=1, maximum=3) == 3
    for bad in (True, 2.0, None):
        with pytest.raises(GitmlError, match="must be an integer"):
            monitor.integer("n", bad)
    with pytest.raises(GitmlError, match="must be a number, not nan"):
        monitor.number("x", float("nan"))
    with pytest.raises(GitmlError, match="lists the same name twice"):
        monitor.str_list("critical_columns", ["age", "age"])
