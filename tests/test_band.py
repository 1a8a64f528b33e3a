"""The CPU estimate as a band over named power models: computed from the real meter, carried, shown."""

from __future__ import annotations

import pytest
from test_measure import CpuTimeBackend, SpinRunner, rows, settings

from green.evaluate import band as band_mod
from green.evaluate.band import CCF_MEMORY_W_PER_GB, CCF_VCPU_MAX_W, cpu_energy_band
from green.evaluate.bench import measure_energy
from green.evaluate.contention import process_cpu_seconds
from green.evaluate.energy import EnergyMeter

# codecarbon's coefficients on the 2-core EPYC VM of issue 20: 8 W TDP + 20 W RAM, 2 CPUs, 23 GB.
COEFFICIENTS = {"tdp_w": 8.0, "ram_w": 20.0, "cpus": 2, "cpu_mode": "constant"}
CC_W = (8.0 + 20.0) / 2
CCF_W = CCF_VCPU_MAX_W + CCF_MEMORY_W_PER_GB * 23.0 / 2


class CodecarbonLikeBackend(CpuTimeBackend):
    """Charges CPU time as codecarbon's process mode does, and exposes its coefficients like it."""

    source = "codecarbon-estimate"
    estimate = True
    coefficients = COEFFICIENTS

    def read(self):
        return {"cpu": CC_W * process_cpu_seconds()}


def test_band_prices_the_same_cpu_time_with_each_named_model():
    b = cpu_energy_band(0.088, COEFFICIENTS, 23.0)
    assert b.central_j == 0.088 and b.central_model == "codecarbon" and b.label == "modelled"
    assert b.low_model == "cloud-carbon-footprint" and b.low_j == pytest.approx(0.088 * CCF_W / CC_W)
    assert b.high_model == "codecarbon" and b.high_j == 0.088
    assert 0.4 < b.low_j / b.central_j < 0.5  # "about half the absolute figure" (issue 20)
    assert {m.name for m in b.models} == {"codecarbon", "cloud-carbon-footprint"}
    assert "not measurement spread" in b.meaning
    # A counter (no coefficients), no figure or an unknown memory size: no band, never a made-up one.
    assert cpu_energy_band(0.088, None, 23.0) is None and cpu_energy_band(None, COEFFICIENTS, 23.0) is None
    assert cpu_energy_band(0.088, COEFFICIENTS, None) is None


def test_measured_energy_block_carries_the_band_and_keeps_the_central_figure(monkeypatch):
    monkeypatch.setattr(band_mod, "machine_ram_gb", lambda: 23.0)
    energy = measure_energy(SpinRunner("w", 0.004), rows(), EnergyMeter([CodecarbonLikeBackend()]),
                            settings(max_retries=0))
    b = energy.band
    assert energy.source == "codecarbon-estimate" and energy.per_inference_j == b.central_j
    assert energy.per_inference_j == pytest.approx(CC_W * 0.004 / 8, rel=0.15)
    assert b.low_j == pytest.approx(b.central_j * CCF_W / CC_W)
    # A meter that reads a counter gets none.
    assert measure_energy(SpinRunner("w", 0.004), rows(), EnergyMeter([CpuTimeBackend()]),
                          settings(max_retries=0, repeats=2)).band is None


def test_report_shows_the_band_beside_the_central_estimate(tmp_path):
    from test_report import cpu_workdir_records

    from green.report import summarize
    from green.report.html import page
    from green.report.render import build_report

    recs = cpu_workdir_records()
    band = cpu_energy_band(0.126, COEFFICIENTS, 23.0)
    recs[1] = recs[1].model_copy(update={"energy": recs[1].energy.model_copy(update={"band": band})})
    entries = summarize(recs)
    int8 = next(e for e in entries if e.recipe == "int8")
    assert int8.energy_vs_baseline == pytest.approx(126 / 232)  # ratios stay on the central model
    html = page(entries, recs)
    assert "~126 (55.8-126)" in html and "not measurement spread" in html
    from green.records import write_record

    (tmp_path / "records").mkdir()
    for r in recs:
        write_record(tmp_path / "records", r)
    build_report(tmp_path / "records", tmp_path / "report")
    assert "~126 (55.8-126) (codecarbon-estimate)" in (tmp_path / "report" / "results.md").read_text()
