"""Evaluate one artifact: accuracy on the test split, size, latency, throughput, energy.

The result is a record (a plain dict, see ``green.records``); the artifact is only read.
"""

from __future__ import annotations

import importlib.metadata
import platform

from green.artifacts import Artifact, now_iso
from green.batching import encode
from green.carbon import J_PER_KWH, grams_co2e
from green.data import TaskData
from green.evaluate.accuracy import classification_metrics, predict
from green.evaluate.bench import BenchSettings, measure_energy, measure_latency
from green.evaluate.energy import EnergyMeter, Measurement
from green.evaluate.runtime import device_name, open_runner
from green.models import load_tokenizer
from green.records import RECORD_VERSION, new_record_id


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("green", "torch", "transformers", "optimum-onnx", "onnxruntime-gpu", "onnxruntime", "codecarbon"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def evaluate_artifact(
    artifact: Artifact,
    recipe: dict,
    data: TaskData,
    device: str,
    meter: EnergyMeter,
    settings: BenchSettings,
    max_test_rows: int | None = None,
    intended_device: str | None = None,
    run_energy: list[dict] | None = None,
    country: str = "USA",
    region: str | None = None,
    idle: Measurement | None = None,
) -> dict:
    """Measure ``artifact`` on ``device`` and return its record.

    ``run_energy`` lists the measured windows of the steps that produced the artifact
    (training for the baseline; export, quantization... for a recipe).
    """
    from green.progress import progress_bar

    tokenizer = load_tokenizer(str(tokenizer_dir(artifact)))
    test = data.test.head(max_test_rows)
    enc = encode(tokenizer, test.texts)
    runner = open_runner(artifact, device, cuda_graphs=bool((recipe.get("evaluate") or {}).get("cuda_graphs")))

    with progress_bar() as bar:
        task = bar.add_task(f"accuracy ({recipe['name']})", total=len(test))
        preds = predict(runner, enc, 64, progress=lambda n: bar.update(task, advance=n), multiple_of=settings.pad_multiple)
    metrics = classification_metrics(preds, test.labels, len(data.label_names))
    bench_enc = encode(tokenizer, test.texts[: settings.max_rows])
    placement = audit(runner, bench_enc, settings, recipe["name"], device)
    latency = measure_latency(runner, bench_enc, settings.latency_samples, multiple_of=settings.pad_multiple)
    if idle is None:
        idle = meter.idle_power_w(settings.idle_s)
    energy = measure_energy(runner, bench_enc, meter, settings, idle=idle)

    steps = run_energy or []
    run_j = [s.get("joules") for s in steps]
    # The run's energy is known only when every step that made the artifact was measured.
    run_total = sum(run_j) if steps and all(j is not None for j in run_j) else None
    per_inf = energy["per_inference_j"]
    return {
        "record_version": RECORD_VERSION,
        "kind": "evaluation",
        "id": new_record_id(recipe["name"]),
        "created": now_iso(),
        "recipe": recipe["name"],
        "recipe_detail": recipe,
        "artifact": str(artifact.path),
        "artifact_format": artifact.format,
        "lineage": [{"step": a.step, "path": str(a.path)} for a in artifact.lineage()],
        "task": data.describe() | {"test_rows_evaluated": len(test)},
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "size_mb": artifact.size_bytes / 1e6,
        "latency_ms": latency,
        "throughput_per_s": energy["throughput_per_s"],
        "batch_size": settings.batch_size,
        "sequence_length_policy": enc.policy(),
        "energy_per_inference_j": per_inf,
        "energy_source": energy["source"],
        "energy_estimate": energy["estimate"],
        "energy_scope": "gpu" if device.startswith("cuda") else "cpu+ram" if energy["estimate"] else "cpu",
        "placement": placement,
        "efficiency": model_efficiency(artifact, energy["batch_shapes"], per_inf, device),
        "energy": {
            **{k: v for k, v in energy.items() if k not in ("windows", "batch_shapes")},
            "pareto_uses": "total",
            "wh_per_million": per_inf * 1e6 / 3600.0 if per_inf is not None else None,
            "gco2e_per_million": grams_co2e(per_inf * 1e6, country, region) if per_inf is not None else None,
            "country": country,
            "region": region,
            "idle": idle.to_dict(),
            "windows": energy["windows"],
        },
        "device": {
            "kind": device.split(":")[0],
            "name": device_name(device),
            "intended": intended_device or device.split(":")[0],
            "ran_on": device,
            "runtime": runner.describe(),
        },
        "run_energy_j": run_total,
        "run_energy_source": "+".join(sorted({s.get("source", "none") for s in steps})) or None,
        "run_energy_kwh": run_total / J_PER_KWH if run_total is not None else None,
        "run_gco2e": grams_co2e(run_total, country, region) if run_total is not None else None,
        "run_seconds": sum(s.get("seconds") or 0.0 for s in steps) if steps else None,
        "run_steps": steps,
        "bench_settings": settings.to_dict(),
        "versions": package_versions(),
    }


def audit(runner, enc, settings: BenchSettings, recipe_name: str, device: str) -> dict | None:
    """Where ONNX Runtime ran the graph's nodes; warns when work left the intended device."""
    import warnings

    from green.batching import sorted_batches
    from green.evaluate.placement import audit_placement
    if not hasattr(runner, "model_path"):  # a PyTorch runner: nothing for ONNX Runtime to place
        return None
    sample = [enc.batch(idx) for idx in sorted_batches(enc.lengths, settings.batch_size)[:3]]
    placement = audit_placement(runner.model_path, runner.providers, sample, device)
    if placement["fell_back"]:
        ops = ", ".join(list(placement["off_device_ops"])[:4])
        warnings.warn(
            f"{recipe_name}: {placement['off_device_share']:.0%} of node time ran off "
            f"{placement['intended_provider']} ({ops}); its energy is measured as it really ran",
            stacklevel=2,
        )
    return placement


def tokenizer_dir(artifact: Artifact):
    """The tokenizer is saved with the baseline; ONNX artifacts keep a copy, or use their parent's."""
    for a in artifact.lineage():
        if (a.path / "tokenizer_config.json").is_file():
            return a.path
    return artifact.path


def model_efficiency(artifact: Artifact, batch_shapes: list[tuple[int, int]], j_per_inf: float | None, device: str) -> dict | None:
    """FLOPs per inference and joules per FLOP against the device's floor (None if not an encoder)."""
    from transformers import AutoConfig

    from green.evaluate.flops import efficiency

    try:
        config = AutoConfig.from_pretrained(str(tokenizer_dir(artifact)))
        return efficiency(config, batch_shapes, j_per_inf, device_name(device))
    except (OSError, ValueError, AttributeError):
        return None
