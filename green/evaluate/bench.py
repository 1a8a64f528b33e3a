"""Latency, throughput and energy per inference, on the task's real sequence lengths.

Energy windows follow the counter, not the clock: each window runs inference until it
lasts at least ``min_window_s`` (and at least ten counter updates), after warm-up, and
is repeated; the median and the spread are reported. Idle power is measured first, so
dynamic energy (total minus idle power x time) is reported beside total energy.
The timed work is the model's forward pass on pre-tokenized, pre-padded batches.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from green.batching import Encoded, sorted_batches
from green.evaluate.energy import EnergyMeter, Measurement
from green.runtime.base import Runner


@dataclass(frozen=True)
class BenchSettings:
    batch_size: int = 32
    latency_samples: int = 100
    min_window_s: float = 2.0
    repeats: int = 3
    warmup_batches: int = 3
    idle_s: float = 2.0
    max_rows: int = 2000
    #: Round padded lengths up to this multiple (8 on GPUs: tensor-core shapes, few buckets).
    pad_multiple: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def default_settings(device: str, quick: bool = False, batch_size: int | None = None) -> BenchSettings:
    """GPU: batch 256, five repeats. CPU: batch 32, three repeats. ``quick``: fewer samples."""
    gpu = device.startswith("cuda")
    return BenchSettings(
        batch_size=batch_size or (256 if gpu else 32),
        latency_samples=50 if quick else (200 if gpu else 100),
        repeats=3 if (quick or not gpu) else 5,
        max_rows=1000 if quick else 2000,
        pad_multiple=8 if gpu else 1,
    )


def measure_latency(runner: Runner, encoded: Encoded, samples: int, warmup: int = 5, multiple_of: int = 1) -> dict:
    """Batch-1 latency over the first ``samples`` rows (a random sample of real lengths)."""
    n = min(samples, len(encoded))
    rows = [encoded.batch([i], multiple_of=multiple_of) for i in range(n)]
    rows = [runner.prepare(r) for r in rows]
    for batch in rows[:warmup]:
        runner(batch)
    times = []
    for batch in rows:
        t0 = time.perf_counter()
        runner(batch)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "mean": float(np.mean(times)),
        "batch_size": 1,
        "samples": n,
    }


def run_window(meter: EnergyMeter, name: str, runner: Callable, batches: list, sizes: list[int],
               min_s: float) -> tuple[Measurement, int]:
    """Cycle through ``batches`` (of ``sizes`` rows) inside one energy window until it lasts ``min_s``."""
    sequences, i = 0, 0
    with meter.window(name) as w:
        start = time.perf_counter()
        while True:
            runner(batches[i % len(batches)])
            sequences += sizes[i % len(batches)]
            i += 1
            if time.perf_counter() - start >= min_s:
                break
    return w, sequences


def measure_energy(
    runner: Runner,
    encoded: Encoded,
    meter: EnergyMeter,
    settings: BenchSettings,
    idle: Measurement | None = None,
) -> dict:
    """Energy per inference and throughput at ``settings.batch_size``.

    Batches are length-sorted (little padding) and then visited in a shuffled order, so
    any prefix of the cycle has the real length mix.
    """
    order = sorted_batches(encoded.lengths, settings.batch_size)
    random.Random(0).shuffle(order)
    host = [encoded.batch(idx, multiple_of=settings.pad_multiple) for idx in order]
    sizes = [len(idx) for idx in order]
    # Inputs are uploaded once where the runner can hold them on its device (IO binding).
    batches = [runner.prepare(b) for b in host]
    for batch in batches[: settings.warmup_batches]:
        runner(batch)
    min_s = max(settings.min_window_s, meter.min_window_s)
    idle_w = idle.watts if idle is not None else None

    per_inf, dynamic, throughput, cross, flags, windows = [], [], [], [], [], []
    for r in range(settings.repeats):
        w, n = run_window(meter, f"bench-b{settings.batch_size}-{r}", runner, batches, sizes, min_s)
        windows.append({**w.to_dict(), "sequences": n})
        throughput.append(n / w.seconds)
        flags += [f for f in w.flags if f not in flags]
        if w.joules is None:
            continue
        per_inf.append(w.joules / n)
        if idle_w is not None:
            dynamic.append(max(0.0, w.joules - idle_w * w.seconds) / n)
        if w.crosscheck_j is not None:
            cross.append(w.crosscheck_j / n)

    complete = len(per_inf) == settings.repeats
    median = statistics.median(per_inf) if complete else None
    sources = sorted({win["source"] for win in windows})
    return {
        "batch_size": settings.batch_size,
        "repeats": settings.repeats,
        "min_window_s": min_s,
        "per_inference_j": median,
        "per_inference_j_repeats": per_inf,
        "spread": (max(per_inf) - min(per_inf)) / median if complete and median else None,
        "dynamic_per_inference_j": statistics.median(dynamic) if complete and dynamic else None,
        "idle_power_w": idle_w,
        "throughput_per_s": statistics.median(throughput),
        "source": "+".join(sources),
        "estimate": any(win["estimate"] for win in windows),
        "crosscheck_per_inference_j": statistics.median(cross) if cross else None,
        "crosscheck_source": meter.crosscheck.source if meter.crosscheck else None,
        "flags": flags,
        "windows": windows,
        "batch_shapes": [(len(b["input_ids"]), int(b["input_ids"].shape[1])) for b in host],
    }
