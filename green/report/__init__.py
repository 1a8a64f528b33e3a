"""Reports, computed from records only: summary (frontier, payback), rendering (PNG, Markdown, JSON),
the HTML page (html.py), the terminal table (terminal.py) and the wording they share (view.py)."""

from green.report.render import build_report, fmt, headers, table_rows
from green.report.summary import BASELINE, ENTRY_KEYS, latest_per_recipe, pareto_front, summarize

__all__ = ["BASELINE", "ENTRY_KEYS", "build_report", "fmt", "headers", "latest_per_recipe", "pareto_front",
           "summarize", "table_rows"]
