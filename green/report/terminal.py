"""The results table for a terminal: short headers with units, numbers that fit, a legend below.

Columns are added in order of importance while the table still fits the console's width,
so 80 columns show the recipe, its metric and difference to the baseline, energy, source,
ratio, payback and run energy, and a wider terminal adds size, latency, throughput, spread
and the other metrics. No cell is ever cut: figures are formatted to fit instead
(``8.03`` mJ, ``1.5k`` inferences), and the source is a short code explained below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from green.records import Record
from green.report import view
from green.report.summary import BASELINE, Entry
from green.safetext import markup, printable


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Entry], str]
    justify: Literal["default", "left", "center", "right", "full"] = "right"


def _metric_cell(metric: str, num: Callable[[float | None], str]) -> Callable[[Entry], str]:
    return lambda e: num(e.metrics.get(metric))


def columns(entries: list[Entry], records: dict[str, Record]) -> tuple[list[Column], list[Column]]:
    """(always shown, added while they fit, in this order)."""
    metric = entries[0].primary_metric if entries else "quality"
    fraction = view.is_fraction(entries)
    others = sorted({k for e in entries for k in e.metrics} - {metric})
    multi_device = len({e.device_kind for e in entries}) > 1

    def name(e: Entry) -> str:
        mark = "!" if view.warnings_of(e, view.record_of(e, records)) else ""
        return e.label + (" *" if e.pareto else "") + (f" {mark}" if mark else "")

    def num(v: float | None, spec: str = ".4f") -> str:
        return "n/a" if v is None else format(v, spec)

    scale = view.energy_unit(entries)
    always = [
        Column("recipe", name, "left"),
        *([Column("dev", lambda e: e.device_kind, "left")] if multi_device else []),
        Column(metric, lambda e: num(e.quality)),
        Column("\u0394pt" if fraction else "\u0394", lambda e: view.delta(e, fraction, "")),
        Column(f"{scale[0]}/{view.short_unit(entries)}", lambda e: view.energy_mj(e, scale=scale)),
        Column("src", lambda e: view.source_code(e.energy_source), "left"),
        Column("vs base", lambda e: view.ratio(e, "")),
        Column("payback", lambda e: view.payback(e, "" if e.recipe == BASELINE else "-")),
    ]
    optional = [
        Column("run J", lambda e: view.joules(e.run_energy_j, "")),
        Column("MB", lambda e: num(e.size_mb, ".1f")),
        Column("p50 ms", lambda e: view.sig3(e.latency_ms.p50 if e.latency_ms else None, "")),
        Column("spread", lambda e: view.spread(e, "")),
        Column(f"{view.short_unit(entries)}/s", lambda e: view.compact(e.throughput_per_s, "")),
        *[Column(m, _metric_cell(m, num)) for m in others],
        Column("gCO2e/M", lambda e: view.sig3(e.gco2e_per_million, "")),
    ]
    return always, optional


def _table(cols: list[Column], entries: list[Entry], title: str | None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), title=title and markup(title), title_justify="left",
                  title_style="bold", show_edge=False)
    for c in cols:
        # Figures never wrap or shrink; only a very long recipe name folds onto a second line.
        table.add_column(markup(c.header), justify=c.justify, no_wrap=c.header != "recipe",
                         overflow="fold", min_width=None if c.header == "recipe" else len(c.header))
    for e in entries:
        table.add_row(*(markup(c.cell(e)) for c in cols))  # record strings: no markup, no escape sequences
    return table


def _fits(table: Table, width: int) -> bool:
    probe = Console(width=10_000)
    return probe.measure(table).maximum <= width


def legend(entries: list[Entry], records: dict[str, Record], shown: list[Column]) -> list[str]:
    """Lines under the table: what the marks and codes mean, and why a row has a '!'."""
    headers = {c.header for c in shown}
    fraction = view.is_fraction(entries)
    lines = ["* Pareto frontier" + (", ~ estimate" if any(e.energy_estimate for e in entries) else "")
             + (", \u0394pt: difference to the baseline in points" if "\u0394pt" in headers else "")
             + (f", payback in {view.plural(view.unit(entries))}" if "payback" in headers else "")]
    if not fraction and "\u0394" in headers:
        lines[0] += ", \u0394: difference to the baseline"
    for code, label, what, _ in view.source_legend(entries):
        lines.append(f"src {code} = {label}: {what}" if code != label else f"src {label}: {what}")
    for e in entries:
        for w in view.warnings_of(e, view.record_of(e, records)):
            lines.append(f"! {e.label}: {w}")
    bases = sorted({b for e in entries if (b := view.ratio_basis(e))})
    if bases:
        lines.append("vs base from " + " and ".join(bases) + " measurements")
    return lines


def results(entries: list[Entry], records: list[Record], width: int, only: set[str] | None = None,
            title: str | None = None) -> Group:
    """The table (fitted to ``width``) and its legend, for ``console.print``.

    ``only`` keeps the rows of these record files and the baseline of their device kinds
    (what ``green compress`` just ran); ratios and the frontier still come from all entries.
    """
    by_file = view.records_by_file(records)
    if only is not None:
        kinds = {e.device_kind for e in entries if e.record in only}
        entries = [e for e in entries if e.record in only
                   or (e.recipe == BASELINE and e.device_kind in kinds)]
    always, optional = columns(entries, by_file)
    shown = list(always)
    for c in optional:  # greedy, in order of importance
        if _fits(_table(shown + [c], entries, None), width):
            shown.append(c)
    order = always + optional
    shown.sort(key=order.index)
    cap = view.caption(entries, by_file, machine=False)
    machine = view.machine_line(entries, by_file)
    table = _table(shown, entries, title or "green results")
    lines = ([cap] if cap else []) + ([machine] if machine else []) + legend(entries, by_file, shown)
    if only is not None:
        lines.append("rows: this run's recipes and their baseline; `green report` shows every recipe, "
                     "the chart and the HTML page")
    return Group(table, *(Text(printable(line), style="dim", overflow="fold") for line in lines))
