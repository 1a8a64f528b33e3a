"""All three remedies on the CPU: green's cpu-max against what a user would otherwise pick; rerunnable.

    python benchmarks/cpu_max.py --workdir W [--rounds 7] [--window-s 3] [--out DIR]

Uses (and, where missing, makes with ``green compress``) the runs of int8, distill-l3 and
cpu-max in workdir W (its baseline is trained first if it has none: ``cpu-default`` on a
CPU). In one process, alternating the routes window by window so machine noise hits all
alike, it measures at batch 32 on the test split's real lengths:

* PyTorch fp32 eager (the baseline, the reference of every ratio);
* PyTorch dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on the baseline's Linears);
* optimum's ORTQuantizer dynamic int8 (optimum's documented path: plain export, then
  ``AutoQuantizationConfig.avx2``/``avx512_vnni`` for this CPU, per-channel);
* green's int8, distill-l3 and cpu-max.

Then batch-1 latency, again interleaved (one sequence per call, routes alternating row by
row). Test accuracy is computed for every route on the whole test split. Targets (issue
9): cpu-max at least 8x the throughput of PyTorch fp32 eager and batch-1 latency at least
6x lower, at most 1.5 points of accuracy below the baseline, and above both other int8
routes. Payback comes from the records (run energy over energy saved per inference).
Results go to benchmarks/results/cpu_max-<cpu>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

from _common import (  # noqa: E402
    ensure_runs,
    interleave,
    latency_interleaved,
    machine,
    ratio_summary,
    real_batches,
    save,
    score_on_test,
)

from green.models import load_tokenizer  # noqa: E402
from green.records import load_records  # noqa: E402
from green.report import summarize  # noqa: E402
from green.runtime import open_runner  # noqa: E402
from green.runtime.ort import OrtRunner  # noqa: E402
from green.runtime.pytorch import TorchRunner, load_pretrained  # noqa: E402
from green.workbench import Workbench  # noqa: E402

RECIPES = ["int8", "distill-l3", "cpu-max"]
BASE = "torch-fp32"


def torch_dynamic_int8(baseline, task) -> TorchRunner:
    import torch

    model = load_pretrained(baseline.path, task.model_class()).eval()
    return TorchRunner(torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8), "cpu")


def optimum_dynamic_int8(baseline, task, work: Path) -> OrtRunner:
    """optimum's documented route: ORTModel export, then ORTQuantizer with the CPU's preset."""
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    preset = AutoQuantizationConfig.avx512_vnni if "avx512_vnni" in flags else AutoQuantizationConfig.avx2
    model = ORTModelForSequenceClassification.from_pretrained(str(baseline.path), export=True)
    model.save_pretrained(work / "optimum-fp32")
    quantizer = ORTQuantizer.from_pretrained(work / "optimum-fp32")
    path = quantizer.quantize(preset(is_static=False, per_channel=True), save_dir=work / "optimum-int8")
    return OrtRunner(next(Path(path).glob("*quantized.onnx")), "cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--window-s", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rows", type=int, default=2000, help="test rows cycled through (real lengths)")
    ap.add_argument("--latency-rows", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    wb = Workbench(args.workdir, device="cpu")
    ensure_runs(wb, RECIPES)
    task, data = wb.task(), wb.task_data()
    baseline = wb.resolve_artifact("baseline")[0]
    work = Path(tempfile.mkdtemp(prefix="green-cpu-max-"))
    print("building the routes a user would otherwise pick (PyTorch dynamic int8, optimum ORTQuantizer)", flush=True)
    runners = {
        BASE: open_runner(baseline, "cpu"),
        "torch-dynamic-int8": torch_dynamic_int8(baseline, task),
        "optimum-dynamic-int8": optimum_dynamic_int8(baseline, task, work),
        **{f"green {name}": open_runner(wb.resolve_artifact(name)[0], "cpu") for name in RECIPES},
    }
    tokenizer = load_tokenizer(str(baseline.file("tokenizer")))
    accuracy = score_on_test(runners, task, data, tokenizer)

    enc = task.encode(tokenizer, data.test.inputs[: args.rows], 128)
    batches, sizes = real_batches(enc, args.batch_size)
    print(f"throughput: batch {args.batch_size}, {len(batches)} batches of real lengths, {args.rounds} rounds of "
          f"{args.window_s:.0f} s windows per route", flush=True)
    windows = interleave(runners, batches, sizes, args.rounds, args.window_s)
    print(f"latency: batch 1, {args.latency_rows} rows x 2, routes alternating", flush=True)
    latency = latency_interleaved(runners, [enc.batch([i]) for i in range(min(args.latency_rows, len(enc)))])

    entries = {e["recipe"]: e for e in summarize(load_records(wb.records_dir)) if e["device_kind"] == "cpu"}
    routes = {}
    for name in runners:
        recipe = name.removeprefix("green ")
        e = entries.get(recipe) if name.startswith("green ") else None
        routes[name] = {
            "accuracy": accuracy[name],
            "accuracy_points_vs_baseline": (accuracy[name] - accuracy[BASE]) * 100,
            "throughput_vs_torch_fp32": ratio_summary(windows, name, BASE),
            "cpu_s_per_sequence_vs_torch_fp32": ratio_summary(windows, name, BASE, "cpu_s_per_sequence"),
            "per_s_median": statistics.median(w["per_s"] for w in windows[name]),
            "latency_b1": latency[name],
            "latency_speedup_vs_torch_fp32": latency[BASE]["p50_ms"] / latency[name]["p50_ms"],
            "record": {k: e.get(k) for k in ("energy_per_inference_j", "energy_source", "energy_vs_baseline",
                                             "payback_inferences", "run_energy_j", "size_mb")} if e else None,
        }
    cm = routes["green cpu-max"]
    best_other = max(routes[n]["throughput_vs_torch_fp32"]["median"] for n in ("torch-dynamic-int8", "optimum-dynamic-int8"))
    checks = {
        "cpu-max >= 8x PyTorch fp32 eager throughput (batch 32)": cm["throughput_vs_torch_fp32"]["median"] >= 8,
        "cpu-max batch-1 latency >= 6x lower than PyTorch fp32 eager": cm["latency_speedup_vs_torch_fp32"] >= 6,
        "cpu-max accuracy >= baseline - 1.5 points": cm["accuracy_points_vs_baseline"] >= -1.5,
        "cpu-max beats PyTorch dynamic int8 and optimum dynamic int8": cm["throughput_vs_torch_fp32"]["median"] > best_other,
    }
    result = {**machine("cpu"), "what": "issue 9: cpu-max vs PyTorch fp32 eager, PyTorch dynamic int8, optimum "
              "dynamic int8 and green's int8/distill-l3, interleaved", "workdir": str(wb.workdir),
              "batch_size": args.batch_size, "rounds": args.rounds, "window_s": args.window_s, "routes": routes,
              "checks": checks, "windows": windows}
    path = save("cpu_max", "cpu", result, args.out)
    print(f"\n{'route':24s} {'seq/s':>7s} {'x torch fp32 (range)':>22s} {'b=1 p50 ms':>11s} {'x':>6s} "
          f"{'accuracy':>9s} {'pts':>6s}")
    for name, r in routes.items():
        t = r["throughput_vs_torch_fp32"]
        print(f"{name:24s} {r['per_s_median']:7.0f} {t['median']:8.2f}x ({t['min']:.2f}-{t['max']:.2f}) "
              f"{r['latency_b1']['p50_ms']:11.2f} {r['latency_speedup_vs_torch_fp32']:5.1f}x "
              f"{r['accuracy']:9.4f} {r['accuracy_points_vs_baseline']:+6.2f}")
    if cm["record"] and cm["record"]["payback_inferences"]:
        print(f"cpu-max payback: {cm['record']['run_energy_j']:.0f} J of compression over "
              f"{cm['record']['energy_vs_baseline']:.2f}x the baseline's energy per inference: "
              f"{cm['record']['payback_inferences']:,.0f} inferences ({cm['record']['energy_source']})")
    for k, ok in checks.items():
        print(f"  {k}: {'PASS' if ok else 'FAIL'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
