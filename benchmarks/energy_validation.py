"""Validate green's energy measurement on this machine; rerunnable anywhere, one command.

    python benchmarks/energy_validation.py [--device auto|cpu|cuda] [--out DIR] [--tag TAG]

CPU (no GPU, or ``--device cpu``): the embedded MiniLM classifier in PyTorch fp32 eager
and the same model exported to ONNX Runtime fp32 (green's ``fp32-onnx`` export), real
tweet lengths at batch 32, measured the way green measures a recipe against its
baseline: alternating windows (AB, BA, ...), each window recording this process's CPU
time and what other processes used, contended windows retried (bounded). It runs twice:
as the machine is, and while a second process it starts keeps one core busy (stopped
when the run ends, and after ``--load-max-s`` at most). For both it reports the spread
((max - min) / median) of CPU-seconds per inference of each runtime and of the paired
ratios; target: at most 5 %. Energy on a CPU without RAPL is codecarbon's estimate
charged to this process's CPU time (labelled). Idle pool threads sleep, as under the
green CLI (``OMP_WAIT_POLICY=PASSIVE`` unless set; see green.runtime.threads).

GPU: NVML's energy counter, NVML power samples integrated at 50 Hz and codecarbon's
figure for the same windows; repeat spread; idle power and the dynamic fraction.
Targets (H100): counter vs samples vs codecarbon within 5 %, spread at most 5 % for 3 s
windows. Without NVML it says so and measures what it can.

Results go to benchmarks/results/energy_validation[-TAG]-<device>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# As the green CLI does, before PyTorch loads: idle pool threads sleep (green.runtime.threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
warnings.filterwarnings("ignore")

from _common import cpu_load, machine, save, torch_artifact  # noqa: E402

from green.batching import encode, sorted_batches  # noqa: E402
from green.evaluate.backends.base import BackendUnavailable, MeasurementError  # noqa: E402
from green.evaluate.backends.discover import survey  # noqa: E402
from green.evaluate.bench import BenchSettings, prepare_workload  # noqa: E402
from green.evaluate.energy import EnergyMeter  # noqa: E402
from green.evaluate.paired import measure_paired  # noqa: E402
from green.evaluate.repeats import spread  # noqa: E402
from green.models import embedded_model_path, load_tokenizer  # noqa: E402
from green.runtime import resolve_device, threads  # noqa: E402
from green.runtime.pytorch import TorchRunner  # noqa: E402
from green.tasks import DataSpec, get_task  # noqa: E402

SPREAD_MAX = 0.05


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--window-s", type=float, default=None, help="shortest window (default 2 s CPU, 3 s GPU)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="windows (CPU: paired rounds) per phase (default 6 CPU, 5 GPU)")
    ap.add_argument("--retries", type=int, default=2, help="CPU: contended rounds run again, per phase")
    ap.add_argument("--rows", type=int, default=1000, help="CPU: test rows the batches come from")
    ap.add_argument("--load-max-s", type=float, default=900.0, help="CPU: the load process stops itself after this")
    ap.add_argument("--idle-s", type=float, default=5.0)
    ap.add_argument("--tag", default=None,
                    help="word added to the result file's name (e.g. preliminary-shared-machine)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    device = resolve_device(args.device)
    if device.startswith("cuda"):
        args.window_s = args.window_s or 3.0
        args.repeats = args.repeats or 5
        validate_gpu(args, device)
    else:
        validate_cpu(args, device)


def _name(args) -> str:
    return f"energy_validation-{args.tag}" if args.tag else "energy_validation"


# -- CPU ------------------------------------------------------------------------------------------
def validate_cpu(args, device: str) -> None:
    from green.compress import StepContext
    from green.engine import run_step
    from green.recipe import load_recipe
    from green.runtime import open_runner

    meter = EnergyMeter.for_device(device)
    batch = args.batch_size or 32
    rounds = args.repeats or 6
    print(f"device: {device}; meter: {meter.source} ({meter.attribution}{', ESTIMATE' if meter.estimate else ''})")

    task = get_task("text-classification")
    data = task.load_data(DataSpec("embedded"))
    with tempfile.TemporaryDirectory() as tmp:
        base = torch_artifact(Path(tmp) / "torch", data=data)
        export = load_recipe("fp32-onnx").steps[0]
        (Path(tmp) / "onnx").mkdir()
        onnx = run_step(base, export.config, StepContext(out_dir=Path(tmp) / "onnx", device=device,
                                                                       task=task, data=data))
        tok = load_tokenizer(str(base.path))
        enc = task.encode(tok, data.test.inputs[: args.rows], 128)
        settings = BenchSettings(batch_size=batch, min_window_s=args.window_s or 2.0, repeats=rounds,
                                 max_repeats=rounds, max_retries=args.retries, max_rows=args.rows)
        torch_w = prepare_workload("torch-fp32", open_runner(base, device), enc, settings)
        onnx_w = prepare_workload("ort-fp32", open_runner(onnx, device), enc, settings)

        phases = {}
        for phase in ("as-is", "one-core-loaded"):
            print(f"\n== {phase}: {rounds} rounds of ort-fp32 vs torch-fp32, windows of at least "
                  f"{settings.min_window_s:.0f} s ==")
            t0 = time.perf_counter()
            if phase == "as-is":
                energy, paired = measure_paired(onnx_w, torch_w, meter, settings, reference_label="torch-fp32")
            else:
                with cpu_load(1, args.load_max_s):
                    time.sleep(0.5)  # the loop is spinning before the first window
                    energy, paired = measure_paired(onnx_w, torch_w, meter, settings, reference_label="torch-fp32")
            phases[phase] = _phase(energy.model_dump(mode="json"), paired.model_dump(mode="json"),
                                   time.perf_counter() - t0)
            _print_phase(phases[phase])

    checks = {}
    for phase, r in phases.items():
        checks[f"{phase}: CPU-s/inference spread, torch <= 5%"] = _le(r["torch_cpu_s_spread"])
        checks[f"{phase}: CPU-s/inference spread, ort <= 5%"] = _le(r["ort_cpu_s_spread"])
        checks[f"{phase}: paired energy ratio spread <= 5%"] = _le(r["energy_ratio_spread"])
    quiet, loaded = phases["as-is"]["energy_ratio"], phases["one-core-loaded"]["energy_ratio"]
    shift = abs(loaded - quiet) / quiet if quiet and loaded else None
    checks["paired ratio loaded within 10% of as-is"] = shift is not None and shift <= 0.10
    result = {
        **machine(device),
        "what": "CPU measurement validation: embedded MiniLM-L6 classifier (fresh head), PyTorch fp32 eager vs "
                "ONNX Runtime fp32 (green's fp32-onnx export), real tweet lengths, alternating windows; "
                "as the machine is, then with a second process keeping one core busy",
        "batch_size": batch,
        "rounds": rounds,
        "settings": settings.to_dict(),
        "meter": meter.describe(),
        "thread_wait": threads.describe(),
        "backends": {s.name: {"available": s.available, "detail": s.detail} for s in survey()},
        "phases": phases,
        "ratio_shift_under_load": shift,
        "targets": {"spread_max": SPREAD_MAX, "ratio_shift_max": 0.10},
        "checks": checks,
    }
    path = save(_name(args), device, result, args.out)
    print()
    for name, ok in checks.items():
        print(f"  {name}: {'PASS' if ok else 'FAIL'}")
    print(f"  paired ratio as-is {_f(quiet, '.3f')}, loaded {_f(loaded, '.3f')} (shift {_f(shift, '.1%')})")
    print(f"wrote {path}")
    meter.close()


def _le(value: float | None, limit: float = SPREAD_MAX) -> bool:
    return value is not None and value <= limit


def _f(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _phase(energy: dict, paired: dict, seconds: float) -> dict:
    ort_used = [w for w in energy["windows"] if w["used"]]
    torch_used = [w for w in paired["reference_windows"] if w["used"]]
    shares = [w["other_cpu_share"] for w in ort_used + torch_used if w["other_cpu_share"] is not None]
    return {
        "seconds": seconds,
        "rounds_used": paired["rounds"],
        "rounds_run": paired["rounds_run"],
        "retries": paired["retries"],
        "contended_rounds": paired["contended_rounds"],
        "other_cpu_share_median": statistics.median(shares) if shares else None,
        "torch_cpu_s_per_inference": paired["reference_cpu_s_per_inference"],
        "torch_cpu_s_spread": spread([w["cpu_s_per_inference"] for w in torch_used]),
        "ort_cpu_s_per_inference": paired["cpu_s_per_inference"],
        "ort_cpu_s_spread": spread([w["cpu_s_per_inference"] for w in ort_used]),
        "torch_mj_per_inference": (paired["reference_per_inference_j"] or 0) * 1e3,
        "ort_mj_per_inference": (paired["per_inference_j"] or 0) * 1e3,
        "energy_ratio": paired["energy_ratio"],
        "energy_ratio_range": paired["energy_ratio_range"],
        "energy_ratio_spread": paired["energy_ratio_spread"],
        "cpu_seconds_ratio": paired["cpu_seconds_ratio"],
        "cpu_seconds_ratio_spread": paired["cpu_seconds_ratio_spread"],
        "throughput_ratio": paired["throughput_ratio"],
        "torch_seq_per_s": paired["reference_throughput_per_s"],
        "ort_seq_per_s": paired["throughput_per_s"],
        "wall_s_per_inference_spread": {
            "torch": spread([w["seconds"] / w["sequences"] for w in torch_used]),
            "ort": spread([w["seconds"] / w["sequences"] for w in ort_used]),
        },
        "energy": {k: v for k, v in energy.items() if k != "batch_shapes"},
        "paired": paired,
    }


def _print_phase(r: dict) -> None:
    print(f"  rounds used {r['rounds_used']} of {r['rounds_run']} run ({r['retries']} retried, "
          f"{r['contended_rounds']} kept contended); other processes' CPU share, median "
          f"{_f(r['other_cpu_share_median'], '.0%')}")
    print(f"  torch fp32: {r['torch_cpu_s_per_inference'] * 1e3:.2f} CPU-ms/inference "
          f"(spread {_f(r['torch_cpu_s_spread'], '.1%')}), {r['torch_seq_per_s']:.1f} seq/s, "
          f"~{r['torch_mj_per_inference']:.1f} mJ (estimate)")
    print(f"  ort fp32:   {r['ort_cpu_s_per_inference'] * 1e3:.2f} CPU-ms/inference "
          f"(spread {_f(r['ort_cpu_s_spread'], '.1%')}), {r['ort_seq_per_s']:.1f} seq/s, "
          f"~{r['ort_mj_per_inference']:.1f} mJ (estimate)")
    lo, hi = r["energy_ratio_range"] or (None, None)
    print(f"  paired energy ratio ort/torch {_f(r['energy_ratio'], '.3f')} [{_f(lo, '.3f')}-{_f(hi, '.3f')}], "
          f"spread {_f(r['energy_ratio_spread'], '.1%')}; CPU-s ratio {_f(r['cpu_seconds_ratio'], '.3f')}; "
          f"throughput ratio {_f(r['throughput_ratio'], '.2f')}; wall-s/inference spread "
          f"torch {_f(r['wall_s_per_inference_spread']['torch'], '.1%')}, "
          f"ort {_f(r['wall_s_per_inference_spread']['ort'], '.1%')}")


# -- GPU ------------------------------------------------------------------------------------------
def validate_gpu(args, device: str) -> None:
    """NVML counter vs NVML power samples vs codecarbon, same windows (the H100 checks)."""
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
    path = save(_name(args), device, result, args.out)
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
