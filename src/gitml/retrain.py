"""Continuous training: add a labelled batch, rerun the pipeline as a DVC experiment, report.

`gitml retrain --data PATH` is what the scheduled monitoring workflow runs after drift:

1. The version it retrains is the one in `--stage` (production), else HEAD. Its commit's
   `params.yaml` names the data config (`data.name`) it was trained on; the experiment runs with
   that config (`dvc exp run -S data=<name>`), whatever `conf/config.yaml` makes the default. The
   config file itself is the one committed now (`conf/data/<name>.yaml`, current code). The
   version's model and split groups are kept the same way (`-S model=<model.name>`, a regressor
   stays a regressor), with the values it was trained with where they differ from the group's
   config now (`-S model.max_iter=...`): the same recipe, on more data.
2. The batch is read and checked exactly as ingest reads it (`gitml.data.batches`: the data
   config's read options and input contract, then its schema), stored under
   `data/external/batches/<data name>/<stem>-<md5 prefix>.<ext>` and tracked with `dvc add`.
   Ingest appends only the batches of the source it loads.
3. Champion and challenger are scored on the same rows: the batch rows the new experiment's
   split held out for its test set. Neither model was trained on them (the whole new test split
   would not do: rows the champion trained on move into it when the batch reshuffles the split).
   The champion's model comes from the registry (`get`, md5-checked) or, with no version in the
   stage, HEAD's model through DVC. `reports/retrain.md` shows both, judged as `gitml report`
   judges a change: each model's per-row outputs on those rows are paired and every judged metric
   gets the paired-bootstrap interval of challenger − champion (policy `statistics:`), so a change
   a few rows make on a small batch is "no significant change", not "improved"; then the usual
   `gitml report` against that version (which says "not comparable" when the test rows differ, as
   they do once the batch joined the data).

When anything fails after the batch was copied (`dvc add`, the experiment), the workspace is put
back exactly as it was: params.yaml, dvc.lock, the pipeline's outputs and the batch folder are
restored from a copy taken before, and the batch is removed again, so the message says so.

When the project has a default DVC remote (a folder, S3...), the batch is pushed to it right after
`dvc add` and before the pipeline runs: a clone can then `dvc pull` it, and wrong remote
credentials fail in seconds (one paragraph, see gitml.dvc) instead of after a full run. The
pipeline's outputs are pushed by whoever commits them (`ci/retrain_pr.sh`: `dvc push --run-cache`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitml.config import (
    DataConfig,
    Params,
    data_section,
    files_under,
    load_params,
    read_yaml,
    schema_path,
    with_schema,
)
from gitml.data.batches import check_batch, read_batch, source_folder
from gitml.dvc import Dvc
from gitml.errors import GitmlError
from gitml.fileio import atomic_path, md5_file, write_text
from gitml.git import Git
from gitml.policy import Policy, load_policy

log = logging.getLogger(__name__)
BATCHES = Path("data/external/batches")
_NOT_KEPT = (
    "Nothing was kept: the batch was not stored and the workspace is as it was before "
    "`gitml retrain`. Fix what DVC reports above, then run it again."
)


@dataclass(frozen=True)
class Scored:
    """One model's metrics on the shared test rows, and its per-row outputs there."""

    label: str
    metrics: Mapping[str, float]
    #: `gitml.predictions.predictions_frame` of the rows (None: not kept, point values only).
    predictions: Any = None


@dataclass(frozen=True)
class SameRows:
    """Champion and challenger scored on the same rows (the new experiment's test split)."""

    path: str
    rows: int
    md5: str
    challenger: Scored
    champion: Scored | None
    note: str | None = None


@dataclass(frozen=True)
class Retrained:
    """What a retrain did: the stored batch, the base of the report, and the report's path."""

    batch: Path
    rows: int
    base: str | None
    report: Path
    regressed: bool
    data: str = ""
    same_rows: SameRows | None = None


@dataclass(frozen=True)
class Base:
    """The version a retrain starts from: its stage holder (or HEAD) and its data config."""

    version: str | None  # None: HEAD, nothing in the stage yet
    commit: str
    data: str
    #: `-S` overrides besides data=: the version's model and split groups and values.
    overrides: tuple[str, ...] = ()


#: Config groups (conf/<group>/<name>.yaml, named by `<group>.name` in params.yaml) a retrain keeps.
RECIPE_GROUPS = ("model", "split")


def _leaves(section: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value for every non-mapping value under `section`."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key == "defaults":
            continue
        if isinstance(value, Mapping):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _hydra_value(value: Any) -> str | None:
    """`value` in Hydra's override grammar; None for values not carried (lists...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return None


def recipe_overrides(params: Mapping[str, Any], conf: Path) -> tuple[str, ...]:
    """The `-S` overrides that keep a version's model and split: groups, then changed values.

    A group is kept when conf/<group>/<name>.yaml still exists; a value when its key is still in
    that file and differs from it (interpolations such as `${seed}` are left to Hydra).
    """
    out: list[str] = []
    for group in RECIPE_GROUPS:
        section = params.get(group)
        name = section.get("name") if isinstance(section, Mapping) else None
        path = conf / group / f"{name}.yaml"
        if not isinstance(section, Mapping) or not isinstance(name, str) or not path.is_file():
            continue
        out.append(f"{group}={name}")
        current = read_yaml(path, f"{group} config")
        now = _leaves(current) if isinstance(current, Mapping) else {}
        for key, value in _leaves(section).items():
            was = now.get(key)
            if key == "name" or key not in now or (isinstance(was, str) and "${" in was):
                continue
            text = _hydra_value(value)
            if text is not None and (was != value or type(was) is not type(value)):
                out.append(f"{group}.{key}={text}")
    return tuple(out)


def find_base(root: Path, stage: str) -> Base:
    """The version in `stage` (else HEAD) and the data config its commit was trained on."""
    from gitml.registry import resolve

    holder = resolve(root, None, stage)
    commit = holder.commit if holder else Git(root).rev_parse("HEAD")
    if commit is None:
        raise GitmlError(
            f"{root} has no commit yet, so there is no version to retrain.",
            "Commit the project (and run the pipeline once) first.",
        )
    params = Dvc(root).read_yaml("params.yaml", commit)
    data = params.get("data") if isinstance(params, Mapping) else None
    name = data.get("name") if isinstance(data, Mapping) else None
    where = f"{holder.version} ({commit[:12]})" if holder else f"HEAD ({commit[:12]})"
    if not isinstance(name, str) or not name:
        raise GitmlError(
            f"params.yaml at {where} names no data config (data.name).",
            "Retrain a version trained by this pipeline (its params.yaml is composed from conf/).",
        )
    overrides = recipe_overrides(params, root / "conf") if isinstance(params, Mapping) else ()
    return Base(holder.version if holder else None, commit, name, overrides)


def data_config(root: Path, name: str) -> DataConfig:
    """The committed data config `conf/data/<name>.yaml` the experiment will compose."""
    rel = f"conf/data/{name}.yaml"
    if not (root / rel).is_file():
        raise GitmlError(
            f"The version to retrain was trained on data config '{name}', but {rel} does not "
            "exist in this checkout.",
            f"Restore {rel} (e.g. `git checkout <commit> -- {rel}`), commit it, and try again.",
        )
    if not Git(root).tracks(rel):
        raise GitmlError(
            f"{rel} is not committed: `dvc exp run` records only files git tracks, and "
            "`dvc exp apply` deletes untracked ones.",
            f"Commit it (`git add {rel} && git commit`), then run gitml retrain again.",
        )
    raw = {"data": data_section(read_yaml(root / rel, "data config"))}
    schema = schema_path(raw)
    if schema is not None and not Git(root).tracks(schema):
        raise GitmlError(
            f"{schema} (the column schema {rel} names) is not committed: `dvc exp run` records "
            "only files git tracks.",
            f"Commit it (`git add {schema} && git commit`), then run gitml retrain again.",
        )
    return DataConfig.parse(with_schema(raw, files_under(root))["data"])


def store_batch(root: Path, data: Path, config: DataConfig) -> tuple[Path, Any]:
    """Check `data` as ingest will read it and copy it into its source's batches folder."""
    frame = read_batch(data, config)
    check_batch(data, frame, config)
    folder = source_folder(root / BATCHES, config)
    target = folder / f"{data.stem}-{md5_file(data)[:8]}{data.suffix}"
    if target.exists():
        raise GitmlError(
            f"This batch is already stored as {target.relative_to(root)}.",
            "Nothing to retrain on: pass a new batch.",
        )
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(data, tmp)
    return target, frame


def _guarded_paths(root: Path, folder: Path) -> list[Path]:
    """What `dvc add` and `dvc exp run` may change: params, lock, outputs, the batch folder."""
    paths = {root / "params.yaml", root / "dvc.lock", root / "dvc.yaml", folder}
    dvc_yaml = Dvc(root).read_yaml("dvc.yaml") or {}
    for stage in (dvc_yaml.get("stages") or {}).values():
        for section in ("outs", "metrics", "plots"):
            for out in (stage or {}).get(section) or []:
                for path in out if isinstance(out, Mapping) else [out]:
                    paths.add(root / str(path))
    for path in list(paths):
        paths.add(path.with_name(".gitignore"))  # DVC lists untracked outputs there
    # parents before children, so a restored folder is not overwritten by its own file
    return sorted(paths, key=lambda p: len(p.parts))


@contextmanager
def restored_on_failure(root: Path, folder: Path) -> Iterator[None]:
    """Put every path DVC may touch back as it was when the block raises (then re-raise).

    Files are copied, not linked: DVC rewrites params.yaml in place when it composes it.
    """
    paths = _guarded_paths(root, folder)
    with tempfile.TemporaryDirectory(prefix="gitml-retrain-") as tmp:
        saved: dict[Path, Path | None] = {}
        for i, path in enumerate(paths):
            copy = Path(tmp) / str(i)
            if path.is_dir():
                shutil.copytree(path, copy, symlinks=True)
            elif path.exists():
                shutil.copy2(path, copy, follow_symlinks=False)
            saved[path] = copy if path.exists() else None
        created = [p for p in folder.parents if not p.exists()] + [folder]
        try:
            yield
        except BaseException:
            for path, kept in saved.items():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
                if kept is not None and kept.is_dir():
                    shutil.copytree(kept, path, symlinks=True)
                elif kept is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(kept, path, follow_symlinks=False)
            for path in sorted(created, key=lambda p: -len(p.parts)):
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
            raise


def retrain(
    root: Path, data: Path, stage: str = "production", report_path: Path | None = None
) -> Retrained:
    """Add the batch, run the pipeline as an experiment and write the report against `stage`."""
    from gitml.report.api import report

    root = Path(root).resolve()
    data = Path(data)
    base = find_base(root, stage)
    config = data_config(root, base.data)
    folder = source_folder(root / BATCHES, config)
    with restored_on_failure(root, folder):
        target, batch = store_batch(root, data, config)
        dvc = Dvc(root)
        dvc.add(str(target.relative_to(root)), how_to_fix=_NOT_KEPT)
        remote = dvc.default_remote()
        if remote is not None:
            dvc.push(f"{target.relative_to(root)}.dvc", how_to_fix=_NOT_KEPT)
            log.info("pushed %s to the DVC remote '%s'", target.name, remote)
        log.info("retraining with -S data=%s %s", base.data, " ".join(base.overrides))
        dvc.exp_run(set_params=(f"data={base.data}", *base.overrides), how_to_fix=_NOT_KEPT)
    policy = load_policy(root)
    same = score_same_rows(root, base, policy, batch, config)
    rows = len(batch)
    rendered = report(root, base=base.commit if base.version else "HEAD", fmt="md")
    out = report_path or root / "reports" / "retrain.md"
    text, regressed = render_retrain(
        rendered.text, same, base, target.relative_to(root), rows, policy
    )
    write_text(out, text)
    log.info(
        "retrained %s on %s (+%d rows); report against %s -> %s",
        base.data,
        target.name,
        rows,
        base.version or "HEAD",
        out,
    )
    return Retrained(target, rows, base.version, out, regressed, base.data, same)


# ---- champion and challenger on the same rows ------------------------------------------------


def _test_path(root: Path, policy: Policy) -> str | None:
    """The evaluating stage's data file in the workspace's dvc.lock (the new test split)."""
    from gitml.report.comparable import evaluation_rows

    rows = evaluation_rows(Dvc(root).read_yaml("dvc.lock"), policy.outputs.metrics)
    return next(iter(rows.files)) if rows is not None and len(rows.files) == 1 else None


def _champion_model(root: Path, base: Base, policy: Policy, into: Path) -> Path:
    """The base version's model bytes (registry `get`, or HEAD's through DVC), md5-checked."""
    if base.version is not None:
        from gitml.registry import get

        return get(root, base.version, into).path
    dvc = Dvc(root)
    expected = dvc.snapshot("", base.commit).out_md5(policy.outputs.model)
    if expected is None:
        raise GitmlError(f"HEAD has no {policy.outputs.model} in dvc.lock.", "")
    target = into / Path(policy.outputs.model).name
    md5 = dvc.fetch_bytes_to(policy.outputs.model, base.commit, target)
    if md5 != expected:
        raise GitmlError(f"HEAD's model bytes have md5 {md5}, dvc.lock says {expected}.", "")
    return target


def score_rows(
    model_path: Path, signature: Any, frame: Any, params: Params, policy: Policy
) -> tuple[dict[str, float], Any]:
    """A model's metrics on `frame` and its per-row outputs there (see `model_outputs`), rows
    identified by a hash of every column (both models get the same frame)."""
    from gitml.modeling import load_model, prepare_features
    from gitml.predictions import row_ids

    model = load_model(model_path, list(policy.trusted_types))
    x = prepare_features(frame, signature.features)
    y = frame[params.data.target].to_numpy()
    return model_outputs(
        model,
        x,
        y,
        task=params.data.task,
        positive_class=params.data.positive_class,
        threshold=signature.threshold,
        ids=row_ids(frame, []),
    )


def model_outputs(
    model: Any,
    x: Any,
    y: Any,
    *,
    task: str,
    positive_class: Any,
    threshold: float | None,
    ids: Any,
) -> tuple[dict[str, float], Any]:
    """A fitted model's metrics, computed as the evaluate stage computes them (per task), and
    its per-row outputs as a predictions table (`gitml.predictions.predictions_frame`).

    Binary: P(positive class) and the model's decisions at its own threshold (0.5 when it records
    none); multiclass: the class probabilities; regression: the predicted values.
    """
    import numpy as np
    import pandas as pd

    from gitml.evaluation import classification_metrics, predict_labels
    from gitml.predictions import predictions_frame
    from gitml.tasks import get as get_task

    no_columns = pd.DataFrame(index=range(len(y)))
    if get_task(task).output == "prediction":
        values = np.asarray(model.predict(x), dtype="float64")
        found = get_task(task).compute_metrics(np.asarray(y).astype("float64"), values, [], 0.5)
        metrics = {k: float(v) for k, v in found.items() if isinstance(v, int | float)}
        return metrics, predictions_frame(ids, np.asarray(y), values, values, no_columns, [])
    if not hasattr(model, "predict_proba"):
        raise GitmlError("the model has no predict_proba (not a classifier)", "")
    classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    order = list(range(len(classes)))
    if len(classes) == 2 and positive_class in classes:
        pos = classes.index(positive_class)
        order = [1 - pos, pos]
    proba = np.asarray(model.predict_proba(x))[:, order]
    ordered = [classes[i] for i in order]
    cut = threshold if threshold is not None else 0.5  # the model's own
    metrics = classification_metrics(np.asarray(y), proba, ordered, cut)
    decisions = predict_labels(proba, ordered, cut)
    return metrics, predictions_frame(ids, np.asarray(y), proba, decisions, no_columns, ordered)


def held_out_batch_rows(test: Any, batch: Any, config: DataConfig) -> Any:
    """The rows of `test` that came from `batch` (the batch rows the split held out).

    The batch goes through what ingest and split do to it (Parquet, then `schema.coerce`), and
    rows are matched on a hash of all declared columns.
    """
    import io

    import pandas as pd

    from gitml.schema import coerce

    buffer = io.BytesIO()
    batch.to_parquet(buffer, index=False)
    buffer.seek(0)
    names = [c.name for c in config.columns]
    stored = coerce(pd.read_parquet(buffer), config)[names]
    wanted = set(pd.util.hash_pandas_object(stored, index=False).tolist())
    hashes = pd.util.hash_pandas_object(coerce(test, config)[names], index=False)
    return test.loc[hashes.isin(wanted).to_numpy()].reset_index(drop=True)


def rows_digest(frame: Any, config: DataConfig) -> str:
    """The md5 of a table's row hashes (all declared columns): the identity of a set of rows."""
    import pandas as pd

    from gitml.schema import coerce

    names = [c.name for c in config.columns]
    hashes = pd.util.hash_pandas_object(coerce(frame, config)[names], index=False)
    return hashlib.md5(hashes.to_numpy().tobytes()).hexdigest()


def score_same_rows(
    root: Path, base: Base, policy: Policy, batch: Any, config: DataConfig
) -> SameRows | None:
    """Score the new model and the base version's model on the same rows: the batch rows the
    new experiment held out in its test split (neither model was trained on them)."""
    import pandas as pd

    from gitml.modeling import Signature, load_signature

    test = _test_path(root, policy)
    if test is None or not test.endswith((".parquet", ".pq")):
        log.warning("no single Parquet evaluation file in dvc.lock: champion/challenger skipped")
        return None
    params = load_params(root / "params.yaml")
    frame = held_out_batch_rows(pd.read_parquet(root / test), batch, config)
    if frame.empty or frame[params.data.target].nunique() < 2:
        log.warning("too few batch rows in the test split: champion/challenger skipped")
        return None
    md5 = rows_digest(frame, config)
    sig = load_signature(root / policy.outputs.signature)
    challenger = Scored(
        "challenger (this experiment)",
        *score_rows(root / policy.outputs.model, sig, frame, params, policy),
    )
    label = f"champion {base.version}" if base.version else "champion (HEAD)"
    try:
        raw = Git(root).read_file(base.commit, policy.outputs.signature)
        if raw is None:
            raise GitmlError(f"no {policy.outputs.signature} at {base.commit[:12]}", "")
        champion_sig = Signature.from_dict(json.loads(raw))
        with tempfile.TemporaryDirectory(prefix="gitml-champion-") as tmp:
            path = _champion_model(root, base, policy, Path(tmp))
            champion = Scored(label, *score_rows(path, champion_sig, frame, params, policy))
    except (GitmlError, KeyError, ValueError) as error:
        what = error.message if isinstance(error, GitmlError) else str(error)
        note = f"{label} could not be scored on these rows: {what}"
        return SameRows(test, len(frame), md5, challenger, None, note)
    return SameRows(test, len(frame), md5, challenger, champion)


def judge_same_rows(
    same: SameRows, rules: Mapping[str, Any], settings: Any
) -> tuple[list[Any], Any, Any]:
    """Metric rows, verdict and interval summary of challenger against champion on the same rows.

    As `gitml report` judges a change (`gitml.report.intervals.judge`): a judged metric's status
    comes from the paired-bootstrap interval of challenger − champion on those rows; metrics the
    bootstrap does not cover keep their point status; without per-row outputs on both sides the
    point values are compared (the summary's note says so).
    """
    from gitml.report.intervals import adjust_verdict, judge
    from gitml.report.metrics import diff_metrics, verdict

    assert same.champion is not None
    rows = diff_metrics(same.champion.metrics, same.challenger.metrics, rules)
    rows, summary = judge(
        rows,
        same.champion.predictions,
        same.challenger.predictions,
        rules,
        settings,
        base_label="the champion",
        head_label="the challenger",
    )
    return rows, adjust_verdict(verdict(rows, True), rows, summary), summary


def render_retrain(
    report_md: str, same: SameRows | None, base: Base, batch: Path, rows: int, policy: Policy
) -> tuple[str, bool]:
    """reports/retrain.md: the same-rows comparison, then the report against the base version.

    Returns the text and whether the challenger regressed against the champion on those rows.
    """
    from gitml.report.api import settings
    from gitml.report.render import TEMPLATE_DIR, environment

    rows_table: list[Any] = []
    judged = summary = None
    if same is not None and same.champion is not None:
        rows_table, judged, summary = judge_same_rows(same, policy.metrics, settings(policy))
    marker, _, rest = report_md.partition("\n")
    text = (
        environment(TEMPLATE_DIR)
        .get_template("retrain.md.j2")
        .render(
            marker=marker,
            same=same,
            base=base,
            batch=str(batch),
            batch_rows=rows,
            rows=rows_table,
            verdict=judged,
            intervals=summary,
            report=rest.lstrip("\n"),
        )
    )
    return text, judged is not None and not judged.passed
