"""The one validated loader of gitml's policy, `conf/gitml.yaml` (gates, stages, thresholds).

Policy is not training params: it judges the pipeline's results and is read by `gitml report`,
`gitml model`, `gitml serve`, `gitml monitor` and the evaluate stage, always through
`load_policy` / `load_policy_if_present`. Every section is a frozen pydantic dataclass shaped like
the file (`gitml.conftypes` formats the errors); the `monitor:` and `serve:` sections live with
their feature and import nothing from here. To add a section, add a field to `Policy`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.dataclasses import dataclass

from gitml.conftypes import (
    POLICY,
    POLICY_PATH,
    STRICT,
    EmptyIfNone,
    Flag,
    Int,
    Invalid,
    Names,
    Number,
    Text,
    require,
    validate,
)
from gitml.errors import GitmlError
from gitml.names import NAME_RE
from gitml.policy.monitor import MonitorPolicy
from gitml.policy.serve import ServePolicy
from gitml.rules import MetricRule
from gitml.tasks import FAIRNESS_STATS

__all__ = [
    "FAIRNESS_METRICS",
    "KNOWN_CHECKS",
    "POLICY_PATH",
    "TRUST_LEVELS",
    "CompilePolicy",
    "GatePolicy",
    "Outputs",
    "Policy",
    "RegistryPolicy",
    "ReportPolicy",
    "SignersPolicy",
    "SitePolicy",
    "StatisticsPolicy",
    "load_policy",
    "load_policy_if_present",
    "parse_policy",
]

#: Checks a gate may require; each is judged from a report at the candidate's commit.
KNOWN_CHECKS = ("validation_passed",)
#: Fairness statistics reported per sensitive attribute in reports/slices.json.
FAIRNESS_METRICS = FAIRNESS_STATS  # every task's gaps (gitml.tasks)
if TYPE_CHECKING:  # the keys are validated as choices; readers index with plain strings
    FairnessMetric = str
else:
    FairnessMetric = Literal[
        "demographic_parity_difference", "equalized_odds_difference", "mae_gap", "rmse_gap"
    ]


@dataclass(frozen=True, config=STRICT)
class Outputs:
    """Files the pipeline writes that the toolkit reads (all declared in dvc.yaml)."""

    metrics: Text = "reports/metrics.json"
    slices: Text = "reports/slices.json"
    importance: Text = "reports/importance.json"
    validation: Text = "reports/validation.json"
    profile: Text = "data/profile.json"
    model: Text = "models/model.skops"
    signature: Text = "models/signature.json"
    plots_dir: Text = "reports/plots"
    predictions: Text = "data/test_predictions.parquet"
    #: The seed_noise stage's metrics under several estimator seeds (`gitml report` judges on them).
    seed_noise: Text = "reports/seed_noise.json"
    #: The compile stage's ONNX model (inside its DVC-tracked folder) and its parity record.
    compiled: Text = "models/compiled/model.onnx"
    compile_record: Text = "reports/compile.json"


@dataclass(frozen=True, config=STRICT)
class ReportPolicy:
    """How `gitml report` renders: primary metric, importance rows, comment size, marker."""

    primary_metric: Text = "roc_auc"
    top_k_importance: Int = Field(default=10, ge=0)
    max_markdown_chars: Int = Field(default=60000, ge=1000)
    marker: Text = "<!-- gitml-report -->"


@dataclass(frozen=True, config=STRICT)
class StatisticsPolicy:
    """`statistics:` the paired bootstrap behind report statuses and gates (docs/statistics.md)."""

    resamples: Int = Field(default=1000, ge=100)
    confidence: Number = Field(default=0.95, gt=0.5, lt=1.0)
    seed: Int = Field(default=0, ge=0)


@dataclass(frozen=True, config=STRICT)
class MinGroup:
    """`gates.min_group`: the smallest group a fairness gate judges (rows and positives)."""

    rows: Int = Field(default=100, ge=0)
    positives: Int = Field(default=20, ge=0)


@dataclass(frozen=True, config=STRICT)
class GatePolicy:
    """Promotion gates: judged metrics, fairness limits and required checks."""

    metrics: Annotated[Names, EmptyIfNone] = ()
    fairness: Annotated[Mapping[FairnessMetric, Annotated[Number, Field(ge=0.0)]], EmptyIfNone] = (
        Field(default_factory=dict)
    )
    required_checks: Annotated[Names, EmptyIfNone] = ()
    min_group: Annotated[MinGroup, EmptyIfNone] = Field(default_factory=MinGroup)
    #: A fairness gate with groups below min_group: pass (report "insufficient data") or fail.
    insufficient: Literal["pass", "fail"] = "pass"

    @field_validator("required_checks")
    @classmethod
    def _known_checks(cls, checks: tuple[str, ...]) -> tuple[str, ...]:
        for check in checks:
            if check not in KNOWN_CHECKS:
                raise Invalid(
                    f"names '{check}', which is not a known check.",
                    f"Known checks: {', '.join(KNOWN_CHECKS)}.",
                )
        return checks


#: Which events count for a stage, weakest first; each level includes the one before.
#: any: every GTO tag; gitml: written by gitml (its structured body, a gate verdict, the commit it
#: names); signed: gitml, and signed by a key under `registry.signers`.
TRUST_LEVELS = ("any", "gitml", "signed")
if TYPE_CHECKING:
    TrustLevel = str
else:
    TrustLevel = Literal["any", "gitml", "signed"]

_FINGERPRINT = re.compile(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$")


@dataclass(frozen=True, config=STRICT)
class SignersPolicy:
    """The keys whose signatures count for stages at trust level `signed`."""

    # An SSH allowed-signers file (git's gpg.ssh.allowedSignersFile format), relative to the root.
    ssh_allowed_signers: Text | None = None
    # GPG primary-key fingerprints (the keys must be in the verifying keyring).
    gpg_fingerprints: Annotated[Names, EmptyIfNone] = ()

    @field_validator("gpg_fingerprints")
    @classmethod
    def _fingerprints(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        normalised = tuple(v.replace(" ", "").upper() for v in values)
        for value, raw in zip(normalised, values, strict=True):
            if not _FINGERPRINT.match(value):
                raise Invalid(
                    f"names '{raw}', which is not a full GPG key fingerprint.",
                    "Use the 40-hex-digit fingerprint `gpg --fingerprint KEY` prints.",
                )
        return normalised

    @property
    def any(self) -> bool:
        return bool(self.ssh_allowed_signers or self.gpg_fingerprints)


@dataclass(frozen=True, config=STRICT)
class RegistryPolicy:
    """The Git-tag model registry: stages in order, trust, signing, the remote, lineage inputs."""

    stages: Names = Field(default=("staging", "production"), min_length=1)
    require_previous_stage: Flag = True
    require_signed: Flag = False
    # Per stage, which events count (see TRUST_LEVELS); stages not listed: any.
    trust: Annotated[Mapping[Text, TrustLevel], EmptyIfNone] = Field(default_factory=dict)
    signers: Annotated[SignersPolicy, EmptyIfNone] = Field(default_factory=SignersPolicy)
    remote: Text = "origin"
    data: Names = ("data/train.parquet",)
    params: Text = "params.yaml"

    def trust_level(self, stage: str | None) -> str:
        """The trust level of `stage` (`any` for stages not listed, and for non-stage events)."""
        return self.trust.get(stage, "any") if stage is not None else "any"

    @model_validator(mode="after")
    def _trust_names_stages(self) -> RegistryPolicy:
        for stage, level in self.trust.items():
            if stage not in self.stages:
                raise Invalid(
                    f"has trust for '{stage}', which is not one of the stages.",
                    f"Stages: {', '.join(self.stages)}.",
                )
            if level == "signed" and not self.signers.any:
                raise Invalid(
                    f"requires signed tags for '{stage}', but signers lists no key.",
                    "Set registry.signers.ssh_allowed_signers and/or gpg_fingerprints.",
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _stages_are_required(cls, raw: Any) -> Any:
        return require(raw, "stages")  # in the file; RegistryPolicy() keeps the default

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        for stage in stages:
            if not NAME_RE.match(stage):
                raise Invalid(
                    f"names '{stage}', which is not a valid stage name.",
                    "Use letters, digits, '-', '_' or '/', starting and ending with a letter or "
                    "digit (GTO's rule, so tags stay readable by gto and DVC Studio).",
                )
        return stages


@dataclass(frozen=True, config=STRICT)
class SitePolicy:
    """`gitml site`: URL templates linking each page back to the forge (None: no links)."""

    commit_url: Text | None = None  # e.g. https://github.com/OWNER/REPO/commit/{sha}
    tag_url: Text | None = None  # e.g. https://github.com/OWNER/REPO/releases/tag/{tag}

    @field_validator("commit_url", "tag_url")
    @classmethod
    def _has_placeholder(cls, url: str | None, info: ValidationInfo) -> str | None:
        wanted = "{sha}" if info.field_name == "commit_url" else "{tag}"
        if url is not None and wanted not in url:
            raise Invalid(
                f"has no {wanted} placeholder.",
                f"Write the URL with {wanted} where the {wanted[1:-1]} goes.",
            )
        return url


@dataclass(frozen=True, config=STRICT)
class CompilePolicy:
    """The compile stage: whether to compile to ONNX and the parity tolerance on probabilities."""

    enabled: Flag = True
    tolerance: Number = Field(default=1e-5, ge=0.0, le=0.5)


@dataclass(frozen=True, config=STRICT)
class Policy:
    """The whole of conf/gitml.yaml, validated."""

    artifact: Text = "classifier"
    outputs: Outputs = Field(default_factory=Outputs)
    metrics: Mapping[str, MetricRule] = Field(default_factory=dict)
    report: ReportPolicy = Field(default_factory=ReportPolicy)
    gates: GatePolicy = Field(default_factory=GatePolicy)
    statistics: Annotated[StatisticsPolicy, EmptyIfNone] = Field(default_factory=StatisticsPolicy)
    registry: RegistryPolicy = Field(default_factory=RegistryPolicy)
    trusted_types: Names = ()
    monitor: Annotated[MonitorPolicy, EmptyIfNone] = Field(default_factory=MonitorPolicy)
    serve: Annotated[ServePolicy, EmptyIfNone] = Field(default_factory=ServePolicy)
    site: Annotated[SitePolicy, EmptyIfNone] = Field(default_factory=SitePolicy)
    compile: Annotated[CompilePolicy, EmptyIfNone] = Field(default_factory=CompilePolicy)

    @model_validator(mode="before")
    @classmethod
    def _file_names_artifact_and_registry(cls, raw: Any) -> Any:
        return require(raw, "artifact", "registry")  # in the file; Policy() keeps the defaults

    def metric_rule(self, name: str) -> MetricRule:
        """The rule for one metric; a clear error when the policy does not declare it."""
        if name not in self.metrics:
            raise _fail("metrics", f"does not declare '{name}'.", "Add it under metrics:.")
        return self.metrics[name]


def _fail(path: str, problem: str, hint: str) -> GitmlError:
    return GitmlError(f"{POLICY.label}: '{path}' {problem}", hint)


def parse_policy(raw: Any) -> Policy:
    """Validate an already-loaded policy mapping (the content of conf/gitml.yaml)."""
    policy = validate(Policy, {} if raw is None else raw, POLICY)
    for name in policy.gates.metrics:
        if name not in policy.metrics:
            raise _fail(
                "gates.metrics",
                f"names '{name}', which has no rule under metrics:.",
                f"Declared metrics: {', '.join(policy.metrics) or 'none'}.",
            )
    if policy.report.primary_metric not in policy.metrics and policy.metrics:
        raise _fail(
            "report.primary_metric",
            f"'{policy.report.primary_metric}' is not under metrics:.",
            f"Declared metrics: {', '.join(policy.metrics)}.",
        )
    return policy


def load_policy_if_present(root: Path) -> Policy:
    """`load_policy`, or the defaults when `<root>` has no conf/gitml.yaml (a bare folder)."""
    return load_policy(root) if (Path(root) / POLICY_PATH).is_file() else Policy()


def load_policy(root: Path, path: str | Path = POLICY_PATH) -> Policy:
    """Load and validate `<root>/conf/gitml.yaml` (or `<root>/<path>`, e.g. a stage's argument)."""
    path = Path(root) / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GitmlError(
            f"No policy file at {path}.",
            "Run gitml from the project root, or create conf/gitml.yaml (see the template repo).",
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise GitmlError(f"{path} is not valid YAML: {error}", "Fix the syntax.") from None
    return parse_policy(raw)
