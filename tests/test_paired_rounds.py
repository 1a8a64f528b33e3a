"""Paired rounds compare like with like: both sides run the same inputs, and neither pays for the other's caches.

Fake runners with known CPU costs, measured by the real EnergyMeter through a backend that charges
joules to this process's CPU time (tests/test_measure.py); no model, no benchmark.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_measure import CpuTimeBackend, settings

import green.evaluate.paired as paired_mod
from green.batching import Encoded
from green.evaluate.bench import prepare_workload
from green.evaluate.energy import EnergyMeter
from green.evaluate.paired import measure_paired
from green.runtime.base import Runner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class ColdRunner(Runner):
    """Spends ``cpu_s`` per batch, plus ``cold_s`` on a call that follows another model's call (evicted caches)."""

    runtime = "fake"
    input_names = ["input_ids"]
    previous: list[str] = [""]

    def __init__(self, name: str, cpu_s: float, cold_s: float, log: list | None = None) -> None:
        self.name, self.cpu_s, self.cold_s, self.log = name, cpu_s, cold_s, log

    def __call__(self, batch) -> np.ndarray:
        cost = self.cpu_s + (self.cold_s if ColdRunner.previous[0] not in ("", self.name) else 0.0)
        ColdRunner.previous[0] = self.name
        if self.log is not None:
            self.log.append((self.name, tuple(map(tuple, np.asarray(batch["input_ids"]).tolist()))))
        end = time.thread_time() + cost
        while time.thread_time() < end:
            pass
        return np.zeros((len(batch["input_ids"]), 2), dtype=np.float32)

    def describe(self) -> dict:
        return {"runtime": "fake", "name": self.name}


def varied_rows(n: int = 64) -> Encoded:
    """Rows of many lengths, so different batches are different inputs."""
    return Encoded([[5 + i % 7] * (4 + i % 13) for i in range(n)], 0, 128)


def test_every_round_runs_the_same_batches_on_both_sides(monkeypatch):
    log: list = []
    windows: list[tuple[str, int, int]] = []  # (window name, first log index, last)
    real = paired_mod.run_window

    def spy(meter, name, workload, min_s, on_progress=None):
        start = len(log)
        w = real(meter, name, workload, min_s, on_progress)
        windows.append((name, start, len(log)))
        return w

    monkeypatch.setattr(paired_mod, "run_window", spy)
    ColdRunner.previous[0] = ""
    s = settings(max_retries=0, min_window_s=0.1, batch_size=4)
    target = prepare_workload("a", ColdRunner("a", 0.002, 0.0, log), varied_rows(), s)
    reference = prepare_workload("b", ColdRunner("b", 0.005, 0.0, log), varied_rows(), s)
    measure_paired(target, reference, EnergyMeter([CpuTimeBackend()]), s)
    assert target.pass_batches == reference.pass_batches > 1
    per_window = {name: [x for _, x in log[i:j]] for name, i, j in windows}
    passes = {}
    for name, calls in per_window.items():
        k = target.pass_batches
        assert len(calls) % k == 0 and calls == calls[:k] * (len(calls) // k), name  # whole passes only
        passes[name] = calls[:k]
    # One set of inputs everywhere: every window of every round, target and reference alike.
    assert len({tuple(p) for p in passes.values()}) == 1 and len(set(passes[next(iter(passes))])) > 1


def test_a_cold_start_after_the_other_model_does_not_zigzag_the_ratio():
    """The order flips every round (AB, BA), so each side runs twice in a row at round boundaries:
    without a warm call, which side's window starts cold alternates by round and so does the ratio."""
    ColdRunner.previous[0] = ""
    s = settings(max_retries=0, min_window_s=0.15, repeats=4, max_repeats=4)
    target = prepare_workload("fast", ColdRunner("fast", 0.004, 0.03), varied_rows(), s)
    reference = prepare_workload("slow", ColdRunner("slow", 0.010, 0.03), varied_rows(), s)
    _, paired = measure_paired(target, reference, EnergyMeter([CpuTimeBackend()]), s)
    ratios = paired.round_ratios
    assert len(ratios) == 4 and all(r == pytest.approx(0.4, rel=0.08) for r in ratios), ratios
    assert paired.energy_ratio_spread < 0.1
