"""Which runtime serves the embedded MiniLM with the least energy per sequence on a GPU?

    python benchmarks/gpu_runtime.py [--batch-sizes 1 32 256] [--out DIR]

In one run, on real tweet lengths (length-sorted batches, dynamic padding): PyTorch
eager fp32, PyTorch eager bf16, ONNX Runtime fp16 with attention left unfused (the path
measured on 2026-11-22; the same level-2 export with fusion allowed is also made, to
record whether ORT's CUDA session optimizer stops the attention fusion), the fused graph with IO binding alone, and green's `fp16`
recipe as it runs (fused attention, lengths bucketed to multiples of 8, CUDA graphs). Energy from green's EnergyMeter (NVML counter on
NVIDIA GPUs), windows of at least 2 s, repeated. Targets on the H100: green fp16 at most
0.7x PyTorch bf16's energy per sequence at batch 256 and 0.5x at batch 1.
Without CUDA it says what it skipped and writes that down.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

from _common import machine, save, torch_artifact  # noqa: E402

from green.batching import encode  # noqa: E402
from green.compress import StepContext  # noqa: E402
from green.compress.export import ExportConfig  # noqa: E402
from green.engine import run_step  # noqa: E402
from green.evaluate.bench import default_settings, measure_energy  # noqa: E402
from green.evaluate.energy import EnergyMeter  # noqa: E402
from green.models import load_tokenizer  # noqa: E402
from green.recipe import load_recipe  # noqa: E402
from green.runtime import resolve_device  # noqa: E402
from green.runtime.cudagraph import CudaGraphOrtRunner  # noqa: E402
from green.runtime.ort import OrtRunner  # noqa: E402
from green.runtime.pytorch import TorchRunner, load_pretrained  # noqa: E402
from green.tasks import DataSpec, get_task  # noqa: E402

VARIANTS = ["torch-fp32", "torch-bf16", "ort-fp16-unfused", "green-fp16-iobinding", "green-fp16"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument("--model", default=None, help="a fine-tuned baseline folder (default: embedded MiniLM, fresh head)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    device = resolve_device("auto")
    if not device.startswith("cuda"):
        path = save("gpu_runtime", device, {**machine(device), "skipped": VARIANTS,
                                            "reason": "no CUDA GPU visible to torch"}, args.out)
        print(f"no CUDA GPU: skipped {', '.join(VARIANTS)} at batch {args.batch_sizes}; wrote {path}")
        return

    task = get_task("text-classification")
    data = task.load_data(DataSpec("embedded"))
    test = data.test.head(2000)
    meter = EnergyMeter.for_device(device)
    idle = meter.idle_power_w(5.0)
    print(f"{device}: idle {idle.watts:.1f} W ({idle.source})")

    work = Path(tempfile.mkdtemp(prefix="green-gpu-"))
    base = torch_artifact(work / "base", args.model, data)
    tok = load_tokenizer(str(base.path))
    enc = encode(tok, test.inputs)
    # "fused" is exactly the fp16 recipe's export (optimization_level 0). "level2-check" is
    # the export of 2026-11-22 (level 2, ORT's CUDA session optimizer first): its fused ops
    # say whether that pass is what stopped the attention fusion there. It is not timed.
    (recipe_step,) = load_recipe("fp16").steps
    gpu_l2 = dict(optimize=True, optimization_level=2, for_gpu=True, fp16=True)
    export_configs = {
        "ort-fp16-unfused": ExportConfig(**gpu_l2, fuse_attention=False),
        "fused": recipe_step.config,
        "level2-check": ExportConfig(**gpu_l2),
    }
    exports = {}
    for name, cfg in export_configs.items():
        out = work / name
        out.mkdir()
        exports[name] = run_step(base, cfg, StepContext(out, device, task=task))
        print(f"{name}: optimization_level {cfg.optimization_level}, fused ops {exports[name].extra.get('fused_ops')}")

    def onnx_file(name: str) -> Path:
        return exports[name].file("model")

    runners = {
        "torch-fp32": lambda: TorchRunner(load_pretrained(base.path, task.model_class()), device, "fp32"),
        "torch-bf16": lambda: TorchRunner(load_pretrained(base.path, task.model_class()), device, "bf16"),
        "ort-fp16-unfused": lambda: OrtRunner(onnx_file("ort-fp16-unfused"), device, io_binding=False),
        "green-fp16-iobinding": lambda: OrtRunner(onnx_file("fused"), device, io_binding=True),
        "green-fp16": lambda: CudaGraphOrtRunner(onnx_file("fused"), device),
    }
    results = {}
    reference_preds = None
    for name, make in runners.items():
        runner = make()
        bucket = 8 if name.startswith("green") else 1
        preds = task.predict(runner, enc, 64, multiple_of=bucket)
        if reference_preds is None:
            reference_preds = preds
        results[name] = {"accuracy_vs_labels": task.metrics(preds, test)["accuracy"],
                         "agreement_with_fp32": float((preds == reference_preds).mean()), "cells": {}}
        for b in args.batch_sizes:
            settings = replace(default_settings(device, batch_size=b), repeats=args.repeats,
                               pad_multiple=bucket)
            e = measure_energy(runner, enc, meter, settings, idle=idle)
            results[name]["cells"][str(b)] = e.model_dump(mode="json")
            mj = e.per_inference_j * 1e3 if e.per_inference_j else float("nan")
            print(f"{name:18s} b={b:4d}: {mj:8.3f} mJ/seq  {e.throughput_per_s or 0:9.0f} seq/s  "
                  f"spread {'n/a' if e.spread is None else format(e.spread, '.1%')}  ({e.source})")
        del runner

    ratios = {}
    for b in args.batch_sizes:
        g = results["green-fp16"]["cells"][str(b)]["per_inference_j"]
        t = results["torch-bf16"]["cells"][str(b)]["per_inference_j"]
        ratios[str(b)] = g / t if g and t else None
    targets = {"256": 0.7, "1": 0.5}
    checks = {f"batch {b}: green fp16 <= {lim}x torch bf16": (ratios.get(b) is not None and ratios[b] <= lim)
              for b, lim in targets.items() if b in ratios}
    payload = {**machine(device), "what": "MiniLM-L6 classifier, real tweet lengths, energy per sequence",
               "idle": idle.to_dict(), "fused_ops": {k: v.extra.get("fused_ops") for k, v in exports.items()},
               "results": results, "green_fp16_vs_torch_bf16": ratios, "checks": checks}
    path = save("gpu_runtime", device, payload, args.out)
    for k, ok in checks.items():
        print(f"  {k}: {'PASS' if ok else 'FAIL'} (ratio {ratios[k.split(':')[0].split()[1]]})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
