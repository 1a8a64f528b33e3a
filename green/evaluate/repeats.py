"""Repeating measurement units (windows, or paired rounds) until they agree, and showing how long it takes.

A unit that ran while other processes used the CPU is run again while retries remain;
the measurement stops when the last ``repeats`` units agree within ``spread_target``
((max - min) / median) or when ``max_repeats`` were kept. Spread is unknown (None), not
zero, below two values.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

if TYPE_CHECKING:
    from green.evaluate.bench import BenchSettings

U = TypeVar("U")


def spread(values: list[float | None]) -> float | None:
    """(max - min) / median; None with fewer than two values, or any missing: unknown, not zero."""
    if len(values) < 2 or any(v is None for v in values):
        return None
    med = statistics.median(values)  # type: ignore[type-var]
    return (max(values) - min(values)) / med if med else None  # type: ignore[type-var, operator]


@dataclass
class Series(Generic[U]):
    """Units (windows, or paired rounds) run for one measurement, and which ones the figures use."""

    units: list[U] = field(default_factory=list)
    used: list[U] = field(default_factory=list)
    converged: bool | None = None
    retries: int = 0
    spread: float | None = None


def repeat_until_stable(run_unit: Callable[[int], U], value: Callable[[U], float | None], settings: BenchSettings,
                        on_more: Callable[[int], None] | None = None) -> Series[U]:
    """Run units until the last ``repeats`` agree within the target, or ``max_repeats`` were used.

    A contended unit is marked ``retried`` and run again while retries remain. Converged:
    the figures come from the agreeing units. Not converged: from every unit kept. A
    single repeat has no spread: ``converged`` and ``spread`` are None (unknown).
    """
    s: Series[U] = Series()
    kept: list[U] = []
    need = max(1, settings.repeats)
    cap = max(need, settings.max_repeats)
    while True:
        unit = run_unit(len(s.units))
        s.units.append(unit)
        if getattr(unit, "contended") and s.retries < settings.max_retries:
            unit.retried = True  # type: ignore[attr-defined]
            s.retries += 1
            if on_more:
                on_more(len(s.units))
            continue
        kept.append(unit)
        if need == 1:
            s.used = kept
            break
        if len(kept) >= need:
            last = spread([value(u) for u in kept[-need:]])
            if last is not None and last <= settings.spread_target:
                s.used, s.converged = kept[-need:], True
                break
        if len(kept) >= cap:
            s.used, s.converged = kept, False
            break
        if on_more and len(kept) >= need:
            on_more(len(s.units))
    for u in s.used:
        u.used = True  # type: ignore[attr-defined]
    s.spread = spread([value(u) for u in s.used])
    return s


class WindowProgress:
    """A progress bar in seconds of measurement whose total follows how long windows really take.

    Windows end on whole passes and repeat until they agree, so the total is re-estimated
    after each unit (window, or paired round) from the seconds the finished ones took.
    """

    def __init__(self, bar, description: str, unit_s: float, planned: int) -> None:
        self.bar, self.unit_s, self.planned = bar, unit_s, planned
        self.elapsed, self.done = 0.0, 0
        self.task = bar.add_task(description, total=round(planned * unit_s))

    def advance(self, dt: float) -> None:
        self.elapsed += dt
        self.bar.update(self.task, advance=dt)

    def unit_done(self) -> None:
        self.done += 1
        self.unit_s = self.elapsed / self.done
        self._retotal()

    def more(self, _units: int = 0) -> None:
        self.planned += 1
        self._retotal()

    def _retotal(self) -> None:
        self.bar.update(self.task, total=max(round(self.elapsed), round(self.planned * self.unit_s)))
