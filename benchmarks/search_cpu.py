"""``green search`` on the CPU: its wall time, and its choice beside cpu-max, int8 and PyTorch fp32; rerunnable.

    python benchmarks/search_cpu.py --workdir W [--quick] [--trials 12] [--max-drop 1.0]
                                    [--lifetime 1e4,1e8] [--rounds 7] [--window-s 3] [--out DIR]
                                    [--data embedded|rotten-tomatoes|PATH.csv --text-column C --label-column C]

In workdir W (its baseline trained first if it has none: ``cpu-default`` on a CPU, or the
``quick`` budget with ``--quick``) it runs ``green search`` with the built-in CPU space for
the task (``cpu-classification``) and ``--max-drop``, timing it; makes the int8 and cpu-max
runs if missing; reruns the search's ``best.yaml`` with ``green compress`` (its steps are
reused from the trial that made them). Then, in one process, alternating the routes window
by window so machine noise hits all alike (A B C D A B C D ...), it measures throughput at
batch 32 on the test split's real lengths of: PyTorch fp32 eager (the reference of every
ratio), green int8, green cpu-max and the search's choice, and computes every route's test
accuracy on the whole test split. With ``--lifetime N1,N2`` it also runs one lifetime search
per count (``--objective lifetime --inferences N``; named ``life-N``, sharing every step
already made) and reports which recipe each picks and its energy of making.

Targets (issue 17): the choice at most 1.5 points below the baseline on the test split, and
at least as fast as cpu-max at equal or better accuracy (or dominating it); different picks
at 1e4 and 1e8 inferences. CPU energy without RAPL is an estimate (codecarbon's TDP model),
and the JSON says so. Results go to benchmarks/results/search_cpu-<cpu>-<date>.json.
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

from _common import (  # noqa: E402
    PACKAGED_DATA,
    ensure_runs,
    interleave,
    machine,
    packaged_data,
    ratio_summary,
    real_batches,
    save,
    score_on_test,
)

from green.models import load_tokenizer  # noqa: E402
from green.runtime import open_runner  # noqa: E402
from green.search.study import Search, SearchSettings, parse_count  # noqa: E402
from green.workbench import Workbench  # noqa: E402

BASE = "torch-fp32"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="train the baseline (if missing) with the quick budget")
    ap.add_argument("--space", default="cpu-classification")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--max-drop", type=float, default=1.0)
    ap.add_argument("--lifetime", default="", help="comma-separated inference counts, e.g. 1e4,1e8")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--window-s", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rows", type=int, default=2000, help="test rows cycled through (real lengths)")
    ap.add_argument("--data", default="embedded",
                    help=f"the baseline's data if the workdir has none: embedded, {', '.join(PACKAGED_DATA)} or a CSV")
    ap.add_argument("--text-column", default=None)
    ap.add_argument("--label-column", default=None)
    ap.add_argument("--name", default="", help="a suffix for the results file (e.g. the data set's name)")
    ap.add_argument("--search-name", default=None,
                    help="green search --name: a second search in the same workdir (another --max-drop, say)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    wb = Workbench(args.workdir, device="cpu")
    data_arg, columns, data_what = args.data, {"text": args.text_column, "label": args.label_column}, args.data
    if args.data in PACKAGED_DATA:
        path, columns, data_what = packaged_data(args.data, wb.workdir / "data")
        data_arg = str(path)
    elif args.data != "embedded" and Path(args.data).exists():
        data_arg = str(Path(args.data).resolve())  # as green train stores it
    if not wb.has_baseline():
        print(f"green train{' --quick' if args.quick else ''} --data {data_arg} (no baseline in {wb.workdir} yet)",
              flush=True)
        wb.train(data=data_arg, columns={k: v for k, v in columns.items() if v}, quick=args.quick)
    elif wb.task_spec().get("data") != data_arg and args.data != "embedded":
        raise SystemExit(f"error: {wb.workdir} holds a baseline trained on {wb.task_spec().get('data')}, "
                         f"not {data_arg}; pass an empty --workdir for --data {args.data}")
    t0 = time.perf_counter()
    result = Search(wb, SearchSettings(space=args.space, trials=args.trials, max_drop=args.max_drop,
                                       name=args.search_name), "cpu").run()
    search_s = time.perf_counter() - t0
    summary = result.summary
    print(f"search: {search_s / 60:.1f} min, choice t{summary['choice']['trial']:03d} {summary['choice']['recipe']}",
          flush=True)
    lifetimes = {}
    for text in [t for t in args.lifetime.split(",") if t]:
        n = parse_count(text)
        t1 = time.perf_counter()
        life = Search(wb, SearchSettings(space=args.space, trials=args.trials, max_drop=args.max_drop,
                                         objective="lifetime", inferences=n, name=f"life-{text}"), "cpu").run()
        front = {f["trial"]: f for f in life.summary["frontier"]}
        pick = life.summary["choice"]
        lifetimes[text] = {"inferences": n, "minutes": (time.perf_counter() - t1) / 60, "choice": pick["recipe"],
                           "choice_make_j": front[pick["trial"]]["make_j"],
                           "choice_per_inference_j": front[pick["trial"]]["per_inference_j"],
                           "choice_lifetime": front[pick["trial"]].get("lifetime"), "notes": life.notes,
                           "frontier": [{k: f[k] for k in ("trial", "recipe", "make_j", "per_inference_j", "value",
                                                           "drop")} for f in life.summary["frontier"]]}
        costs = lifetimes[text]["choice_lifetime"] or {}
        print(f"lifetime at {text}: picks {pick['recipe']} (made with {lifetimes[text]['choice_make_j']:.0f} J, "
              f"its share of the search {costs.get('search_share_j', 0):.0f} J; pays back after "
              f"{costs.get('payback_inferences') or float('nan'):.3g} inferences)", flush=True)

    ensure_runs(wb, ("int8", "cpu-max"))
    best_file = summary["choice"]["file"]
    rerun = wb.compress(best_file)  # the user's rerun: every step reused, evaluated on the test split
    print(f"rerun of best.yaml: test {rerun.primary_value:.4f}", flush=True)

    task, data = wb.task(), wb.task_data()
    baseline = wb.resolve_artifact("baseline")[0]
    runners = {BASE: open_runner(baseline, "cpu"),
               "green int8": open_runner(wb.resolve_artifact("int8")[0], "cpu"),
               "green cpu-max": open_runner(wb.resolve_artifact("cpu-max")[0], "cpu"),
               "search choice": open_runner(wb.resolve_artifact(rerun.recipe)[0], "cpu")}
    tokenizer = load_tokenizer(str(baseline.file("tokenizer")))
    accuracy = score_on_test(runners, task, data, tokenizer)
    enc = task.encode(tokenizer, data.test.inputs[: args.rows], 128)
    batches, sizes = real_batches(enc, args.batch_size)
    print(f"throughput: batch {args.batch_size}, {len(batches)} batches, {args.rounds} rounds of {args.window_s:.0f} s "
          "windows per route, interleaved", flush=True)
    windows = interleave(runners, batches, sizes, args.rounds, args.window_s)
    routes = {name: {"accuracy": accuracy[name], "points_vs_baseline": (accuracy[name] - accuracy[BASE]) * 100,
                     "throughput_vs_torch_fp32": ratio_summary(windows, name, BASE),
                     "cpu_s_per_sequence_vs_torch_fp32": ratio_summary(windows, name, BASE, "cpu_s_per_sequence"),
                     "per_s_median": statistics.median(w["per_s"] for w in windows[name])} for name in runners}
    choice_vs_cpumax = ratio_summary(windows, "search choice", "green cpu-max")
    c, m = routes["search choice"], routes["green cpu-max"]
    checks = {
        "choice within 1.5 points of the baseline on the test split": c["points_vs_baseline"] >= -1.5,
        "choice at least as fast as cpu-max at equal or better accuracy":
            choice_vs_cpumax["median"] >= 1.0 and c["accuracy"] >= m["accuracy"],
    }
    if len(lifetimes) >= 2:
        checks["lifetime picks differ between the inference counts"] = len({v["choice"] for v in lifetimes.values()}) > 1
    out = {**machine("cpu"), "what": "issue 17: green search's choice vs cpu-max, int8 and PyTorch fp32, interleaved",
           "workdir": str(wb.workdir), "data": data_what, "budget": wb.task_spec().get("budget"),
           "test_rows": len(data.test.inputs), "space": args.space,
           "trials": args.trials, "max_drop": args.max_drop, "search_minutes": search_s / 60,
           "search_summary": {k: summary[k] for k in ("choice", "frontier", "states", "search_energy")},
           "lifetime": lifetimes, "rerun_record": rerun.file, "batch_size": args.batch_size, "rounds": args.rounds,
           "window_s": args.window_s, "routes": routes, "choice_vs_cpu_max": choice_vs_cpumax, "checks": checks,
           "energy_note": "CPU energy here is codecarbon's estimate (no RAPL); throughput ratios are measured",
           "windows": windows}
    path = save("search_cpu" + (f"-{args.name}" if args.name else ""), "cpu", out, args.out)
    print(f"\n{'route':16s} {'seq/s':>7s} {'x torch fp32 (range)':>22s} {'accuracy':>9s} {'pts':>6s}")
    for name, r in routes.items():
        t = r["throughput_vs_torch_fp32"]
        print(f"{name:16s} {r['per_s_median']:7.0f} {t['median']:8.2f}x ({t['min']:.2f}-{t['max']:.2f}) "
              f"{r['accuracy']:9.4f} {r['points_vs_baseline']:+6.2f}")
    print(f"choice / cpu-max throughput: {choice_vs_cpumax['median']:.2f}x "
          f"({choice_vs_cpumax['min']:.2f}-{choice_vs_cpumax['max']:.2f})")
    for k, ok in checks.items():
        print(f"  {k}: {'PASS' if ok else 'FAIL'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
