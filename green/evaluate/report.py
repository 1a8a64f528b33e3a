"""Reports from records only: a Pareto chart (PNG + HTML), a Markdown table, results.json.

The chart plots accuracy against *total* energy per inference (what the user pays for),
log x; estimates are drawn hollow and labelled as such; the frontier and the baseline
are marked. Payback is the compression run's energy divided by the energy it saves per
inference against the baseline on the same device.
"""

from __future__ import annotations

import html
from pathlib import Path

from green.artifacts import atomic_write_json
from green.records import REQUIRED_KEYS, load_records

BASELINE = "baseline"


def latest_per_recipe(records: list[dict]) -> list[dict]:
    """The newest evaluation record of each (recipe, device kind); `green measure` records are kept apart."""
    latest: dict[tuple, dict] = {}
    evaluations = [r for r in records if r.get("kind", "evaluation") == "evaluation"]
    for rec in sorted(evaluations, key=lambda r: r.get("created", "")):
        latest[(rec["recipe"], rec["device"]["kind"])] = rec
    return sorted(latest.values(), key=lambda r: (r["device"]["kind"], r["recipe"] != BASELINE, r["recipe"]))


def pareto_front(entries: list[dict]) -> set[int]:
    """Indices of entries no other entry beats on both accuracy and energy."""
    front = set()
    for i, a in enumerate(entries):
        ea = a["energy_per_inference_j"]
        if ea is None:
            continue
        dominated = any(
            b["energy_per_inference_j"] is not None
            and b["energy_per_inference_j"] <= ea
            and b["accuracy"] >= a["accuracy"]
            and (b["energy_per_inference_j"] < ea or b["accuracy"] > a["accuracy"])
            for j, b in enumerate(entries)
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


def summarize(records: list[dict]) -> list[dict]:
    """One results.json entry per recipe and device, with frontier and payback."""
    entries = []
    for rec in latest_per_recipe(records):
        e = {k: rec[k] for k in REQUIRED_KEYS}
        e["device"] = rec["device"]["name"]
        e["device_kind"] = rec["device"]["kind"]
        e["intended_device"] = rec["device"].get("intended")
        e["energy_estimate"] = rec.get("energy_estimate", False)
        e["energy_spread"] = rec.get("energy", {}).get("spread")
        repeats = rec.get("energy", {}).get("per_inference_j_repeats") or []
        e["energy_range_j"] = [min(repeats), max(repeats)] if repeats else None
        e["dynamic_energy_per_inference_j"] = rec.get("energy", {}).get("dynamic_per_inference_j")
        e["gco2e_per_million"] = rec.get("energy", {}).get("gco2e_per_million")
        e["batch_size"] = rec.get("batch_size")
        e["run_energy_source"] = rec.get("run_energy_source")
        e["off_device_share"] = (rec.get("placement") or {}).get("off_device_share")
        e["record"] = rec.get("_file")
        entries.append(e)
    by_kind: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_kind.setdefault(e["device_kind"], []).append(i)
    for idx in by_kind.values():
        group = [entries[i] for i in idx]
        front = pareto_front(group)
        base = next((e for e in group if e["recipe"] == BASELINE), None)
        for k, e in enumerate(group):
            e["pareto"] = k in front
            e["payback_inferences"] = None
            e["energy_vs_baseline"] = None
            if base is None or e is base or None in (e["energy_per_inference_j"], base["energy_per_inference_j"]):
                continue
            e["energy_vs_baseline"] = e["energy_per_inference_j"] / base["energy_per_inference_j"]
            saved = base["energy_per_inference_j"] - e["energy_per_inference_j"]
            if saved > 0 and e["run_energy_j"] is not None:
                e["payback_inferences"] = e["run_energy_j"] / saved
    return entries


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


def table_rows(entries: list[dict]) -> list[list[str]]:
    rows = []
    for e in entries:
        rows.append([
            e["recipe"] + (" *" if e.get("pareto") else ""),
            e["device"] + ("" if e["intended_device"] in (None, e["device_kind"]) else f" (meant for {e['intended_device']})")
            + (f" [{e['off_device_share']:.0%} of node time off-device]" if (e.get("off_device_share") or 0) > 0.01 else ""),
            fmt(e["accuracy"], ".4f"),
            fmt(e["macro_f1"], ".4f"),
            fmt(e["size_mb"], ".1f"),
            f"{fmt(e['latency_ms']['p50'], '.2f')} / {fmt(e['latency_ms']['p95'], '.2f')}",
            fmt(e["throughput_per_s"], ".0f"),
            _energy_label(e),
            fmt(e["energy_vs_baseline"], ".2f") + ("x" if e["energy_vs_baseline"] is not None else ""),
            fmt(e.get("gco2e_per_million"), ".3g"),
            fmt(e["run_energy_j"], ".0f"),
            _payback_label(e),
        ])
    return rows


HEADERS = ["recipe", "device", "accuracy", "macro-F1", "size MB", "latency p50/p95 ms (b=1)", "seq/s",
           "mJ/inference (source)", "vs baseline", "gCO2e per M", "run J", "payback (inferences)"]


def write_markdown(entries: list[dict], path: Path) -> None:
    lines = ["# green results", "",
             "Energy per inference is total energy (what you pay for) at each record's throughput batch size; "
             "`*` marks the Pareto frontier per device; `~` marks an estimate (its source says which model). Payback = the recipe run's "
             "energy / energy saved per inference versus the baseline on the same device.", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(entries)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_pareto(entries: list[dict], png: Path, html_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5), dpi=150)
    kinds = sorted({e["device_kind"] for e in entries})
    colors = {"cpu": "tab:blue", "cuda": "tab:green"}
    for kind in kinds:
        group = [e for e in entries if e["device_kind"] == kind and e["energy_per_inference_j"] is not None]
        if not group:
            continue
        color = colors.get(kind, "tab:purple")
        front = sorted((e for e in group if e.get("pareto")), key=lambda e: e["energy_per_inference_j"])
        if len(front) > 1:
            ax.step([e["energy_per_inference_j"] * 1e3 for e in front], [e["accuracy"] for e in front],
                    where="post", color=color, alpha=0.5, lw=1.5, label=f"Pareto frontier ({kind})")
        for e in group:
            x, y = e["energy_per_inference_j"] * 1e3, e["accuracy"]
            base = e["recipe"] == BASELINE
            if e.get("energy_range_j"):  # the spread of the repeated windows
                lo, hi = (v * 1e3 for v in e["energy_range_j"])
                ax.plot([lo, hi], [y, y], color=color, alpha=0.35, lw=2, zorder=2)
            ax.scatter([x], [y], s=140 if base else 70, marker="*" if base else "o",
                       facecolors="none" if e["energy_estimate"] else color, edgecolors=color, zorder=3)
            ax.annotate(e["recipe"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("total energy per inference (mJ, log scale)")
    ax.set_ylabel("test accuracy")
    sources = sorted({e["energy_source"] for e in entries})
    estimated = any(e["energy_estimate"] for e in entries)
    ax.set_title("Accuracy vs energy per inference (star = baseline, bar = repeat spread"
                 + (", hollow = estimate)" if estimated else ")"), fontsize=10)
    fig.text(0.01, 0.01, "energy source: " + ", ".join(sources), fontsize=7, color="gray")
    ax.grid(True, which="both", alpha=0.3)
    if any(e.get("pareto") for e in entries):
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table_rows(entries))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    html_path.write_text(
        "<!doctype html><meta charset='utf-8'><title>green report</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}</style>"
        f"<h1>green report</h1><img src='{png.name}' style='max-width:900px'><table><tr>{head}</tr>{rows}</table>",
        encoding="utf-8",
    )


def build_report(records_dir: Path, report_dir: Path) -> tuple[list[dict], dict[str, Path]]:
    """Write the report files; returns the entries and where each file went."""
    entries = summarize(load_records(records_dir))
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results.json": report_dir / "results.json",
        "results.md": report_dir / "results.md",
        "pareto.png": report_dir / "pareto.png",
        "pareto.html": report_dir / "pareto.html",
    }
    atomic_write_json(paths["results.json"], entries)
    write_markdown(entries, paths["results.md"])
    plot_pareto(entries, paths["pareto.png"], paths["pareto.html"])
    return entries, paths
