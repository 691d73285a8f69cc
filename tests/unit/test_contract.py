"""The input contract: the data config's value options, applied alike to frames and requests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from gitml import scoring
from gitml.contract import CSV_DEFAULT_MISSING, InputContract, reader_options
from gitml.modeling import Signature

pytestmark = pytest.mark.unit

SIG = Signature(
    features=[
        {"name": "age", "dtype": "int64", "kind": "numeric", "nullable": True},
        {"name": "income", "dtype": "float64", "kind": "numeric", "nullable": True},
        {
            "name": "work",
            "dtype": "category",
            "kind": "categorical",
            "nullable": True,
            "categories": ["Private", "State-gov"],
        },
    ],
    target="y",
    task="binary",
    classes=[0, 1],
    positive_class=1,
    training_data_md5="",
    model="m",
    estimator="e",
)


def test_from_read_options_and_round_trip_through_the_signature() -> None:
    c = InputContract.from_read_options(
        "csv", {"na_values": ["?"], "skipinitialspace": True, "sep": ","}
    )
    assert "?" in c.missing_values and set(CSV_DEFAULT_MISSING) <= set(c.missing_values)
    assert c.strip_leading_space
    no_defaults = InputContract.from_read_options(
        "csv", {"na_values": "?", "keep_default_na": False}
    )
    assert no_defaults.missing_values == ("?",)
    assert InputContract.from_read_options("synthetic_credit", {}).empty
    per_column = InputContract.from_read_options("parquet", {"na_values": {"income": [-1]}})
    assert per_column.markers("income") == {"-1"} and per_column.numeric_markers("income") == {-1.0}
    assert per_column.markers("age") == frozenset()
    sig = dataclasses.replace(SIG, contract=c)
    assert Signature.from_dict(sig.to_dict()).contract == c
    assert Signature.from_dict(
        {k: v for k, v in sig.to_dict().items() if k != "input_contract"}
    ).contract.empty
    assert "na_values" not in reader_options("parquet", {"na_values": ["?"], "columns": ["a"]})
    assert reader_options("csv", {"na_values": ["?"]}) == {"na_values": ["?"]}


def test_requests_and_frames_follow_the_same_rules() -> None:
    c = InputContract(("?",), {"income": ("-1",)}, strip_leading_space=True)
    sig = dataclasses.replace(SIG, contract=c)
    raw = {
        "age": [39, "?", 50],
        "income": [-1, 2.5, "?"],
        "work": [" Private", " ?", "State-gov"],
    }
    cols = scoring.validate(raw, sig)
    assert np.isnan(cols["age"][1]) and np.isnan(cols["income"][0]) and np.isnan(cols["income"][2])
    assert cols["work"][0] == "Private" and cols["work"][1] != cols["work"][1]
    frame = pd.DataFrame(
        {
            "age": pd.Series([39, None, 50], dtype="Int64"),
            "income": [-1.0, 2.5, np.nan],
            "work": pd.Series([" Private", " ?", "State-gov"], dtype="string"),
        }
    )
    from_frame = scoring.validate({k: frame[k] for k in frame}, sig)
    cleaned = c.clean_frame(frame)
    assert cleaned["work"].tolist()[0] == "Private" and cleaned["work"].isna().tolist()[1]
    assert cleaned["income"].isna().tolist() == [True, False, True]
    for name in cols:
        left, right = pd.Series(cols[name]), pd.Series(from_frame[name])
        assert left.isna().tolist() == right.isna().tolist()
        assert left.dropna().tolist() == right.dropna().tolist()
    with pytest.raises(scoring.InputError, match="unseen category 'Nope'"):
        scoring.validate({**raw, "work": ["Nope", "?", "Private"]}, sig)


def test_an_empty_contract_leaves_a_frame_untouched() -> None:
    frame = pd.DataFrame({"a": ["?", " x"], "b": [1.0, -1.0]})
    assert InputContract().clean_frame(frame) is frame
    assert InputContract(("zzz",)).clean_frame(frame) is frame
