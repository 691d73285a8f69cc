"""User-facing errors: one short paragraph (what, where, how to fix) instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


class GitmlError(Exception):
    """An error a user can hit and fix. Its message says what happened, where, and what to do.

    Args:
        message: what happened and where.
        hint: what to do next.
        exit_code: process exit code when raised to a CLI boundary (2 = usage/input error).
    """

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2) -> None:
        self.message = message.strip()
        self.hint = hint.strip() if hint else None
        self.exit_code = exit_code
        super().__init__(self.render())

    def render(self) -> str:
        """The paragraph shown to the user."""
        return f"{self.message} {self.hint}" if self.hint else self.message


def fail(error: GitmlError) -> NoReturn:
    """Print the error as one paragraph on stderr and exit with its code."""
    sys.stderr.write(f"error: {error.render()}\n")
    raise SystemExit(error.exit_code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a GitmlError raised inside the block into a clean message and exit code."""
    try:
        yield
    except GitmlError as error:
        fail(error)
