"""Render report entries: the terminal/Markdown table, the Pareto chart (PNG + HTML), results.json.

The chart plots the task's primary metric against *total* energy per inference (what
the user pays for), log x; estimates are drawn hollow and labelled as such; the
frontier and the baseline are marked.
"""

from __future__ import annotations

import html
from pathlib import Path

from green.artifacts import atomic_write_json
from green.records import load_records
from green.report.summary import BASELINE, summarize


def fmt(v, spec: str, none: str = "n/a") -> str:
    return none if v is None else format(v, spec)


def _energy_label(e: dict) -> str:
    mj = fmt(e["energy_per_inference_j"] * 1e3 if e["energy_per_inference_j"] is not None else None, ".3g")
    return f"{'~' if e['energy_estimate'] else ''}{mj} ({e['energy_source']})"


def _payback_label(e: dict) -> str:
    ratio = e["energy_vs_baseline"]
    if ratio is not None and ratio > 1:  # say it plainly: this recipe never pays back here
        return f"never: +{ratio - 1:.0%} energy"
    return fmt(e["payback_inferences"], ".3g", "-")


def unit(entries: list[dict]) -> str:
    """What one inference is, in the report's words: "summary" for generation, else "inference"."""
    u = entries[0].get("inference_unit") if entries else None
    return u if u and u != "sequence" else "inference"


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def metric_columns(entries: list[dict]) -> list[str]:
    """The primary metric first, then the task's other metrics, as the records name them."""
    if not entries:
        return []
    primary = entries[0]["primary_metric"]
    others = sorted({k for e in entries for k in e["metrics"]} - {primary})
    return [primary, *others]


def headers(entries: list[dict]) -> list[str]:
    return ["recipe", "device", *metric_columns(entries), "size MB", "latency p50/p95 ms (b=1)", "per s",
            f"mJ/{unit(entries)} (source)", "vs baseline", "gCO2e per M", "run J", f"payback ({_plural(unit(entries))})"]


def table_rows(entries: list[dict]) -> list[list[str]]:
    columns = metric_columns(entries)
    rows = []
    for e in entries:
        lat = e["latency_ms"] or {}
        rows.append([
            e.get("label", e["recipe"]) + (" *" if e.get("pareto") else ""),
            e["device"] + ("" if e["intended_device"] in (None, e["device_kind"]) else f" (meant for {e['intended_device']})")
            + (f" [{e['off_device_share']:.0%} of node time off-device]" if (e.get("off_device_share") or 0) > 0.01 else ""),
            *[fmt(e["metrics"].get(m), ".4f") for m in columns],
            fmt(e["size_mb"], ".1f"),
            f"{fmt(lat.get('p50'), '.2f')} / {fmt(lat.get('p95'), '.2f')}",
            fmt(e["throughput_per_s"], ".0f"),
            _energy_label(e),
            fmt(e["energy_vs_baseline"], ".2f") + ("x" if e["energy_vs_baseline"] is not None else ""),
            fmt(e.get("gco2e_per_million"), ".3g"),
            fmt(e["run_energy_j"], ".0f"),
            _payback_label(e),
        ])
    return rows


def write_markdown(entries: list[dict], path: Path, notes: list[str] | None = None) -> None:
    head = headers(entries)
    lines = ["# green results", "",
             "Energy per inference is total energy (what you pay for) at each record's throughput batch size; "
             "`*` marks the Pareto frontier per device; `~` marks an estimate (its source says which model). Payback = the recipe run's "
             "energy / energy saved per inference versus the baseline on the same device.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(entries)]
    if notes:
        lines += ["", "Notes:", *[f"* {n}" for n in notes]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_pareto(entries: list[dict], png: Path, html_path: Path, notes: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    metric = entries[0]["primary_metric"] if entries else "quality"
    fig, ax = plt.subplots(figsize=(8, 5), dpi=150)
    kinds = sorted({e["device_kind"] for e in entries})
    colors = {"cpu": "tab:blue", "cuda": "tab:green"}
    for kind in kinds:
        group = [e for e in entries if e["device_kind"] == kind and e["energy_per_inference_j"] is not None
                 and e["quality"] is not None]
        if not group:
            continue
        color = colors.get(kind, "tab:purple")
        front = sorted((e for e in group if e.get("pareto")), key=lambda e: e["energy_per_inference_j"])
        if len(front) > 1:
            ax.step([e["energy_per_inference_j"] * 1e3 for e in front], [e["quality"] for e in front],
                    where="post", color=color, alpha=0.5, lw=1.5, label=f"Pareto frontier ({kind})")
        for e in group:
            x, y = e["energy_per_inference_j"] * 1e3, e["quality"]
            base = e["recipe"] == BASELINE
            if e.get("energy_range_j"):  # the spread of the repeated windows
                lo, hi = (v * 1e3 for v in e["energy_range_j"])
                ax.plot([lo, hi], [y, y], color=color, alpha=0.35, lw=2, zorder=2)
            ax.scatter([x], [y], s=140 if base else 70, marker="*" if base else "o",
                       facecolors="none" if e["energy_estimate"] else color, edgecolors=color, zorder=3)
            ax.annotate(e.get("label", e["recipe"]), (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel(f"total energy per {unit(entries)} (mJ, log scale)")
    ax.set_ylabel(f"test {metric}")
    sources = sorted({e["energy_source"] for e in entries})
    estimated = any(e["energy_estimate"] for e in entries)
    ax.set_title(f"{metric} vs energy per {unit(entries)} (star = baseline, bar = repeat spread"
                 + (", hollow = estimate)" if estimated else ")"), fontsize=10)
    fig.text(0.01, 0.01, "energy source: " + ", ".join(sources), fontsize=7, color="gray")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table_rows(entries))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(entries))
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes or [])
    html_path.write_text(
        "<!doctype html><meta charset='utf-8'><title>green report</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}</style>"
        f"<h1>green report</h1><img src='{png.name}' style='max-width:900px'><table><tr>{head}</tr>{rows}</table>"
        + (f"<h2>Notes</h2><ul>{note_html}</ul>" if note_html else ""),
        encoding="utf-8",
    )


def build_report(records_dir: Path, report_dir: Path) -> tuple[list[dict], dict[str, Path], list[str]]:
    """Write the report files; returns the entries, where each file went, and notes on skipped records."""
    notes: list[str] = []
    entries = summarize(load_records(records_dir, notes))
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results.json": report_dir / "results.json",
        "results.md": report_dir / "results.md",
        "pareto.png": report_dir / "pareto.png",
        "pareto.html": report_dir / "pareto.html",
    }
    atomic_write_json(paths["results.json"], entries)
    write_markdown(entries, paths["results.md"], notes)
    plot_pareto(entries, paths["pareto.png"], paths["pareto.html"], notes)
    return entries, paths, notes
