"""model_card: render the model card (Markdown) from the evaluation results and config."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from gitml import contributions as contrib
from gitml.config import load_params
from gitml.fileio import write_text
from gitml.stagekit import stage_main
from gitml.tasks import get as get_task

log = logging.getLogger(__name__)
VERSION_PLACEHOLDER = "unregistered <!-- gitml:version -->"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def render(template: Path, context: dict[str, Any]) -> str:
    """Render the card template with StrictUndefined (a missing value is an error, not blank)."""
    env = Environment(
        loader=FileSystemLoader(str(template.parent)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["fmt"] = _fmt
    return env.get_template(template.name).render(**context)


def _read(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def _explained_what(output: str, label: Any, target: str, several: bool) -> str:
    """What the contributions add up to, in words."""
    if several:
        if output == "probability":
            return "each class's probability (one table per class)"
        return "each class's raw score (log-odds scale, one table per class)"
    if label is None:
        return f"the predicted `{target}`"
    if output == "probability":
        return f"the probability of class `{label}`"
    return f"the log-odds of class `{label}`"


def drivers(summary: dict[str, Any], target: str) -> dict[str, Any]:
    """The "What drives the predictions" section's facts from reports/contributions.json."""
    sample = summary.get("sample") or {}
    if not summary.get("explained"):
        return {"explained": False, "reason": summary.get("reason", "unknown"), "sample": sample}
    outputs = summary["outputs"]
    several = len(outputs) > 1
    tables = []
    for out in outputs:
        rows = []
        for f in out["features"]:
            trend = f.get("trend")
            verdict = contrib.direction(trend)
            rows.append(
                {
                    "feature": f["feature"],
                    "mean_abs": f"{f['mean_abs']:.4f}",
                    "share": f"{100 * f['share']:.1f}%",
                    "mean": _signed(f["mean"]),
                    "higher": "–" if trend is None else f"{verdict} (r {trend:+.2f})",
                }
            )
        tables.append(
            {
                "label": out["class"],
                "mean_base": _signed(out["mean_base"]),
                "mean_output": _signed(out["mean_output"]),
                "rows": rows,
            }
        )
    label = None if several else outputs[0]["class"]
    return {
        "explained": True,
        "several": several,
        "method": "exact TreeExplainer"
        if summary["method"] == "tree"
        else "Permutation explainer against training-profile background rows",
        "what": _explained_what(summary["output"], label, target, several),
        "sample": sample,
        "tables": tables,
    }


def run(
    params: str,
    template: str,
    signature: str,
    metrics: str,
    slices: str,
    importance: str,
    contributions: str,
    validation: str,
    out: str,
) -> None:
    """Collect the card's facts and write it to `out`."""
    p = load_params(params)
    card = p.model_card
    sig = _read(signature)
    task = get_task(p.data.task)
    raw_metrics = _read(metrics)
    context = {
        "artifact": "classifier",
        "version_placeholder": VERSION_PLACEHOLDER,
        "signature": sig,
        "task_line": task.card_line(sig["target"], sig["classes"], sig.get("positive_class")),
        "gaps": dict(task.fairness),
        "group_stats": {key: label for key, (label, _) in task.group_stats.items()},
        "no_slices": (
            "No sensitive attribute is declared in the data config."
            if task.compute_slices is not None or not p.data.sensitive
            else f"Slice metrics are not computed for {task.name} tasks."
        ),
        "per_class": raw_metrics.get("per_class") or {},
        "hyperparameters": {k: v for k, v in p.model.kwargs.items() if k != "_target_"},
        "intended_use": str(card.get("intended_use", "Not stated in model_card.intended_use.")),
        "limitations": str(card.get("limitations", "Not stated in model_card.limitations.")),
        "data_name": p.data.name,
        "split_name": p.split.name,
        "rows": _read(validation)["rows"],
        "metrics": {k: v for k, v in raw_metrics.items() if not isinstance(v, dict)},
        "slices": _read(slices),
        "importance": _read(importance),
        "drivers": drivers(_read(contributions), sig["target"]),
    }
    write_text(Path(out), render(Path(template), context))
    log.info("model card -> %s", out)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (arguments come from dvc.yaml)."""
    stage_main(
        "model_card",
        __doc__ or "",
        [
            ("params", "params.yaml"),
            ("template", "Jinja2 template"),
            ("signature", "signature JSON"),
            ("metrics", "metrics JSON"),
            ("slices", "slices JSON"),
            ("importance", "importance JSON"),
            ("contributions", "contributions summary JSON (reports/contributions.json)"),
            ("validation", "validation JSON"),
            ("out", "model card Markdown"),
        ],
        run,
        argv,
    )


if __name__ == "__main__":
    main()
