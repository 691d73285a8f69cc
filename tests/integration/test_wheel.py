"""The built wheel works on its own: installed outside the repo, `gitml report` and `gitml model card`.

The wheel is built from a copy of the sources (pyproject.toml, README.md, src/), installed without
dependencies into a fresh venv in a temp directory; the dependencies come from this venv's
site-packages through a .pth line added afterwards (paths only: this venv's editable gitml hook is
not loaded), so `gitml` itself can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.integration.registry_repo import Project, project  # noqa: F401 - fixture
from tests.integration.report_repo import copy_report_repo, git, make_review_repo
from tests.pipeline_repo import ROOT, env, run, tracked_files

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("wheel")]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repo with gitml installed from a freshly built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    sources = tmp / "sources"
    for rel in tracked_files():
        if rel in ("pyproject.toml", "README.md") or rel.startswith("src/"):
            (sources / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, sources / rel)
    # Build isolation fetches the build backend pyproject.toml asks for (setuptools>=77), as
    # `make install` does; this venv's own setuptools may be older.
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(sources),
        ],
        tmp,
    )
    (wheel,) = (tmp / "dist").glob("gitml-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    python = venv / "bin" / "python"
    # Installed before the dependencies are visible, so pip cannot see (or touch) this venv's gitml.
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        tmp,
    )
    site = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp
    )
    Path(site.stdout.strip(), "_gitml_test_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    return venv


def wheel_env(venv: Path) -> dict[str, str]:
    """The test environment with the wheel's venv first on PATH (dvc and git after it)."""
    out = env()
    out["PATH"] = f"{venv / 'bin'}{os.pathsep}{out['PATH']}"
    return out


def gitml(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(venv / "bin" / "gitml"), *args],
        cwd=cwd,
        env=wheel_env(venv),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"gitml {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_gitml_comes_from_the_wheel(wheel_venv: Path, tmp_path: Path) -> None:
    probe = (
        "import json, gitml, importlib.metadata as m, pathlib;"
        "d = m.distribution('gitml');"
        "t = pathlib.Path(gitml.__file__).parent / 'templates';"
        "print(json.dumps({'file': gitml.__file__, 'direct_url': d.read_text('direct_url.json'),"
        " 'templates': sorted(p.name for p in t.glob('*.j2'))}))"
    )
    proc = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        env=wheel_env(wheel_venv),
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(proc.stdout)
    assert Path(found["file"]).is_relative_to(wheel_venv), found["file"]
    assert not Path(found["file"]).is_relative_to(ROOT)
    assert json.loads(found["direct_url"] or "{}").get("dir_info", {}).get("editable") is not True
    assert found["templates"] == sorted(p.name for p in (ROOT / "src/gitml/templates").glob("*.j2"))
    assert found["templates"]  # the package owns its templates


def test_report_from_the_wheel(wheel_venv: Path, tmp_path: Path) -> None:
    repo = copy_report_repo(make_review_repo(tmp_path / "template"), tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    md = gitml(wheel_venv, "report", "--root", str(repo), cwd=elsewhere).stdout
    assert md.splitlines()[0] == "<!-- gitml-report -->"
    assert "## gitml report: ✅ Improved" in md
    assert "| `roc_auc` ↑ | 0.7500 | 0.7500 |" in md
    page = tmp_path / "report.html"
    gitml(
        wheel_venv,
        "report",
        "--root",
        str(repo),
        "--format",
        "html",
        "-o",
        str(page),
        cwd=elsewhere,
    )
    html = page.read_text()
    assert '<div class="verdict improved">✅ Improved</div>' in html and html.count("<svg") == 3
    compare = gitml(wheel_venv, "report", "--root", str(repo), "--all-exps", cwd=elsewhere).stdout
    assert compare.splitlines()[0] == "<!-- gitml-report -->"
    assert sorted(
        line.split(" |")[0] for line in compare.splitlines() if line.startswith(("| d", "| lr"))
    ) == ["| d4", "| d6", "| lr2"]


def test_model_card_from_the_wheel(wheel_venv: Path, project: Project, tmp_path: Path) -> None:  # noqa: F811
    root = project.root
    card = "# Model card\n\n**Version:** unregistered <!-- gitml:version -->\n"
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / "model_card.md").write_text(card)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "model card", cwd=root)
    head = git("rev-parse", "HEAD", cwd=root).strip()
    gitml(
        wheel_venv,
        "model",
        "register",
        "--version",
        "v1.0.0",
        "--no-push",
        "--root",
        str(root),
        cwd=tmp_path,
    )
    filled = gitml(wheel_venv, "model", "card", "v1.0.0", "--root", str(root), cwd=tmp_path).stdout
    assert filled == card.replace(
        "unregistered <!-- gitml:version -->", f"`classifier@v1.0.0` (commit `{head[:12]}`)"
    ), filled
