"""The EnergyMeter on fake hardware: an H100-like NVML and a RAPL sysfs tree in tmp_path."""

import time
from pathlib import Path

import pytest

from green.evaluate.backends.base import BackendUnavailable, CounterBackend, MeasurementError
from green.evaluate.backends.discover import build_meter, survey
from green.evaluate.backends.nvml import NvmlCounterBackend, NvmlPowerSamplerBackend
from green.evaluate.backends.rapl import RaplBackend
from green.evaluate.energy import EnergyMeter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        time.sleep(0.005)


def gpu_meter(nvml) -> EnergyMeter:
    return build_meter(EnergyMeter, "cuda", nvml=nvml)


def clocked(**kw):
    """A fake NVML and a meter on one fake clock: windows last exactly what the test advances."""
    from conftest import FakeClock, FakeNvml

    clock = FakeClock()
    nvml = FakeNvml(clock=clock, **kw)
    return nvml, build_meter(EnergyMeter, "cuda", nvml=nvml, clock=clock), clock


def test_nvml_counter_window_matches_power_times_time():
    _, meter, clock = clocked()
    assert meter.source == "nvml-energy-counter"
    assert meter.fallback.source == "nvml-power-samples"
    with meter.window("work") as w:
        clock.advance(1.5)
    assert w.seconds == pytest.approx(1.5)
    # 300 W for 1.5 s, read through a counter that moves every 100 ms: one period of error.
    assert w.source == "nvml-energy-counter" and not w.estimate
    assert abs(w.joules - 300 * w.seconds) <= 300 * 0.1 + 1e-6
    assert w.per_domain_j.keys() == {"gpu:0"}
    assert w.flags == []
    meter.close()


def test_windows_nest():
    _, meter, clock = clocked()
    meter.begin_window("outer")
    clock.advance(0.6)
    with meter.window("inner") as inner:
        clock.advance(1.2)
    clock.advance(0.6)
    outer = meter.end_window("outer")
    assert outer.joules > inner.joules
    assert abs(outer.joules - 300 * outer.seconds) <= 30 + 1e-6
    with pytest.raises(ValueError):
        meter.end_window("outer")
    meter.close()


def test_multi_gpu_sums_with_breakdown():
    _, meter, clock = clocked(gpus=2)
    with meter.window("w") as w:
        clock.advance(1.1)
    assert set(w.per_domain_j) == {"gpu:0", "gpu:1"}
    assert w.joules == pytest.approx(sum(w.per_domain_j.values()))
    meter.close()


def test_short_window_is_flagged_not_silently_reported():
    _, meter, clock = clocked()
    with meter.window("blip") as w:
        clock.advance(0.15)
    assert any(f.startswith("short-window") for f in w.flags)
    meter.close()


def test_counter_going_backwards_falls_back_to_power_samples(fake_nvml):
    meter = gpu_meter(fake_nvml)
    meter.begin_window("w")
    busy(1.0)
    fake_nvml.backwards = True
    w = meter.end_window("w")
    assert w.source == "nvml-power-samples"
    assert any("went backwards" in f for f in w.flags)
    assert abs(w.joules - 300 * w.seconds) < 0.05 * 300 * w.seconds
    meter.close()


def test_stalled_counter_falls_back(fake_nvml):
    meter = gpu_meter(fake_nvml)
    fake_nvml.stalled_at = time.perf_counter() - fake_nvml.t0
    with meter.window("w") as w:
        busy(1.0)
    assert w.source == "nvml-power-samples"
    assert any("stalled" in f for f in w.flags)
    assert w.joules > 0
    meter.close()


def test_device_disappearing_gives_no_figure():
    fake_nvml, meter, clock = clocked()
    meter.begin_window("w")
    clock.advance(0.5)
    fake_nvml.gone = True
    w = meter.end_window("w")
    assert w.joules is None and not w.valid
    assert any(f.startswith("unmeasured") for f in w.flags)
    meter.close()


def test_gpu_without_counter_integrates_samples():
    from conftest import FakeNvml

    meter = gpu_meter(FakeNvml(has_counter=False))
    assert meter.source == "nvml-power-samples"
    with meter.window("w") as w:
        busy(1.0)
    assert abs(w.joules - 300 * w.seconds) < 0.05 * 300 * w.seconds
    meter.close()


def test_power_sampler_agrees_with_counter(fake_nvml):
    counter = NvmlCounterBackend(fake_nvml)
    sampler = NvmlPowerSamplerBackend(fake_nvml, hz=50)
    meter = EnergyMeter([counter], crosscheck=sampler)
    with meter.window("w") as w:
        busy(2.0)
    assert w.crosscheck_source == "nvml-power-samples"
    assert abs(w.joules - w.crosscheck_j) / w.crosscheck_j < 0.05
    meter.close()


def test_sampler_refuses_low_rates(fake_nvml):
    with pytest.raises(ValueError):
        NvmlPowerSamplerBackend(fake_nvml, hz=5)


# -- RAPL ---------------------------------------------------------------------------------
def make_rapl(root: Path, packages: int = 1, dram: bool = True, max_uj: int = 1_000_000_000) -> Path:
    for p in range(packages):
        z = root / f"intel-rapl:{p}"
        z.mkdir(parents=True)
        (z / "name").write_text(f"package-{p}\n")
        (z / "energy_uj").write_text("0\n")
        (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
        core = z / f"intel-rapl:{p}:0"
        core.mkdir()
        (core / "name").write_text("core\n")
        (core / "energy_uj").write_text("0\n")
        (core / "max_energy_range_uj").write_text(f"{max_uj}\n")
        if dram:
            d = root / f"intel-rapl:{p}:1"
            d.mkdir()
            (d / "name").write_text("dram\n")
            (d / "energy_uj").write_text("0\n")
            (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return root


def set_uj(root: Path, zone: str, value: int) -> None:
    (root / zone / "energy_uj").write_text(f"{value}\n")


def test_rapl_sums_package_and_dram_not_core(tmp_path):
    root = make_rapl(tmp_path / "powercap")
    b = RaplBackend(root)
    assert sorted(b.domains()) == ["dram-0", "package-0"]
    t = b.begin()
    set_uj(root, "intel-rapl:0", 5_000_000)
    set_uj(root, "intel-rapl:0/intel-rapl:0:0", 4_000_000)
    (root / "intel-rapl:0:1" / "energy_uj").write_text("1000000\n")
    assert b.end(t, 1.0) == {"package-0": 5.0, "dram-0": 1.0}


def test_rapl_counter_wraparound(tmp_path):
    root = make_rapl(tmp_path / "powercap", dram=False, max_uj=1_000_000_000)
    set_uj(root, "intel-rapl:0", 990_000_000)
    b = RaplBackend(root)
    t = b.begin()
    set_uj(root, "intel-rapl:0", 10_000_000)
    assert b.end(t, 1.0)["package-0"] == pytest.approx(20.0)


def test_rapl_permission_denied_is_unavailable_with_reason(tmp_path, monkeypatch):
    root = make_rapl(tmp_path / "powercap")
    real = Path.read_text

    def deny(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(BackendUnavailable, match="permission denied"):
        RaplBackend(root)


def test_rapl_missing_is_unavailable(tmp_path):
    with pytest.raises(BackendUnavailable, match="does not exist"):
        RaplBackend(tmp_path / "nothing")


class ListBackend(CounterBackend):
    """A counter that replays scripted readings: for fault sequences without hardware."""

    source = "scripted"
    update_period_s = 0.0

    def __init__(self, readings):
        self.readings = list(readings)

    def domains(self):
        return ["x"]

    def read(self):
        value = self.readings.pop(0)
        if isinstance(value, Exception):
            raise value
        return {"x": value}


class FixedEstimate(ListBackend):
    source = "test-estimate"
    estimate = True


def test_rapl_failure_mid_run_falls_back_to_estimate_labelled():
    meter = EnergyMeter([ListBackend([10.0, MeasurementError("permission denied")])],
                        fallback=FixedEstimate([0.0, 7.0]))
    with meter.window("w") as w:
        pass
    assert w.joules == 7.0 and w.estimate and w.source == "test-estimate"
    assert "permission denied" in w.flags[0]


def test_zero_energy_window_is_flagged():
    meter = EnergyMeter([ListBackend([3.0, 3.0])])
    with meter.window("w") as w:
        pass
    assert "zero-energy" in w.flags


def test_cpu_meter_without_rapl_is_a_labelled_estimate(tmp_path):
    meter = build_meter(EnergyMeter, "cpu", rapl_root=tmp_path / "none")
    assert meter.source == "codecarbon-estimate" and meter.estimate
    with meter.window("w") as w:
        busy(0.3)
    assert w.estimate and w.source == "codecarbon-estimate" and w.joules > 0


def test_cpu_meter_prefers_rapl(tmp_path):
    root = make_rapl(tmp_path / "powercap")
    meter = build_meter(EnergyMeter, "cpu", rapl_root=root, crosscheck=True)
    assert meter.source == "rapl" and not meter.estimate
    assert meter.fallback.source == "codecarbon-estimate"


def test_survey_explains_unavailable_backends(tmp_path, fake_nvml):
    rows = {s.name: s for s in survey(nvml=fake_nvml, rapl_root=tmp_path / "none")}
    assert rows["nvml-energy-counter"].available and rows["nvml-energy-counter"].detail == "gpu:0"
    assert not rows["rapl"].available and "does not exist" in rows["rapl"].detail
    assert rows["codecarbon-estimate"].available
