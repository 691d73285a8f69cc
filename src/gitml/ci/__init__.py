"""The decisions the GitHub workflows make, as tested Python (run as `python -m gitml.ci ...`).

The workflows in `.github/workflows/` stay thin: a step calls a `gitml` command, a Makefile target,
a script under `ci/`, or one of these subcommands. Each subcommand prints `key=value` lines that a
step appends to `$GITHUB_OUTPUT`. See docs/ci.md.

- `gitml.ci.core`: the pure decisions (no subprocesses, no files), re-exported here.
- `gitml.ci.project`: what they read from the repository, through `gitml.git`, `gitml.dvc` and the
  registry.
- `gitml.ci.smoke`: the smoke test of a running server (HTTP through urllib).
- `gitml.ci.cli`: the subcommands (`python -m gitml.ci <cmd>`, see `gitml.ci.__main__`).
"""

from gitml.ci.core import (
    example_row,
    expand_sweep,
    find_marked_comment,
    lock_md5,
    model_changed,
    open_prs_with_prefix,
    outputs,
    parse_json_pages,
)

__all__ = [
    "example_row",
    "expand_sweep",
    "find_marked_comment",
    "lock_md5",
    "model_changed",
    "open_prs_with_prefix",
    "outputs",
    "parse_json_pages",
]
