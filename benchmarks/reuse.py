"""Step reuse: `green compress --recipe distill-l3 --recipe cpu-max` with and without `--no-reuse`.

distill-l3 and cpu-max begin with the identical distillation step. With reuse (the
default) the second recipe links the first one's distilled student instead of distilling
again. This script trains one embedded baseline, then runs the two-recipe command in fresh
copies of that workdir, alternating the two routes (reuse, no-reuse, no-reuse, reuse, ...),
and reports each command's wall time and how many distillations ran.

Whole commands take minutes, so the routes cannot alternate inside one window as energy
ratios do: the rounds alternate instead, and the range over rounds is reported. Run it on
a quiet machine.

    python benchmarks/reuse.py --workdir /tmp/reuse --rounds 2            # --quick budgets (about 25 min)
    python benchmarks/reuse.py --workdir /tmp/reuse --rounds 1 --full     # the CPU budget (about 1.5 h)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, save  # noqa: E402

RECIPES = ("distill-l3", "cpu-max")


def green(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "green.cli", *args], capture_output=True, text=True, env=env)


def run_route(base: Path, work: Path, reuse: bool) -> dict:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work)
    args = ["compress", *[a for r in RECIPES for a in ("--recipe", r)], "--workdir", str(work), "--device", "cpu"]
    if not reuse:
        args.append("--no-reuse")
    t0 = time.perf_counter()
    res = green(*args)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"compress failed ({res.returncode}): {res.stderr[-2000:]}")
    records = [json.loads(p.read_text()) for p in sorted((work / "records").glob("*.json"))]
    by_recipe = {r["recipe"]: r for r in records if r["recipe"] in RECIPES}
    steps = {name: [{k: s.get(k) for k in ("step", "reused", "reused_from", "joules", "seconds")}
                    for s in rec["run_steps"]] for name, rec in by_recipe.items()}
    distills = sum(1 for s in steps.values() for st in s if st["step"] == "distill" and not st["reused"])
    return {"reuse": reuse, "wall_s": wall, "distillations_run": distills, "run_steps": steps,
            "run_energy_j": {n: r["run_energy_j"] for n, r in by_recipe.items()},
            "run_energy_spent_j": {n: r.get("run_energy_spent_j") for n, r in by_recipe.items()},
            "accuracy": {n: r["metrics"].get("accuracy") for n, r in by_recipe.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="the CPU budget instead of --quick")
    args = ap.parse_args()
    base = args.workdir / "base"
    if not (base / "task.json").is_file():
        res = green("train", "--workdir", str(base), "--device", "cpu", *([] if args.full else ["--quick"]))
        if res.returncode != 0:
            raise SystemExit(f"train failed: {res.stderr[-2000:]}")
    rounds = []
    for i in range(args.rounds):
        order = (True, False) if i % 2 == 0 else (False, True)  # AB, BA, ...
        for reuse in order:
            r = run_route(base, args.workdir / f"round{i}-{'reuse' if reuse else 'no-reuse'}", reuse)
            r["round"] = i
            rounds.append(r)
            print(f"round {i} {'reuse   ' if reuse else 'no-reuse'}: {r['wall_s']:7.1f} s, "
                  f"{r['distillations_run']} distillation(s)", flush=True)
    summary = {}
    for reuse in (True, False):
        walls = [r["wall_s"] for r in rounds if r["reuse"] is reuse]
        summary["reuse" if reuse else "no_reuse"] = {"median_wall_s": statistics.median(walls),
                                                     "range_wall_s": [min(walls), max(walls)]}
    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip([r for r in rounds if r["reuse"]],
                                                         [r for r in rounds if not r["reuse"]])]
    summary["wall_ratio_reuse_over_no_reuse"] = {"median": statistics.median(ratios), "range": [min(ratios), max(ratios)]}
    print(json.dumps(summary, indent=2))
    path = save("reuse" + ("" if args.full else "-quick"), "cpu",
                {"machine": machine("cpu"), "budget": "cpu-default" if args.full else "quick", "recipes": RECIPES,
                 "rounds": rounds, "summary": summary})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
