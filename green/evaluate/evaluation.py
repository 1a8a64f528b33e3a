"""Evaluate one artifact: the task's metrics on the test split, size, latency, throughput, energy.

The result is a :class:`~green.records.Record`; the artifact is only read. What the
metrics are, and what one inference is, the task decides.
"""

from __future__ import annotations

import importlib.metadata
import platform
import warnings
from dataclasses import dataclass

from green.artifacts import Artifact
from green.evaluate.bench import BenchSettings
from green.evaluate.cell import Against, Rig, measure_cell
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.inference import inference_for
from green.evaluate.paired import Reference
from green.models import load_tokenizer
from green.records import Measured, Origin, Record, build_record
from green.results import StepWindow, Window
from green.run_recipe import RunRecipe
from green.runtime import Runner, RuntimeOptions, device_name, open_runner
from green.tasks.base import Task, TaskData


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("green", "torch", "transformers", "optimum-onnx", "onnxruntime-gpu", "onnxruntime", "codecarbon",
                 "torch-pruning", "ctranslate2", "openvino", "nncf"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def runtime_options(recipe: RunRecipe) -> RuntimeOptions:
    """How the recipe's artifact runs (CUDA graphs, sparse kernels, a dense fallback, threads): the same every time."""
    ev = recipe.evaluate
    return RuntimeOptions(cuda_graphs=ev.cuda_graphs, semi_structured=ev.semi_structured,
                          dense_fallback=bool(ev.fallback_device), threads=ev.threads or None)


def device_info(device: str, runner: Runner, intended: str | None = None) -> dict:
    return {"kind": device.split(":")[0], "name": device_name(device),
            "intended": intended or device.split(":")[0], "ran_on": device, "runtime": runner.describe()}


@dataclass(frozen=True)
class Subject:
    """What is evaluated or measured (an artifact, its recipe, the task and data), where, and how.

    Evaluation and ``green measure`` both take one; ``country``/``region`` place the grid the
    emissions are charged to.
    """

    artifact: Artifact
    recipe: RunRecipe
    task: Task
    data: TaskData
    device: str
    meter: EnergyMeter
    settings: BenchSettings
    country: str = "USA"
    region: str | None = None


def evaluate_artifact(
    subject: Subject,
    max_test_rows: int | None = None,
    intended_device: str | None = None,
    run_energy: list[StepWindow] | None = None,
    idle: Measurement | None = None,
    baseline_run_energy_j: float | None = None,
    reference: Reference | None = None,
    max_length: int = 128,
) -> Record:
    """Measure ``artifact`` on ``device`` and return its record.

    ``run_energy`` lists the measured windows of the steps that produced the artifact
    (training for the baseline; export, quantization... for a recipe). With a
    ``reference`` (the baseline), energy is measured in rounds alternating with it, and
    the record carries the paired ratios beside the absolute figures.
    """
    from green.progress import progress_bar

    artifact, recipe, task, data = subject.artifact, subject.recipe, subject.task, subject.data
    device, meter, settings = subject.device, subject.meter, subject.settings
    tokenizer = load_tokenizer(str(artifact.file("tokenizer")))
    test = data.test.head(max_test_rows)
    enc = task.encode(tokenizer, test.inputs, max_length)
    runner = open_runner(artifact, device, runtime_options(recipe))
    # Generation settings (beams, lengths): the artifact's generation_config, then the recipe's overrides.
    generation = task.inference_settings(artifact.path, recipe.evaluate.generation)
    inference = inference_for(task, generation)

    with progress_bar() as bar:
        bar_task = bar.add_task(f"{task.primary_metric} ({recipe.name})", total=len(test))
        preds = task.predict(runner, enc, 64, progress=lambda n: bar.update(bar_task, advance=n),
                             multiple_of=settings.pad_multiple, generation=generation)
    metrics = task.metrics(preds, test)
    bench_enc = task.encode(tokenizer, test.inputs[: settings.max_rows], max_length)
    placement = audit(runner, bench_enc, settings, recipe.name, device)
    latency = inference.latency(runner, bench_enc, settings.latency_samples, multiple_of=settings.pad_multiple)
    if latency.contended:
        warnings.warn(f"{recipe.name}: latency measured while other processes used the CPU "
                      f"({latency.contention[0]}); p95 {latency.p95:.1f} ms vs p50 {latency.p50:.1f} ms",
                      stacklevel=2)
    if idle is None:
        idle = meter.idle_power_w(settings.idle_s)
    texts = test.inputs[: settings.max_rows]
    against = None if reference is None else Against(reference, reference.encode(task, texts, max_length),
                                                     ("test", len(texts), max_length))
    energy, paired = measure_cell(inference, runner, recipe.name, bench_enc, Rig(meter, settings, idle), against)
    energy.idle = Window(**idle.to_dict())
    origin = Origin(recipe=recipe, artifact=artifact, task=task.metric_description(), data=data.describe(),
                    device=device_info(device, runner, intended_device), settings=settings.to_dict(),
                    versions=package_versions(), run_steps=list(run_energy or []),
                    baseline_run_energy_j=baseline_run_energy_j, country=subject.country, region=subject.region)
    measured = Measured(
        energy=energy, latency=latency, paired=paired, metrics=dict(metrics), test_rows=len(test), placement=placement,
        efficiency=inference.efficiency(artifact.flops, energy, device_name(device)),
        sequence_policy=enc.policy(),
        notes=[n for a in reversed(artifact.lineage()) for n in a.extra.get("notes", [])]
        + runner.describe().get("notes", []),
        generation=generation or None, reference=task.reference(data, test),
        predictions=task.prediction_sample(preds, test, data))
    return build_record("evaluation", origin, measured)


def audit(runner: Runner, enc, settings: BenchSettings, recipe_name: str, device: str) -> dict | None:
    """Where ONNX Runtime ran the graph's nodes; warns when work left the intended device."""
    from green.batching import sorted_batches
    from green.evaluate.placement import audit_placement

    if runner.onnx_path is None:  # PyTorch: nothing for ONNX Runtime to place
        return None
    sample = [enc.batch(idx) for idx in sorted_batches(enc.lengths, settings.batch_size)[:3]]
    placement = audit_placement(runner.onnx_path, runner.providers, sample, device)
    if placement["fell_back"]:
        ops = ", ".join(list(placement["off_device_ops"])[:4])
        warnings.warn(
            f"{recipe_name}: {placement['off_device_share']:.0%} of node time ran off "
            f"{placement['intended_provider']} ({ops}); its energy is measured as it really ran",
            stacklevel=2,
        )
    return placement
