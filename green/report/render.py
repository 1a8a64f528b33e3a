"""Write the report files from records: results.json, results.md, pareto.png (for slides) and pareto.html.

The chart plots the task's primary metric against *total* energy per inference (what
the user pays for), log x; estimates are drawn hollow and labelled as such; the
frontier and the baseline are marked. The PNG's quality axis spans at least
:data:`green.report.view.MIN_SPAN_POINTS` points and each label gives the difference to
the baseline, so a one-example difference does not look like a cliff; a caption says
which task, model, data, batch size, device and dates the chart covers. The interactive
page is :mod:`green.report.html`; the terminal table :mod:`green.report.terminal`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from green.artifacts import atomic_write_json
from green.errors import GreenError
from green.records import Record, load_records
from green.report import view
from green.report.html import page as html_page
from green.report.summary import BASELINE, Entry, summarize


def fmt(v, spec: str, none: str = "n/a") -> str:
    return none if v is None else format(v, spec)


def metric_columns(entries: list[Entry]) -> list[str]:
    """The primary metric first, then the task's other metrics, as the records name them."""
    if not entries:
        return []
    primary = entries[0].primary_metric
    others = sorted({k for e in entries for k in e.metrics} - {primary})
    return [primary, *others]


def headers(entries: list[Entry]) -> list[str]:
    """The full table's columns (Markdown); the terminal's compact table is green.report.terminal."""
    return ["recipe", "device", *metric_columns(entries), "size MB", "latency p50/p95 ms (b=1)", "per s",
            f"{view.energy_unit(entries)[0]}/{view.unit(entries)} (source)", "vs baseline", "gCO2e per M", "run J", f"payback ({view.plural(view.unit(entries))})"]


def table_rows(entries: list[Entry]) -> list[list[str]]:
    columns = metric_columns(entries)
    rows = []
    for e in entries:
        lat = e.latency_ms
        warn = view.warnings_of(e, None)
        rows.append([
            (e.label or e.recipe) + (" *" if e.pareto else ""),
            (e.device or "?") + (f" ({'; '.join(warn)})" if warn else ""),
            *[fmt(e.metrics.get(m), ".4f") for m in columns],
            fmt(e.size_mb, ".1f"),
            f"{view.sig3(lat.p50 if lat else None)} / {view.sig3(lat.p95 if lat else None)}",
            view.compact(e.throughput_per_s),
            f"{view.energy_mj_band(e, view.energy_unit(entries))} ({e.energy_source})",
            view.ratio(e, "n/a") + (f" ({view.ratio_basis(e)})" if view.ratio_basis(e) and view.ratio(e) else ""),
            view.sig3(e.gco2e_per_million),
            view.joules(e.run_energy_j),
            view.payback(e),
        ])
    return rows


#: Characters that make Markdown or HTML (which Markdown passes through) of text: tags, links, code, table cells.
#: Emphasis (* _) is left alone: it cannot run or link anything, and escaping it would garble metric names.
_MD_SPECIAL = re.compile(r"([\\`\[\]<>|&])")


def md_escape(text: object) -> str:
    """Record-provided text as literal Markdown: special characters backslash-escaped, on one line.

    Records are written to be shared; a recipe name like ``<img onerror=...>`` or ``[x](javascript:)``
    must read as itself in a viewer that renders results.md, not run or link.
    """
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_row(row: list[str]) -> list[str]:
    label, *rest = row
    star = label.endswith(" *")
    return [md_escape(label[:-2] if star else label) + (" *" if star else ""), *map(md_escape, rest)]


def write_markdown(entries: list[Entry], path: Path, notes: list[str] | None = None,
                   records: list[Record] | None = None) -> None:
    head = [md_escape(h) for h in headers(entries)]
    by_file = view.records_by_file(records or [])
    lines = ["# green results", "", md_escape(view.caption(entries, by_file)), "",
             f"Energy per {view.unit(entries)} is total energy (what you pay for) at each record's throughput batch size; "
             "`*` marks the Pareto frontier per device; `~` marks an estimate (its source says which model). "
             f"Payback = the recipe run's energy / energy saved per {view.unit(entries)} versus the baseline on the same device.",
             "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md_row(r)) + " |" for r in table_rows(entries)]
    ref = view.reference_entry(entries, by_file)
    if ref is not None:
        lines.append(f"| {md_escape(ref.name)} (reference: {md_escape(ref.description)}, no model) | "
                     + " | ".join(fmt(ref.metrics.get(h), ".4f") if h in ref.metrics else "\u2014"
                                  for h in headers(entries)[1:]) + " |")
    changes = view.side_by_side(entries, by_file)
    if changes and changes["rows"]:
        lines += ["", "## What the predictions did", "",
                  ("The first {n} test rows." if changes["all_shown"] else
                   "{k} of the {c} rows (of the first {n} test rows) where a recipe's prediction differs from the "
                   "baseline's.").format(n=changes["sampled"], k=len(changes["rows"]), c=changes["changed"]), "",
                  "| " + " | ".join(md_escape(c) for c in changes["columns"]) + " |", "|" + "---|" * len(changes["columns"])]
        lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in changes["rows"]]
    all_notes = view.energy_notes(entries, by_file) + list(notes or [])
    if all_notes:
        lines += ["", "Notes:", *[f"* {md_escape(n)}" for n in all_notes]]
    _atomic_write_text(path, "\n".join(lines) + "\n")


#: results.csv's columns: one row per entry, SI units, for a spreadsheet or pandas.
CSV_COLUMNS = ("recipe", "recipe_origin", "device", "runtime", "task", "primary_metric", "quality", "quality_vs_baseline",
               "energy_per_inference_j", "energy_source", "energy_estimate", "energy_spread", "energy_vs_baseline",
               "ratio_basis", "comparable_energy_j", "payback_inferences", "run_energy_j", "size_mb",
               "throughput_per_s", "latency_p50_ms", "pareto", "record")


def write_csv(entries: list[Entry], path: Path) -> None:
    """results.csv: the entries' figures as plain columns (a ratio is target / baseline; energies in joules)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        row = e.to_json() | {"latency_p50_ms": e.latency_ms.p50 if e.latency_ms else None}
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    _atomic_write_text(path, out.getvalue())


def plot_pareto(entries: list[Entry], png: Path, records: list[Record] | None = None) -> dict:
    """The chart for slides: log energy across, the primary metric up, a caption saying what it covers.

    Returns what it drew (axis limits, caption, point labels, legend entries) for tests and callers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from matplotlib.lines import Line2D

    by_file = view.records_by_file(records or [])
    points = view.plotted(entries)
    fraction = view.is_fraction(entries)
    metric = entries[0].primary_metric if entries else "quality"
    unit_, k = view.energy_unit(points)
    fig, ax = plt.subplots(figsize=(8, 5.4), dpi=150)
    for kind in sorted({e.device_kind for e in points}):
        color = view.device_color(kind)
        group = [e for e in points if e.device_kind == kind]
        front = view.frontier(group)
        if len(front) > 1:
            ax.step([view.px(e) * k for e in front], [view.py(e) for e in front],
                    where="post", color=color, alpha=0.5, lw=2.5, label=f"Pareto frontier ({kind})", zorder=2)
        for e in group:
            x, y = view.px(e) * k, view.py(e)
            rng = view.x_range(e)
            if rng:  # min to max of the repeated windows
                lo, hi = (v * k for v in rng)
                ax.errorbar([x], [y], xerr=[[max(0.0, x - lo)], [max(0.0, hi - x)]], fmt="none",
                            ecolor=view.SPREAD_COLOR, elinewidth=0.8, capsize=3, capthick=0.8, zorder=2.5)
            base = e.recipe == BASELINE
            ax.scatter([x], [y], s=170 if base else 60, marker="*" if base else "o", linewidths=1.5,
                       facecolors="white" if e.energy_estimate else color, edgecolors=color, zorder=3)
    ax.set_xscale("log")
    if points:
        xs = [view.px(e) * k for e in points]
        xs += [v * k for e in points for v in (view.x_range(e) or []) if v]
        xlim = view.energy_limits(xs)
        ax.set_xlim(*xlim)
        ref = view.reference_entry(entries, by_file)
        qualities = [view.py(e) for e in points] + ([ref.quality] if ref and ref.quality is not None else [])
        ax.set_ylim(*view.quality_limits(qualities, fraction))
        if ref and ref.quality is not None:  # no model, so no energy: a line at its score
            ax.axhline(ref.quality, color="#7a7a7a", ls="--", lw=1, zorder=1)
            ax.annotate(f"{ref.name} (reference, no model): {ref.quality:.4f}", (1, ref.quality),
                        xycoords=("axes fraction", "data"), xytext=(-4, 3), textcoords="offset points",
                        ha="right", fontsize=7.5, color="#5c6670", style="italic")
        # Plain numbers at 1-2-5 (never 10^x notation): people read mJ or J, not exponents.
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(view.log_ticks(*xlim)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: view.tick(v)))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(f"total energy per {view.unit(entries)} ({unit_}, log scale; lower is better \u2190)")
    better = "higher is better \u2192" if (entries[0].higher_is_better if entries else True) else "\u2190 lower is better"
    ax.set_ylabel(f"test {metric}, {better}" + (f" (axis spans \u2265 {view.MIN_SPAN_POINTS:g} points)" if fraction else ""))
    ax.set_title(f"{metric} vs energy per {view.unit(entries)} (labels: difference to the baseline"
                 + (" in points)" if fraction else ")"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    kinds = sorted({e.device_kind for e in points})
    if len(kinds) > 1:  # colours say the device kind
        handles += [Line2D([], [], marker="o", ls="", color=view.device_color(k),
                           label=f"{k}: {', '.join(sorted({e.device or '?' for e in points if e.device_kind == k}))}")
                    for k in kinds]
    handles += [Line2D([], [], marker="*", ls="", color="gray", markersize=11, label="baseline")]
    if any(e.energy_estimate for e in points):
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="white", markeredgecolor="gray",
                              label="hollow, ~ = estimate"))
    if any(not e.energy_estimate for e in points):
        handles.append(Line2D([], [], marker="o", ls="", color="gray", label="measured (counter)"))
    if any(e.energy_range_j for e in points):
        handles.append(Line2D([], [], color=view.SPREAD_COLOR, lw=0.8, marker="|", markersize=7,
                              label="repeat spread (min to max)"))
    ax.legend(handles=handles, fontsize=7.5, loc="best", framealpha=0.85)
    sources = ", ".join(f"{label}{' (estimate: a model, not a counter)' if est else ''}"
                        for _, label, _, est in view.source_legend(entries))
    cap = view.caption(entries, by_file) + (f" \u00b7 energy: {sources}" if sources else "")
    fig.text(0.01, 0.01, _wrap(cap, 150), fontsize=6.5, color="#444", va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    labels = _label_points(fig, ax, points, fraction)
    _atomic_write_bytes(png, lambda f: fig.savefig(f, format="png"))
    drawn = {"xlim": ax.get_xlim(), "ylim": ax.get_ylim(), "caption": cap, "labels": labels,
             "legend": [h.get_label() for h in handles]}
    plt.close(fig)
    return drawn


def _label_points(fig, ax, points: list[Entry], fraction: bool, fontsize: float = 7.5) -> list[str]:
    """Name each point, with its difference to the baseline, where no two labels overlap."""
    ordered = sorted(points, key=lambda e: (e.recipe != BASELINE, -view.py(e), view.px(e)))
    labels = []
    for e in ordered:
        d = view.delta(e, fraction)
        labels.append(("~" if e.energy_estimate else "") + e.label
                      + (f" ({d}{' pt' if fraction else ''})" if d else ""))
    px = fig.dpi / 72  # points to pixels
    height = fig.bbox.height
    k = view.energy_unit(points)[1]
    xy = [ax.transData.transform((view.px(e) * k, view.py(e))) for e in ordered]
    right = ax.bbox.x1
    spots = view.place_labels([(x, height - y, 0.6 * fontsize * px * len(label)) for (x, y), label in zip(xy, labels)],
                              right=right, line_h=fontsize * px * 1.5, gap=7 * px)
    for label, (x, y), (lx, ly, anchor) in zip(labels, xy, spots):
        moved = abs((height - y) - ly) > 8 * px  # pushed away from its point by another label: draw a leader
        ax.annotate(label, (x, y), xycoords="figure pixels", xytext=(lx, height - ly), textcoords="figure pixels",
                    fontsize=fontsize, ha="left" if anchor == "start" else "right", va="baseline",
                    arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.5, "shrinkA": 0, "shrinkB": 5}
                    if moved else None)
    return labels


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _atomic_write_bytes(path: Path, write) -> None:
    """Write through a temp file and a rename, 0644 like records and results.json."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def _one_task(records: list[Record], task: str | None, notes: list[str]) -> list[Record]:
    """The records of one task: a ROUGE-L shown under accuracy compares nothing."""
    from collections import Counter

    names = Counter(r.task.name for r in records)
    if len(names) <= 1 and (task is None or task in names or not names):
        return records
    keep = task if task is not None else names.most_common(1)[0][0]
    for r in records:
        if r.task.name != keep:
            notes.append(f"skipped {Path(r.file).name if r.file else r.id}: a {r.task.name} record, "
                         f"this report is for {keep}")
    return [r for r in records if r.task.name == keep]


def build_report(records_dir: Path, report_dir: Path, device_kind: str | None = None,
                 task: str | None = None) -> tuple[list[Entry], dict[str, Path], list[str]]:
    """Write the report files; returns the entries, where each file went, and notes on skipped records.

    ``device_kind`` (``cpu`` or ``cuda``) keeps only the records of that kind; None keeps all.
    ``task`` (the workdir's) keeps only that task's records; None keeps the most common task's.
    """
    notes: list[str] = []
    records = _one_task(load_records(records_dir, notes), task, notes)
    if device_kind is not None:
        kinds = sorted({r.device.kind for r in records})
        records = [r for r in records if r.device.kind == device_kind]
        if not records:
            raise GreenError(f"no {device_kind} records in {Path(records_dir).parent}",
                             f"report a device that has some ({', '.join(kinds) or 'none yet'}), or drop --device")
    entries = summarize(records)
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results.json": report_dir / "results.json",
        "results.md": report_dir / "results.md",
        "results.csv": report_dir / "results.csv",
        "pareto.png": report_dir / "pareto.png",
        "pareto.html": report_dir / "pareto.html",
    }
    atomic_write_json(paths["results.json"], [e.to_json() for e in entries])
    write_markdown(entries, paths["results.md"], notes, records)
    write_csv(entries, paths["results.csv"])
    plot_pareto(entries, paths["pareto.png"], records)
    _atomic_write_text(paths["pareto.html"], html_page(entries, records, notes))
    return entries, paths, notes
