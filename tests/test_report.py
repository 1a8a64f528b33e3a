"""Report logic on records: frontier, payback, latest record per recipe, atomic writes, bad files."""

import json

import pytest

from green.records import Record, load_records, new_record_id, read_record, write_record
from green.report import ENTRY_KEYS, build_report, pareto_front, summarize, table_rows


def record(recipe, acc, mj, run_j, created, kind="cpu", size=10.0, source="rapl", origin=None,
           metric="accuracy", higher=True) -> Record:
    return Record(
        kind="evaluation", id=new_record_id(recipe), created=created, recipe=recipe,
        recipe_origin=origin or ("baseline" if recipe == "baseline" else f"builtin:{recipe}"),
        artifact="/x", artifact_format="onnx",
        task={"name": "t", "primary_metric": metric, "higher_is_better": higher},
        metrics={metric: acc, "other": acc - 0.02}, size_mb=size, latency_ms={"p50": 1.0, "p95": 2.0},
        throughput_per_s=100.0, energy_per_inference_j=mj / 1e3 if mj is not None else None, energy_source=source,
        energy_estimate=False, device={"kind": kind, "name": kind.upper(), "intended": kind}, run_energy_j=run_j,
    )


def test_pareto_front():
    entries = [{"quality": a, "energy_per_inference_j": e} for a, e in [(0.80, 10), (0.79, 5), (0.78, 6), (0.81, 20), (0.5, None)]]
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
    entries = {(e["recipe"], e["device_kind"]): e for e in summarize(recs)}
    int8 = entries[("int8", "cpu")]
    assert int8["quality"] == 0.79  # the newest int8 record wins
    assert int8["quality_vs_baseline"] == pytest.approx(-0.01)
    assert int8["energy_vs_baseline"] == pytest.approx(0.4)
    assert int8["payback_inferences"] == pytest.approx(600.0 / 0.006)
    assert entries[("worse", "cpu")]["payback_inferences"] is None  # saves nothing: never pays back
    rows = {r[0].rstrip(" *"): r for r in table_rows([entries[("worse", "cpu")], int8])}
    assert rows["worse"][-1] == "never: +20% energy" and rows["int8"][-1] == "1e+05"
    assert entries[("gpu-thing", "cuda")]["energy_vs_baseline"] is None  # no cuda baseline to compare with
    assert entries[("int8", "cpu")]["pareto"] and not entries[("worse", "cpu")]["pareto"]


def test_a_user_recipe_named_like_a_builtin_is_reported_apart():
    recs = [
        record("baseline", 0.80, 10.0, 5000.0, "2026-01-01T00:00:00"),
        record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00"),
        record("int8", 0.60, 2.0, 600.0, "2026-01-01T00:02:00", origin="/home/u/int8.yaml"),
    ]
    entries = summarize(recs)
    labels = sorted(e["label"] for e in entries)
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
    assert [e["recipe"] for e in entries] == ["baseline", "int8"]
    assert all(k in entries[0] for k in ENTRY_KEYS)
    assert paths["pareto.png"].read_bytes()[:4] == b"\x89PNG"
    assert "int8" in paths["pareto.html"].read_text()
    assert notes == ["skipped truncated.json: unreadable (JSONDecodeError)"]
    assert "truncated.json" in paths["results.md"].read_text()
