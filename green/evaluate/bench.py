"""Latency, throughput and energy per inference, on the task's real sequence lengths.

Energy windows follow the counter, not the clock: each window runs whole passes over a
fixed set of batches until it lasts at least ``min_window_s`` (and at least ten counter
updates), after warm-up. Every window runs the same batches, so windows (and the two
sides of a paired measurement, :mod:`green.evaluate.paired`) cover the same length mix.

Windows repeat until the last ``repeats`` of them agree within ``spread_target``
((max - min) / median), or ``max_repeats`` were run; the result says which. A window
during which other processes used the CPU (or whose slow batches stray far from its
median) is contended: it is run again, up to ``max_retries`` times per measurement, and
one kept although contended is counted and flagged. Each window also records the CPU
time this process used, so CPU-seconds per inference stand beside wall-clock figures.
Idle power is measured first, so dynamic energy (total minus idle power x time) is
reported beside total energy. The timed work is the model's forward pass on
pre-tokenized, pre-padded batches.
"""

from __future__ import annotations

import math
import random
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from green.batching import Encoded, sorted_batches
from green.evaluate.band import band_for_meter
from green.evaluate.contention import (
    OTHER_SHARE_MAX,
    TAIL_RATIO_MAX,
    contention_reasons,
    cpu_snapshot,
    cpu_usage,
    tail_ratio,
)
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.repeats import Series, WindowProgress, repeat_until_stable, spread
from green.results import Energy, Latency
from green.results import Window as WindowResult
from green.runtime import threads
from green.runtime.base import Runner

#: Windows (or paired rounds) must agree within this spread, (max - min) / median.
SPREAD_TARGET = 0.05


@dataclass(frozen=True)
class BenchSettings:
    batch_size: int = 32
    latency_samples: int = 100
    min_window_s: float = 2.0
    #: Consecutive windows (paired: rounds) whose spread must be at most ``spread_target``.
    repeats: int = 3
    #: Windows (rounds) used for a figure at most: the measurement stops there, unconverged.
    max_repeats: int = 8
    spread_target: float = SPREAD_TARGET
    #: Contended windows (rounds) run again, per measurement.
    max_retries: int = 2
    warmup_batches: int = 3
    idle_s: float = 2.0
    max_rows: int = 2000
    #: Round padded lengths up to this multiple (8 on GPUs: tensor-core shapes, few buckets).
    pad_multiple: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def default_settings(device: str, quick: bool = False, batch_size: int | None = None) -> BenchSettings:
    """GPU: batch 256, five agreeing windows of up to ten. CPU: batch 32, three of up to eight.

    ``quick`` (smoke runs): fewer samples, 1 s windows, at most five windows and one retry.
    """
    gpu = device.startswith("cuda")
    repeats = 3 if (quick or not gpu) else 5
    return BenchSettings(
        batch_size=batch_size or (256 if gpu else 32),
        latency_samples=50 if quick else (200 if gpu else 100),
        min_window_s=1.0 if quick else 2.0,
        repeats=repeats,
        max_repeats=5 if quick else (10 if gpu else 8),
        max_retries=1 if quick else 2,
        max_rows=1000 if quick else 2000,
        pad_multiple=8 if gpu else 1,
    )


def measure_latency(runner: Runner, encoded: Encoded, samples: int, warmup: int = 5, multiple_of: int = 1) -> Latency:
    """Batch-1 latency over the first ``samples`` rows (a random sample of real lengths).

    Other processes' CPU use meanwhile is recorded: a p95 far above the p50 on a busy
    machine is contention, not the model, and the record says so.
    """
    n = min(samples, len(encoded))
    host = [encoded.batch([i], multiple_of=multiple_of) for i in range(n)]
    rows = [runner.prepare(r) for r in host]
    for batch in rows[:warmup]:
        runner(batch)
    times = []
    start = cpu_snapshot()
    for batch in rows:
        t0 = time.perf_counter()
        runner(batch)
        times.append((time.perf_counter() - t0) * 1000.0)
    usage = cpu_usage(start, cpu_snapshot())
    # Batch-1 times of short and long rows differ by more than any per-token normalisation
    # evens out (per-call overhead), so only other processes' CPU use judges contention here.
    reasons = contention_reasons(usage, None)
    return Latency(
        p50=float(np.percentile(times, 50)),
        p95=float(np.percentile(times, 95)),
        mean=float(np.mean(times)),
        batch_size=1,
        samples=n,
        p95_over_p50=float(np.percentile(times, 95) / max(np.percentile(times, 50), 1e-9)),
        other_cpu_share=usage.other_share,
        contended=bool(reasons),
        contention=reasons,
    )


# -- workloads and windows ------------------------------------------------------------------
@dataclass
class Workload:
    """A runner with its benchmark batches prepared once, so windows time only the calls.

    A window runs whole passes over the first ``pass_batches`` batches (a random sample of
    the real lengths), so every window of every workload sharing a plan covers the same rows.
    """

    name: str
    runner: Runner
    batches: list
    sizes: list[int]
    tokens: list[int]
    shapes: list[tuple[int, int]]
    #: Seconds per batch, from the warm-up.
    batch_s: float
    pass_batches: int = 1


def prepare_workload(name: str, runner: Runner, encoded: Encoded, settings: BenchSettings) -> Workload:
    """Length-sorted batches (little padding) visited in a shuffled order, uploaded and warmed up."""
    order = sorted_batches(encoded.lengths, settings.batch_size)
    random.Random(0).shuffle(order)
    host = [encoded.batch(idx, multiple_of=settings.pad_multiple) for idx in order]
    shapes = [(len(b["input_ids"]), int(b["input_ids"].shape[1])) for b in host]
    # Inputs are uploaded once where the runner can hold them on its device (IO binding).
    batches = [runner.prepare(b) for b in host]
    times = []
    for batch in batches[: max(1, settings.warmup_batches)]:
        t0 = time.perf_counter()
        runner(batch)
        times.append(time.perf_counter() - t0)
    # The first call pays for lazy initialisation; the rest say what a batch costs.
    batch_s = statistics.median(times[1:] or times)
    return Workload(name, runner, batches, [s[0] for s in shapes], [s[0] * s[1] for s in shapes], shapes, batch_s)


def plan_passes(workloads: list[Workload], min_s: float) -> None:
    """One pass of the slowest workload lasts about ``min_s``; all share that batch count."""
    slowest = max(w.batch_s for w in workloads)
    n = min(len(w.batches) for w in workloads)
    k = max(1, min(n, math.ceil(min_s / max(slowest, 1e-6))))
    for w in workloads:
        w.pass_batches = k


@dataclass
class Window:
    """One energy window over a workload, with its CPU time and contention verdict."""

    workload: str
    measurement: Measurement
    sequences: int
    batch_seconds: list[float]
    batch_tokens: list[int]
    tail: float | None
    reasons: list[str]
    #: Run again because it was contended (not used for any figure).
    retried: bool = False
    #: Among the windows the figures come from.
    used: bool = False

    @property
    def contended(self) -> bool:
        return bool(self.reasons)

    @property
    def per_inference_j(self) -> float | None:
        j = self.measurement.joules
        return j / self.sequences if j is not None and self.sequences else None

    @property
    def cpu_s_per_inference(self) -> float | None:
        c = self.measurement.cpu_s
        return c / self.sequences if c is not None and self.sequences else None

    @property
    def throughput(self) -> float:
        return self.sequences / self.measurement.seconds if self.measurement.seconds > 0 else 0.0

    def result(self) -> WindowResult:
        """The window as records keep it."""
        usage = self.measurement.cpu_usage
        return WindowResult(
            **self.measurement.to_dict(),
            workload=self.workload,
            sequences=self.sequences,
            batches=len(self.batch_seconds),
            per_inference_j=self.per_inference_j,
            cpu_s_per_inference=self.cpu_s_per_inference,
            other_cpu_share=usage.other_share if usage else None,
            tail_ratio=self.tail,
            contended=self.contended,
            contention=list(self.reasons),
            retried=self.retried,
            used=self.used,
        )


def run_window(meter: EnergyMeter, name: str, workload: Workload, min_s: float,
               on_progress: Callable[[float], None] | None = None) -> Window:
    """Whole passes over the workload's pass batches inside one energy window, until it lasts ``min_s``."""
    k = workload.pass_batches
    batches, sizes, tokens = workload.batches[:k], workload.sizes[:k], workload.tokens[:k]
    runner = workload.runner
    seconds: list[float] = []
    sequences = 0
    with meter.window(name) as w:
        start = last = time.perf_counter()
        while True:
            for batch, size in zip(batches, sizes):
                runner(batch)
                now = time.perf_counter()
                seconds.append(now - last)
                if on_progress:
                    on_progress(now - last)
                last = now
                sequences += size
            if last - start >= min_s:
                break
    batch_tokens = tokens * (len(seconds) // k)
    tail = tail_ratio(seconds, batch_tokens)
    return Window(workload.name, w, sequences, seconds, batch_tokens, tail, contention_reasons(w.cpu_usage, tail))


# -- unpaired energy ------------------------------------------------------------------------------
def energy_summary(series: Series[Window], meter: EnergyMeter, settings: BenchSettings, idle: Measurement | None,
                   min_s: float, workload: Workload, converged_on: str = "energy per inference") -> Energy:
    """The energy block of a record: figures from the series' ``used`` windows; its ``units`` are every one run."""
    windows, used, converged, retries = series.units, series.used, series.converged, series.retries
    per_inf = [w.per_inference_j for w in used]
    complete = all(v is not None for v in per_inf) and bool(per_inf)
    idle_w = idle.watts if idle is not None else None
    dynamic = [max(0.0, w.measurement.joules - idle_w * w.measurement.seconds) / w.sequences
               for w in used if idle_w is not None and w.measurement.joules is not None]
    cross = [w.measurement.crosscheck_j / w.sequences for w in used if w.measurement.crosscheck_j is not None]
    cpu = [w.cpu_s_per_inference for w in used]
    flags: list[str] = []
    for w in windows:
        flags += [f for f in w.measurement.flags if f not in flags]
    kept_contended = [w for w in used if w.contended]
    if kept_contended:
        flags.append(f"contended ({len(kept_contended)} of {len(used)} windows kept after "
                     f"{retries} retries: {kept_contended[0].reasons[0]})")
    known = [v for v in per_inf if v is not None]
    central = statistics.median(known) if complete else None
    return Energy(
        batch_size=settings.batch_size,
        repeats=len(used),
        windows_run=len(windows),
        min_window_s=min_s,
        per_inference_j=central,
        # Estimated CPU figures: the same CPU time under each named power model (green.evaluate.band).
        band=band_for_meter(meter, central),
        per_inference_j_repeats=known,
        spread=spread(per_inf),
        spread_target=settings.spread_target,
        converged=converged,
        converged_on=converged_on,
        max_repeats=settings.max_repeats,
        cpu_s_per_inference=statistics.median([c for c in cpu if c is not None]) if cpu and None not in cpu else None,
        cpu_s_per_inference_repeats=cpu,
        cpu_spread=spread(cpu),
        dynamic_per_inference_j=statistics.median(dynamic) if complete and dynamic else None,
        idle_power_w=idle_w,
        throughput_per_s=statistics.median(w.throughput for w in used),
        source="+".join(sorted({w.measurement.source for w in windows})),
        estimate=any(w.measurement.estimate for w in windows),
        attribution="+".join(sorted({w.measurement.attribution or "none" for w in used})),
        crosscheck_per_inference_j=statistics.median(cross) if cross else None,
        crosscheck_source=meter.crosscheck.source if meter.crosscheck else None,
        contended=bool(kept_contended),
        contended_windows=len(kept_contended),
        retries=retries,
        contention_limits={"other_share_max": OTHER_SHARE_MAX, "tail_ratio_max": TAIL_RATIO_MAX},
        thread_wait=threads.describe(),
        flags=flags,
        windows=[w.result() for w in windows],
        batch_shapes=list(workload.shapes[: workload.pass_batches]),
    )


def warn_if_contended(energy: Energy, what: str) -> None:
    """Tell the user (the CLI shows green's warnings) when a figure kept contended windows."""
    if energy.contended:
        warnings.warn(f"{what}: {energy.contended_windows} measurement window(s) ran while other processes "
                      "used the CPU, even after retries; the figures are marked contended", stacklevel=2)
    if energy.converged is False:
        got = "unknown" if energy.spread is None else f"{energy.spread:.1%}"
        warnings.warn(f"{what}: energy windows did not agree within {energy.spread_target or 0:.0%} after "
                      f"{energy.repeats} (spread {got}); the record says so", stacklevel=2)


def measure_energy(runner: Runner, encoded: Encoded, meter: EnergyMeter, settings: BenchSettings,
                   idle: Measurement | None = None, label: str = "energy") -> Energy:
    """Energy per inference, CPU-seconds per inference and throughput at ``settings.batch_size``."""
    return measure_workload(prepare_workload(label, runner, encoded, settings), meter, settings, idle)


def measure_workload(workload: Workload, meter: EnergyMeter, settings: BenchSettings,
                     idle: Measurement | None = None, window_prefix: str = "bench", plan: bool = True) -> Energy:
    """:func:`measure_energy` for a prepared workload (``plan=False`` keeps its ``pass_batches``)."""
    from green.progress import progress_bar

    label = workload.name
    min_s = max(settings.min_window_s, meter.min_window_s)
    if plan:
        plan_passes([workload], min_s)
    with progress_bar() as bar:
        progress = WindowProgress(bar, f"{label}: energy windows (s)", min_s, settings.repeats)

        def one(i: int) -> Window:
            w = run_window(meter, f"{window_prefix}-b{settings.batch_size}-{i}", workload, min_s, progress.advance)
            progress.unit_done()
            return w

        series = repeat_until_stable(one, lambda w: w.per_inference_j, settings, progress.more)
    return energy_summary(series, meter, settings, idle, min_s, workload)
