"""One style of progress bar for every long job (rich), quiet when output is not a terminal."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: Progress and logs go to stderr; tables and results to stdout, wide enough to read in a log file.
console = Console(stderr=True)
stdout = Console(width=None if sys.stdout.isatty() else 160)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
