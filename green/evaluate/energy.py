"""The EnergyMeter: the one place green asks for energy.

Everything else opens a window and reads the result::

    meter = EnergyMeter.for_device("cpu")
    with meter.window("infer") as w:
        run_batches()
    print(w.joules, w.seconds, w.source)

A window reads every primary backend's cumulative counter at both ends (Zeus style),
so windows nest freely. If a primary backend fails inside a window (counter wraps
past what can be corrected, stalls, goes backwards, disappears, loses permission),
the window falls back to the meter's fallback backend, which ran alongside, and says
so in ``source`` and ``flags``. With no valid fallback ``joules`` is ``None``: green
never reports a made-up figure.

Every window also records the CPU time this process used (``cpu_s``, all threads) and
the CPU time every other process used meanwhile (``other_cpu_s``, from /proc/stat), so
a figure taken while something else ran on the machine can be told apart.
``attribution`` says what the joules cover: ``process-cpu-time`` (an estimate charged to
this process's CPU time), ``machine`` (a whole-machine counter or estimate) or
``device`` (a GPU's own counter).
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from green import interrupts
from green.evaluate.backends.base import EnergyBackend, MeasurementError
from green.evaluate.contention import CpuSnapshot, CpuUsage, cpu_snapshot, cpu_usage, machine_cpus
from green.results import Reading

log = logging.getLogger(__name__)

#: A window must last at least this many counter update periods to be reported unflagged.
MIN_PERIODS_PER_WINDOW = 10


class Measurement(Reading):
    """The energy of one named window as the meter fills it in (fields: :class:`~green.results.Reading`)."""

    name: str
    seconds: float = 0.0

    @property
    def cpu_usage(self) -> CpuUsage | None:
        """This process's and other processes' CPU use during the window; None where CPU time was not read."""
        if self.cpu_s is None:
            return None
        return CpuUsage(self.seconds, self.cpu_s, self.other_cpu_s, self.cpus or machine_cpus())

    @property
    def watts(self) -> float | None:
        """Mean power over the window (joules over seconds); None when the energy is unknown."""
        if self.joules is None or self.seconds <= 0:
            return None
        return self.joules / self.seconds

    @property
    def valid(self) -> bool:
        """True when the window has an energy figure."""
        return self.joules is not None

    def to_dict(self) -> dict:
        """Every field, in SI units (J, s, W), for records."""
        return self.model_dump(mode="json") | {"watts": self.watts}


@dataclass
class _Open:
    started: float
    tokens: dict[int, object]
    fallback_token: object | None
    crosscheck_token: object | None
    errors: dict[str, str] = field(default_factory=dict)
    cpu: CpuSnapshot | None = None


class EnergyMeter:
    """Measures named, nestable windows with one or more backends.

    Args:
        primary: backends whose sum is the window's energy (e.g. one NVML backend and RAPL).
        fallback: runs alongside and replaces the primary figure when a primary backend fails.
        crosscheck: runs alongside and is reported beside the primary figure (codecarbon).
        sync: called at both window edges (``torch.cuda.synchronize`` on a GPU), so queued
            kernels are charged to the window that launched them.
    """

    def __init__(
        self,
        primary: list[EnergyBackend],
        fallback: EnergyBackend | None = None,
        crosscheck: EnergyBackend | None = None,
        sync: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not primary:
            raise ValueError("an EnergyMeter needs at least one primary backend")
        self.primary = list(primary)
        self.fallback = fallback
        self.crosscheck = crosscheck
        self._sync = sync or (lambda: None)
        self._clock = clock
        self._open: dict[str, _Open] = {}
        self._cpus = machine_cpus()

    # -- description -------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The primary counters' names joined with '+' (e.g. ``nvml-energy-counter``, ``codecarbon-estimate``)."""
        return "+".join(b.source for b in self.primary)

    @property
    def estimate(self) -> bool:
        """True when any primary counter is a model, not a hardware reading."""
        return any(b.estimate for b in self.primary)

    @property
    def attribution(self) -> str:
        """What the figure is charged to (``device``, ``machine``, ``process-cpu-time``)."""
        return "+".join(sorted({b.attribution for b in self.primary}))

    @property
    def update_period_s(self) -> float:
        """The slowest primary counter's update period: windows must be much longer."""
        return max(b.update_period_s for b in self.primary)

    @property
    def min_window_s(self) -> float:
        """The shortest window that spans enough counter updates to mean something."""
        return MIN_PERIODS_PER_WINDOW * self.update_period_s

    def describe(self) -> dict:
        """Counters, update period, domains, fallback and crosscheck, for ``green meters`` and records."""
        return {
            "source": self.source,
            "estimate": self.estimate,
            "update_period_s": self.update_period_s,
            "attribution": self.attribution,
            "domains": [d for b in self.primary for d in b.domains()],
            "fallback": self.fallback.source if self.fallback else None,
            "crosscheck": self.crosscheck.source if self.crosscheck else None,
        }

    # -- windows -----------------------------------------------------------------------
    def begin_window(self, name: str) -> None:
        """Open the window ``name``: read every counter (and this process's CPU time) now."""
        interrupts.check()  # a Ctrl-C some library swallowed stops the run here, not at its end
        if name in self._open:
            raise ValueError(f"energy window {name!r} is already open")
        self._sync()
        tokens: dict[int, object] = {}
        errors: dict[str, str] = {}
        for i, backend in enumerate(self.primary):
            try:
                tokens[i] = backend.begin()
            except MeasurementError as exc:
                errors[backend.source] = str(exc)
        fallback_token = self._begin_quietly(self.fallback)
        # A crosscheck that is also the fallback runs once and serves both.
        shared = self.crosscheck is self.fallback
        crosscheck_token = None if shared else self._begin_quietly(self.crosscheck)
        # CPU time is read innermost, so starting a tracker is not charged to the window.
        self._open[name] = _Open(self._clock(), tokens, fallback_token, crosscheck_token, errors, cpu_snapshot())

    def end_window(self, name: str) -> Measurement:
        """Close the window ``name`` and return its :class:`Measurement` (flags say what went wrong)."""
        if name not in self._open:
            raise ValueError(f"energy window {name!r} was never opened")
        self._sync()
        ended = self._clock()
        state = self._open.pop(name)
        m = Measurement(name=name, seconds=ended - state.started)
        if state.cpu is not None:
            usage = cpu_usage(state.cpu, cpu_snapshot(), self._cpus)
            m.cpu_s, m.other_cpu_s, m.cpus = usage.process_s, usage.other_s, usage.cpus

        per_domain: dict[str, float] = {}
        errors = dict(state.errors)
        for i, backend in enumerate(self.primary):
            if i not in state.tokens:
                continue
            try:
                per_domain.update(backend.end(state.tokens[i], m.seconds))
            except MeasurementError as exc:
                errors[backend.source] = str(exc)

        fallback = self._end_quietly(self.fallback, state.fallback_token, m.seconds)
        if self.crosscheck is self.fallback:
            cross = fallback
        else:
            cross = self._end_quietly(self.crosscheck, state.crosscheck_token, m.seconds)
        if cross is not None:
            m.crosscheck_j = sum(cross.values())
            m.crosscheck_source = self.crosscheck.source  # type: ignore[union-attr]
            m.emissions_kg = getattr(self.crosscheck, "last_emissions_kg", None)

        if not errors:
            m.joules = sum(per_domain.values())
            m.per_domain_j = per_domain
            m.source = self.source
            m.estimate = self.estimate
            m.attribution = self.attribution
        else:
            reason = "; ".join(f"{src}: {msg}" for src, msg in errors.items())
            if fallback is not None:
                m.joules = sum(fallback.values())
                m.per_domain_j = fallback
                m.source = self.fallback.source  # type: ignore[union-attr]
                m.estimate = self.fallback.estimate  # type: ignore[union-attr]
                m.attribution = self.fallback.attribution  # type: ignore[union-attr]
                m.flags.append(f"fallback ({reason})")
                warnings.warn(
                    f"energy window {name!r}: {reason}; reporting {m.source} instead",
                    stacklevel=2,
                )
            else:
                m.flags.append(f"unmeasured ({reason})")
                warnings.warn(f"energy window {name!r} could not be measured: {reason}", stacklevel=2)

        if m.valid and m.seconds < self.min_window_s and not m.estimate:
            m.flags.append(
                f"short-window ({m.seconds:.3f} s < {self.min_window_s:.3f} s, "
                f"{MIN_PERIODS_PER_WINDOW} counter periods)"
            )
            warnings.warn(
                f"energy window {name!r} lasted {m.seconds:.3f} s, under {MIN_PERIODS_PER_WINDOW} "
                "updates of the counter: its figure is coarse",
                stacklevel=2,
            )
        if m.joules == 0.0:
            m.flags.append("zero-energy")
            warnings.warn(f"energy window {name!r} measured 0 J", stacklevel=2)
        return m

    @contextmanager
    def window(self, name: str) -> Iterator[Measurement]:
        """``with meter.window("infer") as w:``; ``w`` is filled in when the block exits."""
        self.begin_window(name)
        result = Measurement(name=name)
        try:
            yield result
        finally:
            done = self.end_window(name)
            result.__dict__.update(done.__dict__)

    def idle_power_w(self, seconds: float = 2.0) -> Measurement:
        """Measure the device doing nothing, so dynamic energy can be told from total."""
        seconds = max(seconds, self.min_window_s)
        with self.window("idle") as w:
            time.sleep(seconds)
        return w

    def close(self) -> None:
        """Release every backend (NVML handles, codecarbon trackers)."""
        for backend in [*self.primary, self.fallback, self.crosscheck]:
            if backend is not None:
                backend.close()

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def _begin_quietly(backend: EnergyBackend | None) -> object | None:
        if backend is None:
            return None
        try:
            return backend.begin()
        except MeasurementError as exc:
            log.warning("%s could not start a window: %s", backend.source, exc)
            return None

    @staticmethod
    def _end_quietly(
        backend: EnergyBackend | None, token: object | None, seconds: float
    ) -> dict[str, float] | None:
        if backend is None or token is None:
            return None
        try:
            return backend.end(token, seconds)
        except MeasurementError as exc:
            log.warning("%s could not end a window: %s", backend.source, exc)
            return None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def for_device(
        cls,
        device: str,
        country: str = "USA",
        region: str | None = None,
        crosscheck: bool = False,
    ) -> "EnergyMeter":
        """The best meter this machine offers for work on ``device`` ("cpu" or "cuda[:N]")."""
        from green.evaluate.backends.discover import build_meter

        return build_meter(cls, device, country=country, region=region, crosscheck=crosscheck)
