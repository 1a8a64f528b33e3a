"""Report logic on records: frontier, payback, latest record per recipe, atomic writes."""

import json

import pytest

from green.evaluate.report import build_report, pareto_front, summarize
from green.records import REQUIRED_KEYS, load_records, new_record_id, write_record


def record(recipe, acc, mj, run_j, created, kind="cpu", size=10.0, source="rapl"):
    return {
        "id": new_record_id(recipe), "created": created, "recipe": recipe, "accuracy": acc, "macro_f1": acc - 0.02,
        "size_mb": size, "latency_ms": {"p50": 1.0, "p95": 2.0}, "throughput_per_s": 100.0,
        "energy_per_inference_j": mj / 1e3 if mj is not None else None, "energy_source": source,
        "energy_estimate": False, "device": {"kind": kind, "name": kind.upper(), "intended": kind},
        "run_energy_j": run_j,
    }


def test_pareto_front():
    entries = [{"accuracy": a, "energy_per_inference_j": e} for a, e in [(0.80, 10), (0.79, 5), (0.78, 6), (0.81, 20), (0.5, None)]]
    assert pareto_front(entries) == {0, 1, 3}


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
    assert int8["accuracy"] == 0.79  # the newest int8 record wins
    assert int8["energy_vs_baseline"] == pytest.approx(0.4)
    assert int8["payback_inferences"] == pytest.approx(600.0 / 0.006)
    assert entries[("worse", "cpu")]["payback_inferences"] is None  # saves nothing: never pays back
    from green.evaluate.report import table_rows

    rows = {r[0].rstrip(" *"): r for r in table_rows([entries[("worse", "cpu")], int8])}
    assert rows["worse"][-1] == "never: +20% energy" and rows["int8"][-1] == "1e+05"
    assert entries[("gpu-thing", "cuda")]["energy_vs_baseline"] is None  # no cuda baseline to compare with
    assert entries[("int8", "cpu")]["pareto"] and not entries[("worse", "cpu")]["pareto"]


def test_records_are_atomic_and_never_overwritten(tmp_path):
    rec = record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00")
    path = write_record(tmp_path, rec)
    assert json.loads(path.read_text())["recipe"] == "int8"
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(FileExistsError):
        write_record(tmp_path, rec)
    with pytest.raises(ValueError):
        write_record(tmp_path, {"id": "x", "recipe": "y"})
    (tmp_path / "junk.json").write_text("{not json")
    assert [r["recipe"] for r in load_records(tmp_path)] == ["int8"]


def test_build_report_writes_all_files(tmp_path):
    recs_dir = tmp_path / "records"
    for r in [record("baseline", 0.8, 10.0, 5000.0, "2026-01-01T00:00:00"), record("int8", 0.79, 4.0, 600.0, "2026-01-01T00:01:00")]:
        write_record(recs_dir, r)
    entries, paths = build_report(recs_dir, tmp_path / "report")
    assert [e["recipe"] for e in entries] == ["baseline", "int8"]
    assert all(k in entries[0] for k in REQUIRED_KEYS)
    assert paths["pareto.png"].read_bytes()[:4] == b"\x89PNG"
    assert "int8" in paths["pareto.html"].read_text()
