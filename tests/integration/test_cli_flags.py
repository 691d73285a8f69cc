"""One flag for the project root: `--root` on every command; `--repo` only as `gitml model`'s hidden alias."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gitml.cli import app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def commands(command: Any, path: str = "gitml") -> Iterator[tuple[str, Any]]:
    """Every leaf command of the CLI with its full name."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from commands(sub, f"{path} {name}")


def test_every_root_option_is_spelled_root() -> None:
    found = {}
    for name, command in commands(typer.main.get_command(app)):
        for param in command.params:
            if param.name in ("root", "repo", "repo_alias"):
                found.setdefault(name, []).append((tuple(param.opts), param.hidden))
    assert "gitml monitor" in found and "gitml report" in found and "gitml model show" in found
    for name, options in found.items():
        visible = [opts for opts, hidden in options if not hidden]
        hidden = [opts for opts, hidden in options if hidden]
        assert visible == [("--root",)], (name, options)
        assert hidden in ([], [("--repo",)]), (name, options)
        if name.startswith("gitml model "):
            assert hidden == [("--repo",)], name


def test_model_repo_alias_is_hidden_and_means_root() -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["model", "show", "--help"]).stdout
    assert "--root" in help_text and "--repo" not in help_text
    by_root = runner.invoke(app, ["model", "show", "--json", "--root", str(ROOT)])
    by_alias = runner.invoke(app, ["model", "show", "--json", "--repo", str(ROOT)])
    assert by_root.exit_code == 0, by_root.output
    assert by_alias.exit_code == 0 and by_alias.stdout == by_root.stdout, by_alias.output
    both = runner.invoke(app, ["model", "show", "--root", str(ROOT), "--repo", str(ROOT)])
    assert both.exit_code == 2 and "give the repository once" in both.output
