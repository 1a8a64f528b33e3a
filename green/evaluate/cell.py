"""One measured cell (a batch size at one set of lengths): energy windows, paired or not, for any task.

Evaluation and ``green measure`` both come through here, so classification and generation
share windows, repeats, retries, contention checks and pairing. What one inference is
(one forward pass, or a whole ``generate`` whose energy is then split between encoder and
decoder) comes from the task's :class:`~green.evaluate.inference.Inference`.
"""

from __future__ import annotations

from dataclasses import dataclass

from green.batching import Encoded
from green.evaluate.bench import BenchSettings, measure_workload, warn_if_contended
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.inference import Inference, inference_for
from green.evaluate.paired import Reference, measure_paired, warn_if_unsettled
from green.results import Energy, Paired
from green.runtime.base import Runner


@dataclass(frozen=True)
class Rig:
    """How cells are measured: the meter, the bench settings, and the idle power measured before them."""

    meter: EnergyMeter
    settings: BenchSettings
    idle: Measurement | None = None


@dataclass(frozen=True)
class Against:
    """A reference to pair with: the same rows as its own tokenizer encodes them, and their cache key."""

    reference: Reference
    encoded: Encoded | None = None
    #: Names the rows for the reference's cache of prepared batches.
    key: object = "test"


def measure_cell(inference: Inference, runner: Runner, label: str, encoded: Encoded, rig: Rig,
                 against: Against | None = None, what: str | None = None) -> tuple[Energy, Paired | None]:
    """The energy block of ``runner`` on ``encoded``, and the paired block (None without a reference).

    ``inference`` says what one inference is and how to time it (:mod:`green.evaluate.inference`);
    ``what`` names the cell in warnings.
    """
    what = what or label
    meter, settings, idle = rig.meter, rig.settings, rig.idle
    target = inference.workload(label, runner, encoded, settings)
    paired = None
    if against is None:
        energy = measure_workload(target, meter, settings, idle, window_prefix=inference.window_prefix)
        warn_if_contended(energy, what)
    else:
        reference = against.reference
        # The reference runs as it would on its own: its own inference settings, no recipe overrides.
        ref_inference = inference_for(inference.task, inference.task.inference_settings(reference.artifact.path, None))
        ref = reference.workload(ref_inference, against.encoded if against.encoded is not None else encoded,
                                 settings, against.key)
        energy, paired = measure_paired(target, ref, meter, settings, idle=idle, reference_label=reference.label)
        paired.reference_artifact = str(reference.artifact.path)
        warn_if_unsettled(paired, what)
    inference.finish(energy, target, meter, settings, idle)
    return energy, paired
