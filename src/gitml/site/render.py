"""Render `SiteData` into a self-contained static site (HTML + the package's own CSS and JS).

Pages come from the Jinja2 templates in `gitml/site/templates`; `static/` is copied as is. The
whole site is written to a temporary folder beside the output and swapped in at the end, so a
failed build never leaves a half-written site. Same repository state, same bytes: nothing reads
the clock.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from gitml.compare import MetricRule
from gitml.errors import GitmlError
from gitml.report.experiments import compare_experiments
from gitml.report.values import fmt
from gitml.site.charts import line_chart
from gitml.site.model import (
    Links,
    MonitorRun,
    SiteData,
    decay_metrics,
    drift_series,
    metric_series,
    slug,
)

#: Written into every built site; a folder without it is never overwritten.
MARKER = ".gitml-site"
STATIC = ("site.css", "site.js")


@dataclass(frozen=True)
class Built:
    """What `build_site` wrote."""

    out: Path
    pages: list[str]


def build_site(root: Path | str, out: Path | str, *, branch: str | None = None) -> Built:
    """Read the repository at `root` and write the site to `out` (replaced atomically)."""
    from gitml.site.collect import collect

    data = collect(root, branch=branch)
    return write_site(render_pages(data), Path(out))


def render_pages(data: SiteData) -> dict[str, str]:
    """Every page of the site by relative path (pure: data in, text out)."""
    env = _env(data.links)
    pages: dict[str, str] = {}

    def page(path: str, template: str, **context: Any) -> None:
        depth = path.count("/")
        text = env.get_template(template).render(
            data=data, root="../" * depth, page=path, **context
        )
        pages[path] = text if text.endswith("\n") else text + "\n"

    page("index.html", "index.html.j2")
    page("models.html", "models.html.j2", version_path=version_path)
    for art in data.artifacts:
        for lin in art.versions:
            page(version_path(art.name, lin.version), "version.html.j2", art=art, lin=lin)
    page("experiments.html", "experiments.html.j2", **_experiments(data))
    page("history.html", "history.html.j2", **_history(data))
    page("health.html", "health.html.j2", **_health(data.monitoring))
    return pages


def version_path(artifact: str, version: str) -> str:
    return f"versions/{slug(artifact)}/{slug(version)}.html"


# ---- page contexts --------------------------------------------------------------------------


def _rules(data: SiteData) -> dict[str, MetricRule]:
    return {name: MetricRule(**rule) for name, rule in data.rules.items()}


def _experiments(data: SiteData) -> dict[str, Any]:
    runs = [*data.commits, *data.experiments]
    table = compare_experiments(
        [(r.id, r.rev, r.params, r.metrics) for r in runs], _rules(data), data.primary_metric
    )
    by_id = {r.id: r for r in runs}
    rows = [(by_id[row.name], row) for row in table.rows]
    embedded = {
        "primary": data.primary_metric,
        "rules": data.rules,
        "runs": {
            r.id: {
                "name": r.name,
                "kind": r.kind,
                "rev": r.rev[:7],
                "params": {k: _jsonable(v) for k, v in r.params.items()},
                "metrics": {k: _jsonable(v) for k, v in r.metrics.items()},
                "plots": r.plots,
            }
            for r in runs
        },
    }
    return {"table": table, "rows": rows, "embedded": _script_json(embedded)}


def _history(data: SiteData) -> dict[str, Any]:
    names = list(dict.fromkeys([data.primary_metric, *data.gate_metrics]))
    main = [r for r in data.commits if any(r.metrics.get(n) is not None for n in names)]
    charts = []
    main_series = metric_series(main, names)
    if main:
        charts.append(
            {
                "id": "main",
                "title": f"Main branch ({data.branch})",
                "labels": [r.rev[:7] for r in main],
                "rows": main,
                "series": main_series,
                "svg": line_chart(
                    f"Metrics over {data.branch}'s commits",
                    [r.rev[:7] for r in main],
                    main_series,
                    x_label="commit (oldest to newest)",
                    y_label="value",
                    table_id="table-main",
                ),
            }
        )
    for art in data.artifacts:
        versions = list(reversed(art.versions))  # oldest first
        series = {n: [_num(v.metrics.get(n)) for v in versions] for n in names}
        if versions:
            labels = [v.version for v in versions]
            tid = f"table-{slug(art.name)}"
            charts.append(
                {
                    "id": slug(art.name),
                    "title": f"Registered versions of {art.name}",
                    "labels": labels,
                    "rows": versions,
                    "series": series,
                    "svg": line_chart(
                        f"Metrics over {art.name}'s versions",
                        labels,
                        series,
                        x_label="version",
                        y_label="value",
                        table_id=tid,
                    ),
                }
            )
    return {"names": names, "charts": charts}


def _health(runs: Sequence[MonitorRun]) -> dict[str, Any]:
    labels = [r.timestamp or r.name for r in runs]
    series = drift_series(runs)
    svg = (
        line_chart(
            "Drift score per column",
            [label[:10] for label in labels],
            series,
            x_label="monitoring run (oldest to newest)",
            y_label="drift score",
            table_id="table-drift",
        )
        if runs and series
        else None
    )
    return {
        "runs": runs,
        "labels": labels,
        "series": series,
        "drift_svg": svg,
        "decay_names": decay_metrics(runs),
    }


# ---- helpers --------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    from gitml.report.values import number

    return number(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _script_json(data: Any) -> Markup:
    """JSON safe inside <script type="application/json">."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _env(links: Links) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gitml.site", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def commit(sha: str | None, text: str | None = None) -> Markup:
        if not sha:
            return Markup("—")
        label = escape(text or sha[:7])
        url = links.commit(sha)
        code = Markup('<code title="{}">{}</code>').format(sha, label)
        return Markup('<a href="{}">{}</a>').format(url, code) if url else code

    def tag(name: str | None) -> Markup:
        if not name:
            return Markup("—")
        url = links.tag(name)
        code = Markup("<code>{}</code>").format(name)
        return Markup('<a href="{}">{}</a>').format(url, code) if url else code

    def flag(value: Any) -> str:
        return "—" if value is None else ("yes" if value else "no")

    env.globals.update(commit=commit, tag=tag, fmt=fmt, flag=flag, slug=slug)
    env.filters["fmt"] = fmt
    return env


def write_site(pages: Mapping[str, str], out: Path) -> Built:
    """Write pages and static files to a temp folder, then swap it in for `out`."""
    out = out.resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise GitmlError(
            f"{out} exists and is not a site gitml built; it was left untouched.",
            "Pass an empty or new folder with -o (gitml only replaces its own sites).",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, text in pages.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        static = tmp / "static"
        static.mkdir()
        for name in STATIC:
            source = resources.files("gitml.site").joinpath("static", name)
            (static / name).write_bytes(source.read_bytes())
        (tmp / MARKER).write_text("built by gitml site build\n", encoding="utf-8")
        tmp.chmod(0o755)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Built(out, sorted(pages))
