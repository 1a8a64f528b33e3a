"""The ``green`` command line. It parses arguments and calls the Workbench API; no logic here."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click

from green import interrupts
from green.errors import GreenError
from green.workdir import DISK_ERRNOS, disk_error

if TYPE_CHECKING:
    from green.report import Entry

#: Bounds of `green measure`'s options: more windows or longer ones than any measurement needs,
#: so a typo (1e9, --repeats 1000000) is refused at once rather than running for hours.
MAX_REPEATS = 1000
MAX_WINDOW_S = 600.0

DEVICE = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                      help="Where to train and run; auto uses a CUDA GPU when torch sees one.")
WORKDIR = click.option("--workdir", type=click.Path(file_okay=False), default="green-runs", show_default=True,
                       help="Folder holding the baseline, runs, records and report.")
COUNTRY = click.option("--country", default="USA", show_default=True,
                       help="ISO-3 country code for grid carbon intensity (codecarbon's offline tables).")
REGION = click.option("--region", default=None, help="Region within the country (US state, Canadian province).")


def machine_options(f):
    """--workdir, --device, --country and --region: every command that runs or measures a model."""
    return WORKDIR(DEVICE(COUNTRY(REGION(f))))


def task_options(f):
    """Options that define the baseline task (used by train, and by compress when it must train)."""
    f = click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=42, show_default=True,
                     help="Seed for the split and training.")(f)
    f = click.option("--quick", is_flag=True, help="Smoke-run budget: one epoch on a few rows, a sample of the test split.")(f)
    # One --ROLE-column option per column role any task declares (tasks/: Task.column_roles).
    for role, tasks in reversed(_column_roles()):
        f = click.option(f"--{role}-column", f"column_{role}", default=None,
                         help=f"{role.capitalize()} column of --data ({tasks}).")(f)
    f = click.option("--data", default="embedded", show_default=True,
                     help="CSV or JSONL path, a Hugging Face dataset name, or 'embedded' (38k labelled tweets).")(f)
    f = click.option("--model", default="embedded", show_default=True,
                     help="Local model folder or Hugging Face id, or 'embedded' (all-MiniLM-L6-v2).")(f)
    f = click.option("--task", "task_name", type=click.Choice(_task_names()), default="text-classification",
                     show_default=True, help="What the baseline is trained for.")(f)
    return f


def _column_roles() -> list[tuple[str, str]]:
    """(role, which tasks use it and their default column), in the order the tasks declare them."""
    from green.tasks import TASKS

    roles: dict[str, list[str]] = {}
    for name in sorted(TASKS):
        for role, default in TASKS[name].column_roles.items():
            roles.setdefault(role, []).append(f"{name}: default {default}")
    return [(role, "; ".join(uses)) for role, uses in roles.items()]


def _task_names() -> list[str]:
    from green.tasks import TASKS

    return sorted(TASKS)


def _setup_output() -> None:
    from rich.logging import RichHandler

    from green.progress import console

    # green speaks at INFO; libraries (onnxruntime's quantizer logs on the root logger,
    # transformers and optimum through their own) only when something failed.
    # ISO times: "12/02/26" reads as three different dates around the world.
    handler = RichHandler(console=console, show_path=False, log_time_format="[%Y-%m-%d %H:%M:%S]")
    logging.basicConfig(level=logging.ERROR, format="%(message)s", handlers=[handler])
    logging.getLogger("green").setLevel(logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore")  # third-party deprecation chatter is not the user's business
    warnings.filterwarnings("default", module=r"green(\.|$)")
    warnings.formatwarning = lambda msg, *a, **k: f"green: warning: {msg}\n"


def _workbench(workdir: str, device: str = "auto", country: str = "USA", region: str | None = None):
    from green.workbench import Workbench

    return Workbench(workdir, device=device, country=country, region=region)


def _echo(message: str, err: bool = False) -> None:
    """click.echo of a line holding record, recipe or file strings: no escape sequences reach the terminal."""
    from green.safetext import printable

    click.echo(printable(message), err=err)


def _print_records(records, only: set[str] | None = None, entries: list[Entry] | None = None) -> None:
    """The compact results table at the terminal's width; ``only`` keeps these record files' rows."""
    from green.progress import stdout
    from green.report import summarize
    from green.report.terminal import results

    stdout.print(results(summarize(records) if entries is None else entries, records, stdout.width, only))


def _columns(options: dict) -> dict[str, str]:
    """The --ROLE-column options the user gave, as the task's column roles."""
    return {key[len("column_"):]: value for key, value in options.items()
            if key.startswith("column_") and value is not None}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="green")
def cli() -> None:
    """green: compress BERT/BART-class models and measure what it saves in energy."""


@cli.command()
@task_options
@machine_options
def train(task_name, model, data, quick, seed, workdir, device, country, region, **columns) -> None:
    """Fine-tune and evaluate the baseline in WORKDIR."""
    wb = _workbench(workdir, device, country, region)
    record = wb.train(model=model, data=data, columns=_columns(columns), quick=quick,
                      seed=seed, task=task_name)
    _print_records([record])
    _print_reference(record)
    _echo(f"record: {record.file}")


def _print_reference(record) -> None:
    """The task's trivial reference (lead-N for summaries) beside the baseline, on the same test rows."""
    ref = record.reference
    if not ref:
        return
    metric = record.task.primary_metric
    _echo(f"{metric} on {ref.get('rows')} test rows: baseline {record.primary_value:.4f}, "
               f"reference {ref['name']} ({ref.get('description', '')}) {ref['metrics'].get(metric, float('nan')):.4f}")


def _refuse_other_baseline(wb, **given) -> None:
    """On a workdir with a baseline, --task/--model/--data/columns/--seed the user typed must be its own.

    compress used to ignore them (even a --data path that does not exist) and compress the
    baseline that was there; options left at their defaults are not compared.
    """
    from pathlib import Path

    from click.core import ParameterSource

    from green.workbench import _absolute_data

    if not wb.has_baseline():
        return
    ctx = click.get_current_context()
    options = {"task": "task_name", "model": "model", "data": "data", "seed": "seed",
               **{role: f"column_{role}" for role, _ in _column_roles()}}
    typed = {k: v for k, v in given.items() if ctx.get_parameter_source(options[k]) in
             (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    spec = wb.task_spec()

    def same_model(m: str) -> bool:
        ref = str(spec.get("model_ref") or "")
        return m in (spec.get("model"), ref) or (Path(m).exists() and Path(ref).exists()
                                                   and Path(m).resolve() == Path(ref).resolve())

    checks = {"task": lambda v: v == spec.get("task"), "model": same_model,
              "data": lambda v: _absolute_data(v) == spec.get("data"), "seed": lambda v: v == spec.get("seed")}
    for key, value in typed.items():
        ok = checks[key](value) if key in checks else value == (spec.get("columns") or {}).get(key)
        if not ok:
            flag = f"--{key}" if key in checks else f"--{key}-column"
            have = spec.get(key) if key in checks else (spec.get("columns") or {}).get(key)
            raise GreenError(f"{wb.workdir} already has a baseline for {flag} {have} (its task.json), "
                             f"not {flag} {value}",
                             f"drop {flag} to compress that baseline, or pass another --workdir for a new one")


@cli.command()
@click.option("--recipe", "recipes", multiple=True, required=True,
              help="Built-in recipe name (see `green recipes list`) or a recipe YAML path; repeatable.")
@click.option("--no-reuse", is_flag=True,
              help="Run every step, even one whose output an earlier run already made (same parent, config, data).")
@task_options
@machine_options
def compress(recipes, no_reuse, task_name, model, data, quick, seed, workdir, device, country, region,
             **columns) -> None:
    """Apply RECIPE(s) to the baseline (trained first if WORKDIR has none) and evaluate each."""
    wb = _workbench(workdir, device, country, region)
    _refuse_other_baseline(wb, task=task_name, model=model, data=data, seed=seed,
                           **{key[len("column_"):]: value for key, value in columns.items()})
    for r in recipes:
        wb.plan(r, task=task_name)  # every recipe is validated and placed before any work starts
    done = []
    with wb.writing("compress"):  # one lock for all the recipes
        for r in recipes:
            done.append(wb.compress(r, quick=quick, reuse=not no_reuse, model=model, data=data,
                                    columns=_columns(columns), seed=seed, task=task_name))
    from green.records import load_records

    # Only what this run made (and its baseline); `green report` prints the whole table.
    _print_records(load_records(wb.records_dir), only={rec.file for rec in done})
    for rec in done:
        _echo(f"record: {rec.file}")


@cli.command()
@WORKDIR
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Report only the records measured on this kind of device; auto reports every device.")
def report(workdir, device) -> None:
    """Write report/pareto.png, pareto.html, results.md and results.json from WORKDIR's records."""
    from green.records import load_records

    wb = _workbench(workdir)
    report = wb.report(None if device == "auto" else device)
    entries, paths, notes = report.entries, report.paths, report.notes
    _print_records(load_records(wb.records_dir), entries=entries)
    for note in notes:
        _echo(f"note: {note}", err=True)
    for name, path in paths.items():
        _echo(f"{name}: {path}")


@cli.command()
@click.argument("target")
@machine_options
def evaluate(target, workdir, device, country, region) -> None:
    """Evaluate TARGET again (an artifact folder, 'baseline', a run id or a recipe name); adds a record."""
    from green.records import load_records

    wb = _workbench(workdir, device, country, region)
    record = wb.evaluate(target)
    _print_records(load_records(wb.records_dir), only={record.file})
    _echo(f"record: {record.file}")


@cli.command()
@click.argument("target")
@click.option("--batch-size", "batch_sizes", type=click.IntRange(min=1), multiple=True,
              help="Batch size(s) to measure; repeatable. Default: 32 on CPU, 256 on GPU (grid: 1, 32[, 256]).")
@click.option("--repeats", type=click.IntRange(min=1, max=MAX_REPEATS), default=None,
              help="Energy windows per cell that must agree within 5% (default 3 CPU, 5 GPU); more run until they do.")
@click.option("--max-repeats", type=click.IntRange(min=1, max=MAX_REPEATS), default=None,
              help="Stop after this many windows per cell even if they do not agree (default 8 CPU, 10 GPU).")
@click.option("--min-window-s", type=click.FloatRange(min=0.1, max=MAX_WINDOW_S), default=None,
              help=f"Shortest energy window (default 2 s, at most {MAX_WINDOW_S:g} s).")
@click.option("--grid", is_flag=True, help="Measure a fixed batch x sequence-length grid instead of real lengths.")
@click.option("--seq-len", "seq_lens", type=click.IntRange(min=2, max=512), multiple=True,
              help="Sequence lengths for --grid; repeatable (default 32, 64, 128).")
@click.option("--pair", "pair", default=None, is_flag=False, flag_value="baseline", metavar="[OTHER]",
              help="Alternate windows with OTHER (default: baseline) and record the ratios to it.")
@machine_options
def measure(target, batch_sizes, repeats, max_repeats, min_window_s, grid, seq_lens, pair, workdir, device,
            country, region) -> None:
    """Re-measure TARGET: an artifact folder, 'baseline', a run id, or a recipe name (its newest run)."""
    from rich.table import Table

    from green.progress import stdout
    from green.report import fmt as f
    from green.safetext import markup

    if min_window_s is not None and not math.isfinite(min_window_s):  # FloatRange lets NaN through
        raise GreenError(f"--min-window-s {min_window_s} is not a number of seconds",
                         f"pass 0.1 to {MAX_WINDOW_S:g} seconds")
    if repeats is not None and max_repeats is not None and max_repeats < repeats:
        raise GreenError(f"--max-repeats {max_repeats} is below --repeats {repeats}",
                         "pass a --max-repeats at least as large as --repeats, or drop one of them")
    if seq_lens and not grid:
        raise GreenError("--seq-len applies only to --grid (real lengths are measured otherwise)",
                         "add --grid to measure a batch x sequence-length grid, or drop --seq-len")
    wb = _workbench(workdir, device, country, region)
    rec = wb.measure(target, list(batch_sizes) or None, repeats, min_window_s,
                     (list(seq_lens) or [32, 64, 128]) if grid else None, pair=pair, max_repeats=max_repeats)
    idle_w = rec.energy.idle.watts if rec.energy.idle else None
    table = Table("batch", "seq len", "mJ/inference", "spread", "dynamic mJ", "seq/s", "CPU ms/inf", "Wh/M", "gCO2e/M",
                  "GFLOP/inf", "source", "flags",
                  title=markup(f"{rec.recipe} on {rec.device.name} (idle {idle_w or 0:.1f} W)"))
    for c in rec.cells or []:
        e, eff = c.energy, c.efficiency or {}
        table.add_row(*map(markup, (str(c.batch_size), str(c.seq_len),
                      ("~" if e.estimate else "") + f(e.per_inference_j and e.per_inference_j * 1e3, ".3g"),
                      f(e.spread, ".1%"), f(e.dynamic_per_inference_j and e.dynamic_per_inference_j * 1e3, ".3g"),
                      f(e.throughput_per_s, ".0f"),
                      f(e.cpu_s_per_inference and e.cpu_s_per_inference * 1e3, ".3g"),
                      f(c.wh_per_million, ".3g"), f(c.gco2e_per_million, ".3g"),
                      f(eff.get("flops_per_inference") and eff["flops_per_inference"] / 1e9, ".3g"),
                      e.source, "; ".join(e.flags) or "-")))
    stdout.print(table)
    for c in rec.cells or []:
        p = c.paired
        if p:
            lo, hi = p.energy_ratio_range or (None, None)
            settled = "settled" if p.converged else "not settled" if p.converged is False else "one round"
            _echo(f"batch {c.batch_size}, length {c.seq_len}: {rec.recipe} vs {p.reference} over "
                  f"{p.rounds} alternating rounds: energy {f(p.energy_ratio, '.3f')}x "
                  f"[{f(lo, '.3f')}-{f(hi, '.3f')}], throughput {f(p.throughput_ratio, '.2f')}x, "
                  f"CPU-s {f(p.cpu_seconds_ratio, '.3f')}x; {settled}{', contended' if p.contended else ''}")
    _echo(f"record: {rec.file}")


@cli.command()
@WORKDIR
@click.option("--clean", is_flag=True, help="Remove the orphan runs and temporary files listed (never records).")
def doctor(workdir, clean) -> None:
    """List what interrupted commands left in WORKDIR (orphan runs, temp folders) and unreadable files."""
    wb = _workbench(workdir)
    findings, removed, holder = wb.doctor(clean=clean)
    if holder:
        _echo(f"note: {holder} is writing to this workdir; its run in progress looks unfinished", err=True)
    for f in findings:
        state = "removed" if f in removed else "removable" if f.removable else "left alone"
        _echo(f"{f.kind}: {f.path.relative_to(wb.workdir)} ({f.size_bytes / 1e6:.1f} MB): {f.detail} [{state}]")
    leftovers = [f for f in findings if f.removable]
    size = sum(f.size_bytes for f in leftovers) / 1e6
    if not findings:
        _echo(f"{wb.workdir}: nothing to report")
    elif clean:
        click.echo(f"removed {len(removed)} item(s), {size:.1f} MB")
    elif leftovers:
        click.echo(f"{len(leftovers)} item(s), {size:.1f} MB: `green doctor --clean` removes them")


@cli.command("export")
@click.argument("target")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False),
              help="New (or empty) folder to write; an existing non-empty one is refused.")
@click.option("--push-to-hub", "push_to_hub", default=None, metavar="REPO",
              help="Also upload the folder to this Hugging Face Hub repository (needs a network and a login).")
@WORKDIR
def export_cmd(target, to, push_to_hub, workdir) -> None:
    """Write TARGET (a recipe, run id, record, 'baseline' or artifact folder) as a Hugging Face folder with its model card."""
    out = _workbench(workdir).export(target, to, push_to_hub=push_to_hub)
    if out.needs_green:
        click.echo(f"note: needs green to load: {out.needs_green}", err=True)
    for note in out.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"exported: {out.path} ({', '.join(sorted(set(out.files.values())))})")


@cli.command()
@click.option("--space", default=None,
              help="Built-in space (cpu-classification, cpu-summarization, cuda-...) or a space YAML path; "
                   "default: the built-in one for this task and device.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Accuracy budget: points of the task's primary metric below the baseline, on the validation split.")
@click.option("--trials", type=int, default=12, show_default=True,
              help="Trials to run (a resumed search runs up to this many in all).")
@click.option("--objective", type=click.Choice(["energy", "lifetime"]), default="energy", show_default=True,
              help="energy: energy per inference, paired with the baseline; lifetime: the energy of making the "
                   "model plus --inferences times its energy per inference.")
@click.option("--inferences", default="1M", show_default=True,
              help="Inferences the model will serve, for --objective lifetime (50M, 1e8, 10k...).")
@click.option("--multi", is_flag=True, help="Two objectives (energy, drop): the whole frontier, not one point.")
@click.option("--confidence", type=float, default=0.9, show_default=True,
              help="A trial is within --max-drop when its paired-bootstrap drop is, at this confidence.")
@click.option("--frontier", "frontier_max", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Frontier trials measured again with the full settings before the choice.")
@click.option("--name", default=None, help="The search's folder under WORKDIR/search/ (default: the space's name).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True, help="The sampler's seed.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Stop starting trials after this many seconds (the running ones finish).")
@click.option("--ray-address", default=None,
              help="Run trials on a Ray cluster: an address, 'auto', or 'local' for a Ray of this machine "
                   '(pip install "green[ray]").')
@click.option("--show", is_flag=True, help="Print the trials so far, the frontier and the choice; runs nothing.")
@machine_options
def search(space, max_drop, trials, objective, inferences, multi, confidence, frontier_max, name, seed, timeout, ray_address,
           show, workdir, device, country, region) -> None:
    """Search SPACE for the recipe that saves the most energy within --max-drop, on WORKDIR's data and machine."""
    from green.search.study import Search, SearchSettings, default_space, parse_count

    wb = _workbench(workdir, device, country, region)
    if not wb.has_baseline():
        raise GreenError(f"{wb.workdir} has no baseline to search from", "run `green train` (or `green compress "
                         "--recipe int8`) first, or pass the --workdir that has one")
    from green.runtime import resolve_device

    where = resolve_device(device)
    space = space or default_space(wb.task().model_kind, where)
    settings = SearchSettings(space=space, max_drop=max_drop, trials=trials, objective=objective,
                              inferences=parse_count(inferences), multi=multi, confidence=confidence, seed=seed,
                              timeout_s=timeout, frontier_max=frontier_max, name=name)
    if show:
        _show_search(wb, name or _space_name(space))
        return
    wb._check_grid()
    result = Search(wb, settings, where, ray_address).run()
    _show_search(wb, result.folder.name)
    for note in result.notes:
        _echo(f"note: {note}", err=True)
    choice = result.summary.get("choice") or {}
    if choice:
        _echo(f"best: {choice['file']}  (rerun: green compress --recipe {choice['file']} --workdir {workdir})")
    _echo(f"search: {result.folder}")


def _space_name(space: str) -> str:
    from green.search.space import load_space

    return load_space(space).name


def _show_search(wb, name: str) -> None:
    import json
    import textwrap

    def say(line: str) -> None:  # 80 columns, as the table: a long recipe name wraps, indented
        for part in textwrap.wrap(line, 80, subsequent_indent="  ", break_on_hyphens=False):
            _echo(part)

    from green.progress import stdout
    from green.search.outputs import show_table, trial_rows
    from green.search.study import load_search

    study, _ = load_search(wb, name)
    folder = wb.workdir / "search" / name
    stdout.print(show_table(trial_rows(study, folder), None, min(80, stdout.width)))
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        say("no choice yet (the search has not finished)")
        return
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    front = ", ".join(f"t{f['trial']:03d}" for f in summary["frontier"]) or "empty"
    say(f"frontier: {front}")
    choice = summary.get("choice")
    if choice:
        test = choice.get("test") or {}
        val = choice.get("validation") or {}
        say(f"choice: t{choice['trial']:03d} {choice['recipe']}: {val.get('energy_ratio') or 0:.2f}x the "
              f"baseline's energy (validation, full settings); test {test.get('primary') or float('nan'):.4f}")
    e = summary["search_energy"]
    label = " (estimate)" if e.get("estimate") else f" ({e.get('source')})"
    say(f"the search itself: {e['joules'] or 0:.4g} J{label} over {e['seconds'] or 0:.0f} s of measured windows")


@cli.group()
def recipes() -> None:
    """List and show recipes."""


@recipes.command("list")
@click.option("--task", "task_name", type=click.Choice(_task_names()), default=None,
              help="Only the recipes that work on this task's models.")
def recipes_list(task_name) -> None:
    """Built-in recipes: the models they work on, where they run, and what they do."""
    from green.progress import stdout
    from green.recipe import recipe_summaries

    rows = recipe_summaries(task_name)
    stdout.print(_recipes_table(rows, stdout.width))


def _recipes_table(rows: list[dict], width: int):
    """One line per recipe at any width: the description is cut to what is left, never wrapped."""
    from rich.table import Table

    short = {"onnxruntime": "ORT", "torch": "torch", "ctranslate2": "ctranslate2"}
    table = Table(title="built-in recipes", caption="models: BERT-family encoders, BART-family encoder-decoders; "
                  "ORT: ONNX Runtime", expand=False, pad_edge=False, box=None, show_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("models", no_wrap=True)
    table.add_column("device", no_wrap=True)
    table.add_column("runtime", no_wrap=True, min_width=11)  # "ctranslate2" whole
    table.add_column("what it does", no_wrap=True, overflow="ellipsis", max_width=max(12, width - 56))
    for r in rows:
        table.add_row(r["name"], r["models"], r["device"], short.get(r["runtime"], r["runtime"]), r["summary"])
    return table


@recipes.command("show")
@click.argument("name")
def recipes_show(name) -> None:
    """Print recipe NAME (or a path) as validated YAML, defaults filled in; a search space with its dimensions."""
    import yaml

    from green.progress import stdout
    from green.recipe import load_recipe
    from green.search.space import builtin_space_names, is_space_file, load_space, space_as_yaml

    path = Path(name).expanduser()
    if name in builtin_space_names() or (path.is_file() and path.suffix in (".yaml", ".yml")
                                          and is_space_file(path.read_text(encoding="utf-8", errors="replace"))):
        click.echo(space_as_yaml(load_space(name)))  # a search space: its file, and the dimensions it spans
        return
    # PyYAML folds long strings at the first space past its width: valid YAML, never cut mid-word by the
    # terminal (the margin is for the word that crosses it).
    click.echo(yaml.safe_dump(load_recipe(name).to_dict(), sort_keys=False, width=max(40, stdout.width - 20)))


@cli.command()
def meters() -> None:
    """Which energy backends this machine has, and why the others are unavailable."""
    from rich.table import Table

    from green.evaluate.backends.discover import survey
    from green.progress import stdout

    table = Table("backend", "available", "detail", title="energy backends (best first)")
    for s in survey():
        table.add_row(s.name, "yes" if s.available else "no", s.detail)
    stdout.print(table)
    from green.machine import machine_info

    m = machine_info()
    kernels = ", ".join(x for x in (m.torch_cpu_capability and f"PyTorch CPU kernels {m.torch_cpu_capability}",
                                    m.onnxruntime and f"onnxruntime {m.onnxruntime}") if x)
    stdout.print(f"machine: {m.summary()}" + (f" ({kernels})" if kernels else ""), markup=False, highlight=False)


#: One line each in `green --help`, short enough for 80 columns.
SHORT_HELP = {
    "train": "Fine-tune and evaluate the baseline.",
    "compress": "Apply recipes to the baseline and evaluate each.",
    "report": "Write the Pareto chart, tables and results files.",
    "evaluate": "Evaluate an artifact again (adds a record).",
    "measure": "Re-measure an artifact's energy (adds a record).",
    "doctor": "Find (and clean) what interrupted commands left.",
    "export": "Write a model folder to deploy, with its model card.",
    "search": "Search for the recipe that saves most within a budget.",
    "recipes": "List and show recipes.",
    "meters": "Which energy counters this machine has.",
}
for _name, _short in SHORT_HELP.items():
    if _name in cli.commands:
        cli.commands[_name].short_help = _short


def main() -> None:
    from green.runtime.threads import sleep_when_idle_by_default

    sleep_when_idle_by_default()  # before PyTorch loads: its OpenMP reads this once
    _setup_output()
    interrupts.install()
    try:
        cli.main(standalone_mode=False)
    except GreenError as exc:
        _echo(f"green: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        # Exit 128 + the signal's number, as a shell reports it: 143 for SIGTERM, so a
        # supervisor can tell "stopped" from a user's Ctrl-C (130).
        what = "terminated (SIGTERM)" if interrupts.received() == signal.SIGTERM else "aborted"
        click.echo(f"green: {what}; unfinished work removed, the workdir keeps what finished", err=True)
        interrupts.exit_interrupted(interrupts.exit_code())
    except OSError as exc:  # a write outside the Workbench's guard (a report file): still one line
        if exc.errno not in DISK_ERRNOS:
            raise
        click.echo(f"green: error: {disk_error(exc, exc.filename or 'a file')}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)  # UsageError and its subclasses carry the command's context
        hint = f"; see `{ctx.command_path} --help`" if ctx else ""
        _echo(f"green: error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("green: interrupted; the workdir keeps what finished", err=True)
        interrupts.exit_interrupted(interrupts.exit_code())


if __name__ == "__main__":
    main()
