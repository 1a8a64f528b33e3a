"""Re-measure an artifact's energy with explicit settings: real lengths, or a fixed grid.

``green measure`` adds a record of kind ``measurement`` beside the evaluation records;
it replaces nothing, and reports keep using evaluation records for the Pareto chart.
With a ``reference`` (``--pair``) every cell alternates the artifact and the reference
on the same batches, and carries the paired ratios.
"""

from __future__ import annotations

import random
from dataclasses import replace

from green.batching import Encoded
from green.carbon import grams_co2e
from green.evaluate.cell import Against, Rig, measure_cell
from green.evaluate.evaluation import Subject, device_info, package_versions, runtime_options
from green.evaluate.inference import inference_for
from green.evaluate.paired import Reference
from green.models import load_tokenizer
from green.records import Measured, Origin, Record, build_record
from green.results import Cell, Window
from green.runtime import device_name, open_runner


def fixed_length(n_rows: int, length: int, vocab_size: int, pad_id: int, seed: int = 0) -> Encoded:
    """Synthetic rows of exactly ``length`` tokens, for the batch x sequence-length grid."""
    rng = random.Random(seed)
    return Encoded([[rng.randrange(1000, vocab_size) for _ in range(length)] for _ in range(n_rows)], pad_id, length)


def measure_artifact(
    subject: Subject,
    batch_sizes: list[int],
    grid_lengths: list[int] | None = None,
    reference: Reference | None = None,
    max_length: int = 128,
) -> Record:
    """A ``measurement`` record of ``subject`` at each batch size (and, on a grid, each length)."""
    artifact, recipe, task, data = subject.artifact, subject.recipe, subject.task, subject.data
    device, meter, settings = subject.device, subject.meter, subject.settings
    country, region = subject.country, subject.region
    tokenizer = load_tokenizer(str(artifact.file("tokenizer")))
    # As its evaluation ran it: the recipe's runtime options (CUDA graphs, sparse kernels) come with the run.
    runner = open_runner(artifact, device, runtime_options(recipe))
    # The input length the baseline was trained and evaluated at (summarization's CPU budgets: 64).
    real = task.encode(tokenizer, data.test.inputs[: settings.max_rows], max_length)
    # Generative tasks: one inference is one whole generation, with the settings evaluation uses.
    generation = task.inference_settings(artifact.path, recipe.evaluate.generation)
    inference = inference_for(task, generation)
    rig = Rig(meter, settings, meter.idle_power_w(settings.idle_s))
    cells: list[Cell] = []
    shapes = [(None, real)] if not grid_lengths else [
        (L, fixed_length(max(batch_sizes) * 4, L, tokenizer.vocab_size, real.pad_id)) for L in grid_lengths
    ]
    ref_enc: dict[int | None, Encoded] = {}  # the reference runs the very same rows; on the grid, the same ids
    if reference is not None:
        ref_enc[None] = reference.encode(task, data.test.inputs[: settings.max_rows], max_length)
    for length, enc in shapes:
        for b in batch_sizes:
            against = Against(reference, ref_enc.get(length, enc), ("measure", length)) if reference else None
            e, paired = measure_cell(inference, runner, recipe.name, enc, replace(rig, settings=replace(settings, batch_size=b)),
                                     against, what=f"{recipe.name} (batch {b}, length {length or 'real'})")
            per = e.per_inference_j
            cells.append(Cell(
                batch_size=b, seq_len=length or "real", energy=e, paired=paired,
                wh_per_million=per * 1e6 / 3600 if per is not None else None,
                gco2e_per_million=grams_co2e(per * 1e6, country, region) if per is not None else None,
                efficiency=inference.efficiency(artifact.flops, e, device_name(device))))
    latency = inference.latency(runner, real, settings.latency_samples)
    first = cells[0]
    energy = first.energy.model_copy(update={"idle": Window(**rig.idle.to_dict()) if rig.idle else None})
    origin = Origin(recipe=recipe, artifact=artifact, task=task.metric_description(), data=data.describe(),
                    device=device_info(device, runner,
                                       artifact.target_device if artifact.target_device != "any" else None),
                    settings=settings.to_dict() | {"batch_sizes": batch_sizes, "grid_lengths": grid_lengths},
                    versions=package_versions(), country=country, region=region)
    measured = Measured(energy=energy, latency=latency, paired=first.paired, cells=cells,
                        efficiency=first.efficiency, generation=generation or None)
    return build_record("measurement", origin, measured)
