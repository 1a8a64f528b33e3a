"""The HTML report: one self-contained page (inline CSS, JS and SVG; nothing fetched when viewed).

The Pareto chart is drawn here as SVG, so it shows without JavaScript and tests can read
it without a browser; the inline script (``page.js``) only adds the hover/focus tooltip
and the sortable table. Each point carries its tooltip's lines in ``data-tip`` (JSON).
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from typing import Any, Callable

from green.records import Record
from green.report import view
from green.report.summary import BASELINE, Entry

W, H = 860, 470
LEFT, RIGHT, TOP, BOTTOM = 76, 28, 18, 58
ARROW = " \u2192 "
CHAR_W, LINE_H = 6.4, 13  # label size estimate (11px sans), for keeping labels apart


def esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _asset(name: str) -> str:
    return resources.files("green.report").joinpath(name).read_text(encoding="utf-8")


# -- chart ---------------------------------------------------------------------------------
class _Axes:
    """Data to SVG coordinates: log energy across (in ``unit``: ``k`` per joule), the primary metric up."""

    def __init__(self, xlim: tuple[float, float], ylim: tuple[float, float], unit: str = "mJ", k: float = 1e3) -> None:
        self.lx = (math.log10(xlim[0]), math.log10(xlim[1]))
        self.ylim = ylim
        self.unit, self.k = unit, k

    def x(self, value: float) -> float:
        """``value`` is in the axis unit (``joules * k``)."""
        return LEFT + (math.log10(value) - self.lx[0]) / (self.lx[1] - self.lx[0]) * (W - LEFT - RIGHT)

    def y(self, q: float) -> float:
        return TOP + (self.ylim[1] - q) / (self.ylim[1] - self.ylim[0]) * (H - TOP - BOTTOM)


def _star(cx: float, cy: float, r: float = 9.0) -> str:
    pts = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * 0.45
        a = math.pi / 2 + k * math.pi / 5
        pts.append(f"{cx + rad * math.cos(a):.1f},{cy - rad * math.sin(a):.1f}")
    return "M" + " L".join(pts) + " Z"


def chart_svg(entries: list[Entry], records: dict[str, Record], fraction: bool) -> str:
    """The Pareto chart as inline SVG: axes, frontier, spread bars, then the points on top."""
    points = view.plotted(entries)
    if not points:
        return "<p class='empty'>No recipe has both a metric and an energy figure to plot.</p>"
    metric = entries[0].primary_metric
    unit_, k = view.energy_unit(points)
    xs = [view.px(e) * k for e in points]
    xs += [v * k for e in points for v in (view.x_range(e) or []) if v]
    ref = view.reference_entry(entries, records)
    qualities = [view.py(e) for e in points] + ([ref.quality] if ref and ref.quality is not None else [])
    ax = _Axes(view.energy_limits(xs), view.quality_limits(qualities, fraction), unit_, k)
    return (f"<svg id='pareto' viewBox='0 0 {W} {H}' width='{W}' height='{H}' role='img' "
            f"aria-label='{esc(metric)} against energy per {esc(view.unit(entries))}, log scale'>"
            + _axes_svg(ax, metric, view.unit(entries), bool(entries[0].higher_is_better)) + _frontier_svg(ax, points) + _spread_svg(ax, points)
            + _reference_svg(ax, ref)
            + _points_svg(ax, points, records, fraction) + "</svg>")


def _reference_svg(ax: _Axes, ref: view.ReferenceLine | None) -> str:
    """The trivial reference (lead-N) as a dashed line at its score: no model, so no energy to place it at."""
    if ref is None or ref.quality is None or not ax.ylim[0] <= ref.quality <= ax.ylim[1]:
        return ""
    y = ax.y(ref.quality)
    return (f"<g class='reference' data-recipe='{esc(ref.name)}'><line x1='{LEFT}' x2='{W - RIGHT}' y1='{y:.1f}' "
            f"y2='{y:.1f}'/><text x='{W - RIGHT - 4}' y='{y - 4:.1f}' text-anchor='end'>{esc(ref.name)} "
            f"(reference, no model): {ref.quality:.4f}</text></g>")


BETTER_UP, BETTER_DOWN = "higher is better \u2192", "\u2190 lower is better"


def _axes_svg(ax: _Axes, metric: str, unit: str = "inference", higher_is_better: bool = True) -> str:
    x0, x1, y0, y1 = LEFT, W - RIGHT, TOP, H - BOTTOM
    out = ["<g class='axes'>"]
    for t in view.log_ticks(10 ** ax.lx[0], 10 ** ax.lx[1]):
        x = ax.x(t)
        out.append(f"<line class='grid' x1='{x:.1f}' x2='{x:.1f}' y1='{y0}' y2='{y1}'/><text class='tick x-tick' "
                   f"x='{x:.1f}' y='{y1 + 16}' text-anchor='middle'>{esc(view.tick(t))}</text>")
    for t in view.linear_ticks(*ax.ylim):
        y = ax.y(t)
        out.append(f"<line class='grid' x1='{x0}' x2='{x1}' y1='{y:.1f}' y2='{y:.1f}'/>"
                   f"<text class='tick y-tick' x='{x0 - 6}' y='{y + 4:.1f}' text-anchor='end'>{t:.4g}</text>")
    out.append(f"<rect class='frame' x='{x0}' y='{y0}' width='{x1 - x0}' height='{y1 - y0}'/>"
               f"<text class='axis-title' x='{(x0 + x1) / 2}' y='{H - 14}' text-anchor='middle'>"
               f"total energy per {esc(unit)} ({ax.unit}, log scale) \u2190 lower is better</text>"
               f"<text class='axis-title' transform='translate(16 {(y0 + y1) / 2}) rotate(-90)' "
               f"text-anchor='middle'>test {esc(metric)}, {BETTER_UP if higher_is_better else BETTER_DOWN}</text></g>")
    return "".join(out)


def _frontier_svg(ax: _Axes, points: list[Entry]) -> str:
    out = []
    for kind in sorted({e.device_kind for e in points}):
        front = view.frontier([e for e in points if e.device_kind == kind])
        if len(front) < 2:
            continue
        d = f"M{ax.x(view.px(front[0]) * ax.k):.1f},{ax.y(view.py(front[0])):.1f}"
        for e in front[1:]:  # a step: what a cheaper recipe reaches holds until a dearer one does better
            d += f" H{ax.x(view.px(e) * ax.k):.1f} V{ax.y(view.py(e)):.1f}"
        out.append(f"<path class='frontier' data-kind='{esc(kind)}' d='{d}' stroke='{view.device_color(kind)}'/>")
    return "".join(out)


def _spread_svg(ax: _Axes, points: list[Entry]) -> str:
    """Thin grey bars with caps from the cheapest to the dearest repeated window: unlike the frontier."""
    out = []
    for e in points:
        rng = view.x_range(e)
        if not rng:
            continue
        lo, hi = (ax.x(v * ax.k) for v in rng)
        y = ax.y(view.py(e))
        out.append(f"<g class='spread' data-recipe='{esc(e.label)}'>"
                   f"<line x1='{lo:.1f}' x2='{hi:.1f}' y1='{y:.1f}' y2='{y:.1f}'/>"
                   f"<line x1='{lo:.1f}' x2='{lo:.1f}' y1='{y - 4:.1f}' y2='{y + 4:.1f}'/>"
                   f"<line x1='{hi:.1f}' x2='{hi:.1f}' y1='{y - 4:.1f}' y2='{y + 4:.1f}'/></g>")
    return "".join(out)


def _points_svg(ax: _Axes, points: list[Entry], records: dict[str, Record], fraction: bool) -> str:
    """One focusable group per recipe: marker, hit area, label; its tooltip lines in data-tip."""
    ordered = sorted(points, key=lambda e: (e.recipe != BASELINE, -view.py(e), view.px(e)))
    labels = [("~" if e.energy_estimate else "") + e.label for e in ordered]
    xy = [(ax.x(view.px(e) * ax.k), ax.y(view.py(e))) for e in ordered]
    spots = view.place_labels([(x, y, CHAR_W * len(label)) for (x, y), label in zip(xy, labels)],
                              right=W - RIGHT, line_h=LINE_H)
    out = []
    for e, label, (x, y), (lx, ly, anchor) in zip(ordered, labels, xy, spots):
        color = view.device_color(e.device_kind)
        fill = "#ffffff" if e.energy_estimate else color
        base = e.recipe == BASELINE
        shape = (f"path class='marker' d='{_star(x, y)}'" if base
                 else f"circle class='marker' cx='{x:.1f}' cy='{y:.1f}' r='5.5'")
        tip = view.tooltip_lines(e, view.record_of(e, records), fraction)
        leader = (f"<line class='leader' x1='{x:.1f}' y1='{y:.1f}' x2='{lx:.1f}' y2='{ly - 4:.1f}'/>"
                  if abs(ly - y) > 8 else "")  # the label was pushed away by another
        out.append(
            f"<g class='point' tabindex='0' data-recipe='{esc(e.label)}' data-device='{esc(e.device_kind)}' "
            f"data-baseline='{_bool(base)}' data-estimate='{_bool(e.energy_estimate)}' "
            f"data-frontier='{_bool(e.pareto)}' data-tip='{esc(json.dumps(tip))}' "
            f"aria-label='{esc('; '.join(tip))}'>"
            f"<circle class='hit' cx='{x:.1f}' cy='{y:.1f}' r='12'/><{shape} fill='{fill}' stroke='{color}'/>{leader}"
            f"<text class='point-label' x='{lx:.1f}' y='{ly:.1f}' text-anchor='{anchor}'>{esc(label)}</text></g>")
    return "".join(out)


def _bool(v: object) -> str:
    return "true" if v else "false"


def _swatch(inner: str) -> str:
    return f"<svg class='swatch' width='28' height='16' viewBox='0 0 28 16' aria-hidden='true'>{inner}</svg>"


def legend_html(entries: list[Entry]) -> str:
    points = view.plotted(entries)
    items = []
    for kind in sorted({e.device_kind for e in points}):
        c = view.device_color(kind)
        names = ", ".join(sorted({e.device or "?" for e in points if e.device_kind == kind}))
        items.append(_swatch(f"<circle cx='14' cy='8' r='5' fill='{c}' stroke='{c}'/>") + f"{esc(kind)}: {esc(names)}")
        if len(view.frontier([e for e in points if e.device_kind == kind])) > 1:
            items.append(_swatch(f"<path d='M2,12 H14 V4 H26' fill='none' stroke='{c}' stroke-width='2' "
                                 "stroke-opacity='0.6'/>") + f"Pareto frontier ({esc(kind)})")
    items.append(_swatch(f"<path d='{_star(14, 8, 7)}' fill='#777' stroke='#777'/>") + "baseline")
    if any(e.energy_estimate for e in points):
        items.append(_swatch("<circle cx='14' cy='8' r='5' fill='#fff' stroke='#555' stroke-width='2'/>")
                     + "hollow, ~ = estimate (a model, not a counter)")
    if any(not e.energy_estimate for e in points):
        items.append(_swatch("<circle cx='14' cy='8' r='5' fill='#555'/>") + "filled = measured by a counter")
    if any(e.energy_range_j for e in points):
        items.append(_swatch(f"<g stroke='{view.SPREAD_COLOR}'><line x1='4' x2='24' y1='8' y2='8'/>"
                             "<line x1='4' x2='4' y1='4' y2='12'/><line x1='24' x2='24' y1='4' y2='12'/></g>")
                     + "spread of the repeated windows (min to max)")
    return "<ul class='legend' id='legend'>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


# -- tables --------------------------------------------------------------------------------------
def _num(v: float | None, text: str) -> tuple[str, str]:
    """A cell's text and the value it sorts by (empty: sorts last)."""
    return text, "" if v is None else repr(float(v))


def _same(text: str) -> tuple[str, str]:
    return text, text


def results_table(entries: list[Entry], records: dict[str, Record], fraction: bool) -> str:
    """Every figure, one row per recipe; short headers whose ``title`` says the rest; sortable."""
    primary = entries[0].primary_metric
    metrics = [primary] + sorted({k for e in entries for k in e.metrics} - {primary})
    lat = lambda e: e.latency_ms.p50 if e.latency_ms else None  # noqa: E731
    scale = view.energy_unit(entries)
    cols: list[tuple[str, str, str, Callable[[Entry], tuple[str, Any]]]] = [  # header, what it means, sort type, cell
        ("recipe", "* = on the Pareto frontier", "text", lambda e: (e.label + (" *" if e.pareto else ""),
                                                                    e.label)),
        ("device", "where it ran", "text", lambda e: _same(e.device or "")),
        *[(m, f"{m} on the test split", "num", lambda e, m=m: _num(e.metrics.get(m), _metric(e.metrics.get(m))))
          for m in metrics],
        ("Δ pt" if fraction else "Δ", f"{primary} minus the baseline's" + (", in points" if fraction else ""),
         "num", lambda e: _num(e.quality_vs_baseline, view.delta(e, fraction))),
        ("MB", "size on disk", "num", lambda e: _num(e.size_mb, view.sig3(e.size_mb))),
        ("p50 ms", "latency at batch 1, median", "num", lambda e: _num(lat(e), view.sig3(lat(e)))),
        (f"{view.short_unit(entries)}/s", "throughput at the record's batch size", "num",
         lambda e: _num(e.throughput_per_s, view.compact(e.throughput_per_s))),
        (f"{scale[0]}/{view.short_unit(entries)}", f"total energy per {view.unit(entries)} (paired recipes: ratio x "
         "the baseline's, as drawn); ~ = estimate, "
         "(low-high) = the modelled band over named power models, not measurement spread", "num",
         lambda e: _num(view.x_energy(e), view.energy_mj_band(e, scale))),
        ("src", "what measured the energy: codes under Energy sources", "text",
         lambda e: _same(view.source_code(e.energy_source))),
        ("spread", "(max - min) / median of the repeated windows", "num",
         lambda e: _num(e.energy_spread, view.spread(e))),
        ("vs base", f"energy per {view.unit(entries)} / the baseline's", "num", lambda e: _num(
            e.energy_vs_baseline, view.ratio(e) + ("\u2020" if view.ratio_basis(e) == "separate records"
                                                          and e.energy_vs_baseline is not None else ""))),
        ("gCO2e/M", f"grams CO2e per million {view.plural(view.unit(entries))}", "num",
         lambda e: _num(e.gco2e_per_million, view.sig3(e.gco2e_per_million, ""))),
        ("run J", "energy of the steps that made the artifact", "num",
         lambda e: _num(e.run_energy_j, view.joules(e.run_energy_j))),
        ("payback", f"{view.plural(view.unit(entries))} until the run's energy is saved back", "num", _payback_cell),
    ]
    head = "".join(f"<th scope='col' data-type='{t}' title='{esc(title)}'><button type='button'>{esc(h)}</button></th>"
                   for h, title, t, _ in cols)
    body = []
    for e in entries:
        cells = []
        for header, _, _, cell in cols:
            text, value = cell(e)
            inner = esc(text)
            if header == "recipe":  # why to trust this row less, under its name (sorting moves it with the row)
                inner += "".join(f"<div class='warn'>{esc(w)}</div>"
                                 for w in view.warnings_of(e, view.record_of(e, records)))
            elif header == "src":
                inner = f"<abbr title='{esc(e.energy_source)}'>{inner}</abbr>"
            cells.append(f"<td data-v='{esc(value)}'>{inner}</td>")
        classes = " ".join(c for c, on in (("estimate", e.energy_estimate), ("frontier", e.pareto),
                                           ("baseline", e.recipe == BASELINE)) if on)
        body.append(f"<tr class='{classes}' data-recipe='{esc(e.label)}'>{''.join(cells)}</tr>")
    foot = ""
    ref = view.reference_entry(entries, records)
    if ref is not None:  # no model, no energy: what a trivial rule scores on the same rows
        cells = []
        for header, _, _, _ in cols:
            if header == "recipe":
                cells.append(f"<td>{esc(ref.name)}<div class='warn'>reference: {esc(ref.description)}, "
                             "no model</div></td>")
            elif header in ref.metrics:
                cells.append(f"<td>{esc(_metric(ref.metrics[header]))}</td>")
            else:
                cells.append("<td>\u2014</td>")
        foot = f"<tfoot><tr class='reference' data-recipe='{esc(ref.name)}'>{''.join(cells)}</tr></tfoot>"
    return (f"<table id='results-table' class='sortable'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody>{foot}</table>")


def side_by_side_html(entries: list[Entry], records: dict[str, Record]) -> str:
    """The test rows with the baseline's and every recipe's prediction side by side; '' without samples."""
    view_ = view.side_by_side(entries, records)
    if view_ is None:
        return ""
    what = (f"The first {view_['sampled']} test rows" if view_["all_shown"] else
            f"{len(view_['rows'])} of the {view_['changed']} rows (of the first {view_['sampled']} test rows) where a "
            "recipe's prediction differs from the baseline's" if view_["changed"] else
            f"No recipe changed a prediction on the first {view_['sampled']} test rows")
    head = "".join(f"<th scope='col'>{esc(c)}</th>" for c in view_["columns"])
    rows = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in view_["rows"])
    table = f"<table id='changes-table'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>" if rows else ""
    return (f"<section id='changes'><h2>What the predictions did</h2><p class='hint'>{esc(what)}.</p>"
            f"{table}</section>")


def _metric(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _payback_cell(e: Entry) -> tuple[str, str]:
    r = e.energy_vs_baseline
    if r is not None and r > 1:  # never pays back: sorts after every finite payback
        return view.payback(e), "Infinity"
    return view.payback(e, "" if e.recipe == BASELINE else "-"), (
        "" if e.payback_inferences is None else repr(float(e.payback_inferences)))


def recipes_table(entries: list[Entry], records: dict[str, Record]) -> str:
    rows = []
    for e in entries:
        rec = view.record_of(e, records)
        desc = (rec.recipe_detail or {}).get("description", "") if rec is not None else ""
        lineage = rec.lineage if rec is not None else [{"step": s} for s in e.lineage]
        chain = ARROW.join(str(s.get("step")) for s in reversed(lineage))
        paths = "".join(f"<li><code>{esc(s.get('step'))}</code> {esc(s.get('path', ''))}</li>"
                        for s in reversed(lineage))
        rows.append(
            f"<tr data-recipe='{esc(e.label)}'><td>{esc(e.label)}</td>"
            f"<td>{esc(e.recipe_origin or '')}</td>"
            f"<td>{esc(desc)}</td><td class='steps'>{esc(ARROW.join(e.steps or []))}</td>"
            f"<td>{esc(e.runtime or '?')}</td>"
            f"<td class='lineage'><details><summary>{esc(chain)}</summary><ul>{paths}</ul></details></td>"
            f"<td><code>{esc((e.record or '').rsplit('/', 1)[-1])}</code></td></tr>")
    return ("<table id='recipes-table'><thead><tr><th>recipe</th><th>origin</th><th>description</th><th>steps</th>"
            f"<th>runtime</th><th>lineage (artifact chain)</th><th>record</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def sources_table(entries: list[Entry]) -> str:
    rows = "".join(f"<tr><td><code>{esc(code)}</code></td><td><code>{esc(label)}</code></td><td>{esc(what)}</td>"
                   f"<td>{'estimate' if est else 'measured'}</td></tr>"
                   for code, label, what, est in view.source_legend(entries))
    return ("<table id='sources-table'><thead><tr><th>code</th><th>source</th><th>what it is</th><th>kind</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


# -- page --------------------------------------------------------------------------------------
def page(entries: list[Entry], records: list[Record], notes: list[str] | None = None) -> str:
    """The whole report page as one HTML string."""
    by_file = view.records_by_file(records)
    fraction = view.is_fraction(entries)
    metric = entries[0].primary_metric if entries else "quality"
    all_notes = view.energy_notes(entries, by_file) + [
        f"Energy per {view.unit(entries)} is total energy (what you pay for) at each record's throughput batch size. "
        "Ratios, payback and the frontier compare recipes on the same device kind.",
        f"Payback = the recipe run's energy / the energy it saves per {view.unit(entries)} against the baseline.",
        f"The {metric} axis spans at least {view.MIN_SPAN_POINTS:g} "
        + ("points (0.02)" if fraction else "% of its largest value")
        + " so that a difference of a few test examples does not look like a cliff; "
        "the table and the tooltips give the difference to the baseline"
        + (" in points." if fraction else "."),
        *(notes or []),
    ]
    body = (
        "<header><h1>green report</h1>"
        f"<p class='caption' id='caption'>{esc(view.caption(entries, by_file))}</p></header>"
        "<main>"
        f"<section id='chart-section'><h2>{esc(metric)} against energy per {esc(view.unit(entries))}</h2>"
        "<p class='hint'>Hover over or tab to a point for its figures.</p>"
        f"<div id='chart'>{chart_svg(entries, by_file, fraction)}"
        "<div id='tooltip' role='tooltip' hidden></div></div>"
        f"{legend_html(entries)}</section>"
        "<section id='results'><h2>Results</h2><p class='hint'>Click a column header to sort; "
        "* marks the Pareto frontier, ~ an estimate.</p>"
        f"{results_table(entries, by_file, fraction) if entries else '<p>No evaluation records.</p>'}</section>"
        f"{side_by_side_html(entries, by_file)}"
        f"<section id='recipes'><h2>Recipes: steps and lineage</h2>{recipes_table(entries, by_file)}</section>"
        f"<section id='sources'><h2>Energy sources</h2>{sources_table(entries)}</section>"
        "<section id='notes'><h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in all_notes) + "</ul></section>"
        "<p class='files'>Also in this folder: <code>pareto.png</code> (for slides), <code>results.md</code>, "
        "<code>results.json</code>, <code>results.csv</code>.</p></main>"
    )
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>green report: {esc(metric)} vs energy</title><style>{_asset('page.css')}</style></head>"
            f"<body>{body}<script>{_asset('page.js')}</script></body></html>\n")
