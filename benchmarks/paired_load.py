"""The word-polarity scenario: does int8's ratio to the baseline hold while another process loads a core?

    python benchmarks/paired_load.py [--rows 600] [--out DIR] [--tag TAG]

As a new user would, through the CLI on the CPU: a small CSV task made here (sentences
built from positive and negative words), ``green train --quick``, then ``green compress
--recipe int8`` twice in the same workdir: once as the machine is, once while a second
process this script starts keeps one core busy (stopped when that run ends, and after
``--load-max-s`` at most). Each int8 record carries the ratio measured in windows that
alternate int8 and the baseline. Targets: the loaded run's paired ratio within 10 % of
the unloaded one's, and the loaded record flags its contended windows. For comparison it
also prints what dividing two separately taken records gives (what green reported before
paired measurement). Results go to benchmarks/results/paired_load[-TAG]-<device>-<date>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_load, machine, save  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
POSITIVE = ["wonderful", "great", "excellent", "lovely", "delightful", "superb", "pleasant", "brilliant", "charming",
            "fantastic", "good", "marvelous", "enjoyable", "splendid", "terrific"]
NEGATIVE = ["awful", "terrible", "horrible", "dreadful", "poor", "bad", "disappointing", "miserable", "nasty",
            "lousy", "boring", "annoying", "mediocre", "unpleasant", "dismal"]
NOUNS = ["film", "meal", "service", "hotel", "book", "concert", "trip", "phone", "game", "show", "class", "coffee"]
TEMPLATES = ["the {noun} was {word}", "what a {word} {noun}", "honestly, a {word} {noun} overall",
             "i found the {noun} {word} from start to finish", "our {noun} turned out {word}",
             "everyone said the {noun} felt {word}", "{word}, just {word}: that {noun}"]


def make_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """Balanced positive/negative sentences; the label is the polarity of the word used."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(rows):
            label = "positive" if i % 2 == 0 else "negative"
            word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
            w.writerow([rng.choice(TEMPLATES).format(noun=rng.choice(NOUNS), word=word), label])
    return path


def green(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "green.cli", *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"green {' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return res, time.perf_counter() - t0


def record_of(res: subprocess.CompletedProcess) -> dict:
    line = [x for x in res.stdout.splitlines() if x.startswith("record: ")][-1]
    return json.loads(Path(line.split("record: ", 1)[1]).read_text())


def summary(rec: dict, baseline: dict, seconds: float, warnings: list[str]) -> dict:
    p = rec["paired"]
    windows = rec["energy"]["windows"] + p["reference_windows"]
    flagged = [w for w in windows if w["contention"]]
    shares = sorted(w["other_cpu_share"] for w in windows if w["other_cpu_share"] is not None)
    return {
        "seconds": seconds,
        "paired_energy_ratio": p["energy_ratio"],
        "paired_energy_ratio_range": p["energy_ratio_range"],
        "paired_energy_ratio_spread": p["energy_ratio_spread"],
        "round_ratios": p["round_ratios"],
        "paired_throughput_ratio": p["throughput_ratio"],
        "paired_cpu_seconds_ratio": p["cpu_seconds_ratio"],
        "rounds": p["rounds"],
        "rounds_run": p["rounds_run"],
        "converged": p["converged"],
        "contended_rounds": p["contended_rounds"],
        "record_contended": rec["contended"],
        "windows_flagged_contended": len(flagged),
        "windows": len(windows),
        "other_cpu_share_median": shares[len(shares) // 2] if shares else None,
        "int8_mj_per_inference": rec["energy"]["per_inference_j"] * 1e3,
        "int8_cpu_ms_per_inference": rec["energy"]["cpu_s_per_inference"] * 1e3,
        "baseline_cpu_ms_per_inference_paired": (p["reference_cpu_s_per_inference"] or 0) * 1e3,
        "int8_cpu_ms_per_inference_paired": (p["cpu_s_per_inference"] or 0) * 1e3,
        "int8_seq_per_s": rec["energy"]["throughput_per_s"],
        "separate_records_energy_ratio": rec["energy"]["per_inference_j"] / baseline["energy"]["per_inference_j"],
        "separate_records_throughput_ratio": rec["energy"]["throughput_per_s"] / baseline["energy"]["throughput_per_s"],
        "energy_attribution": rec["energy"]["attribution"],
        "thread_wait": rec["energy"].get("thread_wait"),
        "terminal_warnings": warnings,
        "record": rec["id"],
    }


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=600, help="rows of the generated CSV")
    ap.add_argument("--load-max-s", type=float, default=900.0, help="the load process stops itself after this")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the workdir here (default: a temp folder)")
    ap.add_argument("--tag", default=None, help="word added to the result file's name")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp) / "w"
        data = make_csv(Path(tmp) / "word-polarity.csv", args.rows)
        common = ["--workdir", str(work), "--device", "cpu"]
        print(f"green train --quick on {args.rows} generated word-polarity rows ...")
        res, train_s = green("train", "--quick", "--data", str(data), *common)
        baseline = record_of(res)
        print(f"  {train_s:.0f} s; baseline {baseline['metrics']}, {baseline['throughput_per_s']:.1f} seq/s, "
              f"latency p50 {baseline['latency_ms']['p50']:.1f} ms / p95 {baseline['latency_ms']['p95']:.1f} ms")

        phases = {}
        for phase in ("as-is", "one-core-loaded"):
            print(f"green compress --recipe int8 ({phase}) ...")
            if phase == "as-is":
                res, secs = green("compress", "--recipe", "int8", *common)
            else:
                with cpu_load(1, args.load_max_s):
                    res, secs = green("compress", "--recipe", "int8", *common)
            warns = [x for x in res.stderr.splitlines() if x.startswith("green: warning")]
            phases[phase] = r = summary(record_of(res), baseline, secs, warns)
            lo, hi = r["paired_energy_ratio_range"] or (None, None)
            print(f"  {secs:.0f} s; paired int8/baseline energy {fmt(r['paired_energy_ratio'], '.3f')} "
                  f"[{fmt(lo, '.3f')}-{fmt(hi, '.3f')}] over {r['rounds']} rounds ({r['rounds_run']} run, "
                  f"{r['contended_rounds']} kept contended, converged {r['converged']}); throughput "
                  f"{fmt(r['paired_throughput_ratio'], '.2f')}x; CPU-s {fmt(r['paired_cpu_seconds_ratio'], '.3f')}x")
            print(f"  separate records would say: energy {r['separate_records_energy_ratio']:.3f}x, throughput "
                  f"{r['separate_records_throughput_ratio']:.2f}x; other processes' CPU share, median "
                  f"{fmt(r['other_cpu_share_median'], '.0%')}; {r['windows_flagged_contended']} of {r['windows']} "
                  "windows flagged contended")
            for w in warns:
                print(f"  terminal: {w}")

    quiet, loaded = phases["as-is"]["paired_energy_ratio"], phases["one-core-loaded"]["paired_energy_ratio"]
    shift = abs(loaded - quiet) / quiet if quiet and loaded else None
    checks = {
        "paired ratio under load within 10% of as-is": shift is not None and shift <= 0.10,
        "loaded record flags contended windows": phases["one-core-loaded"]["windows_flagged_contended"] > 0,
    }
    payload = {**machine("cpu"),
               "what": "word-polarity CSV task, embedded MiniLM, green train --quick then green compress --recipe int8 "
                       "as the machine is and while a second process keeps one core busy",
               "rows": args.rows, "train_seconds": train_s,
               "baseline": {"metrics": baseline["metrics"], "seq_per_s": baseline["energy"]["throughput_per_s"],
                            "latency_ms": baseline["latency_ms"],
                            "mj_per_inference": baseline["energy"]["per_inference_j"] * 1e3,
                            "contended": baseline["contended"]},
               "phases": phases, "ratio_shift_under_load": shift, "targets": {"ratio_shift_max": 0.10},
               "checks": checks}
    path = save(f"paired_load-{args.tag}" if args.tag else "paired_load", "cpu", payload, args.out)
    print()
    for name, ok in checks.items():
        print(f"  {name}: {'PASS' if ok else 'FAIL'}")
    print(f"  paired ratio as-is {fmt(quiet, '.3f')}, loaded {fmt(loaded, '.3f')} (shift {fmt(shift, '.1%')})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
