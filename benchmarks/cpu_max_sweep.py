"""How cpu-max's settings were chosen: a sweep of pruning amounts after distillation; rerunnable.

    python benchmarks/cpu_max_sweep.py --workdir W [--grid 0.5:0.5 0.5:0.75 0.75:0.75] [--out DIR]

On workdir W's baseline (trained first if missing) it distils once as cpu-max does
(every other layer), then for each ``heads:ffn`` pair prunes that student with recovery
fine-tuning, exports it fused and quantizes it to dynamic int8, exactly cpu-max's later
steps. Each candidate is scored on the *validation* split (the test split stays unseen
until the recipe is fixed) and its throughput at batch 32 on real lengths is measured
interleaved with PyTorch fp32 eager. The chosen setting is the fastest whose validation
accuracy is within 1.0 point of the baseline's: the target allows 1.5 on the test split,
and half a point is kept for the sampling noise between two splits of ~3,800 examples
(a standard error of about 0.7 points each). Results go to
benchmarks/results/cpu_max_sweep-<cpu>-<date>.json.
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

from _common import interleave, machine, ratio_summary, save  # noqa: E402

from green.artifacts import Artifact  # noqa: E402
from green.batching import sorted_batches  # noqa: E402
from green.compress import StepContext  # noqa: E402
from green.engine import run_step as engine_step  # noqa: E402
from green.models import load_tokenizer  # noqa: E402
from green.recipe import load_recipe  # noqa: E402
from green.runtime import open_runner  # noqa: E402
from green.workbench import Workbench  # noqa: E402

#: Validation points a candidate may lose: the test target's 1.5 less a 0.5-point margin for split noise.
ALLOWED_DROP_POINTS = 1.0


def run_step(name: str, config, parent: Artifact, out: Path, wb: Workbench) -> Artifact:
    if Artifact.exists(out):
        return Artifact.load(out)
    out.mkdir(parents=True, exist_ok=True)
    data = wb.task_data()
    art = engine_step(parent, config, StepContext(out, "cpu", task=wb.task(), data=data, seed=data.seed))
    art.save()
    return art


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--grid", nargs="+", default=["0.5:0.5", "0.5:0.75", "0.75:0.75", "0.75:0.875", "0.875:0.875"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window-s", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    wb = Workbench(args.workdir, device="cpu")
    wb.ensure_baseline()
    task, data = wb.task(), wb.task_data()
    baseline = wb.resolve_artifact("baseline")[0]
    recipe = {s.name: s.config for s in load_recipe("cpu-max").steps}
    sweep = wb.workdir / "sweep-cpu-max"
    student = run_step("distill", recipe["distill"], baseline, sweep / "distill", wb)

    tokenizer = load_tokenizer(str(baseline.file("tokenizer")))
    val_enc = task.encode(tokenizer, data.validation.inputs, 128)

    def val_score(art: Artifact) -> float:
        return task.metrics(task.predict(open_runner(art, "cpu"), val_enc, 64), data.validation)[task.primary_metric]

    candidates = {}
    for cell in args.grid:
        heads, ffn = (float(x) for x in cell.split(":"))
        tag = f"h{heads:g}-f{ffn:g}"
        prune_cfg = recipe["prune"].model_copy(update={"heads": heads, "ffn": ffn})
        pruned = run_step("prune", prune_cfg, student, sweep / tag / "prune", wb)
        exported = run_step("export", recipe["export"], pruned, sweep / tag / "export", wb)
        candidates[tag] = run_step("quantize", recipe["quantize"], exported, sweep / tag / "quantize", wb)
        print(f"{tag}: validation {task.primary_metric} {val_score(candidates[tag]):.4f}", flush=True)

    enc = task.encode(tokenizer, data.test.inputs[:2000], 128)
    groups = sorted_batches(enc.lengths, 32)
    runners = {"torch-fp32": open_runner(baseline, "cpu"), **{t: open_runner(a, "cpu") for t, a in candidates.items()}}
    windows = interleave(runners, [enc.batch(i) for i in groups], [len(i) for i in groups], args.rounds, args.window_s)
    base_val = val_score(baseline)
    rows = {}
    for tag, art in candidates.items():
        score = val_score(art)
        rows[tag] = {"validation": score, "validation_points_vs_baseline": (score - base_val) * 100,
                     "throughput_vs_torch_fp32": ratio_summary(windows, tag, "torch-fp32"),
                     "heads_kept": art.lineage()[2].extra.get("heads_kept"),
                     "ffn_kept": art.lineage()[2].extra.get("ffn_kept")}
    ok = {t: r for t, r in rows.items() if r["validation_points_vs_baseline"] >= -ALLOWED_DROP_POINTS}
    chosen = max(ok, key=lambda t: ok[t]["throughput_vs_torch_fp32"]["median"]) if ok else None
    result = {**machine("cpu"), "what": "cpu-max pruning sweep after distillation (validation split, interleaved "
              "throughput vs PyTorch fp32 eager at batch 32)", "baseline_validation": base_val,
              "distilled": {"teacher_layers": student.params.get("teacher_layers"), "history": student.extra.get("history")},
              "allowed_validation_drop_points": ALLOWED_DROP_POINTS, "candidates": rows, "chosen": chosen,
              "windows": windows}
    path = save("cpu_max_sweep", "cpu", result, args.out)
    print(f"\nbaseline validation {task.primary_metric}: {base_val:.4f}")
    for tag, r in rows.items():
        t = r["throughput_vs_torch_fp32"]
        print(f"{tag:12s} val {r['validation']:.4f} ({r['validation_points_vs_baseline']:+.2f} pts) "
              f"{t['median']:.2f}x ({t['min']:.2f}-{t['max']:.2f}) heads {r['heads_kept']} ffn {r['ffn_kept']}")
    print(f"chosen: {chosen}\nwrote {path}")


if __name__ == "__main__":
    main()
