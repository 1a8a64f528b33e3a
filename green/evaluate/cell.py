"""One measured cell (a batch size at one set of lengths): energy windows, paired or not, for any task.

Evaluation and ``green measure`` both come through here, so classification and generation
share windows, repeats, retries, contention checks and pairing. What one inference is
(one forward pass, or a whole ``generate`` whose energy is then split between encoder and
decoder) comes from the task's :class:`~green.evaluate.inference.Inference`.
"""

from __future__ import annotations

from green.batching import Encoded
from green.evaluate.bench import BenchSettings, measure_workload, warn_if_contended
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.inference import Inference, inference_for
from green.evaluate.paired import Reference, measure_paired, warn_if_unsettled
from green.runtime.base import Runner


def measure_cell(
    inference: Inference,
    runner: Runner,
    label: str,
    encoded: Encoded,
    meter: EnergyMeter,
    settings: BenchSettings,
    idle: Measurement | None,
    reference: Reference | None = None,
    reference_encoded: Encoded | None = None,
    key: object = "test",
    what: str | None = None,
) -> tuple[dict, dict | None]:
    """The energy block of ``runner`` on ``encoded``, and the paired block (None without a ``reference``).

    ``inference`` says what one inference is and how to time it (:mod:`green.evaluate.inference`);
    ``reference_encoded`` is the same rows as the reference's tokenizer encodes them;
    ``key`` names those rows for the reference's cache of prepared batches.
    """
    what = what or label
    target = inference.workload(label, runner, encoded, settings)
    paired = None
    if reference is None:
        energy = measure_workload(target, meter, settings, idle, window_prefix=inference.window_prefix)
        warn_if_contended(energy, what)
    else:
        # The reference runs as it would on its own: its own inference settings, no recipe overrides.
        ref_inference = inference_for(inference.task, inference.task.inference_settings(reference.artifact.path, None))
        ref = reference.workload(ref_inference, reference_encoded if reference_encoded is not None else encoded,
                                 settings, key)
        energy, paired = measure_paired(target, ref, meter, settings, idle=idle, reference_label=reference.label)
        paired["reference_artifact"] = str(reference.artifact.path)
        warn_if_unsettled(paired, what)
    inference.finish(energy, target, meter, settings, idle)
    return energy, paired
