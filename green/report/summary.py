"""From records to report entries: the newest evaluation per recipe and device, the frontier, payback.

Entries compare recipes on the task's primary metric (whatever the records say it is,
in the direction they say is better) against total energy per inference. Payback is the
recipe run's energy divided by the energy it saves per inference against the baseline
on the same device.

"vs baseline" and payback come from the record's paired measurement when it has one
(the recipe and the baseline in alternating windows of one session, so load from other
processes hits both): ``ratio_basis`` is then ``"paired"``. Records from before paired
measurement fall back to dividing two records taken at different times (``"separate
records"``), which whatever else ran on the machine at each time can distort. The
frontier is decided on ``comparable_energy_j``: the paired ratio times the baseline's
energy per inference where there is a paired ratio, the record's own figure otherwise.
"""

from __future__ import annotations

from green.records import Record

BASELINE = "baseline"

#: Keys every results.json entry carries.
ENTRY_KEYS = ("recipe", "metrics", "primary_metric", "quality", "size_mb", "latency_ms", "throughput_per_s",
              "energy_per_inference_j", "energy_source", "device", "run_energy_j")


def recipe_key(rec: Record) -> tuple:
    """Which runs are "the same recipe": a name, and where it came from (a user's int8 is not the built-in)."""
    origin = rec.recipe_origin or ""
    kind = "builtin" if origin.startswith("builtin:") else BASELINE if rec.recipe == BASELINE else (rec.recipe_digest or origin)
    return rec.recipe, kind


def latest_per_recipe(records: list[Record]) -> list[Record]:
    """The newest evaluation record of each (recipe, origin, device kind); measurement records are kept apart."""
    latest: dict[tuple, Record] = {}
    for rec in sorted((r for r in records if r.kind == "evaluation"), key=lambda r: r.created):
        latest[(*recipe_key(rec), rec.device.kind)] = rec
    return sorted(latest.values(), key=lambda r: (r.device.kind, r.recipe != BASELINE, r.recipe, r.created))


def pareto_front(entries: list[dict], higher_is_better: bool = True,
                 energy_key: str = "energy_per_inference_j") -> set[int]:
    """Indices of entries no other entry beats on both quality and energy (``energy_key``)."""
    sign = 1.0 if higher_is_better else -1.0
    front = set()
    for i, a in enumerate(entries):
        ea, qa = a[energy_key], a["quality"]
        if ea is None or qa is None:
            continue
        dominated = any(
            b[energy_key] is not None and b["quality"] is not None
            and b[energy_key] <= ea and sign * b["quality"] >= sign * qa
            and (b[energy_key] < ea or sign * b["quality"] > sign * qa)
            for j, b in enumerate(entries)
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


def _entry(rec: Record) -> dict:
    energy = rec.energy or {}
    repeats = energy.get("per_inference_j_repeats") or []
    return {
        "recipe": rec.recipe,
        "recipe_origin": rec.recipe_origin,
        "metrics": dict(rec.metrics),
        "primary_metric": rec.task.primary_metric,
        "higher_is_better": rec.task.higher_is_better,
        "quality": rec.primary_value,
        "task": rec.task.name,
        "inference_unit": rec.task.inference_unit,
        "size_mb": rec.size_mb,
        "latency_ms": rec.latency_ms.model_dump() if rec.latency_ms else None,
        "throughput_per_s": rec.throughput_per_s,
        "energy_per_inference_j": rec.energy_per_inference_j,
        "energy_source": rec.energy_source,
        "energy_estimate": rec.energy_estimate,
        "energy_spread": energy.get("spread"),
        "energy_converged": rec.stability.converged if rec.stability else None,
        "energy_attribution": rec.energy_attribution,
        "cpu_s_per_inference": rec.cpu_s_per_inference,
        "contended": rec.contended,
        "paired": rec.paired.model_dump(exclude={"reference_windows"}) if rec.paired else None,
        "energy_range_j": [min(repeats), max(repeats)] if repeats else None,
        # Estimated CPU figures: low/high over named power models (green.evaluate.band); not spread.
        "energy_band": energy.get("band"),
        "dynamic_energy_per_inference_j": energy.get("dynamic_per_inference_j"),
        "gco2e_per_million": energy.get("gco2e_per_million"),
        "device": rec.device.name,
        "device_kind": rec.device.kind,
        "intended_device": rec.device.intended,
        "batch_size": rec.batch_size,
        "run_energy_j": rec.run_energy_j,
        "run_energy_source": rec.run_energy_source,
        "off_device_share": (rec.placement or {}).get("off_device_share"),
        "steps": [next(iter(s)) for s in (rec.recipe_detail or {}).get("steps", []) if isinstance(s, dict) and s],
        "lineage": [s.get("step") for s in rec.lineage],
        "record": rec.file,
    }


def summarize(records: list[Record]) -> list[dict]:
    """One results.json entry per recipe and device, with frontier, ratio to the baseline and payback."""
    entries = [_entry(r) for r in latest_per_recipe(records)]
    names = [e["recipe"] for e in entries]
    for e in entries:  # two recipes of one name (a user's int8 and the built-in): say which is which
        if names.count(e["recipe"]) > 1 and e["recipe_origin"] and not e["recipe_origin"].startswith("builtin:"):
            e["label"] = f"{e['recipe']} ({e['recipe_origin']})"
        e.setdefault("label", e["recipe"])
    by_kind: dict[str, list[dict]] = {}
    for e in entries:
        by_kind.setdefault(e["device_kind"], []).append(e)
    for group in by_kind.values():
        base = next((e for e in group if e["recipe"] == BASELINE), None)
        for e in group:
            _compare(e, base)
        front = pareto_front(group, group[0]["higher_is_better"], energy_key="comparable_energy_j")
        for k, e in enumerate(group):
            e["pareto"] = k in front
    return entries


def _compare(e: dict, base: dict | None) -> None:
    """Ratio to the baseline, energy saved per inference and payback, from the paired block when there is one."""
    e.update(payback_inferences=None, energy_vs_baseline=None, energy_vs_baseline_range=None,
             throughput_vs_baseline=None, cpu_seconds_vs_baseline=None, quality_vs_baseline=None,
             saved_per_inference_j=None, ratio_basis=None, comparable_energy_j=e["energy_per_inference_j"])
    if e is base:
        e["ratio_basis"] = "baseline"
        return
    if base is not None and None not in (e["quality"], base["quality"]):
        e["quality_vs_baseline"] = e["quality"] - base["quality"]
    paired = e["paired"]
    base_j = base["energy_per_inference_j"] if base is not None else None
    if paired and paired["reference"] == BASELINE and paired["energy_ratio"] is not None:
        e.update(ratio_basis="paired", energy_vs_baseline=paired["energy_ratio"],
                 energy_vs_baseline_range=paired["energy_ratio_range"],
                 throughput_vs_baseline=paired["throughput_ratio"],
                 cpu_seconds_vs_baseline=paired["cpu_seconds_ratio"],
                 saved_per_inference_j=paired["saved_per_inference_j"])
        if base_j is not None:
            e["comparable_energy_j"] = paired["energy_ratio"] * base_j
    elif base_j is not None and e["energy_per_inference_j"] is not None:
        e.update(ratio_basis="separate records", energy_vs_baseline=e["energy_per_inference_j"] / base_j,
                 saved_per_inference_j=base_j - e["energy_per_inference_j"])
        if e["throughput_per_s"] and base["throughput_per_s"]:
            e["throughput_vs_baseline"] = e["throughput_per_s"] / base["throughput_per_s"]
    saved = e["saved_per_inference_j"]
    if saved is not None and saved > 0 and e["run_energy_j"] is not None:
        e["payback_inferences"] = e["run_energy_j"] / saved
