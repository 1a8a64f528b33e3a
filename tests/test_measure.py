"""Measurement on a busy machine: paired rounds, CPU-time attribution, contention, spread targets.

Runners here are fakes with known costs (they spin for a fixed amount of this thread's
CPU time per batch), measured by the real EnergyMeter through a backend that charges
joules to this process's CPU time, so every expected figure is known in advance.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import pytest

from green.batching import Encoded
from green.evaluate.backends.base import CounterBackend
from green.evaluate.bench import BenchSettings, measure_energy, prepare_workload, run_window
from green.evaluate.contention import (
    OTHER_SHARE_MAX,
    CpuUsage,
    contention_reasons,
    cpu_snapshot,
    cpu_usage,
    machine_busy_seconds,
    process_cpu_seconds,
    tail_ratio,
)
from green.evaluate.energy import EnergyMeter
from green.evaluate.paired import measure_paired
from green.evaluate.repeats import repeat_until_stable, spread
from green.runtime.base import Runner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WATTS_PER_CPU_S = 10.0


class CpuTimeBackend(CounterBackend):
    """Joules = 10 x this process's CPU seconds: a process-attributed estimate with a known answer."""

    source = "test-cpu-time"
    estimate = True
    update_period_s = 0.0
    attribution = "process-cpu-time"

    def domains(self):
        return ["cpu"]

    def read(self):
        return {"cpu": WATTS_PER_CPU_S * process_cpu_seconds()}


class SpinRunner(Runner):
    """Spends ``cpu_s`` of this thread's CPU time per call, however long the wall clock takes."""

    runtime = "fake"
    input_names = ["input_ids"]

    def __init__(self, name: str, cpu_s: float, log: list[str] | None = None) -> None:
        self.name, self.cpu_s, self.log = name, cpu_s, log

    def __call__(self, batch) -> np.ndarray:
        if self.log is not None:
            self.log.append(self.name)
        end = time.thread_time() + self.cpu_s
        while time.thread_time() < end:
            pass
        return np.zeros((len(batch["input_ids"]), 2), dtype=np.float32)

    def describe(self) -> dict:
        return {"runtime": "fake", "name": self.name}


def rows(n: int = 64, length: int = 8) -> Encoded:
    return Encoded([[5] * length for _ in range(n)], 0, 128)


def settings(**kw) -> BenchSettings:
    base = BenchSettings(batch_size=8, min_window_s=0.15, repeats=3, max_repeats=5, max_retries=1,
                         warmup_batches=2, idle_s=0.1)
    return replace(base, **kw)


@pytest.fixture
def meter() -> EnergyMeter:
    return EnergyMeter([CpuTimeBackend()])


# -- paired measurement -------------------------------------------------------------------
def test_paired_rounds_alternate_and_give_the_known_ratio(meter):
    s = settings(max_retries=0)
    fast = prepare_workload("fast", SpinRunner("fast", 0.004), rows(), s)
    slow = prepare_workload("slow", SpinRunner("slow", 0.010), rows(), s)
    opened: list[str] = []
    begin = meter.begin_window
    meter.begin_window = lambda name: (opened.append(name), begin(name))[1]
    energy, paired = measure_paired(fast, slow, meter, s, reference_label="slow")

    # Rounds alternate and flip their order: fast slow | slow fast | fast slow ...
    assert opened[:6] == ["pair-0-fast", "pair-0-slow", "pair-1-slow", "pair-1-fast", "pair-2-fast", "pair-2-slow"]
    assert paired.rounds_run == len(opened) // 2 >= 3
    # Same batches on both sides: the ratio is the ratio of CPU cost per batch, 0.4.
    assert paired.energy_ratio == pytest.approx(0.4, rel=0.1)
    assert paired.cpu_seconds_ratio == pytest.approx(0.4, rel=0.1)
    lo, hi = paired.energy_ratio_range
    assert lo <= paired.energy_ratio <= hi
    assert paired.reference == "slow" and paired.attribution == "process-cpu-time"
    assert paired.per_inference_j == pytest.approx(WATTS_PER_CPU_S * 0.004 / 8, rel=0.1)
    assert paired.reference_per_inference_j == pytest.approx(WATTS_PER_CPU_S * 0.010 / 8, rel=0.1)
    assert paired.saved_per_inference_j == pytest.approx(WATTS_PER_CPU_S * 0.006 / 8, rel=0.15)
    assert paired.throughput_ratio > 1.5  # the cheaper runner also runs more rows per second
    # The energy block is the target's absolute figures from the same rounds.
    assert energy.per_inference_j == pytest.approx(paired.per_inference_j)
    assert energy.cpu_s_per_inference == pytest.approx(0.004 / 8, rel=0.1)
    assert len(paired.reference_windows) == paired.rounds_run == len(energy.windows)
    assert energy.converged_on == "paired energy ratio"


def test_both_sides_of_a_pair_run_the_same_batches(meter):
    s = settings(batch_size=4, repeats=2, max_repeats=2)
    enc = Encoded([[5] * (4 + i % 13) for i in range(64)], 0, 128)  # mixed lengths
    fast = prepare_workload("fast", SpinRunner("fast", 0.002), enc, s)
    slow = prepare_workload("slow", SpinRunner("slow", 0.02), enc, s)
    energy, paired = measure_paired(fast, slow, meter, s)
    assert fast.pass_batches == slow.pass_batches
    for w in energy.windows + paired.reference_windows:
        assert w.batches % fast.pass_batches == 0  # whole passes over the same batches


# -- CPU time and attribution ---------------------------------------------------------------
def test_every_window_records_this_process_cpu_time(meter):
    with meter.window("spin") as w:
        SpinRunner("x", 0.2)({"input_ids": [[1]]})
    assert w.cpu_s == pytest.approx(0.2, abs=0.05)
    assert w.joules == pytest.approx(WATTS_PER_CPU_S * w.cpu_s, rel=0.05)
    assert w.attribution == "process-cpu-time" and w.to_dict()["cpu_s"] == w.cpu_s
    with meter.window("sleep") as idle:
        time.sleep(0.2)
    assert idle.cpu_s < 0.05  # sleeping costs this process (almost) nothing


def test_cpu_estimate_is_charged_to_this_process_not_the_machine():
    """codecarbon's process mode plus green's RAM share: a sleeping window costs almost nothing."""
    from green.evaluate.backends.estimate import CodecarbonBackend

    process = EnergyMeter([CodecarbonBackend(tracking_mode="process")])
    machine = EnergyMeter([CodecarbonBackend(tracking_mode="machine")])
    assert process.attribution == "process-cpu-time" and machine.attribution == "machine"
    with process.window("sleep") as asleep:
        time.sleep(0.6)
    with process.window("spin") as spinning:
        SpinRunner("x", 0.6)({"input_ids": [[1]]})
    with machine.window("sleep") as machine_asleep:
        time.sleep(0.6)
    assert asleep.attribution == "process-cpu-time" and spinning.estimate
    assert spinning.joules > 5 * asleep.joules
    # codecarbon's TDP and RAM power, charged for this process's share of the CPUs.
    c = process.primary[0].coefficients
    assert spinning.joules == pytest.approx((c["tdp_w"] + c["ram_w"]) * spinning.cpu_s / c["cpus"], rel=0.05)
    # The machine-wide model charges RAM power for every second, asleep or not.
    assert machine_asleep.joules > 5 * asleep.joules


def test_cpu_meter_on_a_machine_without_rapl_uses_process_attribution(tmp_path):
    from green.evaluate.backends.discover import build_meter

    meter = build_meter(EnergyMeter, "cpu", rapl_root=tmp_path / "none")
    assert meter.attribution == "process-cpu-time" and meter.describe()["attribution"] == "process-cpu-time"


# -- contention --------------------------------------------------------------------------------
def burner(seconds: float) -> subprocess.Popen:
    """Another process keeping one core busy, for at most ``seconds``."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.mark.skipif(machine_busy_seconds() is None, reason="no /proc/stat on this system")
def test_a_window_is_flagged_when_another_process_burns_cpu(meter):
    proc = burner(3.0)
    try:
        time.sleep(0.2)  # let it start spinning
        start = cpu_snapshot()
        time.sleep(1.0)
        usage = cpu_usage(start, cpu_snapshot())
        work = prepare_workload("w", SpinRunner("w", 0.003), rows(), settings())
        window = run_window(meter, "busy", work, 0.5)
    finally:
        proc.kill()
        proc.wait()
    # The burner used about one core for the second we slept; we used next to nothing.
    assert usage.other_s >= 0.6 and usage.process_s < 0.1
    assert window.contended and any("other processes used" in r for r in window.reasons)
    assert window.result().other_cpu_share > OTHER_SHARE_MAX


@pytest.mark.skipif(machine_busy_seconds() is None, reason="no /proc/stat on this system")
def test_contended_windows_are_retried_a_bounded_number_of_times_then_reported(meter):
    s = settings(repeats=2, max_repeats=3, max_retries=2, min_window_s=0.2)
    proc = burner(8.0)
    try:
        time.sleep(0.2)
        energy = measure_energy(SpinRunner("w", 0.003), rows(), meter, s)
    finally:
        proc.kill()
        proc.wait()
    windows = energy.windows
    assert energy.retries == 2 and sum(w.retried for w in windows) == 2
    assert len(windows) <= s.max_repeats + s.max_retries
    assert energy.contended and energy.contended_windows >= 1
    assert any(f.startswith("contended") for f in energy.flags)


def test_contention_verdict_thresholds():
    quiet = CpuUsage(wall_s=2.0, process_s=3.9, other_s=0.1, cpus=2)
    busy = CpuUsage(wall_s=2.0, process_s=2.0, other_s=2.0, cpus=2)
    unknown = CpuUsage(wall_s=2.0, process_s=2.0, other_s=None, cpus=2)
    assert contention_reasons(quiet, 1.2) == []
    assert "other processes used 50% of 2 CPUs" in contention_reasons(busy, None)[0]
    assert contention_reasons(unknown, None) == []  # no /proc/stat: the tail is the only judge
    assert "p95 batch time" in contention_reasons(unknown, 3.0)[0]


def test_tail_ratio_normalises_by_tokens_and_needs_enough_batches():
    # Long batches take longer: per token they cost the same, so no tail.
    assert tail_ratio([0.1, 0.2, 0.4, 0.1, 0.2, 0.4], [100, 200, 400, 100, 200, 400]) == pytest.approx(1.0)
    assert tail_ratio([0.1] * 9 + [1.0], [100] * 10) > 2.0
    assert tail_ratio([0.1, 1.0], [100, 100]) is None


def test_proc_stat_parsing_and_its_absence(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\n")
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    assert machine_busy_seconds(stat) == pytest.approx((100 + 5 + 50 + 3 + 2 + 10) / ticks)
    assert machine_busy_seconds(tmp_path / "missing") is None
    start, end = cpu_snapshot(tmp_path / "missing"), cpu_snapshot(tmp_path / "missing")
    assert cpu_usage(start, end).other_s is None and cpu_usage(start, end).other_share is None


# -- spread and convergence --------------------------------------------------------------------
@dataclass
class Unit:
    value: float | None
    contended: bool = False
    retried: bool = False
    used: bool = False


def scripted(values, contended=()):
    units = iter([Unit(v, i in contended) for i, v in enumerate(values)])
    return lambda i: next(units)


def test_spread_is_unknown_below_two_values():
    assert spread([1.0]) is None and spread([]) is None and spread([1.0, None]) is None
    assert spread([1.0, 1.1, 0.9]) == pytest.approx(0.2)


def test_repeats_until_the_last_windows_agree():
    s = settings(repeats=3, max_repeats=8, spread_target=0.05)
    series = repeat_until_stable(scripted([1.0, 1.4, 1.0, 1.01, 1.02, 9.0]), lambda u: u.value, s)
    assert len(series.units) == 5 and series.converged is True
    assert [u.value for u in series.used] == [1.0, 1.01, 1.02]
    assert series.spread == pytest.approx(0.02 / 1.01)
    assert not series.units[1].used and series.units[4].used


def test_stops_at_max_repeats_unconverged_and_says_so():
    s = settings(repeats=3, max_repeats=5, spread_target=0.05)
    series = repeat_until_stable(scripted([1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0]), lambda u: u.value, s)
    assert len(series.units) == 5 and series.converged is False
    assert len(series.used) == 5 and series.spread == pytest.approx(0.5)


def test_contended_units_are_retried_within_the_bound():
    s = settings(repeats=2, max_repeats=4, max_retries=2)
    series = repeat_until_stable(scripted([5.0, 5.0, 5.0, 1.0, 1.0], contended={0, 1, 2}), lambda u: u.value, s)
    assert series.retries == 2
    assert [u.retried for u in series.units] == [True, True, False, False, False]
    assert series.used == series.units[3:] and series.converged is True
    # Retries spent: a contended unit is kept, and counts as contended where it is used.
    s = settings(repeats=2, max_repeats=4, max_retries=1)
    series = repeat_until_stable(scripted([1.0, 1.0, 1.0], contended={0, 1, 2}), lambda u: u.value, s)
    assert series.retries == 1 and len(series.units) == 3
    assert [u.contended for u in series.used] == [True, True]


def test_one_repeat_has_no_spread(meter):
    energy = measure_energy(SpinRunner("w", 0.002), rows(), meter, settings(repeats=1))
    assert energy.repeats == 1 and energy.spread is None and energy.converged is None
    assert energy.cpu_spread is None


def test_measure_energy_converges_on_a_steady_runner(meter):
    energy = measure_energy(SpinRunner("w", 0.004), rows(), meter, settings(max_retries=0, max_repeats=8))
    assert energy.per_inference_j == pytest.approx(WATTS_PER_CPU_S * 0.004 / 8, rel=0.1)
    assert energy.cpu_s_per_inference == pytest.approx(0.004 / 8, rel=0.1)
    assert energy.spread_target == 0.05 and energy.attribution == "process-cpu-time"
    if energy.converged:
        assert energy.spread <= 0.05 and energy.repeats == 3
    else:  # a noisy shared machine: every window up to the maximum, and the record says so
        assert energy.repeats == 8


# -- the report: paired ratios first --------------------------------------------------------------
def test_report_uses_the_paired_ratio_and_payback_and_marks_its_basis():
    from test_report import record

    from green.records import Paired
    from green.report import summarize

    base = record("baseline", 0.80, 50.0, 5000.0, "2026-01-01T00:00:00")  # measured while the machine was busy
    int8 = record("int8", 0.79, 2.5, 600.0, "2026-01-01T00:01:00")  # 0.05x by separate records
    int8.paired = Paired(reference="baseline", rounds=3, per_inference_j=0.0043, reference_per_inference_j=0.0100,
                         energy_ratio=0.43, energy_ratio_range=[0.42, 0.44], saved_per_inference_j=0.0057,
                         throughput_ratio=2.3, cpu_seconds_ratio=0.43, converged=True, spread_target=0.05)
    old = record("fp32-onnx", 0.80, 40.0, 100.0, "2026-01-01T00:02:00")  # a record from before pairing
    # Looks cheapest on its own (measured on a quiet machine), but costs 0.6x the baseline side by side.
    prune = record("prune", 0.785, 1.0, 100.0, "2026-01-01T00:03:00")
    prune.paired = Paired(reference="baseline", rounds=3, energy_ratio=0.6, saved_per_inference_j=0.004)
    entries = {e.recipe: e for e in summarize([base, int8, old, prune])}

    e = entries["int8"]
    assert e.ratio_basis == "paired"
    assert e.energy_vs_baseline == 0.43 and e.energy_vs_baseline_range == [0.42, 0.44]
    assert e.throughput_vs_baseline == 2.3 and e.cpu_seconds_vs_baseline == 0.43
    assert e.payback_inferences == pytest.approx(600.0 / 0.0057)  # saved from the same rounds
    assert e.comparable_energy_j == pytest.approx(0.43 * 0.050)
    assert entries["fp32-onnx"].ratio_basis == "separate records"
    assert entries["fp32-onnx"].energy_vs_baseline == pytest.approx(0.8)
    assert entries["baseline"].ratio_basis == "baseline"
    # The frontier compares paired figures on the baseline's scale: prune (0.6 x 50 mJ) is
    # beaten by int8 (0.43 x 50 mJ, better accuracy), though its own record reads 1 mJ.
    assert e.pareto and entries["fp32-onnx"].pareto
    assert not entries["prune"].pareto and not entries["baseline"].pareto
