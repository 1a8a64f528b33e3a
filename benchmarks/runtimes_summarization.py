"""Summarization runtimes on the CPU: PyTorch fp32 ``generate``, green int8 (ONNX Runtime), CTranslate2 int8; rerunnable.

    python benchmarks/runtimes_summarization.py --workdir W [--rows 300] [--rounds 5] [--window-s 5]
        [--batch-size 32] [--load-cores 0|1] [--threads N] [--out DIR] [--tag NAME]

W is a summarization workdir (``green train --task summarization --workdir W``; the script trains
it first when it has no baseline, 10-20 minutes on 2 cores). Issue 18's routes, in one process,
alternating window by window (A B C A B C ...; the starting route rotates every round) on the
same test rows, the same batches and the baseline's own generation settings:

* PyTorch fp32 ``generate`` of the baseline (the reference of every ratio);
* green int8 (ONNX Runtime with the KV cache, green's search): the workdir's int8 run, or, when
  it has none, green's export and quantize steps as the recipe ``int8`` runs them;
* CTranslate2 int8 of the baseline: the workdir's ct2-int8 run, or green's ``convert`` step;
* every other summarization recipe the workdir has a complete run of (distill-dec-ct2-int8,
  distill-dec-int8, prune50-int8...), as they are.

It prints, per route, the median and range over rounds of its throughput ratio to PyTorch (and
of CPU-seconds per summary), ROUGE-L on the rows, and the machine (CPU model, ISA from
green.machine, torch build and CPU capability, threads), and writes every window to
``benchmarks/results/runtimes_summarization-<cpu>-<date>[-tag].json``. ``--load-cores 1`` keeps
one core busy with a second process for the whole measurement (issue 18's loaded condition);
run it once with 0 and once with 1. A smoke run: ``--rows 16 --rounds 1 --window-s 1``.
"""

from __future__ import annotations

import argparse
import contextlib
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

from _common import cpu_load, interleave, machine, ratio_summary, real_batches, run_steps, save  # noqa: E402

from green.models import load_tokenizer  # noqa: E402
from green.runs import complete_runs  # noqa: E402
from green.runtime import RuntimeOptions, open_runner  # noqa: E402
from green.workbench import Workbench  # noqa: E402

BASE = "torch-fp32"
INT8 = "green int8 (ORT)"
CT2 = "ct2 int8 (baseline)"


def the_machine(threads: int | None) -> dict:
    """CPU model, kernel ISA, torch build and capability, threads: what decides the ratios."""
    import torch

    from green.machine import machine_info

    info = machine_info(threads)
    return {"summary": info.summary(), "cpu": info.cpu, "isa": info.isa, "isa_label": info.isa_label(),
            "torch": torch.__version__, "torch_cpu_capability": info.torch_cpu_capability,
            "usable_cpus": info.usable_cpus, "torch_threads": info.torch_threads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=300, help="test rows: ROUGE-L, and cycled through for throughput")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window-s", type=float, default=5.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--load-cores", type=int, default=0, help="cores kept busy by other processes while measuring")
    ap.add_argument("--threads", type=int, default=None, help="runtime threads (ORT intra-op, CT2 intra_threads)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()

    wb = Workbench(args.workdir, device="cpu")
    if not wb.baseline_dir.exists():
        print(f"green train --task summarization --workdir {wb.workdir}", flush=True)
        wb.train(task="summarization")
    task = wb.task()
    if task.name != "summarization":
        sys.exit(f"{wb.workdir} is a {task.name} workdir; this benchmark needs --task summarization")
    data = wb.task_data()
    baseline = wb.resolve_artifact("baseline")[0]
    present = sorted({rec["name"] for rec in complete_runs(wb.runs_dir).values()}) if wb.runs_dir.is_dir() else []
    work = Path(tempfile.mkdtemp(prefix="green-runtimes-"))
    artifacts = {BASE: baseline}
    for name, recipe in ((INT8, "int8"), (CT2, "ct2-int8")):
        if recipe in present:
            artifacts[name] = wb.resolve_artifact(recipe)[0]
        else:
            print(f"{name}: no {recipe} run in {wb.workdir}; green's steps of {recipe} on the baseline", flush=True)
            artifacts[name] = run_steps(recipe, baseline, wb, work / recipe)
    for recipe in present:
        if recipe not in ("int8", "ct2-int8"):
            artifacts[f"green {recipe}"] = wb.resolve_artifact(recipe)[0]
    options = RuntimeOptions(threads=args.threads)
    runners = {name: open_runner(a, "cpu", options) for name, a in artifacts.items()}
    settings = task.inference_settings(baseline.path, None)  # the baseline's own, for every route
    print(f"generation settings (all routes): {settings}", flush=True)

    tokenizer = load_tokenizer(str(baseline.file("tokenizer")))
    max_length = wb.task_spec().get("max_length") or 128
    test = data.test.head(args.rows)
    enc = task.encode(tokenizer, test.inputs, max_length)
    quality = {}
    for name, runner in runners.items():
        t0 = time.perf_counter()
        quality[name] = task.metrics(task.predict(runner, enc, 64, generation=settings), test)
        print(f"{name}: ROUGE-L {quality[name]['rougeL']:.4f} on {len(test)} test rows "
              f"({time.perf_counter() - t0:.0f} s; {runner.describe().get('runtime')})", flush=True)

    batches, sizes = real_batches(enc, args.batch_size)
    routes = {name: (lambda r: (lambda b: r.generate(b, settings)))(runner) for name, runner in runners.items()}
    print(f"throughput: batch {args.batch_size}, {len(batches)} batches of real lengths, {args.rounds} rounds of "
          f"{args.window_s:g} s windows per route, {args.load_cores} core(s) loaded", flush=True)
    load = cpu_load(args.load_cores) if args.load_cores else contextlib.nullcontext()
    with load:
        windows = interleave(routes, batches, sizes, args.rounds, args.window_s, warmup=1)

    results = {}
    for name in runners:
        results[name] = {
            "rougeL": quality[name]["rougeL"], "metrics": quality[name],
            "rougeL_points_vs_baseline": (quality[name]["rougeL"] - quality[BASE]["rougeL"]) * 100,
            "throughput_vs_torch_fp32": ratio_summary(windows, name, BASE),
            "throughput_vs_ct2_int8": ratio_summary(windows, name, CT2),
            "cpu_s_per_summary_vs_torch_fp32": ratio_summary(windows, name, BASE, "cpu_s_per_sequence"),
            "summaries_per_s_median": statistics.median(w["per_s"] for w in windows[name]),
            "runtime": runners[name].describe(), "artifact": str(artifacts[name].path),
        }
    host = the_machine(args.threads)
    payload = {**machine("cpu"), "what": "issue 18: summarization runtimes, interleaved windows in one process",
               "machine_detail": host, "workdir": str(wb.workdir), "generation": settings,
               "batch_size": args.batch_size, "rows": len(test), "rounds": args.rounds, "window_s": args.window_s,
               "load_cores": args.load_cores, "threads": args.threads, "routes": results, "windows": windows,
               "reference": task.reference(data, test)}
    path = save("runtimes_summarization" + (f"-{args.tag}" if args.tag else ""), "cpu", payload, args.out)
    print(f"\nmachine: {host['summary']} · torch {host['torch']} ({host['torch_cpu_capability']})"
          f" · {args.load_cores} core(s) loaded")
    print(f"{'route':28s} {'sum/s':>7s} {'x torch fp32 (range)':>22s} {'x ct2 int8':>10s} {'ROUGE-L':>8s} {'pts':>6s}")
    for name, r in results.items():
        t = r["throughput_vs_torch_fp32"]
        print(f"{name:28s} {r['summaries_per_s_median']:7.1f} {t['median']:8.2f}x ({t['min']:.2f}-{t['max']:.2f}) "
              f"{r['throughput_vs_ct2_int8']['median']:9.2f}x {r['rougeL']:8.4f} {r['rougeL_points_vs_baseline']:+6.2f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
