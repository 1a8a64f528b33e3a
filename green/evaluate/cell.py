"""One measured cell (a batch size at one set of lengths): energy windows, paired or not, for any task.

Evaluation and ``green measure`` both come through here, so classification and generation
share windows, repeats, retries, contention checks and pairing. For a generative task
every call is a whole ``generate`` and the encoder/decoder split is added afterwards.
"""

from __future__ import annotations

from green.batching import Encoded
from green.evaluate.bench import BenchSettings, measure_workload, prepare_workload, warn_if_contended
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.paired import Reference, measure_paired, warn_if_unsettled
from green.runtime.base import Runner
from green.tasks.base import Task


def measure_cell(
    task: Task,
    runner: Runner,
    label: str,
    encoded: Encoded,
    meter: EnergyMeter,
    settings: BenchSettings,
    idle: Measurement | None,
    generation: dict | None = None,
    reference: Reference | None = None,
    reference_encoded: Encoded | None = None,
    key: object = "test",
    what: str | None = None,
) -> tuple[dict, dict | None]:
    """The energy block of ``runner`` on ``encoded``, and the paired block (None without a ``reference``).

    ``reference_encoded`` is the same rows as the reference's tokenizer encodes them;
    ``key`` names those rows for the reference's cache of prepared batches.
    """
    what = what or label
    gen = generation if task.generative else None
    if gen is not None:
        from green.evaluate.generation import generation_workload

        target = generation_workload(label, runner, encoded, settings, gen)
    else:
        target = prepare_workload(label, runner, encoded, settings)
    paired = None
    if reference is None:
        energy = measure_workload(target, meter, settings, idle, window_prefix="bench" if gen is None else "generate")
        warn_if_contended(energy, what)
    else:
        # The reference generates as it would on its own: its generation_config, no recipe overrides.
        ref_gen = task.inference_settings(reference.artifact.path, None) if gen is not None else None
        ref = reference.workload(reference_encoded if reference_encoded is not None else encoded, settings, key, ref_gen)
        energy, paired = measure_paired(target, ref, meter, settings, idle=idle, reference_label=reference.label)
        paired["reference_artifact"] = str(reference.artifact.path)
        warn_if_unsettled(paired, what)
    if gen is not None:
        from green.evaluate.generation import add_split

        add_split(energy, target, meter, settings, idle)
    return energy, paired
