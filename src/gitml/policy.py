"""The one validated loader of gitml's policy, `conf/gitml.yaml` (gates, stages, thresholds).

Policy is not training params: it judges the pipeline's results and is read by `gitml report`,
`gitml model`, `gitml serve` and `gitml monitor`. Every section is a typed, frozen dataclass;
unknown keys and bad values fail with the key's path and what to do. To add a section, write its
dataclass with a `parse` classmethod and list it in `_SECTIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitml.compare import MetricRule
from gitml.confcheck import POLICY_PATH, Fields
from gitml.errors import GitmlError
from gitml.monitor.policy import MonitorPolicy
from gitml.serve.settings import ServePolicy

#: Checks a gate may require; each is judged from a report at the candidate's commit.
KNOWN_CHECKS = ("validation_passed",)
#: Fairness statistics reported per sensitive attribute in reports/slices.json.
FAIRNESS_METRICS = ("demographic_parity_difference", "equalized_odds_difference")


_F = Fields()
_fail = _F.fail
_mapping = _F.mapping
_str = _F.string
_bool = _F.boolean
_number = _F.number
_int = _F.integer
_str_list = _F.str_list


def _check_keys(
    where: str, raw: Mapping[str, Any], required: set[str], optional: set[str] | None = None
) -> None:
    _F.keys(where, raw, optional or (), required)


def parse_metric_rule(where: str, raw: Any) -> MetricRule:
    """Parse one `metrics.<name>` entry into a `MetricRule`."""
    raw = _mapping(where, raw)
    _check_keys(
        where,
        raw,
        {"higher_is_better"},
        {"min_absolute_change", "min_relative_change", "tolerance", "floor"},
    )
    floor = raw.get("floor")
    return MetricRule(
        higher_is_better=_bool(f"{where}.higher_is_better", raw["higher_is_better"]),
        min_absolute_change=_number(
            f"{where}.min_absolute_change", raw.get("min_absolute_change", 0.0), minimum=0.0
        ),
        min_relative_change=_number(
            f"{where}.min_relative_change", raw.get("min_relative_change", 0.0), minimum=0.0
        ),
        tolerance=_number(f"{where}.tolerance", raw.get("tolerance", 0.0), minimum=0.0),
        floor=None if floor is None else _number(f"{where}.floor", floor),
    )


@dataclass(frozen=True)
class Outputs:
    """Files the pipeline writes that the toolkit reads (all declared in dvc.yaml)."""

    metrics: str = "reports/metrics.json"
    slices: str = "reports/slices.json"
    importance: str = "reports/importance.json"
    validation: str = "reports/validation.json"
    profile: str = "data/profile.json"
    model: str = "models/model.skops"
    signature: str = "models/signature.json"
    plots_dir: str = "reports/plots"

    @classmethod
    def parse(cls, raw: Any) -> Outputs:
        raw = _mapping("outputs", raw)
        names = set(cls.__dataclass_fields__)
        _check_keys("outputs", raw, set(), names)
        return cls(**{k: _str(f"outputs.{k}", v) for k, v in raw.items()})


@dataclass(frozen=True)
class ReportPolicy:
    """How `gitml report` renders: primary metric, importance rows, comment size, marker."""

    primary_metric: str = "roc_auc"
    top_k_importance: int = 10
    max_markdown_chars: int = 60000
    marker: str = "<!-- gitml-report -->"

    @classmethod
    def parse(cls, raw: Any) -> ReportPolicy:
        raw = _mapping("report", raw)
        _check_keys("report", raw, set(), set(cls.__dataclass_fields__))
        default = cls()
        return cls(
            primary_metric=_str(
                "report.primary_metric", raw.get("primary_metric", default.primary_metric)
            ),
            top_k_importance=_int(
                "report.top_k_importance", raw.get("top_k_importance", default.top_k_importance)
            ),
            max_markdown_chars=_int(
                "report.max_markdown_chars",
                raw.get("max_markdown_chars", default.max_markdown_chars),
                minimum=1000,
            ),
            marker=_str("report.marker", raw.get("marker", default.marker)),
        )


@dataclass(frozen=True)
class GatePolicy:
    """Promotion gates: judged metrics, fairness limits and required checks."""

    metrics: tuple[str, ...] = ()
    fairness: Mapping[str, float] = field(default_factory=dict)
    required_checks: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> GatePolicy:
        raw = _mapping("gates", raw)
        _check_keys("gates", raw, set(), {"metrics", "fairness", "required_checks"})
        fairness_raw = _mapping("gates.fairness", raw.get("fairness") or {})
        fairness: dict[str, float] = {}
        _check_keys("gates.fairness", fairness_raw, set(), set(FAIRNESS_METRICS))
        for key, limit in fairness_raw.items():
            fairness[str(key)] = _number(f"gates.fairness.{key}", limit, minimum=0.0)
        checks = _str_list("gates.required_checks", raw.get("required_checks") or [])
        for check in checks:
            if check not in KNOWN_CHECKS:
                raise _fail(
                    "gates.required_checks",
                    f"names '{check}', which is not a known check.",
                    f"Known checks: {', '.join(KNOWN_CHECKS)}.",
                )
        return cls(
            metrics=_str_list("gates.metrics", raw.get("metrics") or []),
            fairness=fairness,
            required_checks=checks,
        )


@dataclass(frozen=True)
class RegistryPolicy:
    """The Git-tag model registry: stages in order, signing, the remote, lineage inputs."""

    stages: tuple[str, ...] = ("staging", "production")
    require_previous_stage: bool = True
    require_signed: bool = False
    remote: str = "origin"
    data: tuple[str, ...] = ("data/train.parquet",)
    params: str = "params.yaml"

    @classmethod
    def parse(cls, raw: Any) -> RegistryPolicy:
        raw = _mapping("registry", raw)
        _check_keys("registry", raw, {"stages"}, set(cls.__dataclass_fields__))
        default = cls()
        stages = _str_list("registry.stages", raw["stages"])
        if not stages:
            raise _fail("registry.stages", "must name at least one stage.")
        from gitml.registry.grammar import NAME_RE

        for stage in stages:
            if not NAME_RE.match(stage):
                raise _fail(
                    "registry.stages",
                    f"names '{stage}', which is not a valid stage name.",
                    "Use letters, digits, '-', '_' or '/', starting and ending with a letter or "
                    "digit (GTO's rule, so tags stay readable by gto and DVC Studio).",
                )
        return cls(
            stages=stages,
            require_previous_stage=_bool(
                "registry.require_previous_stage",
                raw.get("require_previous_stage", default.require_previous_stage),
            ),
            require_signed=_bool(
                "registry.require_signed", raw.get("require_signed", default.require_signed)
            ),
            remote=_str("registry.remote", raw.get("remote", default.remote)),
            data=_str_list("registry.data", raw.get("data", list(default.data))),
            params=_str("registry.params", raw.get("params", default.params)),
        )


@dataclass(frozen=True)
class Policy:
    """The whole of conf/gitml.yaml, validated."""

    artifact: str = "classifier"
    outputs: Outputs = field(default_factory=Outputs)
    metrics: Mapping[str, MetricRule] = field(default_factory=dict)
    report: ReportPolicy = field(default_factory=ReportPolicy)
    gates: GatePolicy = field(default_factory=GatePolicy)
    registry: RegistryPolicy = field(default_factory=RegistryPolicy)
    trusted_types: tuple[str, ...] = ()
    monitor: MonitorPolicy = field(default_factory=MonitorPolicy)
    serve: ServePolicy = field(default_factory=ServePolicy)

    def metric_rule(self, name: str) -> MetricRule:
        """The rule for one metric; a clear error when the policy does not declare it."""
        if name not in self.metrics:
            raise _fail("metrics", f"does not declare '{name}'.", "Add it under metrics:.")
        return self.metrics[name]


def _parse_metrics(raw: Any) -> dict[str, MetricRule]:
    raw = _mapping("metrics", raw)
    return {str(k): parse_metric_rule(f"metrics.{k}", v) for k, v in raw.items()}


_SECTIONS: dict[str, Any] = {
    "artifact": lambda raw: _str("artifact", raw),
    "outputs": Outputs.parse,
    "metrics": _parse_metrics,
    "report": ReportPolicy.parse,
    "gates": GatePolicy.parse,
    "registry": RegistryPolicy.parse,
    "trusted_types": lambda raw: _str_list("trusted_types", raw),
    "monitor": MonitorPolicy.parse,
    "serve": ServePolicy.parse,
}


def parse_policy(raw: Any) -> Policy:
    """Validate an already-loaded policy mapping (the content of conf/gitml.yaml)."""
    raw = _mapping("(top level)", raw if raw is not None else {})
    _check_keys("", raw, {"artifact", "registry"}, set(_SECTIONS))
    values = {key: _SECTIONS[key](value) for key, value in raw.items()}
    policy = Policy(**values)
    for name in policy.gates.metrics:
        if name not in policy.metrics:
            raise _fail(
                "gates.metrics",
                f"names '{name}', which has no rule under metrics:.",
                f"Declared metrics: {', '.join(policy.metrics) or 'none'}.",
            )
    if policy.report.primary_metric not in policy.metrics and policy.metrics:
        raise _fail(
            "report.primary_metric", f"'{policy.report.primary_metric}' is not under metrics:."
        )
    return policy


def load_policy_if_present(root: Path) -> Policy:
    """`load_policy`, or the defaults when `<root>` has no conf/gitml.yaml (a bare folder)."""
    return load_policy(root) if (Path(root) / POLICY_PATH).is_file() else Policy()


def load_policy(root: Path) -> Policy:
    """Load and validate `<root>/conf/gitml.yaml`."""
    path = Path(root) / POLICY_PATH
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
