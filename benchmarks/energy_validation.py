"""Validate green's energy meter on this machine; rerunnable anywhere.

    python benchmarks/energy_validation.py [--device auto|cpu|cuda] [--out DIR]

On the embedded MiniLM at batch 256 (GPU) or 32 (CPU), real tweet lengths, it runs
repeated windows of at least ``--window-s`` seconds and reports, for the same windows:
the NVML energy counter, NVML power samples integrated at 50 Hz, and codecarbon's
figure; the repeat spread; idle power and the dynamic fraction. Without NVML it says
so and measures what it can (RAPL, or codecarbon's estimate, labelled). Targets (H100):
counter vs samples vs codecarbon within 5 %, spread at most 5 % for windows of 3 s.
Results go to benchmarks/results/energy_validation-<device>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

from _common import machine, save  # noqa: E402

from green.batching import encode, sorted_batches  # noqa: E402
from green.evaluate.backends.base import BackendUnavailable, MeasurementError  # noqa: E402
from green.evaluate.backends.discover import survey  # noqa: E402
from green.evaluate.energy import EnergyMeter  # noqa: E402
from green.models import embedded_model_path, load_tokenizer  # noqa: E402
from green.runtime import resolve_device  # noqa: E402
from green.runtime.pytorch import TorchRunner  # noqa: E402
from green.tasks import DataSpec, get_task  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--window-s", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--idle-s", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    device = resolve_device(args.device)
    gpu = device.startswith("cuda")
    batch = args.batch_size or (256 if gpu else 32)
    meter = EnergyMeter.for_device(device, crosscheck=True)
    sampler = None
    notes = []
    if gpu and meter.source == "nvml-energy-counter":
        from green.evaluate.backends.nvml import NvmlPowerSamplerBackend, load_nvml

        try:
            sampler = NvmlPowerSamplerBackend(load_nvml(), hz=50)
        except BackendUnavailable as exc:
            notes.append(f"no NVML power samples: {exc}")
    elif not gpu:
        notes.append("no GPU: NVML counter vs power-sample comparison skipped")
    backends = {s.name: {"available": s.available, "detail": s.detail} for s in survey()}
    print(f"device: {device}; primary meter: {meter.source}; cross-check: {meter.crosscheck and meter.crosscheck.source}")

    ref = str(embedded_model_path())
    tok = load_tokenizer(ref)
    task = get_task("text-classification")
    data = task.load_data(DataSpec("embedded"))
    runner = TorchRunner(task.new_model(ref, data), device, "bf16" if gpu else "fp32")
    enc = encode(tok, data.test.inputs)
    batches = [enc.batch(idx) for idx in sorted_batches(enc.lengths, batch)]
    for b in batches[:5]:
        runner(b)

    idle = meter.idle_power_w(args.idle_s)
    print(f"idle: {idle.watts:.1f} W ({idle.source})")
    windows = []
    for r in range(args.repeats):
        token = sampler.begin() if sampler else None
        n, i = 0, 0
        meter.begin_window(f"validate-{r}")
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.window_s:
            runner(batches[i % len(batches)])
            n += len(batches[i % len(batches)]["input_ids"])
            i += 1
        w = meter.end_window(f"validate-{r}")
        samples_j = None
        if sampler:
            try:
                samples_j = sum(sampler.end(token, w.seconds).values())
            except MeasurementError as exc:
                notes.append(str(exc))
        row = {**w.to_dict(), "sequences": n, "power_samples_j": samples_j,
               "mj_per_inference": w.joules / n * 1e3 if w.joules else None}
        windows.append(row)
        print(f"window {r}: {w.seconds:.2f} s, {w.joules:.1f} J ({w.source}), samples {samples_j}, "
              f"codecarbon {w.crosscheck_j}, {row['mj_per_inference']:.3f} mJ/seq")

    per = [w["mj_per_inference"] for w in windows if w["mj_per_inference"] is not None]
    med = statistics.median(per)
    spread = (max(per) - min(per)) / med

    def agreement(key: str) -> float | None:
        pairs = [(w["joules"], w[key]) for w in windows if w.get(key) and w["joules"]]
        return max(abs(b - a) / a for a, b in pairs) if pairs else None

    total_j = sum(w["joules"] for w in windows)
    total_s = sum(w["seconds"] for w in windows)
    dynamic_fraction = max(0.0, total_j - idle.watts * total_s) / total_j if idle.watts else None
    result = {
        **machine(device),
        "what": "energy meter validation: embedded MiniLM-L6 classifier, PyTorch eager, real tweet lengths",
        "batch_size": batch,
        "window_s": args.window_s,
        "repeats": args.repeats,
        "primary_source": meter.source,
        "primary_is_estimate": meter.estimate,
        "crosscheck_source": meter.crosscheck.source if meter.crosscheck else None,
        "backends": backends,
        "idle": idle.to_dict(),
        "mj_per_inference_median": med,
        "spread": spread,
        "dynamic_fraction": dynamic_fraction,
        "max_rel_diff_power_samples_vs_counter": agreement("power_samples_j"),
        "max_rel_diff_codecarbon_vs_primary": agreement("crosscheck_j"),
        "targets": {"agreement_max": 0.05, "spread_max": 0.05},
        "notes": notes,
        "windows": windows,
    }
    checks = {
        "spread <= 5%": spread <= 0.05,
        "samples vs counter <= 5%": (result["max_rel_diff_power_samples_vs_counter"] or 1) <= 0.05 if sampler else None,
        "codecarbon vs primary <= 5%": (result["max_rel_diff_codecarbon_vs_primary"] <= 0.05)
        if result["max_rel_diff_codecarbon_vs_primary"] is not None else None,
    }
    result["checks"] = checks
    path = save("energy_validation", device, result, args.out)
    print(f"median {med:.3f} mJ/inference ({meter.source}{', ESTIMATE' if meter.estimate else ''}), spread {spread:.1%}, "
          f"dynamic fraction {dynamic_fraction if dynamic_fraction is None else format(dynamic_fraction, '.1%')}")
    for name, ok in checks.items():
        print(f"  {name}: {'skipped (not measurable here)' if ok is None else 'PASS' if ok else 'FAIL'}")
    for n in notes:
        print(f"  note: {n}")
    print(f"wrote {path}")
    meter.close()


if __name__ == "__main__":
    main()
