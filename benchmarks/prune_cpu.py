"""Pruning on the CPU: prune50 against fp32-onnx, interleaved in one process; rerunnable.

    python benchmarks/prune_cpu.py --workdir W [--rounds 7] [--window-s 3] [--out DIR]

Uses (and, where missing, makes with ``green compress``) the runs of fp32-onnx, int8,
prune50 and prune50-int8 in workdir W, whose baseline is trained first if it has none
(the ``cpu-default`` budget on a CPU). It then measures throughput at batch 32 on the
test split's real lengths, length-sorted batches in a shuffled order, for PyTorch fp32
eager (the baseline), fp32-onnx, int8, prune50 and prune50-int8, alternating the routes
window by window (A B C D E, A B C D E, ...) so machine noise hits all alike, and
reports each route's per-round ratio to fp32-onnx (median and range) with the test
accuracy each record holds. Target (issue 8): prune50 at least 1.6x fp32-onnx, at most
1.5 accuracy points below the baseline. Results go to benchmarks/results/prune_cpu-<cpu>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

from _common import ensure_runs, interleave, machine, ratio_summary, real_batches, save  # noqa: E402

from green.models import load_tokenizer  # noqa: E402
from green.records import load_records  # noqa: E402
from green.runtime import open_runner  # noqa: E402
from green.workbench import Workbench  # noqa: E402

RECIPES = ["fp32-onnx", "int8", "prune50", "prune50-int8"]
REFERENCE = "fp32-onnx"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--window-s", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rows", type=int, default=2000, help="test rows cycled through (real lengths)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    wb = Workbench(args.workdir, device="cpu")
    ensure_runs(wb, RECIPES)
    records = {r.recipe: r for r in load_records(wb.records_dir) if r.kind == "evaluation"}

    arts = {"baseline (torch fp32)": wb.resolve_artifact("baseline")[0]}
    arts.update({name: wb.resolve_artifact(name)[0] for name in RECIPES})
    data = wb.task_data()
    tokenizer = load_tokenizer(str(arts["baseline (torch fp32)"].file("tokenizer")))
    enc = wb.task().encode(tokenizer, data.test.inputs[: args.rows], 128)
    batches, sizes = real_batches(enc, args.batch_size)
    runners = {name: open_runner(art, "cpu") for name, art in arts.items()}
    print(f"{len(runners)} routes, batch {args.batch_size}, {len(batches)} batches of real lengths "
          f"(median {sorted(enc.lengths)[len(enc.lengths) // 2]} tokens), {args.rounds} rounds of "
          f"{args.window_s:.0f} s windows", flush=True)
    windows = interleave(runners, batches, sizes, args.rounds, args.window_s)

    base_name = "baseline (torch fp32)"
    base_acc = records["baseline"].primary_value
    routes = {}
    for name in runners:
        recipe = "baseline" if name == base_name else name
        rec = records.get(recipe)
        routes[name] = {
            "artifact": str(arts[name].path),
            "accuracy": rec.primary_value if rec else None,
            "accuracy_points_vs_baseline": (rec.primary_value - base_acc) * 100 if rec and base_acc else None,
            "size_mb": arts[name].size_bytes / 1e6,
            "per_s_median": sorted(w["per_s"] for w in windows[name])[len(windows[name]) // 2],
            "throughput_vs_fp32_onnx": ratio_summary(windows, name, REFERENCE),
            "throughput_vs_torch_fp32": ratio_summary(windows, name, base_name),
            "cpu_s_per_sequence_vs_fp32_onnx": ratio_summary(windows, name, REFERENCE, "cpu_s_per_sequence"),
            "pruned_shape": {k: arts[name].lineage()[-2].extra.get(k) for k in ("heads_kept", "ffn_kept")}
            if name.startswith("prune") else None,
        }
    p = routes["prune50"]
    checks = {
        "prune50 >= 1.6x fp32-onnx throughput (median of rounds)": p["throughput_vs_fp32_onnx"]["median"] >= 1.6,
        "prune50 accuracy >= baseline - 1.5 points": (p["accuracy_points_vs_baseline"] or -99) >= -1.5,
    }
    result = {**machine("cpu"), "what": "issue 8: prune50 vs fp32-onnx on ONNX Runtime CPU, batch "
              f"{args.batch_size}, real lengths, interleaved windows", "workdir": str(wb.workdir),
              "batch_size": args.batch_size, "rows": len(enc), "rounds": args.rounds, "window_s": args.window_s,
              "routes": routes, "checks": checks, "windows": windows}
    path = save("prune_cpu", "cpu", result, args.out)
    print(f"\n{'route':24s} {'seq/s':>7s} {'x fp32-onnx (range)':>22s} {'accuracy':>9s} {'pts':>6s} {'MB':>6s}")
    for name, r in routes.items():
        t = r["throughput_vs_fp32_onnx"]
        acc = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "n/a"
        pts = f"{r['accuracy_points_vs_baseline']:+.2f}" if r["accuracy_points_vs_baseline"] is not None else "n/a"
        print(f"{name:24s} {r['per_s_median']:7.0f} {t['median']:8.2f}x ({t['min']:.2f}-{t['max']:.2f}) "
              f"{acc:>9s} {pts:>6s} {r['size_mb']:6.1f}")
    for k, ok in checks.items():
        print(f"  {k}: {'PASS' if ok else 'FAIL'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
