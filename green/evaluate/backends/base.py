"""The interface every energy backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod


class MeasurementError(RuntimeError):
    """A backend could not produce a correct figure for a window (never a guess)."""


class BackendUnavailable(RuntimeError):
    """The hardware or permission a backend needs is not there; the message says why."""


class EnergyBackend(ABC):
    """Something that can tell the energy of a window.

    ``begin`` returns a token; ``end(token, seconds)`` returns joules per domain for the
    window since that token. Both raise :class:`MeasurementError` rather than guess.
    """

    #: Label carried by every figure this backend produces (e.g. ``nvml-energy-counter``).
    source: str = "unknown"
    #: True when the figure is modelled, not read from a hardware counter.
    estimate: bool = False
    #: How often the underlying counter advances, in seconds.
    update_period_s: float = 0.001
    #: What the figure covers: ``machine`` (everything running on it), ``device`` (one
    #: accelerator's own counter) or ``process-cpu-time`` (charged to this process's CPU time).
    attribution: str = "machine"

    @abstractmethod
    def domains(self) -> list[str]:
        """Names of what is measured, e.g. ``["gpu:0"]`` or ``["package-0", "dram-0"]``."""

    @abstractmethod
    def begin(self) -> object: ...

    @abstractmethod
    def end(self, token: object, seconds: float) -> dict[str, float]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads or handles."""


class CounterBackend(EnergyBackend):
    """A backend over cumulative energy counters: a window is the difference of two reads."""

    @abstractmethod
    def read(self) -> dict[str, float]:
        """Cumulative joules per domain; raises MeasurementError when unreadable."""

    def begin(self) -> dict[str, float]:
        return self.read()

    def end(self, token: object, seconds: float) -> dict[str, float]:
        start: dict[str, float] = token  # type: ignore[assignment]
        end = self.read()
        if set(end) != set(start):
            raise MeasurementError(f"domains changed during the window ({sorted(start)} -> {sorted(end)})")
        return {d: self.difference(d, start[d], end[d], seconds) for d in start}

    def difference(self, domain: str, start: float, end: float, seconds: float) -> float:
        """Joules between two reads; subclasses handle wrap-around and stalls."""
        if end < start:
            raise MeasurementError(f"{domain} counter went backwards ({start:.3f} J -> {end:.3f} J)")
        return end - start
