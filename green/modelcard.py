"""The model card (``README.md``) of an exported folder, in the Hugging Face format, from records only.

YAML front matter: ``co2_eq_emissions`` (grams, source, training type, location, hardware),
``library_name``, ``pipeline_tag``, ``tags`` and ``base_model`` where the model came from the
Hub. Body: how to load it, the recipe and its lineage, the measured table beside the
baseline (quality, energy per inference with its source and spread, throughput, latency,
size, payback), the machine it was measured on, and how to reproduce it.
"""

from __future__ import annotations

import json
from pathlib import Path

from green.records import Record
from green.report import view
from green.report.summary import Entry

#: What each task's folder is loaded as, with optimum (ONNX) and with transformers (PyTorch).
LOADERS = {"text-classification": ("ORTModelForSequenceClassification", "AutoModelForSequenceClassification"),
           "summarization": ("ORTModelForSeq2SeqLM", "AutoModelForSeq2SeqLM")}
TAGS = {"quantize": "quantized", "prune": "pruned", "distill": "distilled", "distill-seq2seq": "distilled",
        "bnb": "bitsandbytes", "sparsify": "sparse"}


def model_card(*, title: str, where: str, fmt: str, recipe: dict, lineage: list[tuple[str, dict]],
               task: dict, record: Record | None, baseline: Record | None, entries: list[Entry],
               needs_green: str | None = None, notes: list[str] | None = None) -> str:
    """The card's text. ``where`` is what ``from_pretrained`` is given (a Hub repo or a folder name);
    ``lineage`` the steps that made the model, oldest first; ``entries`` ``summarize([record, baseline])``."""
    task_name = task.get("task") or (record.task.name if record else "text-classification")
    onnx = fmt.startswith("onnx")
    steps = [s for s, _ in lineage if s != "train"]
    meta = {
        "library_name": "optimum" if onnx else "transformers",
        "pipeline_tag": task_name,
        "tags": sorted({"green", "energy-efficiency", "onnx" if onnx else "pytorch",
                        *(TAGS[s] for s in steps if s in TAGS)}),
    }
    base_model = _hub_id(str(task.get("model") or ""))
    if base_model:
        meta["base_model"] = base_model
    co2 = _co2(record, baseline)
    if co2:
        meta["co2_eq_emissions"] = co2
    out = ["---", _yaml(meta).rstrip(), "---", "", f"# {title}", ""]
    out += [f"{recipe.get('name', title)}: {' '.join(str(recipe.get('description') or '').split())}".rstrip(": "), "",
            (f"Made with green (a model-compression workbench that measures energy) from "
             f"{_model_label(task)}, fine-tuned for {task_name} on {_data_label(task)}."), ""]
    out += _loading(task_name, fmt, where, needs_green)
    out += _lineage(recipe, lineage, task)
    out += _measured(record, baseline, entries)
    out += _reproduce(recipe, task)
    if notes:
        out += ["## Notes", "", *[f"* {n}" for n in notes], ""]
    return "\n".join(out).rstrip() + "\n"


def _yaml(payload: dict) -> str:
    import yaml

    return yaml.safe_dump(payload, sort_keys=False, allow_unicode=True, width=1000)


def _co2(record: Record | None, baseline: Record | None) -> dict | None:
    """Emissions of what made this model here: the baseline's fine-tuning and the recipe's steps."""
    parts = [r for r in (baseline, record) if r is not None and r.run_gco2e is not None]
    if not parts:
        return None
    rec = record or baseline
    assert rec is not None  # parts is not empty
    where = "-".join(x for x in (rec.energy.country, rec.energy.region) if x) or None
    sources = sorted({s for r in parts for s in (r.run_energy_source or "none").split("+")})
    estimate = any("estimate" in s for s in sources)
    steps = [s.step or s.name for r in parts for s in r.run_steps]
    out = {"emissions": float(f"{sum(r.run_gco2e or 0.0 for r in parts):.4g}"),  # grams, as the Hub expects
           "source": f"green {rec.versions.get('green') or ''}: {'+'.join(sources)} energy x codecarbon's offline "
                     f"grid intensity{' (an estimate)' if estimate else ''}".replace("  ", " "),
           "training_type": "fine-tuning" + (f", then {', '.join(s for s in steps if s and s != 'train')}"
                                             if len(steps) > 1 else ""),
           "geographical_location": where,
           "hardware_used": f"1 x {rec.device.name} ({rec.device.kind})"}
    return {k: v for k, v in out.items() if v is not None}


def _loading(task_name: str, fmt: str, where: str, needs_green: str | None) -> list[str]:
    ort_class, auto_class = LOADERS.get(task_name, ("ORTModel", "AutoModel"))
    out = ["## Use it", ""]
    if needs_green:
        return out + [f"Needs green: {needs_green}.", "", "```python",
                      "from green.runtime.pytorch import load_pretrained",
                      f"from transformers import {auto_class}, AutoTokenizer", "",
                      f"model = load_pretrained(\"{where}\", {auto_class})",
                      f"tokenizer = AutoTokenizer.from_pretrained(\"{where}\")", "```", ""]
    if fmt.startswith("onnx"):
        lines = [f"from optimum.onnxruntime import {ort_class}", "from transformers import AutoTokenizer, pipeline", "",
                 f"model = {ort_class}.from_pretrained(\"{where}\")"]
    else:
        lines = [f"from transformers import {auto_class}, AutoTokenizer, pipeline", "",
                 f"model = {auto_class}.from_pretrained(\"{where}\")"]
    example = ("The Eiffel Tower is a wrought-iron lattice tower in Paris, France." if task_name == "summarization"
               else "I love this")
    lines += [f"tokenizer = AutoTokenizer.from_pretrained(\"{where}\")",
              f"print(pipeline(\"{task_name}\", model=model, tokenizer=tokenizer)(\"{example}\"))"]
    runs = ("ONNX Runtime (`pip install optimum-onnx onnxruntime`)" if fmt.startswith("onnx")
            else "PyTorch (`pip install transformers torch`)")
    return out + [f"Runs on {runs}; green is not needed.", "", "```python", *lines, "```", ""]


def _lineage(recipe: dict, lineage: list[tuple[str, dict]], task: dict) -> list[str]:
    out = ["## Recipe and lineage", "", (f"Recipe `{recipe.get('name')}` ({_origin(recipe)}). The steps that made "
           "this model, oldest first:"), "", "| # | step | settings |", "|---|---|---|"]
    for i, (step, params) in enumerate(lineage):
        if step == "train":
            given = params.get("budget")
            budget = given if isinstance(given, dict) else {}
            shown = {k: v for k, v in {"budget": budget.get("name"), "epochs": budget.get("epochs"),
                                       "learning_rate": budget.get("learning_rate"), "seed": params.get("seed"),
                                       "best_epoch": params.get("best_epoch")}.items() if v is not None}
            label = f"train (baseline: {_model_label(task)} fine-tuned, {task.get('budget', '?')} budget)"
        else:
            shown, label = params, step
        text = json.dumps(shown, sort_keys=True, default=str).replace("|", "\\|")
        out.append(f"| {i} | {label} | `{text}` |")
    return out + [""]


def _measured(record: Record | None, baseline: Record | None, entries: list[Entry]) -> list[str]:
    out = ["## Measured beside the baseline", ""]
    if record is None:
        return out + [("green has no evaluation record of this artifact, so nothing here is measured "
                       "(run `green evaluate` on it and export again)."), ""]
    mine = next((e for e in entries if e.record == record.file), None)
    assert mine is not None, "entries summarize the record"
    base = next((e for e in entries if baseline is not None and e.record == baseline.file), None)
    cols = [e for e in (base, mine) if e is not None]
    if mine is base:
        cols = [mine]
    unit = view.unit(mine)
    fraction = view.is_fraction(cols)
    head = ["", *[("baseline" if e is base else f"this model ({e.recipe})") for e in cols]]
    rows = []
    for metric in [record.task.primary_metric, *sorted(set(record.metrics) - {record.task.primary_metric})]:
        rows.append([f"{metric}{' (primary)' if metric == record.task.primary_metric else ''}",
                     *[view.sig3(e.metrics.get(metric)) for e in cols]])
    if mine is not base and mine is not None:
        rows.append([f"{record.task.primary_metric} vs baseline{' (points)' if fraction else ''}", "",
                     view.delta(mine, fraction, "n/a")])
    rows.append([f"energy per {unit}, mJ (source)", *[_energy(e) for e in cols]])
    if mine is not base:
        basis = view.ratio_basis(mine)
        rng = mine.energy_vs_baseline_range
        span = f" [{rng[0]:.2f}-{rng[1]:.2f}]" if rng else ""
        rows.append(["energy vs baseline", "1x", f"{view.ratio(mine, 'n/a')}{span}" + (f" ({basis})" if basis else "")])
    rows.append([f"throughput, {view.plural(unit)}/s", *[_throughput(e) for e in cols]])
    rows.append(["latency p50 / p95, ms (batch 1)", *[_latency(e) for e in cols]])
    rows.append(["size, MB", *[view.sig3(e.size_mb) for e in cols]])
    rows.append(["gCO2e per million", *[view.sig3(e.gco2e_per_million) for e in cols]])
    rows.append(["energy to make, J", *[view.joules(e.run_energy_j) for e in cols]])
    if mine is not base:
        rows.append([f"payback, {view.plural(unit)}", "", view.payback(mine, "n/a")])
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", *_legend(record, cols), *_machine(record), ""]
    return out


def _energy(e: Entry) -> str:
    spread = view.spread(e)
    return (f"{view.energy_mj(e)} ({e.energy_source}{', estimate' if e.energy_estimate else ''}"
            f"{', spread ' + spread if spread else ''})")


def _throughput(e: Entry) -> str:
    return f"{view.compact(e.throughput_per_s)} (batch {e.batch_size or '?'})"


def _latency(e: Entry) -> str:
    lat = e.latency_ms
    return f"{view.sig3(lat.p50 if lat else None)} / {view.sig3(lat.p95 if lat else None)}"


def _legend(record: Record, cols: list[Entry]) -> list[str]:
    out = []
    if any(e.energy_estimate for e in cols):
        out.append("`~` marks an estimate: no energy counter was readable, so energy is modelled from CPU time "
                   "(codecarbon), not measured; the spread is (max - min) / median over the energy windows.")
    if view.ratio_basis(cols[-1]) == "paired":
        out.append("The ratio to the baseline comes from alternating windows of one session (paired), so load from "
                   "other processes hit both; payback = energy to make / energy saved per inference.")
    for e in cols:
        for w in view.warnings_of(e, record if e.record == record.file else None):
            out.append(f"{e.recipe}: {w}.")
    out += [f"{n}" for n in record.notes]
    return [*out, ""] if out else []


def _machine(record: Record) -> list[str]:
    dev = record.device
    extra = dev.model_extra or {}
    isa = extra.get("isa") or extra.get("cpu_flags") or (record.energy.model_extra or {}).get("isa")
    isa_text = ", ".join(isa) if isinstance(isa, list) else (str(isa) if isa else "not recorded")
    versions = ", ".join(f"{k} {v}" for k, v in record.versions.items() if v)
    rows = record.task.test_rows_evaluated
    line = (f"Measured on {dev.name} ({dev.kind}; ISA features: {isa_text}) with {dev.runtime.get('runtime', '?')} "
            f"on {record.created[:10]}; {rows if rows is not None else '?'} test rows; "
            f"{record.sequence_length_policy or 'sequence policy not recorded'}. Versions: {versions}.")
    return [line]


def _reproduce(recipe: dict, task: dict) -> list[str]:
    origin = str(recipe.get("origin") or "")
    name = recipe.get("name", "").split(":")[0]
    recipe_arg = name if origin.startswith("builtin:") or origin == "baseline" else f"{name}.yaml"
    model = str(task.get("model") or "embedded")
    model = model if model == "embedded" or _hub_id(model) else Path(model).name
    data = _data_label(task)
    columns = task.get("columns") or {}
    flags = [f"--task {task['task']}"] if task.get("task") and task["task"] != "text-classification" else []
    flags += [f"--model {model}", f"--data {data}"]
    flags += [f"--{k}-column {v}" for k, v in columns.items() if v and v != k]
    flags += ["--quick"] if task.get("quick") else []
    flags += [f"--seed {task['seed']}"] if task.get("seed") not in (None, 42) else []
    cmd = (f"green train {' '.join(flags)}" if name == "baseline"
           else f"green compress --recipe {recipe_arg} {' '.join(flags)}")
    out = ["## Reproduce", "", "```bash", "pip install green", cmd, "green report", "```", ""]
    if recipe_arg.endswith(".yaml") and recipe.get("steps"):
        steps = {k: v for k, v in recipe.items() if k in ("name", "description", "steps", "evaluate")}
        out += [f"with `{recipe_arg}`:", "", "```yaml", _yaml(steps).rstrip(), "```", ""]
    return out


def _origin(recipe: dict) -> str:
    origin = str(recipe.get("origin") or "")
    if origin.startswith("builtin:"):
        return "built into green"
    if origin == "baseline":
        return "the fine-tuned baseline"
    return "a recipe file" if origin else "origin not recorded"


def _hub_id(model: str) -> str | None:
    """A Hub id (``org/name``), not a local path or the embedded model."""
    if not model or model == "embedded" or model.startswith(("/", ".", "~")) or Path(model).exists():
        return None
    return model if model.count("/") == 1 else None


def _model_label(task: dict) -> str:
    model = str(task.get("model") or "embedded")
    if model == "embedded":
        return "the embedded all-MiniLM-L6-v2"
    return model if _hub_id(model) else Path(model).name


def _data_label(task: dict) -> str:
    data = str(task.get("data") or "embedded")
    return data if data == "embedded" or not data.startswith(("/", ".", "~")) else Path(data).name
