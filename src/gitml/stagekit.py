"""Shared shell of the pipeline stages: argument parsing, logging and clean error exits."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence

from gitml.errors import user_errors


def stage_main(
    name: str,
    doc: str,
    arguments: Sequence[tuple[str, str]],
    run: Callable[..., None],
    argv: list[str] | None = None,
) -> None:
    """Parse `--flag PATH` arguments named in dvc.yaml and call `run(**paths)`.

    Args:
        name: the stage name (== module == params section).
        doc: the stage's one-line description for --help.
        arguments: (flag, help) pairs; the flag's name becomes run()'s keyword.
        run: the stage's IO shell.
        argv: arguments (default: sys.argv).
    """
    parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=doc)
    for flag, help_text in arguments:
        parser.add_argument(f"--{flag}", required=True, help=help_text)
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s")
    with user_errors():
        run(**{k.replace("-", "_"): v for k, v in args.items()})
