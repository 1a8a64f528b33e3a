"""Summarization on the CPU: green's int8 and distill-dec(-int8) against PyTorch fp32 ``generate``; rerunnable.

    python benchmarks/bart_cpu.py --workdir W [--rounds 5] [--window-s 6] [--out DIR]

W is a summarization workdir (``green train --task summarization --workdir W``; the script
trains it first when it has no baseline, 10-20 minutes on 2 cores). It makes the runs it
needs with ``green compress`` (int8 and distill-dec; distill-dec is a fine-tuning run of
about half an hour on 2 cores), and builds distill-dec-int8 by quantizing distill-dec's
ONNX export with green's own ``quantize`` step (what the recipe ``distill-dec-int8`` does
after the same distillation; it saves re-running that distillation).

Every route generates with the same settings: the baseline's ``generation_config`` (beams,
lengths, no-repeat n-gram). In one process, alternating the routes window by window so
machine noise hits all alike, it measures at batch 32 on the test split's real lengths:

* PyTorch fp32 ``generate`` (the baseline; the reference of every ratio);
* green fp32-onnx (int8's own export: ONNX Runtime with the KV cache, not quantized);
* green int8, distill-dec and distill-dec-int8;
* green prune50-int8, when the workdir has a run of it (heads and FFN channels of both stacks
  halved, recovery fine-tuning, int8);
* int8 again with transformers' search loop (optimum-onnx's ``generate``), the route green
  used before :mod:`green.runtime.search`: what green's search buys, in the same run.

Then batch-1 latency (one summary per call, routes alternating row by row), ROUGE-L of every
route on the evaluated test rows, and where the time of one ONNX Runtime ``generate`` goes
(the share spent inside ONNX Runtime sessions; the rest is the search loop in Python: beam
bookkeeping, the no-repeat n-gram check, and with transformers' loop the full-vocabulary
log-softmax, processors and top-k). Targets (issue 10):
int8 at least 2x the summaries per second at most 1 ROUGE-L point below; distill-dec-int8
at least 3x at most 1.5 points below. Results go to benchmarks/results/bart_cpu-<cpu>-<date>.json.
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
warnings.filterwarnings("ignore")

from _common import interleave, latency_interleaved, machine, ratio_summary, save  # noqa: E402

from green.artifacts import Artifact  # noqa: E402
from green.batching import sorted_batches  # noqa: E402
from green.models import load_tokenizer  # noqa: E402
from green.records import load_records  # noqa: E402
from green.runtime import RuntimeOptions, open_runner  # noqa: E402
from green.workbench import Workbench  # noqa: E402

BASE = "torch-fp32"
HF_INT8 = "int8, transformers search"


def quantized(onnx_export: Artifact, task, data, out: Path) -> Artifact:
    """green's dynamic int8 step (as in the recipes) on an existing ONNX export."""
    from green.compress import StepContext
    from green.engine import run_step
    from green.recipe import load_recipe

    step = next(s for s in load_recipe("distill-dec-int8").steps if s.name == "quantize")
    out.mkdir(parents=True, exist_ok=True)
    art = run_step(onnx_export, step.config, StepContext(out_dir=out, device="cpu", task=task, data=data))  # tokenizer, config and FLOPs beside the model, as green compress does
    art.save()
    return art


def ort_share(runner, batch: dict, settings: dict, calls: int = 3) -> dict | None:
    """Share of a generate call spent inside ONNX Runtime session.run (the rest is the Python search loop)."""
    sessions = getattr(runner, "sessions", None)
    if not sessions:
        return None
    spent = [0.0]

    def timed(run):
        def inner(*a, **k):
            t0 = time.perf_counter()
            try:
                return run(*a, **k)
            finally:
                spent[0] += time.perf_counter() - t0
        return inner

    originals = [s.run for s in sessions]
    for s in sessions:
        s.run = timed(s.run)
    try:
        runner.generate(batch, settings)
        spent[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(calls):
            runner.generate(batch, settings)
        total = time.perf_counter() - t0
    finally:
        for s, run in zip(sessions, originals):
            s.run = run
    return {"ort_seconds": spent[0] / calls, "generate_seconds": total / calls, "ort_share": spent[0] / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window-s", type=float, default=6.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rows", type=int, default=500, help="test rows: ROUGE, and cycled through for throughput")
    ap.add_argument("--latency-rows", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    wb = Workbench(args.workdir, device="cpu")
    if not wb.baseline_dir.exists():
        print(f"green train --task summarization --workdir {wb.workdir}", flush=True)
        wb.train(task="summarization")
    done = {r.recipe for r in load_records(wb.records_dir)} if wb.records_dir.is_dir() else set()
    for recipe in ("int8", "distill-dec"):
        if recipe not in done:
            print(f"green compress --recipe {recipe} (no run in {wb.workdir} yet)", flush=True)
            wb.compress(recipe)
    task, data = wb.task(), wb.task_data()
    if task.name != "summarization":
        sys.exit(f"{wb.workdir} is a {task.name} workdir; this benchmark needs --task summarization")
    baseline = wb.resolve_artifact("baseline")[0]
    int8 = wb.resolve_artifact("int8")[0]
    distill = wb.resolve_artifact("distill-dec")[0]
    work = Path(tempfile.mkdtemp(prefix="green-bart-cpu-"))
    print("distill-dec-int8: green's quantize step on distill-dec's export", flush=True)
    distill_int8 = quantized(distill, task, data, work / "distill-dec-int8")
    # int8's parent is its own fp32 ONNX export: ONNX Runtime with the KV cache, before quantization.
    artifacts = {BASE: baseline, "green fp32-onnx": Artifact.load(int8.parent), "green int8": int8,
                 "green distill-dec": distill, "green distill-dec-int8": distill_int8}
    if "prune50-int8" in done:  # optional: made by `green compress --recipe prune50-int8` on this workdir
        artifacts["green prune50-int8"] = wb.resolve_artifact("prune50-int8")[0]
    runners = {name: open_runner(a, "cpu") for name, a in artifacts.items()}
    # int8 again with transformers' search loop (optimum-onnx's generate): what green's search buys, same run.
    runners[HF_INT8] = open_runner(int8, "cpu", RuntimeOptions(transformers_search=True))
    artifacts[HF_INT8] = int8
    # The same settings for every route: the baseline's generation_config.
    settings = task.inference_settings(baseline.path, None)
    print(f"generation settings (all routes): {settings}", flush=True)

    tokenizer = load_tokenizer(str(baseline.file("tokenizer")))
    max_length = wb.task_spec().get("max_length") or 128
    test = data.test.head(args.rows)
    enc = task.encode(tokenizer, test.inputs, max_length)
    quality = {}
    for name, runner in runners.items():
        t0 = time.perf_counter()
        preds = task.predict(runner, enc, 64, generation=settings)
        quality[name] = task.metrics(preds, test)
        print(f"  {name}: search {runner.describe().get('search', 'transformers (PyTorch)')}", flush=True)
        print(f"{name}: ROUGE-L {quality[name]['rougeL']:.4f} on {len(test)} test rows "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    lead = task.reference(data, test)

    groups = sorted_batches(enc.lengths, args.batch_size)
    batches = [enc.batch(idx) for idx in groups]
    routes = {name: (lambda r: (lambda b: r.generate(b, settings)))(runner) for name, runner in runners.items()}
    print(f"throughput: batch {args.batch_size}, {len(batches)} batches of real lengths, {args.rounds} rounds of "
          f"{args.window_s:.0f} s windows per route", flush=True)
    windows = interleave(routes, batches, [len(i) for i in groups], args.rounds, args.window_s, warmup=1)
    print(f"latency: batch 1, {args.latency_rows} rows, routes alternating", flush=True)
    latency = latency_interleaved(routes, [enc.batch([i]) for i in range(min(args.latency_rows, len(enc)))],
                                  rounds=1, warmup=3)
    share = {name: ort_share(runner, batches[len(batches) // 2], settings) for name, runner in runners.items()
             if name != BASE}

    results = {}
    for name in runners:
        results[name] = {
            "rougeL": quality[name]["rougeL"], "metrics": quality[name],
            "rougeL_points_vs_baseline": (quality[name]["rougeL"] - quality[BASE]["rougeL"]) * 100,
            "throughput_vs_torch_fp32": ratio_summary(windows, name, BASE),
            "cpu_s_per_summary_vs_torch_fp32": ratio_summary(windows, name, BASE, "cpu_s_per_sequence"),
            "summaries_per_s_median": statistics.median(w["per_s"] for w in windows[name]),
            "latency_b1": latency[name],
            "latency_speedup_vs_torch_fp32": latency[BASE]["p50_ms"] / latency[name]["p50_ms"],
            "ort_time": share.get(name),
            "artifact": str(artifacts[name].path),
        }
    i8, di8 = results["green int8"], results["green distill-dec-int8"]
    checks = {
        "int8 >= 2x PyTorch fp32 generate (summaries/s, batch 32)": i8["throughput_vs_torch_fp32"]["median"] >= 2,
        "int8 ROUGE-L >= baseline - 1 point": i8["rougeL_points_vs_baseline"] >= -1.0,
        "distill-dec-int8 >= 3x PyTorch fp32 generate": di8["throughput_vs_torch_fp32"]["median"] >= 3,
        "distill-dec-int8 ROUGE-L >= baseline - 1.5 points": di8["rougeL_points_vs_baseline"] >= -1.5,
    }
    payload = {**machine("cpu"), "what": "issue 10: summarization, green int8 / distill-dec(-int8) vs PyTorch fp32 "
               "generate, interleaved", "workdir": str(wb.workdir), "generation": settings,
               "batch_size": args.batch_size, "rows": len(test), "rounds": args.rounds, "window_s": args.window_s,
               "lead_n": lead, "routes": results, "checks": checks, "windows": windows}
    path = save("bart_cpu", "cpu", payload, args.out)
    print(f"\n{'route':24s} {'sum/s':>6s} {'x torch fp32 (range)':>22s} {'b=1 p50 ms':>11s} {'x':>5s} "
          f"{'ROUGE-L':>8s} {'pts':>6s} {'in ORT':>7s}")
    for name, r in results.items():
        t = r["throughput_vs_torch_fp32"]
        ort = f"{r['ort_time']['ort_share']:.0%}" if r["ort_time"] else "-"
        print(f"{name:24s} {r['summaries_per_s_median']:6.1f} {t['median']:8.2f}x ({t['min']:.2f}-{t['max']:.2f}) "
              f"{r['latency_b1']['p50_ms']:11.1f} {r['latency_speedup_vs_torch_fp32']:5.2f} "
              f"{r['rougeL']:8.4f} {r['rougeL_points_vs_baseline']:+6.2f} {ort:>7s}")
    if lead:
        print(f"{lead['name']} reference: ROUGE-L {lead['metrics']['rougeL']:.4f}")
    for k, ok in checks.items():
        print(f"  {k}: {'PASS' if ok else 'FAIL'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
