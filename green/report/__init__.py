"""Reports, computed from records only: summary (frontier, payback), rendering (PNG, Markdown, JSON, CSV),
the HTML page (html.py), the terminal table (terminal.py) and the wording they share (view.py)."""

from dataclasses import dataclass, field
from pathlib import Path

from green.report.render import build_report, fmt, headers, table_rows
from green.report.summary import BASELINE, ENTRY_KEYS, Entry, latest_per_recipe, pareto_front, summarize


@dataclass
class Report:
    """What ``Workbench.report()`` wrote: one entry per recipe and device, each file's path, and notes."""

    entries: list[Entry]
    paths: dict[str, Path]
    notes: list[str] = field(default_factory=list)

    def __iter__(self):  # ``entries, paths, notes = wb.report()`` keeps working
        return iter((self.entries, self.paths, self.notes))


__all__ = ["BASELINE", "ENTRY_KEYS", "Entry", "Report", "build_report", "fmt", "headers", "latest_per_recipe", "pareto_front",
           "summarize", "table_rows"]
