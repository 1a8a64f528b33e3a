"""Errors a user can fix. The CLI prints them as one line on stderr and exits with code 2."""

from __future__ import annotations


class GreenError(Exception):
    """A problem with the user's input, stated with the fix.

    The message must be one line that names the problem and what to do about it.
    """

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        message = problem if fix is None else f"{problem}; {fix}"
        super().__init__(" ".join(message.split()))  # always one line
