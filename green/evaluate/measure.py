"""Re-measure an artifact's energy with explicit settings: real lengths, or a fixed grid.

``green measure`` adds a record of kind ``measurement`` beside the evaluation records;
it replaces nothing, and reports keep using evaluation records for the Pareto chart.
"""

from __future__ import annotations

import random
from dataclasses import replace

from green.artifacts import Artifact, now_iso
from green.batching import Encoded, encode
from green.carbon import grams_co2e
from green.data import TaskData
from green.evaluate.bench import BenchSettings, measure_energy, measure_latency
from green.evaluate.energy import EnergyMeter
from green.evaluate.evaluation import model_efficiency, package_versions, tokenizer_dir
from green.evaluate.runtime import device_name, open_runner
from green.models import load_tokenizer
from green.records import RECORD_VERSION, new_record_id


def fixed_length(n_rows: int, length: int, vocab_size: int, pad_id: int, seed: int = 0) -> Encoded:
    """Synthetic rows of exactly ``length`` tokens, for the batch x sequence-length grid."""
    rng = random.Random(seed)
    return Encoded([[rng.randrange(1000, vocab_size) for _ in range(length)] for _ in range(n_rows)], pad_id, length)


def measure_artifact(
    artifact: Artifact,
    recipe_name: str,
    data: TaskData,
    device: str,
    meter: EnergyMeter,
    settings: BenchSettings,
    batch_sizes: list[int],
    grid_lengths: list[int] | None = None,
    country: str = "USA",
    region: str | None = None,
) -> dict:
    tokenizer = load_tokenizer(str(tokenizer_dir(artifact)))
    runner = open_runner(artifact, device)
    real = encode(tokenizer, data.test.texts[: settings.max_rows])
    idle = meter.idle_power_w(settings.idle_s)
    cells = []
    shapes = [(None, real)] if not grid_lengths else [
        (L, fixed_length(max(batch_sizes) * 4, L, tokenizer.vocab_size, real.pad_id)) for L in grid_lengths
    ]
    for length, enc in shapes:
        for b in batch_sizes:
            e = measure_energy(runner, enc, meter, replace(settings, batch_size=b), idle=idle)
            per = e["per_inference_j"]
            cells.append({
                "batch_size": b,
                "seq_len": length or "real",
                **{k: v for k, v in e.items() if k not in ("batch_shapes",)},
                "wh_per_million": per * 1e6 / 3600 if per is not None else None,
                "gco2e_per_million": grams_co2e(per * 1e6, country, region) if per is not None else None,
                "efficiency": model_efficiency(artifact, e["batch_shapes"], per, device),
            })
    latency = measure_latency(runner, real, settings.latency_samples)
    first = cells[0]
    return {
        "record_version": RECORD_VERSION,
        "kind": "measurement",
        "id": new_record_id(f"measure-{recipe_name}"),
        "created": now_iso(),
        "recipe": recipe_name,
        "artifact": str(artifact.path),
        "accuracy": None,
        "macro_f1": None,
        "size_mb": artifact.size_bytes / 1e6,
        "latency_ms": latency,
        "throughput_per_s": first["throughput_per_s"],
        "energy_per_inference_j": first["per_inference_j"],
        "energy_source": first["source"],
        "energy_estimate": first["estimate"],
        "device": {"kind": device.split(":")[0], "name": device_name(device), "ran_on": device,
                   "runtime": runner.describe()},
        "run_energy_j": artifact.run_energy_j,
        "settings": settings.to_dict() | {"batch_sizes": batch_sizes, "grid_lengths": grid_lengths},
        "idle": idle.to_dict(),
        "cells": cells,
        "versions": package_versions(),
    }
