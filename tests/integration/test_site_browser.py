"""`gitml site build` on a real repository, checked in a real browser (Playwright + Chromium).

The repository (tests/integration/site_repo.py) has main-branch commits, two DVC experiments,
registry events with a forced promotion and a rollback, and two monitoring reports on the
`gitml/monitoring` branch. Every assertion goes through the DOM of the built pages, opened from
file://. Screenshots of each page type land in a pytest temp folder (printed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.registry_repo import git, template
from tests.integration.site_repo import (
    FORCED_REASON,
    MONITOR_RUNS,
    ROLLBACK_REASON,
    SiteRepo,
    build_site_repo,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("site")]
playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiteRepo, Path]:
    from gitml.site.render import build_site

    work = tmp_path_factory.mktemp("site")
    repo = build_site_repo(template(tmp_path_factory), work / "work")
    out = work / "site"
    build_site(repo.project.root, out)
    return repo, out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no system Chromium")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site-screenshots")
    print(f"\nsite screenshots: {folder}")
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page that records every request it makes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.requests = []
    pg.errors = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    assert not pg.errors, pg.errors
    outside = [u for u in pg.requests if not u.startswith(("file://", "http://127.0.0.1"))]
    assert not outside, f"requests left the site: {outside}"
    assert pg.requests, "the request log recorded nothing"
    context.close()


def open_page(page: Any, site: Path, name: str) -> None:
    page.goto((site / name).as_uri())


def test_models_page_shows_stage_holders_and_the_timeline(
    built: tuple[SiteRepo, Path], page: Any, shots: Path
) -> None:
    _, site = built
    open_page(page, site, "models.html")
    holders = {
        row.get_attribute("data-stage"): row.locator("td.holder").inner_text()
        for row in page.locator("table.stages tbody tr").all()
    }
    assert holders == {"staging": "v1.2.0", "production": "v1.0.0"}
    rows = page.locator("table.timeline tbody tr")
    events = [
        (r.locator("td").nth(2).inner_text().split()[0], r.locator("td").nth(3).inner_text(),
         r.locator("td").nth(4).inner_text())
        for r in rows.all()
    ]  # fmt: skip
    assert events == [
        ("register", "v1.0.0", "—"),
        ("register", "v1.1.0", "—"),
        ("register", "v1.2.0", "—"),
        ("assign", "v1.0.0", "staging"),
        ("assign", "v1.0.0", "production"),
        ("assign", "v1.1.0", "staging"),
        ("assign", "v1.1.0", "production"),
        ("assign", "v1.2.0", "staging"),
        ("assign", "v1.0.0", "production"),
    ]
    forced = rows.nth(7)
    assert forced.locator("td.reason").inner_text() == FORCED_REASON
    assert "forced" in forced.inner_text() and "failed" in forced.inner_text()
    rolled = rows.nth(8)
    assert rolled.get_attribute("data-rollback-of") == "v1.1.0"
    assert rolled.locator("td.reason").inner_text() == ROLLBACK_REASON
    page.screenshot(path=str(shots / "models.png"), full_page=True)


def test_version_page_shows_lineage_gates_and_card(
    built: tuple[SiteRepo, Path], page: Any, shots: Path
) -> None:
    repo, site = built
    open_page(page, site, "versions/classifier/v1.2.0.html")
    text = page.locator("main").inner_text()
    assert repo.project.commits["worse"] in text
    assert repo.project.lock_md5(repo.project.commits["worse"]) in text
    gates = page.locator("table.gates")
    assert gates.count() == 1
    assert "failed" in gates.locator("caption").inner_text()
    statuses = {
        r.locator("th").inner_text(): r.locator("td").nth(3).inner_text()
        for r in gates.locator("tbody tr").all()
    }
    assert statuses["roc_auc"] == "regressed"
    assert page.locator("article.event[data-event=assign] .badge", has_text="forced").count() == 1
    page.screenshot(path=str(shots / "version.png"), full_page=True)


def test_experiments_sort_filter_and_compare(
    built: tuple[SiteRepo, Path], page: Any, shots: Path
) -> None:
    from gitml.policy import load_policy
    from gitml.report.metrics import diff_metrics
    from gitml.site.collect import collect

    repo, site = built
    open_page(page, site, "experiments.html")
    names = lambda: page.locator("#runs tbody tr:not([hidden]) th").all_inner_texts()  # noqa: E731
    before = names()
    assert {"deep", "shallow"} <= set(before) and len(before) == 7  # 5 commits + 2 experiments
    page.locator("#runs thead th[data-key='m:roc_auc'] button").click()
    ascending = names()
    assert ascending != before and ascending[0] == "shallow"  # lowest roc_auc first (0.76)
    page.locator("#runs thead th[data-key='m:roc_auc'] button").click()
    assert names()[0] == "deep"
    page.fill("#filter", "roc_auc>0.79")
    assert sorted(names()) == sorted(["deep", *[n for n in before if "better" in n or "good" in n]])
    page.fill("#filter", "")
    page.select_option("#kind", "experiment")
    assert sorted(names()) == ["deep", "shallow"]
    page.select_option("#kind", "")

    page.locator("#runs tbody tr", has_text="deep").locator("input").check()
    page.locator("#runs tbody tr", has_text="shallow").locator("input").check()
    for plot in ("roc", "prc", "calibration"):
        svg = page.locator(f"#diff-plots svg[data-plot={plot}]")
        assert svg.count() == 1
        assert svg.locator("polyline.series").count() == 2
    # the JS statuses equal the report's (gitml.report.metrics.diff_metrics) for the same pair
    shown = {
        row.locator("th").inner_text(): row.locator("td").nth(1).get_attribute("data-status")
        for row in page.locator("#diff-metrics tbody tr").all()
    }
    rules = load_policy(repo.project.root).metrics
    runs = {r.name: r.metrics for r in collect(repo.project.root).experiments}
    expected = {row.name: row.status for row in diff_metrics(runs["deep"], runs["shallow"], rules)}
    assert shown == expected and "regressed" in shown.values()
    assert page.locator("#diff-params tbody tr", has_text="train.auc").count() == 1
    page.screenshot(path=str(shots / "experiments.png"), full_page=True)


def test_experiments_table_works_without_javascript(
    built: tuple[SiteRepo, Path], browser: Any
) -> None:
    _, site = built
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto((site / "experiments.html").as_uri())
    assert pg.locator("#runs tbody tr").count() == 7
    assert pg.locator("#runs thead th").count() > 5
    assert pg.locator("#controls").is_hidden()  # controls appear only with JS
    context.close()


def test_history_charts_have_tables(built: tuple[SiteRepo, Path], page: Any, shots: Path) -> None:
    _, site = built
    open_page(page, site, "history.html")
    for section in page.locator("section.history").all():
        svg = section.locator("svg")
        table_id = svg.get_attribute("aria-describedby")
        table = page.locator(f"#{table_id}")
        assert table.count() == 1
        points = svg.locator("g.series").first.locator("circle.point").count()
        assert points == table.locator("tbody tr").count() > 0
    assert page.locator("#table-classifier tbody tr").all_inner_texts()[0].startswith("v1.0.0")
    page.screenshot(path=str(shots / "history.png"), full_page=True)


def test_health_drift_chart_has_one_point_per_run(
    built: tuple[SiteRepo, Path], page: Any, shots: Path
) -> None:
    _, site = built
    open_page(page, site, "health.html")
    rows = page.locator("#table-runs tbody tr")
    assert rows.count() == len(MONITOR_RUNS)
    assert [r.get_attribute("data-status") for r in rows.all()] == ["ok", "drift"]
    assert rows.nth(1).locator("td").first.inner_text() == "v1.0.0"  # production after rollback
    for series in page.locator("#drift-chart g.series").all():
        assert series.locator("circle.point").count() == len(MONITOR_RUNS)
    assert page.locator("#drift-chart g.series").count() == 2  # age, income
    assert "0.7100" in page.locator("#table-decay").inner_text()
    page.screenshot(path=str(shots / "health.png"), full_page=True)
    open_page(page, site, "index.html")
    assert "drift" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "index.png"), full_page=True)


def test_forge_links_follow_the_policy_template(
    built: tuple[SiteRepo, Path], tmp_path: Path
) -> None:
    from gitml.site.collect import collect
    from gitml.site.model import Links
    from gitml.site.render import render_pages

    repo, _ = built
    data = collect(repo.project.root)
    plain = render_pages(data)
    assert "https://forge.example" not in "".join(plain.values())
    data.links = Links("https://forge.example/c/{sha}", "https://forge.example/t/{tag}")
    linked = render_pages(data)
    sha = repo.project.commits["worse"]
    assert f'href="https://forge.example/c/{sha}"' in linked["versions/classifier/v1.2.0.html"]
    assert 'href="https://forge.example/t/classifier@v1.2.0"' in linked["models.html"]
    assert render_pages(collect(repo.project.root)) == plain  # same repository, same bytes


def test_serve_rebuilds_when_a_ref_moves(built: tuple[SiteRepo, Path], tmp_path: Path) -> None:
    import queue
    import threading
    import urllib.request

    from gitml.registry import register
    from gitml.registry.store import WriteOptions
    from gitml.site.serve import serve

    repo, _ = built
    root = repo.project.root
    builds: queue.Queue[object] = queue.Queue()
    ready: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(root, tmp_path / "live"),
        kwargs={"port": 0, "poll_seconds": 0.05, "stop": stop,
                "on_build": builds.put, "on_ready": ready.put},
    )  # fmt: skip
    thread.start()
    try:
        url = ready.get(timeout=60)
        assert url.startswith("http://127.0.0.1:")
        builds.get(timeout=60)
        models = url.replace("index.html", "models.html")
        assert "v1.3.0" not in urllib.request.urlopen(models, timeout=10).read().decode()
        register(
            root,
            repo.plots_commit,
            version="v1.3.0",
            reason="live",
            options=WriteOptions(push=False),
        )
        builds.get(timeout=60)  # the poll saw the new tag and rebuilt
        assert "v1.3.0" in urllib.request.urlopen(models, timeout=10).read().decode()
    finally:
        stop.set()
        thread.join(timeout=30)
        git("tag", "-d", "classifier@v1.3.0", cwd=root, check=False)
