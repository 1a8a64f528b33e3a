"""The ``green`` command line. It parses arguments and calls the Workbench API; no logic here."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import click

from green.errors import GreenError

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
    f = click.option("--seed", type=int, default=42, show_default=True, help="Seed for the split and training.")(f)
    f = click.option("--quick", is_flag=True, help="Smoke-run budget: one epoch on a few rows, a sample of the test split.")(f)
    f = click.option("--summary-column", default=None,
                     help="Summary column of --data for --task summarization (default: summary; cnn_dailymail: highlights).")(f)
    f = click.option("--label-column", default=None, help="Label column of --data (default: label; embedded: sentiment).")(f)
    f = click.option("--text-column", default=None, help="Text column of --data (default: text).")(f)
    f = click.option("--data", default="embedded", show_default=True,
                     help="CSV or JSONL path, a Hugging Face dataset name, or 'embedded' (38k labelled tweets).")(f)
    f = click.option("--model", default="embedded", show_default=True,
                     help="Local model folder or Hugging Face id, or 'embedded' (all-MiniLM-L6-v2).")(f)
    f = click.option("--task", "task_name", type=click.Choice(_task_names()), default="text-classification",
                     show_default=True, help="What the baseline is trained for.")(f)
    return f


def _task_names() -> list[str]:
    from green.tasks import TASKS

    return sorted(TASKS)


def _setup_output() -> None:
    from rich.logging import RichHandler

    from green.progress import console

    # green speaks at INFO; libraries (onnxruntime's quantizer logs on the root logger,
    # transformers and optimum through their own) only when something failed.
    logging.basicConfig(level=logging.ERROR, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)])
    logging.getLogger("green").setLevel(logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore")  # third-party deprecation chatter is not the user's business
    warnings.filterwarnings("default", module=r"green(\.|$)")
    warnings.formatwarning = lambda msg, *a, **k: f"green: warning: {msg}\n"


def _workbench(workdir: str, device: str = "auto", country: str = "USA", region: str | None = None):
    from green.workbench import Workbench

    return Workbench(workdir, device=device, country=country, region=region)


def _print_records(records) -> None:
    from rich.table import Table

    from green.progress import stdout
    from green.report import headers, summarize, table_rows

    entries = summarize(records)
    table = Table(*headers(entries), title="green results (* = Pareto frontier)")
    for row in table_rows(entries):
        table.add_row(*row)
    stdout.print(table)


def _columns(text_column: str | None, label_column: str | None, summary_column: str | None = None) -> dict:
    columns = {"text": text_column, "label": label_column}
    if summary_column is not None:
        columns["summary"] = summary_column
    return columns


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="green")
def cli() -> None:
    """green: compress BERT/BART-class models and measure what it saves in energy."""


@cli.command()
@task_options
@machine_options
def train(task_name, model, data, text_column, label_column, summary_column, quick, seed, workdir, device, country,
          region) -> None:
    """Fine-tune and evaluate the baseline in WORKDIR."""
    wb = _workbench(workdir, device, country, region)
    record = wb.train(model=model, data=data, columns=_columns(text_column, label_column, summary_column), quick=quick,
                      seed=seed, task=task_name)
    _print_records([record])
    _print_reference(record)
    click.echo(f"record: {record.file}")


def _print_reference(record) -> None:
    """The task's trivial reference (lead-N for summaries) beside the baseline, on the same test rows."""
    ref = record.reference
    if not ref:
        return
    metric = record.task.primary_metric
    click.echo(f"{metric} on {ref.get('rows')} test rows: baseline {record.primary_value:.4f}, "
               f"reference {ref['name']} ({ref.get('description', '')}) {ref['metrics'].get(metric, float('nan')):.4f}")


@cli.command()
@click.option("--recipe", "recipes", multiple=True, required=True,
              help="Built-in recipe name (see `green recipes list`) or a recipe YAML path; repeatable.")
@task_options
@machine_options
def compress(recipes, task_name, model, data, text_column, label_column, summary_column, quick, seed, workdir, device,
             country, region) -> None:
    """Apply RECIPE(s) to the baseline (trained first if WORKDIR has none) and evaluate each."""
    wb = _workbench(workdir, device, country, region)
    for r in recipes:
        wb.plan(r, task=task_name)  # every recipe is validated and placed before any work starts
    done = []
    for r in recipes:
        done.append(wb.compress(r, quick=quick, model=model, data=data,
                                columns=_columns(text_column, label_column, summary_column), seed=seed, task=task_name))
    from green.records import load_records

    _print_records(load_records(wb.records_dir))
    for rec in done:
        click.echo(f"record: {rec.file}")


@cli.command()
@WORKDIR
def report(workdir) -> None:
    """Write report/pareto.png, pareto.html, results.md and results.json from WORKDIR's records."""
    from green.records import load_records
    from green.report import build_report

    wb = _workbench(workdir)
    if not wb.records_dir.is_dir() or not any(wb.records_dir.glob("*.json")):
        raise GreenError(f"no records in {wb.workdir}", "run `green compress --recipe int8` first, or pass --workdir")
    entries, paths, notes = build_report(wb.records_dir, wb.report_dir)
    _print_records(load_records(wb.records_dir))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


@cli.command()
@click.argument("target")
@machine_options
def evaluate(target, workdir, device, country, region) -> None:
    """Evaluate TARGET again (an artifact folder, 'baseline', a run id or a recipe name); adds a record."""
    wb = _workbench(workdir, device, country, region)
    record = wb.evaluate(target)
    _print_records([record])
    click.echo(f"record: {record.file}")


@cli.command()
@click.argument("target")
@click.option("--batch-size", "batch_sizes", type=click.IntRange(min=1), multiple=True,
              help="Batch size(s) to measure; repeatable. Default: 32 on CPU, 256 on GPU (grid: 1, 32[, 256]).")
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Energy windows per cell (default 3 CPU, 5 GPU).")
@click.option("--min-window-s", type=click.FloatRange(min=0.1), default=None, help="Shortest energy window (default 2 s).")
@click.option("--grid", is_flag=True, help="Measure a fixed batch x sequence-length grid instead of real lengths.")
@click.option("--seq-len", "seq_lens", type=click.IntRange(min=2, max=512), multiple=True,
              help="Sequence lengths for --grid; repeatable (default 32, 64, 128).")
@machine_options
def measure(target, batch_sizes, repeats, min_window_s, grid, seq_lens, workdir, device, country, region) -> None:
    """Re-measure TARGET: an artifact folder, 'baseline', a run id, or a recipe name (its newest run)."""
    from rich.table import Table

    from green.progress import stdout
    from green.report import fmt as f

    wb = _workbench(workdir, device, country, region)
    rec = wb.measure(target, list(batch_sizes) or None, repeats, min_window_s,
                     (list(seq_lens) or [32, 64, 128]) if grid else None)
    table = Table("batch", "seq len", "mJ/inference", "spread", "dynamic mJ", "seq/s", "Wh/M", "gCO2e/M",
                  "GFLOP/inf", "source", "flags",
                  title=f"{rec.recipe} on {rec.device.name} (idle {rec.energy['idle']['watts'] or 0:.1f} W)")
    for c in rec.cells or []:
        eff = c.get("efficiency") or {}
        table.add_row(str(c["batch_size"]), str(c["seq_len"]),
                      ("~" if c["estimate"] else "") + f(c["per_inference_j"] and c["per_inference_j"] * 1e3, ".3g"),
                      f(c["spread"], ".1%"), f(c["dynamic_per_inference_j"] and c["dynamic_per_inference_j"] * 1e3, ".3g"),
                      f(c["throughput_per_s"], ".0f"), f(c["wh_per_million"], ".3g"), f(c["gco2e_per_million"], ".3g"),
                      f(eff.get("flops_per_inference") and eff["flops_per_inference"] / 1e9, ".3g"),
                      c["source"], "; ".join(c["flags"]) or "-")
    stdout.print(table)
    click.echo(f"record: {rec.file}")


@cli.group()
def recipes() -> None:
    """List and show recipes."""


@recipes.command("list")
def recipes_list() -> None:
    """Built-in recipes with their descriptions."""
    from rich.table import Table

    from green.progress import stdout
    from green.recipe import builtin_names, load_recipe

    table = Table("name", "steps", "runs on", "description", title="built-in recipes")
    for name in builtin_names():
        r = load_recipe(name)
        table.add_row(name, " -> ".join(s.name for s in r.steps), r.evaluate.device, r.description)
    stdout.print(table)


@recipes.command("show")
@click.argument("name")
def recipes_show(name) -> None:
    """Print recipe NAME (or a path) as validated YAML, defaults filled in."""
    import yaml

    from green.recipe import load_recipe

    click.echo(yaml.safe_dump(load_recipe(name).to_dict(), sort_keys=False, width=100))


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


def main() -> None:
    _setup_output()
    try:
        cli.main(standalone_mode=False)
    except GreenError as exc:
        click.echo(f"green: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("green: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        hint = f"; see `{exc.ctx.command_path} --help`" if getattr(exc, "ctx", None) else ""
        click.echo(f"green: error: {exc.format_message()}{hint}".replace("\n", " "), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("green: interrupted; the workdir keeps what finished", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
