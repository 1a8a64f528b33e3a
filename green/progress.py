"""One style of progress for every long job: a rich bar or spinner on a terminal, log lines elsewhere.

In CI logs and under ``nohup`` a live bar prints nothing until it ends, so off a
terminal progress is reported as a line every 10 %. :func:`progress_bar` counts work
(batches, rows); :func:`status` covers a step with nothing to count (an export).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from green import interrupts

#: Progress and logs go to stderr; tables and results to stdout. Piped, stdout is as wide as COLUMNS
#: says (a user who sets it means it), else wide enough to read in a log file.
console = Console(stderr=True)


def _piped_width() -> int | None:
    if sys.stdout.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return max(40, min(int(columns), 1000)) if columns.isdigit() else 160


stdout = Console(width=_piped_width())

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
    if _status is not None:  # rich shows one live display at a time: the bar replaces the spinner
        return _paused(_status, _bar())
    return _bar()


@contextmanager
def _paused(outer: Progress, bar: Progress):
    outer.stop()
    try:
        with bar:
            yield bar
    finally:
        outer.start()


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


_status: Progress | None = None  # the spinner shown now, if any: a bar started inside it pauses it


@contextmanager
def status(description: str) -> Iterator[None]:
    """A long step with no steps of its own to count (export, quantization).

    On a terminal: a spinner with the elapsed time while it runs, then one log line with
    how long it took. Elsewhere: a log line when it starts and one when it ends.
    """
    global _status
    start = time.perf_counter()
    if not console.is_terminal or _status is not None:
        log.info("%s ...", description)
        yield
    else:
        spinner = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                           console=console, transient=True)
        spinner.add_task(description, total=None)
        _status = spinner
        try:
            with spinner:
                yield
        finally:
            _status = None
    interrupts.check()  # the step ran to its end only because something swallowed a Ctrl-C
    log.info("%s: done in %.1f s", description, time.perf_counter() - start)
