"""Paired measurement: an artifact and its reference (the baseline) in alternating windows.

A ratio taken from two records measured at different times inherits whatever else ran
on the machine at each time: a baseline measured while another job ran looks expensive,
and every recipe looks good beside it. Here the two alternate in one session, in rounds
of one window each, the order flipping every round (AB, BA, AB...) so that load that
grows or fades during the session hits both sides alike. The ratio a user reads is the
median of the per-round ratios; its range is kept. Rounds repeat until the last
``repeats`` ratios agree within the target, and a round with a contended window is run
again (bounded), exactly as unpaired windows are (:mod:`green.evaluate.bench`).

>>> target = prepare_workload("int8", int8_runner, encoded, settings)         # doctest: +SKIP
>>> reference = prepare_workload("baseline", torch_runner, encoded, settings)  # doctest: +SKIP
>>> energy, paired = measure_paired(target, reference, meter, settings)       # doctest: +SKIP
>>> paired.energy_ratio, paired.energy_ratio_range                            # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any

from green.batching import Encoded
from green.evaluate.bench import BenchSettings, Window, Workload, energy_summary, plan_passes, run_window
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.repeats import Series, WindowProgress, repeat_until_stable, spread
from green.results import Energy, Paired

#: How the rounds were ordered, for the record.
ORDER = "alternating, order flipped every round (AB, BA, ...)"


@dataclass
class Reference:
    """The artifact others are paired with, opened once and reused for several measurements.

    ``green compress --recipe a --recipe b`` measures the baseline beside each recipe
    with one runner; its prepared batches are kept per batch size and row set.
    """

    label: str
    artifact: Any
    device: str
    #: How the reference runs (its recipe's runtime options: CUDA graphs, sparse kernels...).
    options: Any = None
    _runner: Any = None
    _tokenizer: Any = None
    _workloads: dict = field(default_factory=dict)

    @property
    def runner(self):
        if self._runner is None:
            from green.runtime import open_runner

            self._runner = open_runner(self.artifact, self.device, self.options)
        return self._runner

    def encode(self, task, texts: list[str], max_length: int = 128) -> Encoded:
        """``texts`` as the reference's own tokenizer encodes them."""
        if self._tokenizer is None:
            from green.models import load_tokenizer

            self._tokenizer = load_tokenizer(str(self.artifact.file("tokenizer")))
        return task.encode(self._tokenizer, texts, max_length)

    def workload(self, inference, encoded: Encoded, settings: BenchSettings, key: object) -> Workload:
        """The reference's batches for ``encoded`` under ``inference`` (cached under ``key`` and the settings)."""
        k = (key, settings.batch_size, settings.pad_multiple, settings.max_rows, type(inference).__name__,
             repr(sorted(inference.settings.items())))
        if k not in self._workloads:
            self._workloads[k] = inference.workload(self.label, self.runner, encoded, settings)
        return self._workloads[k]


@dataclass
class Round:
    """One window of the target and one of the reference, back to back."""

    index: int
    target: Window
    reference: Window
    retried: bool = False
    used: bool = False

    @property
    def contended(self) -> bool:
        return self.target.contended or self.reference.contended

    @property
    def energy_ratio(self) -> float | None:
        return _ratio(self.target.per_inference_j, self.reference.per_inference_j)

    @property
    def saved_per_inference_j(self) -> float | None:
        t, r = self.target.per_inference_j, self.reference.per_inference_j
        return r - t if t is not None and r is not None else None

    @property
    def cpu_ratio(self) -> float | None:
        return _ratio(self.target.cpu_s_per_inference, self.reference.cpu_s_per_inference)

    @property
    def throughput_ratio(self) -> float | None:
        return self.target.throughput / self.reference.throughput if self.reference.throughput else None


def _ratio(target: float | None, reference: float | None) -> float | None:
    return target / reference if target is not None and reference else None


def _median(values: list[float | None]) -> float | None:
    return statistics.median(values) if values and None not in values else None  # type: ignore[type-var]


def measure_paired(
    target: Workload,
    reference: Workload,
    meter: EnergyMeter,
    settings: BenchSettings,
    idle: Measurement | None = None,
    reference_label: str = "baseline",
) -> tuple[Energy, Paired]:
    """Alternate ``target`` and ``reference`` windows; returns (target's energy block, the paired block).

    The energy block has the same keys as :func:`~green.evaluate.bench.measure_energy`'s,
    from the target's windows of the rounds used. The paired block (a record's ``paired``
    field) holds the ratios, both sides' figures and how the rounds went.
    """
    from green.progress import progress_bar

    min_s = max(settings.min_window_s, meter.min_window_s)
    plan_passes([target, reference], min_s)
    with progress_bar() as bar:
        progress = WindowProgress(bar, f"{target.name} vs {reference.name}: energy windows (s)", 2 * min_s,
                                  settings.repeats)

        last: list[Workload] = []

        def window(i: int, w: Workload) -> Window:
            # Flipped order (AB, BA, AB) runs each side twice in a row at every round boundary, so
            # one window of each round follows its own side (warm) and the other follows the other
            # model (its weights and allocator pages evicted): which side pays alternates by round
            # and zig-zags the ratios. One untimed call first puts every window on warm caches.
            if not last or last[-1] is not w:
                w.runner(w.batches[0])
            last[:] = [w]
            return run_window(meter, f"pair-{i}-{w.name}", w, min_s, progress.advance)

        def one(i: int) -> Round:
            first, second = (target, reference) if i % 2 == 0 else (reference, target)
            a = window(i, first)
            b = window(i, second)
            progress.unit_done()
            return Round(i, a if first is target else b, b if first is target else a)

        series = repeat_until_stable(one, lambda r: r.energy_ratio, settings, progress.more)

    for r in series.units:  # a round's verdict is its windows' verdict
        for w in (r.target, r.reference):
            w.retried, w.used = r.retried, r.used
    used = series.used
    targets = Series(units=[r.target for r in series.units], used=[r.target for r in used],
                     converged=series.converged, retries=series.retries)
    energy = energy_summary(targets, meter, settings, idle, min_s, target, converged_on="paired energy ratio")
    ratios = [r.energy_ratio for r in used]
    known = [x for x in ratios if x is not None]
    paired = Paired(
        reference=reference_label,
        order=ORDER,
        rounds=len(used),
        rounds_run=len(series.units),
        per_inference_j=_median([r.target.per_inference_j for r in used]),
        reference_per_inference_j=_median([r.reference.per_inference_j for r in used]),
        energy_ratio=_median(ratios),
        energy_ratio_range=[min(known), max(known)] if known else None,
        energy_ratio_spread=spread(ratios),
        round_ratios=ratios,
        saved_per_inference_j=_median([r.saved_per_inference_j for r in used]),
        throughput_per_s=_median([r.target.throughput for r in used]),
        reference_throughput_per_s=_median([r.reference.throughput for r in used]),
        throughput_ratio=_median([r.throughput_ratio for r in used]),
        cpu_s_per_inference=_median([r.target.cpu_s_per_inference for r in used]),
        reference_cpu_s_per_inference=_median([r.reference.cpu_s_per_inference for r in used]),
        cpu_seconds_ratio=_median([r.cpu_ratio for r in used]),
        cpu_seconds_ratio_spread=spread([r.cpu_ratio for r in used]),
        converged=series.converged,
        spread_target=settings.spread_target,
        retries=series.retries,
        contended_rounds=sum(1 for r in used if r.contended),
        contended=any(r.contended for r in used),
        source=energy.source,
        estimate=energy.estimate,
        attribution=energy.attribution,
        reference_windows=[r.reference.result() for r in series.units],
    )
    return energy, paired


def warn_if_unsettled(paired: Paired, what: str) -> None:
    """Tell the user (the CLI shows green's warnings) when a paired ratio is not settled."""
    if paired.contended:
        warnings.warn(f"{what}: {paired.contended_rounds} of {paired.rounds} rounds against {paired.reference} "
                      "ran while other processes used the CPU, even after retries; the record marks them contended",
                      stacklevel=2)
    if paired.converged is False:
        got = paired.energy_ratio_spread
        warnings.warn(f"{what}: the ratio to {paired.reference} did not settle within "
                      f"{paired.spread_target or 0:.0%} in {paired.rounds} rounds (spread "
                      f"{'unknown' if got is None else format(got, '.1%')}); the record says so", stacklevel=2)
