"""The inference core of `gitml data init`: dtypes, roles, markers, PII, task and positive class."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_diabetes, load_iris, load_wine

from gitml.config import DataConfig
from gitml.data.colstats import MAX_TRACKED, ColumnStats, is_marker
from gitml.data.heuristics import pii_by_name, sensitive_by_name
from gitml.data.infer import (
    guess_positive_class,
    guess_task,
    infer_column,
    infer_config,
)
from gitml.data.render import na_values, render_yaml
from gitml.data.scan import scan
from gitml.errors import GitmlError

ROOT = Path(__file__).resolve().parents[2]


def stats_of(frame: pd.DataFrame, chunk: int = 1000, text: bool = True) -> list[ColumnStats]:
    out = [ColumnStats(str(c)) for c in frame.columns]
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        for s, c in zip(out, frame.columns, strict=True):
            s.update(part[c].astype(str) if text else part[c], text=text)
    return out


def column(values: list[object], name: str = "x", target: str = "y") -> object:
    return infer_column(stats_of(pd.DataFrame({name: values}), chunk=3)[0], target)


def infer(frame: pd.DataFrame, target: str, task: str = "auto", chunk: int = 1000):
    stats = stats_of(frame, chunk)
    return infer_config(stats, target, "t", "csv", "data/external/t.csv", {}, task)


@pytest.mark.parametrize(
    "text", ["?", " ? ", "NA", "N/A", "null", "", "   ", "-", "NaN", "Unknown"]
)
def test_missing_value_markers(text: str) -> None:
    assert is_marker(text)


@pytest.mark.parametrize("text", ["0", "-1", "a", "no", "?!"])
def test_values_that_are_not_markers(text: str) -> None:
    assert not is_marker(text)


def test_numbers_with_markers_are_nullable_and_bounded() -> None:
    guess = column(["1.5", " ?", "2", "NA", "-3.25 ", "-"])
    assert (guess.dtype, guess.role, guess.nullable) == ("float64", "feature", True)
    assert (guess.min, guess.max) == (-3.25, 2.0)
    integers = column(["1", "2", "10", "?"])
    assert (integers.dtype, integers.min, integers.max) == ("int64", 1, 10)


def test_markers_are_collected_as_raw_text_for_pandas() -> None:
    stats = stats_of(pd.DataFrame({"a": ["1", "?", "? ", "2"], "b": ["x", "x", "null", "y"]}))
    assert na_values(stats) == ["?", "? ", "null"]


def test_categories_are_sorted_and_keep_case_and_trailing_blanks() -> None:
    values = ["red", "Red", "white ", "white"] * 10
    guess = column(values)
    assert guess.dtype == "category" and guess.categories == ["Red", "red", "white", "white "]
    assert any("case or whitespace" in n for n in guess.notes)


def test_the_result_does_not_depend_on_the_chunk_size() -> None:
    wine = load_wine(as_frame=True).frame.astype(str)
    whole = [infer_column(s, "target") for s in stats_of(wine, chunk=len(wine))]
    small = [infer_column(s, "target") for s in stats_of(wine, chunk=7)]
    assert [g.to_dict() for g in whole] == [g.to_dict() for g in small]


def test_distinct_tracking_is_bounded_and_unique_text_becomes_an_id() -> None:
    ids = [f"K{i:06d}" for i in range(20 * MAX_TRACKED)]
    stats = stats_of(pd.DataFrame({"ref": ids}), chunk=997)[0]
    assert stats.overflowed and not stats.counts and len(stats.sample) <= 200
    assert abs(stats.distinct - len(ids)) / len(ids) < 0.15
    guess = infer_column(stats, "y")
    assert (guess.dtype, guess.role, guess.categories) == ("string", "id", None)


def test_repetitive_high_cardinality_text_is_ignored() -> None:
    words = [f"comment {i % 400}" for i in range(1200)]
    guess = column(words, name="remarks")
    assert (guess.dtype, guess.role) == ("string", "ignore")


def test_integer_ids_by_name() -> None:
    guess = column([str(i) for i in range(100)], name="row_id")
    assert guess.role == "id" and guess.min is None
    assert column([str(i) for i in range(100)], name="count").role == "feature"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("contact", [f"p{i}@mail.example.org" for i in range(60)]),
        ("x", [f"{100 + i}-{10 + i % 80:02d}-{1000 + i}" for i in range(60)]),
        ("x", [f"+1 (555) {100 + i} {1000 + i}" for i in range(60)]),
    ],
)
def test_pii_by_value_is_never_a_feature(name: str, values: list[str]) -> None:
    guess = column(values, name=name)
    assert guess.pii and guess.role in ("id", "ignore")


@pytest.mark.parametrize(
    "name", ["email", "Email Address", "lastName", "ssn", "home_phone", "name"]
)
def test_pii_by_name(name: str) -> None:
    assert pii_by_name(name)
    guess = column(["a", "b"] * 30, name=name)
    assert guess.pii and guess.role == "ignore"


@pytest.mark.parametrize("name", ["income", "product", "file_name_length", "colour"])
def test_names_that_are_not_pii(name: str) -> None:
    assert pii_by_name(name) is None


def test_sensitive_candidates_stay_features_with_a_comment() -> None:
    assert sensitive_by_name("Gender") == "gender" and sensitive_by_name("applicant_age") == "age"
    assert sensitive_by_name("native-country") == "national origin"
    assert sensitive_by_name("page_views") is None
    frame = pd.DataFrame({"sex": ["F", "M"] * 20, "y": ["0", "1"] * 20})
    inference = infer(frame, "y")
    sex = inference.columns[0]
    assert sex.role == "feature" and sex.sensitive == "sex"
    assert "# candidate sensitive attribute (sex): confirm and set role: sensitive" in render_yaml(
        inference, "test"
    )


def test_dates_become_the_time_column() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2022-01-01", periods=40).strftime("%Y-%m-%d"),
            "x": [str(i % 5) for i in range(40)],
            "y": ["a", "b"] * 20,
        }
    )
    inference = infer(frame, "y")
    when = inference.columns[0]
    assert (when.dtype, when.role, when.pii) == ("datetime", "time", False)
    assert (when.min, when.max) == ("2022-01-01", "2022-02-09")
    assert inference.time_column == "when"


def test_booleans() -> None:
    guess = column(["True", "False", "", "True"])
    assert (guess.dtype, guess.nullable) == ("bool", True)


def test_task_guess() -> None:
    def target(values: list[str]) -> ColumnStats:
        return stats_of(pd.DataFrame({"y": values}))[0]

    assert guess_task(target(["0", "1", "1"])) == "binary"
    assert guess_task(target(["a", "b", "c", "a"])) == "multiclass"
    assert guess_task(target([str(i % 7) for i in range(70)])) == "multiclass"
    assert guess_task(target([str(i * 0.5) for i in range(70)])) == "regression"
    # whole numbers that are a measurement, not classes: most values seen once (stackloss)
    stackloss = [42, 37, 37, 28, 18, 18, 19, 20, 15, 14, 14, 13, 11, 12, 8, 7, 8, 8, 9, 15, 15]
    assert guess_task(target([str(v) for v in stackloss])) == "regression"
    assert guess_task(target([str(i % 12) for i in range(20)])) == "regression"  # 12 of 20 rows
    assert guess_task(target(["a", "b", "c"])) == "multiclass"  # text cannot be a regression
    with pytest.raises(GitmlError, match="at least two"):
        guess_task(target(["1", "1", "?"]))
    with pytest.raises(GitmlError, match="is empty: all 3 rows are missing"):
        guess_task(target(["", "?", "NA"]))  # statsmodels' fertility, column '2012'
    with pytest.raises(GitmlError, match="exactly two"):
        guess_task(target(["a", "b", "c"]), "binary")
    with pytest.raises(GitmlError, match="needs numbers"):
        guess_task(target(["a", "b", "c"]), "regression")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"<=50K": 70, ">50K": 30}, ">50K"),
        ({"<=50K": 10, ">50K": 90}, ">50K"),
        ({"no": 5, "yes": 95}, "yes"),
        ({0: 90, 1: 10}, 1),
        ({False: 1, True: 9}, True),
        ({"cat": 60, "dog": 40}, "dog"),
        ({"cat": 50, "dog": 50}, "dog"),
    ],
)
def test_positive_class_rule(counts: dict[object, int], expected: object) -> None:
    assert guess_positive_class(counts) == expected


def test_rendered_config_loads_with_the_pipeline_loader() -> None:
    frame = pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(60)],
            "email": [f"u{i}@x.org" for i in range(60)],
            "on": ["yes", "no", "?"] * 20,
            "amount": [str(i * 1.5) for i in range(60)],
            "label": ["yes", "no", "no"] * 20,
        }
    )
    inference = infer(frame, "label")
    text = render_yaml(inference, "gitml data init t.csv --target label")
    assert text.startswith("# t: inferred by") and "To use: dvc exp run -S data=t" in text
    raw = yaml.safe_load(text)
    # 60 rows: the config selects a random forest, in a Hydra defaults list Hydra consumes
    assert raw.pop("defaults") == [{"override /model@_global_.model": "random_forest"}]
    config = DataConfig.parse(raw)
    assert config.task == "binary" and config.positive_class == "yes"
    assert config.column("label").categories == ("no", "yes")
    assert config.column("on").categories == ("no", "yes")  # quoted: not YAML booleans
    assert config.column("email").pii and "email" not in config.feature_names
    assert config.column("id").role == "id"


def test_unknown_target_and_no_features_are_user_errors() -> None:
    frame = pd.DataFrame({"a": ["1", "2"], "y": ["0", "1"]})
    with pytest.raises(GitmlError, match="no column 'label'"):
        infer(frame, "label")
    with pytest.raises(GitmlError, match="No column of the file can be a feature"):
        infer(pd.DataFrame({"email": ["a@b.org", "c@d.org"], "y": ["0", "1"]}), "y")


def test_regression_is_inferred_from_a_bundled_table() -> None:
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    inference = infer(diabetes.astype(str), "target")
    assert inference.task == "regression" and inference.positive_class is None
    target = next(c for c in inference.columns if c.name == "target")
    assert target.role == "target" and target.dtype == "int64" and target.min == 25
    assert (
        sensitive_by_name("age") and next(c for c in inference.columns if c.name == "age").sensitive
    )


def test_parquet_and_csv_scans_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "n": rng.integers(0, 9, 500),
            "f": np.where(rng.random(500) < 0.1, np.nan, rng.normal(size=500).round(3)),
            "c": rng.choice(["a", "b", "c"], 500),
            "y": rng.choice([0, 1], 500),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=100)
    from_csv = scan(tmp_path / "t.csv", "csv", {}, chunk_rows=64)
    from_parquet = scan(tmp_path / "t.parquet", "parquet", {}, chunk_rows=64)
    as_dicts = [
        [infer_column(s, "y").to_dict() for s in stats] for stats in (from_csv, from_parquet)
    ]
    assert as_dicts[0] == as_dicts[1]
    assert as_dicts[0][1]["nullable"] is True and as_dicts[0][2]["categories"] == ["a", "b", "c"]


def test_a_config_selects_a_model_for_its_task_and_size_unless_the_command_line_picks_one(
    tmp_path: Path,
) -> None:
    """`dvc exp run -S data=<name>` trains a regressor on regression data, and a random forest on
    fewer than 1,000 rows (boosting's leaves of 50 rows learned nothing from 24 training rows, and
    0.73 accuracy on iris); Hydra composes as DVC does."""
    from hydra import compose, initialize_config_dir

    from gitml.data.cli import split_schema

    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    for name, rows, target in [
        ("sales", 1200, lambda i: str(i * 0.7)),
        ("shop", 60, lambda i: str(i * 0.7)),
        ("churn", 60, lambda i: "yes" if i % 3 else "no"),
        ("loans", 1200, lambda i: "yes" if i % 3 else "no"),
    ]:
        frame = pd.DataFrame(
            {"x": [str(i % 9) for i in range(rows)], "y": [target(i) for i in range(rows)]}
        )
        inference = infer_config(stats_of(frame), "y", name, "csv", f"data/external/{name}.csv", {})
        config, _ = split_schema(render_yaml(inference, "gitml data init --target y"), name)
        (conf / "data" / f"{name}.yaml").write_text(config)
    runs = [["data=sales"], ["data=sales", "model=ridge"], ["data=shop"], ["data=churn"]]
    runs += [["data=churn", "model=logistic_regression"], ["data=loans"], ["data=breast_cancer"]]
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        chosen = {o[-1]: compose(config_name="config", overrides=o).model.name for o in runs}
        composed = compose(config_name="config", overrides=["data=sales"])
    assert chosen == {
        "data=sales": "hist_gradient_boosting_regressor",
        "model=ridge": "ridge",
        "data=shop": "random_forest_regressor",
        "data=churn": "random_forest",
        "model=logistic_regression": "logistic_regression",
        "data=loans": "hist_gradient_boosting",
        "data=breast_cancer": "hist_gradient_boosting",
    }
    assert "defaults" not in composed.data


def test_a_constant_column_is_ignored_but_a_constant_with_gaps_is_a_feature() -> None:
    """statsmodels' fertility: 'Indicator Name' holds one text in all 219 rows."""
    assert column(["Fertility rate"] * 9).role == "ignore"
    assert column(["4"] * 9).role == "ignore"
    assert column(["yes", "", "yes", "yes"]).role == "feature"  # missingness may tell
    assert column(["a", "b", "a", "b"]).role == "feature"


def test_a_decimal_comma_export_reads_as_numbers(tmp_path: Path) -> None:
    """A `;`-separated export from a European locale (`13,2`) trains on numbers, not text."""
    from gitml.data.cli import build

    wine = load_wine(as_frame=True).frame.rename(columns={"od280/od315_of_diluted_wines": "od"})
    european = tmp_path / "wine_eu.csv"
    wine.to_csv(european, sep=";", decimal=",", index=False)
    inference, _ = build(european, "data/external/wine_eu.csv", "target", "wine_eu")
    assert inference.read_options["sep"] == ";" and inference.read_options["decimal"] == ","
    kinds = {c.name: (c.dtype, c.role) for c in inference.columns}
    assert kinds["alcohol"] == ("float64", "feature") and kinds["proline"][0] in (
        "int64",
        "float64",
    )
    read = pd.read_csv(european, **inference.read_options)
    assert np.allclose(read["alcohol"], wine["alcohol"])
    dotted = tmp_path / "wine_dot.csv"  # `;` with decimal points: no decimal option
    wine.to_csv(dotted, sep=";", index=False)
    plain, _ = build(dotted, "data/external/wine_dot.csv", "target", "wine_dot")
    assert "decimal" not in plain.read_options and plain.read_options["sep"] == ";"


def read_as_the_pipeline(path: Path, text: str) -> tuple[DataConfig, pd.DataFrame]:
    """The rendered config parsed, and the file read with its read options (as `ingest` does)."""
    from gitml.data.sources import read_table

    raw = yaml.safe_load(text)
    raw.pop("defaults", None)  # the model choice: Hydra's defaults list, which Hydra consumes
    config = DataConfig.parse(raw)
    return config, read_table(path, "csv", config.read_options, [c.name for c in config.columns])


def test_an_empty_column_without_a_header_is_declared_as_pandas_reads_it(tmp_path: Path) -> None:
    """An Excel/R export ending every line with a comma: one unnamed, empty last column."""
    from gitml.data.cli import build
    from gitml.schema import validate_frame

    iris = load_iris(as_frame=True).frame
    path = tmp_path / "iris.csv"
    lines = iris.to_csv(index=False).splitlines()
    path.write_text("".join(f"{line},\n" for line in lines), encoding="utf-8")
    inference, text = build(path, "data/external/iris.csv", "target", "iris")
    unnamed = inference.columns[-1]
    assert (unnamed.name, unnamed.role) == ("Unnamed: 5", "ignore")
    assert "no name in the header and no value" in text
    config, frame = read_as_the_pipeline(path, text)
    assert list(frame.columns) == [c.name for c in config.columns]
    assert validate_frame(frame, config).passed


def test_a_column_without_a_header_that_holds_values_is_named_in_the_error(
    tmp_path: Path,
) -> None:
    from gitml.data.cli import build

    path = tmp_path / "t.csv"
    path.write_text("a,,y\n1,x,0\n2,,1\n3,z,0\n4,w,1\n", encoding="utf-8")
    with pytest.raises(GitmlError, match=r"Column 2 of the file \(after 'a'\) has no name") as err:
        build(path, "data/external/t.csv", "y", "t")
    assert "Give it a name in the file's first line" in err.value.render()


def test_numbers_with_thousands_separators_are_numbers(tmp_path: Path) -> None:
    """wine's proline written `1,065` (quoted in the CSV) is a feature, read with thousands."""
    from gitml.data.cli import build
    from gitml.schema import validate_frame

    wine = load_wine(as_frame=True).frame.rename(columns={"od280/od315_of_diluted_wines": "od"})
    written = wine.assign(proline=[f"{int(v):,}" for v in wine["proline"]])
    path = tmp_path / "wine.csv"
    written.to_csv(path, index=False)
    inference, text = build(path, "data/external/wine.csv", "target", "wine")
    proline = next(c for c in inference.columns if c.name == "proline")
    assert (proline.dtype, proline.role) == ("int64", "feature")
    assert (proline.min, proline.max) == (278, 1680)
    assert inference.read_options["thousands"] == ","
    assert "thousands separators ('1," in text
    config, frame = read_as_the_pipeline(path, text)
    assert frame["proline"].tolist() == wine["proline"].astype(int).tolist()
    assert validate_frame(frame, config).passed

    # a column pandas' thousands="," would also turn into numbers (`1,2` -> 12): not set
    loose = written.assign(grade=[f"{i % 3},{i % 7}" for i in range(len(wine))])
    path = tmp_path / "loose.csv"
    loose.to_csv(path, index=False)
    inference, text = build(path, "data/external/loose.csv", "target", "loose")
    assert "thousands" not in inference.read_options
    proline = next(c for c in inference.columns if c.name == "proline")
    assert proline.role == "ignore" and "remove the separators" in " ".join(proline.notes)
    config, frame = read_as_the_pipeline(path, text)
    assert validate_frame(frame, config).passed


def test_thousands_do_not_depend_on_the_chunk_where_the_first_comma_is() -> None:
    values = ["7", "12", "999", "1,000", "-2,500.5", "1,234,567"]
    frame = pd.DataFrame({"x": values, "y": ["0", "1"] * 3})
    guess = infer(frame, "y", chunk=2).columns[0]
    assert (guess.dtype, guess.role, guess.min, guess.max) == (
        "float64",
        "feature",
        -2500.5,
        1234567,
    )
    stats = stats_of(pd.DataFrame({"x": values}), chunk=2)[0]
    assert stats.thousands and not stats.grouped_loosely
    assert not stats_of(pd.DataFrame({"x": ["1,2", "3"]}))[0].thousands
    assert stats_of(pd.DataFrame({"x": ["1,2", "3"]}))[0].grouped_loosely
    assert not stats_of(pd.DataFrame({"x": ["1,000", "n/a?"]}))[0].grouped


def test_non_ascii_names_are_written_as_text_and_compose(tmp_path: Path) -> None:
    """`Température °C`, not `"Temp\\xE9rature \\xB0C"`; Hydra and the schema loader read it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from gitml.config import files_under, with_schema
    from gitml.data.cli import split_schema

    frame = pd.DataFrame(
        {"Température °C": [str(20 + i % 7) for i in range(40)], "é": ["0", "1"] * 20}
    )
    inference = infer_config(stats_of(frame), "é", "météo", "csv", "data/external/météo.csv", {})
    config, schema = split_schema(render_yaml(inference, "gitml data init --target é"), "meteo")
    assert "Température °C: {dtype: int64" in schema and "\\x" not in schema + config
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    (conf / "data" / "meteo.yaml").write_text(config, encoding="utf-8")
    (conf / "schema" / "meteo.yaml").write_text(schema, encoding="utf-8")
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        composed = compose(config_name="config", overrides=["data=meteo"])
    raw = OmegaConf.to_container(composed, resolve=True)
    data = DataConfig.parse(with_schema(raw, files_under(tmp_path))["data"])
    assert [c.name for c in data.columns] == ["Température °C", "é"]
    assert (data.target, data.name, data.path) == ("é", "météo", "data/external/météo.csv")
