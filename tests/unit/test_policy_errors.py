"""conf/gitml.yaml errors read the same in every section: the key's full path, the problem, the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitml.errors import GitmlError
from gitml.policy import parse_policy
from gitml.policy.monitor import MonitorPolicy

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


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("monitor.small_sample", True, "'monitor.small_sample' must be an integer, not True."),
        ("monitor.chunk_rows", 2.0, "'monitor.chunk_rows' must be an integer, not 2.0."),
        ("monitor.drift_share", float("nan"), "'monitor.drift_share' must be a finite number"),
        ("monitor.drift_share", "0.5", "'monitor.drift_share' must be a number, not '0.5'."),
        ("monitor.quality.schema", "false", "'monitor.quality.schema' must be true or false"),
        ("serve.log.enabled", "no", "'serve.log.enabled' must be true or false, not 'no'."),
        ("monitor.critical_columns", ["age", "age"], "lists the same name twice"),
        ("monitor.thresholds.kss", 0.1, "'monitor.thresholds.kss' is not a known key."),
        ("monitor.methods.large.numerc", "ks", "Did you mean 'numeric'?"),
        ("monitor.methods.small.numeric", "kss", "Did you mean 'ks'?"),
        ("monitor.columns", {"age": {"method": "psi", "treshold": 1}}, "Did you mean 'threshold'?"),
        ("monitor.log", [], "'monitor.log' must be a mapping, not list."),
        ("report.marker", "", "'report.marker' must not be empty."),
        ("metrics.roc_auc.floor", float("inf"), "'metrics.roc_auc.floor' must be a finite number"),
        ("monitorr", {}, "'monitorr' is not a known key. Did you mean 'monitor'?"),
    ],
)
def test_strict_types_and_suggestions(path: str, value: Any, expected: str) -> None:
    with pytest.raises(GitmlError) as caught:
        parse_policy(with_value(path, value))
    assert expected in caught.value.render()
    assert caught.value.message.startswith("conf/gitml.yaml: ")


def test_empty_sub_sections_keep_their_defaults() -> None:
    raw = with_value("monitor.quality", None)
    raw["serve"] = None
    policy = parse_policy(raw)
    assert policy.monitor.null_rate_tolerance == 0.05 and policy.serve.log.keep == 5


def test_a_section_parsed_alone_still_names_its_full_path() -> None:
    with pytest.raises(GitmlError, match=r"'monitor\.prediction\.threshold' must be at least 0\.0"):
        MonitorPolicy.parse({"prediction": {"threshold": -1}})
