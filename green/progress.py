"""One style of progress for every long job: a rich bar on a terminal, log lines elsewhere.

In CI logs and under ``nohup`` a live bar prints nothing until it ends, so off a
terminal progress is reported as a line every 10 %.
"""

from __future__ import annotations

import logging
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: Progress and logs go to stderr; tables and results to stdout, wide enough to read in a log file.
console = Console(stderr=True)
stdout = Console(width=None if sys.stdout.isatty() else 160)

log = logging.getLogger("green.progress")


class _LogProgress:
    """The subset of rich's Progress API green uses, reporting to the log every 10 %."""

    def __init__(self) -> None:
        self._tasks: dict[int, dict] = {}

    def __enter__(self) -> "_LogProgress":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        self._tasks[len(self._tasks)] = {"description": description, "total": total, "done": 0,
                                         "started": time.perf_counter(), "reported": 0}
        return len(self._tasks) - 1

    def update(self, task_id: int, advance: float = 0, description: str | None = None,
               total: float | None = None) -> None:
        t = self._tasks[task_id]
        t["done"] += advance
        if description:
            t["description"] = description
        if total is not None:
            t["total"] = total
        tenth = int(10 * t["done"] / max(1, t["total"]))
        if tenth > t["reported"]:
            t["reported"] = tenth
            elapsed = time.perf_counter() - t["started"]
            eta = elapsed * max(0.0, t["total"] - t["done"]) / t["done"] if t["done"] else 0.0
            log.info("%s: %d/%d (%d%%), %.0f s, about %.0f s left", t["description"], t["done"], t["total"],
                     int(100 * t["done"] // max(1, t["total"])), elapsed, eta)


def progress_bar():
    if not console.is_terminal:
        return _LogProgress()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
