"""All three remedies on a GPU: gpu-max against PyTorch fp32 eager, energy per correct prediction; rerunnable.

    python benchmarks/gpu_max.py --workdir W [--batch-size 256] [--repeats 5] [--out DIR]

On a CUDA GPU, with workdir W's baseline (trained with the gpu-default budget if missing)
and its gpu-max run (made with ``green compress --recipe gpu-max`` if missing), it measures
energy per inference with the NVML counter for PyTorch fp32 eager (the baseline) and for
gpu-max (ONNX Runtime CUDA fp16, fused attention, IO binding, CUDA graphs), alternating
the two route by route in repeated windows, at batch 256 on the test split's real
lengths. It reports energy per *correct* prediction (energy per inference / accuracy),
the ratio of the two, and gpu-max's joules per FLOP against the device's floor.
Targets (issue 9): at least 25x less energy per correct prediction than PyTorch fp32
eager, within 1 point of accuracy, J/FLOP within 3x of the floor.

Without a GPU it says what it skipped and writes that down; no figure is invented.
Results go to benchmarks/results/gpu_max-<device>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

from _common import machine, save  # noqa: E402

from green.evaluate.bench import default_settings, measure_energy  # noqa: E402
from green.evaluate.energy import EnergyMeter  # noqa: E402
from green.evaluate.evaluation import runtime_options  # noqa: E402
from green.evaluate.flops import efficiency  # noqa: E402
from green.models import load_tokenizer  # noqa: E402
from green.records import load_records  # noqa: E402
from green.runtime import device_name, open_runner, resolve_device  # noqa: E402
from green.workbench import Workbench  # noqa: E402

TARGETS = {"energy_per_correct_ratio_min": 25.0, "accuracy_points_max_drop": 1.0, "floor_ratio_max": 3.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    device = resolve_device("auto")
    if not device.startswith("cuda"):
        path = save("gpu_max", device, {**machine(device), "skipped": ["gpu-max vs PyTorch fp32 eager"],
                                        "reason": "no CUDA GPU visible to torch: the GPU figure is not measured",
                                        "targets": TARGETS}, args.out)
        print(f"no CUDA GPU: skipped gpu-max vs PyTorch fp32 eager (targets {TARGETS}); wrote {path}")
        return

    wb = Workbench(args.workdir, device=device)
    done = {r.recipe for r in load_records(wb.records_dir)} if wb.records_dir.is_dir() else set()
    if "gpu-max" not in done:
        wb.compress("gpu-max")
    records = {r.recipe: r for r in load_records(wb.records_dir) if r.kind == "evaluation" and r.device.kind == "cuda"}
    task, data = wb.task(), wb.task_data()
    base_art = wb.resolve_artifact("baseline")[0]
    max_art, recipe = wb.resolve_artifact("gpu-max")
    runners = {"torch-fp32": open_runner(base_art, device), "gpu-max": open_runner(max_art, device,
                                                                                   runtime_options(recipe))}
    tokenizer = load_tokenizer(str(base_art.file("tokenizer")))
    enc = task.encode(tokenizer, data.test.inputs[:4096], 128)
    meter = EnergyMeter.for_device(device)
    idle = meter.idle_power_w(5.0)
    settings = replace(default_settings(device, batch_size=args.batch_size), repeats=1)
    cells: dict[str, list[dict]] = {name: [] for name in runners}
    for r in range(args.repeats):  # alternate the routes: one window each per round
        for name, runner in runners.items():
            s = replace(settings, pad_multiple=8 if name == "gpu-max" else 1)
            cells[name].append(measure_energy(runner, enc, meter, s, idle=idle))
            print(f"round {r + 1}: {name} {cells[name][-1].per_inference_j * 1e3:.3f} mJ/inference "
                  f"({cells[name][-1].source})", flush=True)
    result = {}
    for name, rec_name in (("torch-fp32", "baseline"), ("gpu-max", "gpu-max")):
        per = statistics.median(c.per_inference_j for c in cells[name])
        acc = records[rec_name].primary_value
        result[name] = {"per_inference_j": per, "accuracy": acc, "per_correct_j": per / acc,
                        "per_round_j": [c.per_inference_j for c in cells[name]],
                        "efficiency": efficiency((max_art if name == "gpu-max" else base_art).flops,
                                                 cells[name][0].batch_shapes, per, device_name(device))}
    ratio = result["torch-fp32"]["per_correct_j"] / result["gpu-max"]["per_correct_j"]
    drop = (result["torch-fp32"]["accuracy"] - result["gpu-max"]["accuracy"]) * 100
    floor_ratio = (result["gpu-max"]["efficiency"] or {}).get("ratio_to_floor")
    checks = {
        ">= 25x less energy per correct prediction than PyTorch fp32 eager": ratio >= TARGETS["energy_per_correct_ratio_min"],
        "within 1 point of accuracy": drop <= TARGETS["accuracy_points_max_drop"],
        "J/FLOP within 3x of the device floor": floor_ratio is not None and floor_ratio <= TARGETS["floor_ratio_max"],
    }
    payload = {**machine(device), "batch_size": args.batch_size, "repeats": args.repeats, "idle": idle.to_dict(),
               "routes": result, "energy_per_correct_ratio": ratio, "accuracy_points_drop": drop,
               "floor_ratio": floor_ratio, "targets": TARGETS, "checks": checks}
    path = save("gpu_max", device, payload, args.out)
    print(f"energy per correct prediction: torch fp32 {result['torch-fp32']['per_correct_j'] * 1e3:.3f} mJ, "
          f"gpu-max {result['gpu-max']['per_correct_j'] * 1e3:.3f} mJ ({ratio:.1f}x); accuracy drop {drop:.2f} pts; "
          f"J/FLOP {floor_ratio and round(floor_ratio, 2)}x the floor")
    for k, ok in checks.items():
        print(f"  {k}: {'PASS' if ok else 'FAIL'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
