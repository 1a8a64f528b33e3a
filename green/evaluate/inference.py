"""How one inference is run and timed, per kind of inference a task declares (``Task.inference``).

A task says what one inference is; this module knows how to benchmark each kind, so
nothing else in :mod:`green.evaluate` asks what kind of task it has. ``forward``: one
forward pass per input (a classified text, a tagged sentence). ``generate``: one whole
generation per input (a summary: the encoder once, the decoder per generated token),
whose energy is then split between encoder and decoder (:mod:`green.evaluate.generation`).
A new kind of inference is one class here and one registration.

>>> inference = inference_for(task, generation)                       # doctest: +SKIP
>>> workload = inference.workload("int8", runner, encoded, settings)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from green.batching import Encoded
from green.evaluate.bench import BenchSettings, Workload, measure_latency, prepare_workload
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.flops import BASIS, efficiency_of
from green.results import Energy, Latency
from green.runtime.base import Runner
from green.tasks.base import Task


@dataclass
class Inference:
    """One forward pass per input."""

    task: Task
    #: The task's inference settings (``Task.inference_settings``): generation settings, or none.
    settings: dict = field(default_factory=dict)
    #: How windows over it are named in records.
    window_prefix: ClassVar[str] = "bench"

    def workload(self, label: str, runner: Runner, encoded: Encoded, bench: BenchSettings) -> Workload:
        """The runner's benchmark batches, prepared once."""
        return prepare_workload(label, runner, encoded, bench)

    def latency(self, runner: Runner, encoded: Encoded, samples: int, multiple_of: int = 1) -> Latency:
        """Batch-1 latency of one inference."""
        return measure_latency(runner, encoded, samples, multiple_of=multiple_of)

    def finish(self, energy: Energy, workload: Workload, meter: EnergyMeter, bench: BenchSettings,
               idle: Measurement | None) -> None:
        """Anything measured after the energy windows (nothing, for one forward pass)."""

    def efficiency(self, flops_model: dict | None, energy: Energy, device_name: str) -> dict | None:
        """FLOPs per inference as the benchmark ran it, and joules per FLOP against the device's floor."""
        return efficiency_of(self.task.flops_per_inference(flops_model, energy), (flops_model or {}).get("basis", BASIS),
                             energy.per_inference_j, device_name)


@dataclass
class Generation(Inference):
    """One whole generation per input, with the task's generation settings; energy split encoder/decoder."""

    window_prefix: ClassVar[str] = "generate"

    def workload(self, label: str, runner: Runner, encoded: Encoded, bench: BenchSettings) -> Workload:
        from green.evaluate.generation import generation_workload

        return generation_workload(label, runner, encoded, bench, self.settings)

    def latency(self, runner: Runner, encoded: Encoded, samples: int, multiple_of: int = 1) -> Latency:
        from green.evaluate.generation import measure_generation_latency

        return measure_generation_latency(runner, encoded, self.settings, samples, multiple_of=multiple_of)

    def finish(self, energy: Energy, workload: Workload, meter: EnergyMeter, bench: BenchSettings,
               idle: Measurement | None) -> None:
        from green.evaluate.generation import add_split

        add_split(energy, workload, meter, bench, idle)


INFERENCES: dict[str, type[Inference]] = {"forward": Inference, "generate": Generation}


def inference_for(task: Task, settings: dict | None = None) -> Inference:
    """The benchmark strategy for the kind of inference ``task`` declares."""
    return INFERENCES[task.inference](task, dict(settings or {}))
