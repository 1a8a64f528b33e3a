"""CPU time: what this process used in a window, what other processes used, and whether they got in the way.

On a shared machine wall time and whole-machine load say little about a model: another
job slows every batch down and raises the load an estimate is computed from. The CPU
time this process used (all its threads) is what it cost; the busy time the kernel
counts for the whole machine, minus ours, is what everyone else used meanwhile.

>>> start = cpu_snapshot()
>>> run_batches()                                  # doctest: +SKIP
>>> usage = cpu_usage(start, cpu_snapshot())
>>> usage.process_s, usage.other_share             # doctest: +SKIP
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")

#: A window is contended when other processes kept more than this share of the machine's
#: CPUs busy. Why 10 %: on the 2-core machine one other process spinning on one core is
#: 50 %, while daemons and the kernel stay under a few percent; a fifth of one core taken
#: from a model whose thread pool uses every core already delays each of its batches.
OTHER_SHARE_MAX = 0.10

#: A window is contended when its slowest batches (95th percentile of time per padded
#: token) take more than this multiple of its median. Why 2: batches of one window differ
#: in length, and per token they cost within about 1.5x of each other on a quiet machine
#: (padding, attention's quadratic term, per-call overhead); a batch that waits for the
#: CPU takes twice as long or more. This is the only signal where /proc/stat is absent.
TAIL_RATIO_MAX = 2.0

#: Fewer batches than this say nothing about a window's tail: it is not judged.
TAIL_MIN_BATCHES = 5


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative counters at one instant."""

    wall_s: float
    process_s: float
    #: Busy CPU time of the whole machine (all cores), or None without /proc/stat.
    machine_busy_s: float | None


@dataclass(frozen=True)
class CpuUsage:
    """CPU time during a window, in seconds."""

    wall_s: float
    #: This process, all its threads (user + system).
    process_s: float
    #: Every other process (and time the hypervisor gave to other machines), or None when unknown.
    other_s: float | None
    cpus: int

    @property
    def process_cores(self) -> float | None:
        """How many cores this process kept busy on average."""
        return self.process_s / self.wall_s if self.wall_s > 0 else None

    @property
    def other_share(self) -> float | None:
        """Share of the machine's CPU capacity other processes used (0 to 1)."""
        if self.other_s is None or self.wall_s <= 0:
            return None
        return min(1.0, self.other_s / (self.cpus * self.wall_s))

    def to_dict(self) -> dict:
        return {**asdict(self), "process_cores": self.process_cores, "other_share": self.other_share}


def machine_cpus() -> int:
    """CPUs this process may run on (its affinity), the capacity others compete for."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def process_cpu_seconds() -> float:
    """User + system CPU time of this process, every thread included."""
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)  # microsecond resolution where os.times has ticks
        return r.ru_utime + r.ru_stime
    except ImportError:  # Windows
        t = os.times()
        return t.user + t.system


def machine_busy_seconds(path: Path = PROC_STAT) -> float | None:
    """Busy CPU time of all cores since boot from /proc/stat, or None where there is none.

    Busy = user + nice + system + irq + softirq + steal: everything but idle and iowait.
    Steal counts because time the hypervisor gave to another machine is time our
    threads waited, exactly like time another process took. Guest time is already
    inside user and nice.
    """
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    try:
        values = [int(v) for v in fields[1:9]]
    except ValueError:
        return None
    values += [0] * (8 - len(values))
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _clock_ticks()


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def cpu_snapshot(proc_stat: Path = PROC_STAT) -> CpuSnapshot:
    return CpuSnapshot(time.perf_counter(), process_cpu_seconds(), machine_busy_seconds(proc_stat))


def cpu_usage(start: CpuSnapshot, end: CpuSnapshot, cpus: int | None = None) -> CpuUsage:
    """What this process and the others used between two snapshots.

    /proc/stat counts in clock ticks (10 ms) while our own time is exact, so "others"
    can read slightly below zero on an idle machine: it is clamped.
    """
    process = max(0.0, end.process_s - start.process_s)
    other = None
    if start.machine_busy_s is not None and end.machine_busy_s is not None:
        other = max(0.0, (end.machine_busy_s - start.machine_busy_s) - process)
    return CpuUsage(wall_s=end.wall_s - start.wall_s, process_s=process, other_s=other, cpus=cpus or machine_cpus())


def tail_ratio(batch_seconds: list[float], batch_tokens: list[int]) -> float | None:
    """95th percentile over median of the time per padded token of a window's batches.

    None with fewer than :data:`TAIL_MIN_BATCHES` batches: too few to have a tail.
    """
    if len(batch_seconds) < TAIL_MIN_BATCHES:
        return None
    per_token = sorted(s / max(1, n) for s, n in zip(batch_seconds, batch_tokens))
    median = statistics.median(per_token)
    if median <= 0:
        return None
    rank = 0.95 * (len(per_token) - 1)  # linear interpolation, as numpy's default percentile
    low = int(rank)
    high = min(low + 1, len(per_token) - 1)
    p95 = per_token[low] + (per_token[high] - per_token[low]) * (rank - low)
    return p95 / median


def contention_reasons(usage: CpuUsage | None, tail: float | None) -> list[str]:
    """Why a window counts as contended; empty when it does not."""
    reasons = []
    if usage is not None and usage.other_share is not None and usage.other_share > OTHER_SHARE_MAX:
        reasons.append(f"other processes used {usage.other_share:.0%} of {usage.cpus} CPUs "
                       f"(limit {OTHER_SHARE_MAX:.0%})")
    if tail is not None and tail > TAIL_RATIO_MAX:
        reasons.append(f"p95 batch time {tail:.1f}x its median (limit {TAIL_RATIO_MAX:.1f}x)")
    return reasons
