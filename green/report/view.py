"""What every view of the results shares: number formats, source codes, axis ranges, caption, notes.

The terminal table, the PNG and the HTML page show the same entries (see
:mod:`green.report.summary`); their figures are worded here once, so "~8.03 mJ" or
"pays back after 1.5k inferences" reads the same everywhere. Records are read
defensively: fields another version of green adds (``contended``, ``paired``,
``ratio_basis``) are shown where present and nothing is said where absent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from green.records import Record
from green.report.summary import BASELINE, Entry

#: Energy source label -> (short code for narrow tables, what it is, is it an estimate).
SOURCES: dict[str, tuple[str, str, bool]] = {
    "nvml-energy-counter": ("NV", "NVML's total-energy counter of the GPU (Volta and newer)", False),
    "nvml-power-samples": ("NVp", "NVML power readings integrated over the window (50 Hz)", False),
    "rapl": ("RAPL", "the CPU's RAPL package and DRAM counters", False),
    "codecarbon-estimate": ("CC", "codecarbon's model (CPU TDP x load plus a RAM model): an estimate, not a counter",
                            True),
    "none": ("-", "not measured", False),
}

#: The quality axis never spans less than this many points (hundredths of a 0-1 metric), so
#: one test example in a few thousand does not look like a cliff.
MIN_SPAN_POINTS = 2.0

DEVICE_COLORS = {"cpu": "#1f77b4", "cuda": "#2ca02c"}
OTHER_COLOR = "#9467bd"
SPREAD_COLOR = "#8c8c8c"


def device_color(kind: str) -> str:
    return DEVICE_COLORS.get(kind, OTHER_COLOR)


# -- numbers ---------------------------------------------------------------------------
def sig3(x: float | None, none: str = "n/a") -> str:
    """Three significant digits, never an exponent: 4580, 8.03, 0.00123."""
    if x is None or not math.isfinite(x):
        return none
    if x == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def compact(x: float | None, none: str = "n/a") -> str:
    """A count for a narrow column: 950, 1.5k, 23k, 2.3M, 4.1B."""
    if x is None or not math.isfinite(x):
        return none
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= limit:
            v = x / limit
            return f"{v:.1f}{suffix}" if abs(v) < 10 else f"{v:.0f}{suffix}"
    return f"{x:.0f}"


def joules(x: float | None, none: str = "n/a") -> str:
    """Run energy: 159, 27.8, 330k, 4.6M."""
    return compact(x, none) if x is not None and abs(x) >= 1e4 else sig3(x, none)


def is_fraction(entries: list[Entry]) -> bool:
    """True when the primary metric is a 0-1 score (accuracy, F1): differences read in points."""
    values = [e.quality for e in entries if e.quality is not None]
    return bool(values) and all(0.0 <= v <= 1.0 for v in values)


def delta(e: Entry, fraction: bool, none: str = "") -> str:
    """The primary metric's difference to the baseline: points for a 0-1 metric, else its own unit."""
    d = e.quality_vs_baseline
    if d is None:
        return none
    if d == 0:
        return "0"
    if fraction:  # hundredths of a point matter when a test split has thousands of examples
        d *= 100
        text = f"{d:+.2f}" if abs(d) < 1 else f"{d:+.1f}"
    else:
        text = ("+" if d > 0 else "") + sig3(d)
    return text.replace("-", "\u2212")


#: Energy units by size: a table or an axis takes the one that fits its median figure.
ENERGY_UNITS = (("mJ", 1e3), ("J", 1.0), ("kJ", 1e-3))
Scale = tuple[str, float]


def energy_unit(entries: list[Entry]) -> Scale:
    """(unit, factor from joules) for a table or an axis: mJ below 1 J, J below 1 kJ, else kJ."""
    vals = sorted(x for x in (x_energy(e) for e in entries) if x is not None and _finite(x) and x > 0)
    if not vals:
        return ENERGY_UNITS[0]
    median = vals[len(vals) // 2]
    return ENERGY_UNITS[0] if median < 1 else ENERGY_UNITS[1] if median < 1000 else ENERGY_UNITS[2]


def energy_text(j: float | None, none: str = "n/a") -> str:
    """One figure in the unit that fits it: ``88 mJ``, ``1.73 J``, ``2.4 kJ``."""
    if j is None or not _finite(j):
        return none
    unit_, k = ENERGY_UNITS[0] if abs(j) < 1 else ENERGY_UNITS[1] if abs(j) < 1000 else ENERGY_UNITS[2]
    return f"{sig3(j * k)} {unit_}"


def energy_mj(e: Entry, none: str = "n/a", scale: Scale = ENERGY_UNITS[0]) -> str:
    """Energy per inference where the chart draws it (:func:`x_energy`), in ``scale``; ``~`` marks an estimate."""
    j = x_energy(e)
    return none if j is None else ("~" if e.energy_estimate else "") + sig3(j * scale[1])


def energy_band(e: Entry, scale: Scale = ENERGY_UNITS[0]) -> str:
    """``45-88``: the modelled band's low and high (on the drawn figure's scale), or '' (a counter, an older record)."""
    b, own, x = e.energy_band, e.energy_per_inference_j, x_energy(e)
    if b is None:
        return ""
    k = scale[1] * (x / own if own and x else 1.0)
    return f"{sig3(b.low_j * k)}-{sig3(b.high_j * k)}"


def energy_mj_band(e: Entry, scale: Scale = ENERGY_UNITS[0]) -> str:
    """``~88 (45-88)``: the central estimate and, where modelled, the band around it."""
    band = energy_band(e, scale)
    return energy_mj(e, scale=scale) + (f" ({band})" if band else "")


def ratio(e: Entry, none: str = "") -> str:
    r = e.energy_vs_baseline
    return none if r is None else f"{r:.2f}x"


def spread(e: Entry, none: str = "") -> str:
    s = e.energy_spread
    return none if s is None else f"{s:.0%}"


def payback(e: Entry, none: str = "-") -> str:
    """After how many inferences the run's energy is saved back; ``never`` when the recipe costs more."""
    r = e.energy_vs_baseline
    if r is not None and r > 1:
        return f"never (+{r - 1:.0%})"
    return compact(e.payback_inferences, none)


def _source(label: str) -> tuple[str, str, bool]:
    return SOURCES.get(label, (label, "an energy source this version of green does not describe", False))


def source_code(label: str | None) -> str:
    """``codecarbon-estimate`` -> ``CC``; combined sources (``a+b``) keep their ``+``."""
    return "+".join(_source(part)[0] for part in (label or "none").split("+"))


def source_legend(entries: list[Entry]) -> list[tuple[str, str, str, bool]]:
    """(code, label, what it is, estimate?) for every source the entries use, in a stable order."""
    labels = sorted({part for e in entries for part in (e.energy_source or "none").split("+")})
    return [(_source(s)[0], s, _source(s)[1], _source(s)[2]) for s in labels]


# -- what a record adds to an entry ------------------------------------------------------
def records_by_file(records: list[Record]) -> dict[str, Record]:
    return {r.file: r for r in records if r.file}


def record_of(e: Entry, records: dict[str, Record]) -> Record | None:
    return records.get(e.record or "")


def warnings_of(e: Entry, rec: Record | None) -> list[str]:
    """Why a figure deserves less trust: contended windows, energy flags, work off the intended device."""
    out = []
    energy = rec.energy if rec is not None else None
    if energy is not None and is_contended(rec):
        busy = sum(1 for w in energy.windows if w.contended is True)
        which = f"{busy} of {len(energy.windows)} energy windows" if busy else "its energy windows"
        out.append(f"contended: other processes used the CPU during {which}")
    if energy is not None:
        out += [f"flag: {f}" for f in energy.flags if f]
    if e.intended_device not in (None, e.device_kind):
        out.append(f"meant for {e.intended_device}, ran on {e.device_kind}")
    share = e.off_device_share or 0
    if share > 0.01:
        out.append(f"{share:.0%} of graph node time ran off the intended device")
    return out


def is_contended(rec: Record | None) -> bool:
    """The record says its energy windows were contended (as a whole, or any one window)."""
    if rec is None:
        return False
    return rec.energy.contended or any(w.contended is True for w in rec.energy.windows)


def ratio_basis(e: Entry) -> str | None:
    """How the ratio to the baseline was taken ("paired" or "separate records"), where the entry says."""
    basis = e.ratio_basis
    return basis if isinstance(basis, str) and basis and basis != "baseline" else None


# -- axes ----------------------------------------------------------------------------------
def quality_limits(values: list[float], fraction: bool) -> tuple[float, float]:
    """The quality axis: the data with a margin, spanning at least :data:`MIN_SPAN_POINTS` points.

    For a 0-1 metric a point is 0.01 and the axis stays inside [0, 1]; for any other metric
    the minimum span is 2% of its largest magnitude.
    """
    if not values:
        return (0.0, 1.0) if fraction else (-1.0, 1.0)
    lo, hi = min(values), max(values)
    min_span = MIN_SPAN_POINTS / 100 * (1.0 if fraction else max(abs(lo), abs(hi), 1e-9))
    pad = (hi - lo) * 0.12
    lo, hi = lo - pad, hi + pad
    if hi - lo < min_span:
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    if fraction:  # shift, keeping the span, rather than draw outside what the metric can be
        if hi > 1.0:
            lo, hi = lo - (hi - 1.0), 1.0
        if lo < 0.0:
            lo, hi = 0.0, min(1.0, hi - lo)
    return lo, hi


def energy_limits(values: list[float]) -> tuple[float, float]:
    """A log axis around positive energies: a margin of 12% of the span in decades, at least a factor 3."""
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    if not values:
        return 0.1, 10.0
    lo, hi = math.log10(min(values)), math.log10(max(values))
    pad = max((hi - lo) * 0.12, (math.log10(3) - (hi - lo)) / 2, 0.05)
    return 10 ** (lo - pad), 10 ** (hi + pad)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks at 1-2-5 of each decade inside [lo, hi], finer where that leaves part of the range unlabelled.

    At least three ticks, and no stretch of the axis (ends included) wider than 40 % of it
    without one, so every point has a labelled tick near it.
    """
    ticks: list[float] = []
    span = math.log10(hi / lo) if hi > lo > 0 else 1.0
    for mults in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [round(m * 10.0 ** k, 12) for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                 for m in mults if lo <= m * 10.0 ** k <= hi]
        edges = [lo, *ticks, hi]
        widest = max(math.log10(b / a) for a, b in zip(edges, edges[1:]))
        if len(ticks) >= 3 and widest <= 0.4 * span:
            break
    return ticks


def linear_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round ticks inside [lo, hi]."""
    raw = (hi - lo) / max(1, n)
    step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 12) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def tick(v: float) -> str:
    """An axis tick: 0.5, 2, 50, 1000."""
    return f"{v:g}"


def place_labels(points: list[tuple[float, float, float]], right: float, line_h: float = 13.0,
                 gap: float = 10.0) -> list[tuple[float, float, str]]:
    """Where each point's label goes so that no two labels overlap (greedy, in order).

    ``points`` are (x, y, label width) in pixels with y growing downwards; the label sits
    right of its point, or left of it near the ``right`` edge, above or below by as little
    as it takes. Returns (x, baseline y, "start" | "end") for each.
    """
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for x, y, w in points:
        end = x + gap + w > right
        left = x - gap - w if end else x + gap
        for dy in (-6, 14, -20, 28, -34, 42, -48, 56, -62, 70):
            box = (left, y + dy - line_h + 3, left + w, y + dy + 3)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        out.append((x - gap if end else x + gap, y + dy, "end" if end else "start"))
    return out


def x_energy(e: Entry) -> float | None:
    """Where a recipe sits on the energy axis, in J: the paired ratio times the baseline's energy when the
    record has a paired measurement (what the frontier is decided on), else its own figure."""
    return e.comparable_energy_j or e.energy_per_inference_j


def px(e: Entry) -> float:
    """:func:`x_energy` of an entry :func:`plotted` kept (so it has one)."""
    x = x_energy(e)
    if x is None:
        raise ValueError(f"{e.recipe} has no energy to draw; draw only what plotted() keeps")
    return x


def py(e: Entry) -> float:
    """The quality of an entry :func:`plotted` kept (so it has one)."""
    if e.quality is None:
        raise ValueError(f"{e.recipe} has no quality to draw; draw only what plotted() keeps")
    return e.quality


def x_range(e: Entry) -> list[float] | None:
    """The repeat spread (min, max) on the same scale as :func:`x_energy`."""
    rng, own, x = e.energy_range_j, e.energy_per_inference_j, x_energy(e)
    if not (rng and all(rng) and own and x):
        return None
    return [v * x / own for v in rng]


def frontier(entries: list[Entry]) -> list[Entry]:
    """The frontier entries of one device kind, by energy, for drawing as a step line."""
    return sorted((e for e in entries if e.pareto and x_energy(e) is not None
                   and e.quality is not None), key=px)


def plotted(entries: list[Entry]) -> list[Entry]:
    """Entries that have both coordinates, a positive finite energy (the axis is logarithmic) and a finite quality."""
    return [e for e in entries if _finite(x_energy(e)) and px(e) > 0 and _finite(e.quality)]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


# -- caption and notes ---------------------------------------------------------------------------
def _model_label(ref: str) -> str:
    path = Path(ref)
    if "site-packages" in path.parts:  # a model shipped inside a package (the embedded MiniLM)
        return "embedded " + path.parts[path.parts.index("site-packages") + 1]
    if ref.startswith(("/", ".", "~")):
        return path.name if path.name not in ("model", "") else path.parent.name
    return ref  # a Hub id


def _data_label(source: str) -> str:
    if source.startswith("embedded:"):
        return source
    return Path(source).name if source.startswith(("/", ".", "~")) else source


def _base_model(rec: Record) -> str | None:
    """The model a baseline record was fine-tuned from (its train step's ``base_model``)."""
    if rec.recipe != BASELINE:
        return None
    for step in (rec.recipe_detail or {}).get("steps") or []:
        train = step.get("train") if isinstance(step, dict) else None
        if isinstance(train, dict) and train.get("base_model"):
            return str(train["base_model"])
    return None


def _date_range(records: list[Record]) -> str:
    days = sorted({r.created[:10] for r in records if r.created})
    if not days:
        return ""
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


def caption_parts(entries: list[Entry], records: dict[str, Record]) -> list[str]:
    """What a chart covers: task, model, data, batch size, device, dates; from the records."""
    recs = [r for r in (record_of(e, records) for e in entries) if r is not None]
    parts = []
    tasks = sorted({e.task for e in entries if e.task})
    if tasks:
        parts.append("task " + ", ".join(tasks))
    models = sorted({_model_label(m) for m in map(_base_model, recs) if m})
    if models:
        parts.append("model " + ", ".join(models))
    sources = sorted({_data_label(str(r.task.data["source"])) for r in recs if r.task.data.get("source")})
    rows = sorted({r.task.test_rows_evaluated for r in recs if r.task.test_rows_evaluated})
    if sources:
        parts.append("data " + ", ".join(sources)
                     + (f" (test: {', '.join(f'{n:,}' for n in rows)} rows)" if rows else ""))
    batches = sorted({e.batch_size for e in entries if e.batch_size})
    if batches:
        parts.append("batch " + ", ".join(str(b) for b in batches))
    devices = sorted({e.device for e in entries if e.device})
    if devices:
        parts.append("device " + ", ".join(devices))
    dates = _date_range(recs)
    if dates:
        parts.append(dates)
    return parts


def machine_line(entries: list[Entry], records: dict[str, Record]) -> str:
    """``machine AMD EPYC 9R14 · AVX-512 VNNI/BF16 · 2 threads`` (each distinct one); '' for older records."""
    from green.machine import machines_line

    return machines_line([r.machine for r in (record_of(e, records) for e in entries) if r is not None])


def caption(entries: list[Entry], records: dict[str, Record], machine: bool = True) -> str:
    """The caption; ``machine=False`` leaves the machine out for a view that gives it a line of its own."""
    parts = caption_parts(entries, records)
    line = machine_line(entries, records) if machine else ""
    return " \u00b7 ".join(parts + ([f"({line})"] if line else []))


def energy_notes(entries: list[Entry], records: dict[str, Record]) -> list[str]:
    """Which figures are estimates and which windows were contended, in sentences for the report."""
    notes = []
    estimated = [e.label for e in entries if e.energy_estimate]
    if estimated:
        models = sorted({s for e in entries if e.energy_estimate
                         for s in (e.energy_source or "").split("+") if _source(s)[2]})
        how = "; ".join(f"{s}: {SOURCES[s][1]}" for s in models) or "an estimating model, not a counter"
        notes.append(f"Estimates (~, hollow markers): {', '.join(estimated)}. {how}.")
    contended = [e.label for e in entries if is_contended(record_of(e, records))]
    if contended:
        notes.append(f"Contended windows (other processes used the CPU while measuring): {', '.join(contended)}; "
                     "their energy figures and ratios are less certain.")
    bases = {ratio_basis(e) for e in entries} - {None}
    if bases:
        notes.append("Ratios to the baseline come from "
                     + " and ".join(sorted(f"{b} measurements" if b == "paired" else str(b) for b in bases))
                     + " (each tooltip says which; \u2020 in the table: two separate records, not paired).")
    if any(e.comparable_energy_j and e.comparable_energy_j != e.energy_per_inference_j
           for e in entries):
        notes.append("A recipe measured in alternation with the baseline is drawn, tabled and described at its "
                     f"paired ratio times the baseline's energy per {unit(entries)}, the figure the frontier is decided "
                     "on; its tooltip also gives what its own windows read.")
    return notes


_UNIT = re.compile(r"^[A-Za-z][A-Za-z -]{0,31}$")


def unit(entries_or_entry: "Entry | list[Entry]") -> str:
    """What one inference is in the report's words: "summary" for generation, else "inference"."""
    if isinstance(entries_or_entry, list):
        if not entries_or_entry:
            return "inference"
        entries_or_entry = entries_or_entry[0]
    u = entries_or_entry.inference_unit
    # A record is shared and may be hand-edited: only a plain word is a unit (no markup reaches a page).
    return u if isinstance(u, str) and _UNIT.match(u) and u != "sequence" else "inference"


def plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def short_unit(entries) -> str:
    """Three letters for table headers: ``inf``, ``sum``."""
    return unit(entries)[:3]


def tooltip_lines(e: Entry, rec: Record | None, fraction: bool) -> list[str]:
    """The full story of one point, first line its name."""
    metric = e.primary_metric or "quality"
    title = (e.label + (" (baseline)" if e.recipe == BASELINE else "")
             + (" \u2014 on the frontier" if e.pareto else ""))
    lines = [title]
    q = e.quality
    d = delta(e, fraction)
    versus = f" ({d}{' points' if fraction else ''} vs baseline)" if d else ""
    lines.append(f"{metric}: {'n/a' if q is None else f'{q:.4f}'}{versus}")
    src = e.energy_source or "none"
    drawn, own = x_energy(e), e.energy_per_inference_j
    mark = "~" if e.energy_estimate else ""
    energy = f"energy per {unit(e)}: {mark}{energy_text(drawn)} ({src}{', an estimate' if mark else ''})"
    lines.append(energy)
    if drawn is not None and own is not None and drawn != own:
        # The point, the table and this line give the same figure: the paired position.
        lines.append(f"  drawn at the paired ratio {ratio(e)} x the baseline's energy; its own windows read "
                     f"{mark}{energy_text(own)}")
    b = e.energy_band
    if b is not None and energy_band(e):
        k = drawn / own if drawn and own else 1.0
        lines.append(f"modelled band: {energy_text(b.low_j * k)} to {energy_text(b.high_j * k)} "
                     f"({b.low_model} to {b.high_model}; ratios use {b.central_model}); how published power "
                     "models disagree, not measurement spread")
    if e.energy_spread is not None:
        rng = x_range(e)
        lines.append(f"spread over repeats: {spread(e)}"
                     + (f" ({energy_text(rng[0])} to {energy_text(rng[1])})" if rng else ""))
    if e.energy_vs_baseline is not None:
        basis = ratio_basis(e)
        lines.append(f"vs baseline: {ratio(e)}" + (f" ({basis})" if basis else ""))
    if e.recipe != BASELINE:
        pb = payback(e, "")
        lines.append("payback: " + (pb if pb.startswith("never") else f"after {pb} {plural(unit(e))}" if pb else "n/a"))
    run_j = e.run_energy_j
    lines.append(f"run energy: {'n/a' if run_j is None else joules(run_j) + ' J'}"
                 + (f" ({e.run_energy_source})" if e.run_energy_source else ""))
    lines.append(f"{e.device}, batch {e.batch_size}")
    lines += warnings_of(e, rec)
    return lines


# -- what the predictions did ------------------------------------------------------------------
#: Rows the side-by-side view shows at most.
CHANGED_ROWS = 10


def side_by_side(entries: list[Entry], records: dict[str, Record]) -> dict | None:
    """The test rows to show with every recipe's prediction beside the baseline's, or None without samples.

    Rows where some recipe's prediction differs from the baseline's come first (a classifier's
    changed labels); a short sample (a summarizer's ten rows) is shown whole. Returns the column
    labels, the rows (input, target, baseline, then one per recipe) and how many rows changed.
    """
    base = next((e for e in entries if e.recipe == BASELINE), None)
    base_rec = record_of(base, records) if base else None
    sample = base_rec.predictions if base_rec is not None else None
    if not sample or not sample.get("rows"):
        return None
    recipes = []
    for e in entries:
        rec = record_of(e, records)
        if e is base or rec is None or not rec.predictions or rec.predictions.get("rows") != sample["rows"]:
            continue  # another set of rows cannot be set beside these
        recipes.append((e.label, rec.predictions["predictions"]))
    n = len(sample["rows"])
    changed = [i for i in range(n) if any(p[i] != sample["predictions"][i] for _, p in recipes)]
    show = list(range(n)) if n <= CHANGED_ROWS else changed[:CHANGED_ROWS]
    rows = [[sample["inputs"][i], sample["targets"][i], sample["predictions"][i], *[p[i] for _, p in recipes]]
            for i in show]
    return {"columns": ["input", "reference", "baseline", *[label for label, _ in recipes]], "rows": rows,
            "changed": len(changed), "sampled": n, "all_shown": n <= CHANGED_ROWS}


@dataclass(frozen=True)
class ReferenceLine:
    """The task's trivial reference (lead-N): a score with no model behind it, drawn as a line."""

    name: str
    description: str
    metrics: dict
    quality: float | None


def reference_entry(entries: list[Entry], records: dict[str, Record]) -> ReferenceLine | None:
    """The task's trivial reference (lead-N for summaries) measured on the baseline's test rows, or None."""
    base = next((e for e in entries if e.recipe == BASELINE), None)
    rec = record_of(base, records) if base else None
    ref = rec.reference if rec is not None else None
    if base is None or not ref or not isinstance(ref.get("metrics"), dict):
        return None
    value = ref["metrics"].get(base.primary_metric)
    return ReferenceLine(str(ref.get("name", "reference")), str(ref.get("description", "")), ref["metrics"],
                         value if _finite(value) else None)
