"""The training file's CSV format (delimiter, decimal and thousands separators, BOM) is part of
the input contract: `gitml predict` and the monitor read a file in that format like training did."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gitml import scoring
from gitml.cli import app
from gitml.config import Params
from gitml.contract import InputContract
from gitml.data.sources import read_table
from gitml.fileio import write_json
from gitml.modeling import Signature, dumps_model, feature_specs
from gitml.monitor.cli import _workspace_format
from gitml.monitor.io import BatchSource
from gitml.schema import coerce
from stages.train import fit
from tests import params_support

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ROOT_ARGS = ["--no-progress", "--root", str(ROOT)]  # the repo's conf/gitml.yaml
EUROPEAN = {"sep": ";", "decimal": ",", "encoding": "utf-8-sig", "skipinitialspace": True}


def breast_cancer() -> tuple[Params, pd.DataFrame]:
    """The breast_cancer data config with logistic regression, and its table."""
    params = params_support.composed("model=logistic_regression", "data=breast_cancer")
    from gitml.data.sources import _breast_cancer

    return params, _breast_cancer()


def train(tmp: Path, params: Params, path: Path, read_options: dict[str, object]) -> Path:
    """Train on the CSV file `path` as the pipeline does (read_table, coerce, fit, signature);
    returns the model's path (its signature.json next to it)."""
    data = dataclasses.replace(params.data, source="csv", path=str(path), read_options=read_options)
    frame = coerce(read_table(path, "csv", read_options, [c.name for c in data.columns]), data)
    pipeline = fit(frame, data, params.model)
    signature = Signature(
        features=feature_specs(data),
        target=data.target,
        task=data.task,
        classes=[int(c) for c in pipeline.classes_],
        positive_class=data.positive_class,
        training_data_md5="",
        model=params.model.name,
        estimator=params.model.target,
        contract=InputContract.from_read_options("csv", read_options),
    )
    model = tmp / "models" / "model.skops"
    model.parent.mkdir(parents=True)
    model.write_bytes(dumps_model(pipeline))
    write_json(model.with_name("signature.json"), signature.to_dict())
    return model


def predict(model: Path, rows: Path, out: Path) -> pd.DataFrame:
    result = CliRunner().invoke(
        app,
        ["predict", str(rows), "-o", str(out), "--model", str(model), *ROOT_ARGS],
    )
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def test_old_contracts_load_unchanged_and_defaults_are_not_serialised() -> None:
    old = {"missing_values": ["?"], "column_missing_values": {}, "strip_leading_space": True}
    contract = InputContract.from_dict(old)
    assert (contract.sep, contract.decimal, contract.thousands) == (",", ".", None)
    assert contract.to_dict() == old  # a default format adds nothing to signature.json
    assert contract.csv_options() == {
        "na_values": ["?"],
        "keep_default_na": False,
        "skipinitialspace": True,
    }
    european = InputContract.from_read_options("csv", {**EUROPEAN, "thousands": "."})
    assert european.format_options() == {"sep": ";", "decimal": ",", "thousands": "."}
    assert InputContract.from_dict(european.to_dict()) == european
    assert InputContract.from_read_options("csv", {"delimiter": "\t"}).sep == "\t"
    latin = InputContract.from_read_options("csv", {"encoding": "latin-1"})
    assert InputContract.from_dict(latin.to_dict()).csv_options()["encoding"] == "latin-1"
    assert InputContract.from_read_options("parquet", {"sep": ";"}).format_options() == {}


def test_predict_and_monitor_read_a_european_csv_like_training_did(tmp_path: Path) -> None:
    params, frame = breast_cancer()
    plain, european = tmp_path / "plain.csv", tmp_path / "eu.csv"
    frame.to_csv(plain, index=False)
    frame.to_csv(european, index=False, sep=";", decimal=",", encoding="utf-8-sig")
    model = train(tmp_path / "eu", params, european, EUROPEAN)
    rows = frame.drop(columns=["benign"]).iloc[::40]
    rows.to_csv(plain_rows := tmp_path / "rows.csv", index=False)
    rows.to_csv(eu_rows := tmp_path / "rows_eu.csv", index=False, sep=";", decimal=",")
    eu_rows.write_bytes(b"\xef\xbb\xbf" + eu_rows.read_bytes())  # a BOM, as Excel writes
    got = predict(model, eu_rows, tmp_path / "eu_out.csv")
    want = predict(train(tmp_path / "plain", params, plain, {}), plain_rows, tmp_path / "out.csv")
    assert len(got) == len(rows)
    pd.testing.assert_frame_equal(got, want)

    contract = InputContract.from_read_options("csv", EUROPEAN)
    # gitml monitor --profile without --params reads the workspace model's CSV format
    assert _workspace_format(model.with_name("signature.json")) == InputContract(
        sep=";", decimal=","
    )
    kinds = dict.fromkeys(rows.columns, "numeric")
    read = pd.concat(list(BatchSource(european, kinds, contract=contract)), ignore_index=True)
    assert list(read.columns) == list(rows.columns)
    np.testing.assert_allclose(read.to_numpy(), frame[rows.columns].to_numpy())


def test_thousands_separated_numbers_are_read_as_numbers(tmp_path: Path) -> None:
    params, frame = breast_cancer()
    grouped = frame.assign(mean_area=frame["mean_area"].map("{:,.2f}".format))
    assert grouped["mean_area"].str.contains(",").any()
    path = tmp_path / "grouped.csv"
    grouped.to_csv(path, index=False)
    options = {"thousands": ","}
    model = train(tmp_path / "m", params, path, options)
    rows = tmp_path / "rows.csv"
    grouped.drop(columns=["benign"]).iloc[:50].to_csv(rows, index=False)
    scored = predict(model, rows, tmp_path / "out.csv")
    assert len(scored) == 50

    contract = InputContract.from_read_options("csv", options)
    source = BatchSource(path, {"mean_area": "numeric"}, contract=contract)
    read = pd.concat(list(source), ignore_index=True)
    np.testing.assert_allclose(read["mean_area"], frame["mean_area"].round(2))


def test_a_file_with_none_of_the_features_says_so(tmp_path: Path) -> None:
    params, frame = breast_cancer()
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    model = train(tmp_path / "m", params, plain, {})
    other = tmp_path / "other.csv"
    other.write_text("foo,bar\n1,2\n")
    semicolons = tmp_path / "semi.csv"
    frame.iloc[:4].to_csv(semicolons, index=False, sep=";")
    runner = CliRunner()
    for path, found in ((other, "'foo', 'bar'"), (semicolons, "It looks like ';'-delimited")):
        result = runner.invoke(
            app,
            [
                "predict",
                str(path),
                "-o",
                str(tmp_path / "out.csv"),
                "--model",
                str(model),
                *ROOT_ARGS,
            ],
        )
        assert result.exit_code != 0
        text = " ".join(result.output.split())
        assert "has no rows" not in text, text
        assert "None of the model's feature columns is in" in text and found in text, text
        assert "'mean_radius'" in text, text


def test_a_served_csv_body_is_read_in_the_training_format() -> None:
    contract = InputContract.from_read_options("csv", {**EUROPEAN, "thousands": "."})
    body = "\ufeffmean_area;mean_radius\n1.001,5;17,99\n".encode()
    cols = scoring.columns_from_csv(body, contract.csv_options())
    assert list(cols) == ["mean_area", "mean_radius"]
    assert cols["mean_area"][0] == 1001.5 and cols["mean_radius"][0] == 17.99
