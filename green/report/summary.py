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

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from green.records import Record
from green.results import EnergyBand, Latency, Paired

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
        latest[recipe_key(rec) + (rec.device.kind,)] = rec
    return sorted(latest.values(), key=lambda r: (r.device.kind, r.recipe != BASELINE, r.recipe, r.created))


def pareto_front(entries: list[Entry], higher_is_better: bool = True,
                 energy_key: str = "energy_per_inference_j") -> set[int]:
    """Indices of entries no other entry beats on both quality and energy (the field ``energy_key``)."""
    sign = 1.0 if higher_is_better else -1.0
    points = [(getattr(e, energy_key), e.quality) for e in entries]
    front = set()
    for i, (ea, qa) in enumerate(points):
        if ea is None or qa is None:
            continue
        dominated = any(
            eb is not None and qb is not None and eb <= ea and sign * qb >= sign * qa
            and (eb < ea or sign * qb > sign * qa)
            for j, (eb, qb) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


class Entry(BaseModel):
    """One recipe on one device kind, as the report shows it and ``results.json`` lists it.

    Built from the recipe's newest evaluation record (:func:`summarize`); the comparison
    fields (``energy_vs_baseline``, ``payback_inferences``, ``pareto``...) are filled in
    against the baseline on the same device kind.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    recipe: str
    #: ``int8`` or, where two recipes share a name, ``int8 (./my/int8.yaml)``.
    label: str = ""
    recipe_origin: str | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    primary_metric: str = "accuracy"
    higher_is_better: bool = True
    quality: float | None = None
    task: str | None = None
    inference_unit: str = "sequence"
    size_mb: float | None = None
    latency_ms: Latency | None = None
    throughput_per_s: float | None = None
    energy_per_inference_j: float | None = None
    energy_source: str = "none"
    energy_estimate: bool = False
    energy_spread: float | None = None
    energy_converged: bool | None = None
    energy_attribution: str | None = None
    cpu_s_per_inference: float | None = None
    contended: bool = False
    paired: Paired | None = None
    #: [min, max] of energy per inference over the windows used.
    energy_range_j: list[float] | None = None
    #: Estimated CPU figures: low/high over named power models (green.evaluate.band); not spread.
    energy_band: EnergyBand | None = None
    dynamic_energy_per_inference_j: float | None = None
    gco2e_per_million: float | None = None
    #: The device's name (``AMD EPYC 7B13``, ``NVIDIA H100``), its kind, and where the recipe was meant to run.
    device: str | None = None
    device_kind: str = "cpu"
    intended_device: str | None = None
    #: What ran it: ``torch``, ``onnxruntime``, ``ctranslate2``, ``openvino``.
    runtime: str | None = None
    #: The throughput batch the energy figure was measured at.
    batch_size: int | None = None
    #: What making the artifact cost (its whole lineage): payback divides this by the energy saved.
    run_energy_j: float | None = None
    run_energy_source: str | None = None
    off_device_share: float | None = None
    steps: list[str] = Field(default_factory=list)
    lineage: list[str | None] = Field(default_factory=list)
    #: The record file the entry was made from.
    record: str | None = None
    # Against the baseline on the same device kind (see _compare):
    pareto: bool = False
    payback_inferences: float | None = None
    energy_vs_baseline: float | None = None
    energy_vs_baseline_range: list[float] | None = None
    throughput_vs_baseline: float | None = None
    cpu_seconds_vs_baseline: float | None = None
    quality_vs_baseline: float | None = None
    saved_per_inference_j: float | None = None
    #: ``baseline``, ``paired`` or ``separate records``: how the ratio to the baseline was taken.
    ratio_basis: str | None = None
    #: The energy the chart draws and the frontier is decided on (paired: ratio x the baseline's).
    comparable_energy_j: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as ``results.json`` lists it (a paired block without its per-round windows)."""
        return self.model_dump(mode="json", exclude={"paired": {"reference_windows"}})


def _entry(rec: Record) -> Entry:
    energy = rec.energy
    repeats = energy.per_inference_j_repeats
    return Entry(
        recipe=rec.recipe,
        recipe_origin=rec.recipe_origin,
        metrics=dict(rec.metrics),
        primary_metric=rec.task.primary_metric,
        higher_is_better=rec.task.higher_is_better,
        quality=rec.primary_value,
        task=rec.task.name,
        inference_unit=rec.task.inference_unit,
        size_mb=rec.size_mb,
        latency_ms=rec.latency_ms,
        throughput_per_s=energy.throughput_per_s,
        energy_per_inference_j=energy.per_inference_j,
        energy_source=energy.source,
        energy_estimate=energy.estimate,
        energy_spread=energy.spread,
        energy_converged=energy.converged,
        energy_attribution=energy.attribution,
        cpu_s_per_inference=energy.cpu_s_per_inference,
        contended=rec.contended,
        paired=rec.paired,
        energy_range_j=[min(repeats), max(repeats)] if repeats else None,
        energy_band=energy.band,
        dynamic_energy_per_inference_j=energy.dynamic_per_inference_j,
        gco2e_per_million=energy.gco2e_per_million,
        device=rec.device.name,
        device_kind=rec.device.kind,
        intended_device=rec.device.intended,
        runtime=(rec.device.runtime or {}).get("runtime"),
        batch_size=energy.batch_size,
        run_energy_j=rec.run_energy_j,
        run_energy_source=rec.run_energy_source,
        off_device_share=(rec.placement or {}).get("off_device_share"),
        steps=[next(iter(s)) for s in (rec.recipe_detail or {}).get("steps", []) if isinstance(s, dict) and s],
        lineage=[s.get("step") for s in rec.lineage],
        record=rec.file,
    )


def summarize(records: list[Record]) -> list[Entry]:
    """One entry per recipe and device, with frontier, ratio to the baseline and payback."""
    entries = [_entry(r) for r in latest_per_recipe(records)]
    names = [e.recipe for e in entries]
    for e in entries:  # two recipes of one name (a user's int8 and the built-in): say which is which
        own = e.recipe_origin and not e.recipe_origin.startswith("builtin:")
        e.label = f"{e.recipe} ({e.recipe_origin})" if names.count(e.recipe) > 1 and own else e.recipe
    by_kind: dict[str, list[Entry]] = {}
    for e in entries:
        by_kind.setdefault(e.device_kind, []).append(e)
    for group in by_kind.values():
        base = next((e for e in group if e.recipe == BASELINE), None)
        for e in group:
            _compare(e, base)
        front = pareto_front(group, group[0].higher_is_better, energy_key="comparable_energy_j")
        for k, e in enumerate(group):
            e.pareto = k in front
    return entries


def _compare(e: Entry, base: Entry | None) -> None:
    """Ratio to the baseline, energy saved per inference and payback, from the paired block when there is one."""
    e.comparable_energy_j = e.energy_per_inference_j
    if e is base:
        e.ratio_basis = "baseline"
        return
    if base is not None and e.quality is not None and base.quality is not None:
        e.quality_vs_baseline = e.quality - base.quality
    paired = e.paired
    base_j = base.energy_per_inference_j if base is not None else None
    if paired and paired.reference == BASELINE and paired.energy_ratio is not None:
        e.ratio_basis, e.energy_vs_baseline = "paired", paired.energy_ratio
        e.energy_vs_baseline_range = paired.energy_ratio_range
        e.throughput_vs_baseline, e.cpu_seconds_vs_baseline = paired.throughput_ratio, paired.cpu_seconds_ratio
        e.saved_per_inference_j = paired.saved_per_inference_j
        if base_j is not None:
            e.comparable_energy_j = paired.energy_ratio * base_j
    elif base is not None and base_j is not None and e.energy_per_inference_j is not None:
        e.ratio_basis, e.energy_vs_baseline = "separate records", e.energy_per_inference_j / base_j
        e.saved_per_inference_j = base_j - e.energy_per_inference_j
        if e.throughput_per_s and base.throughput_per_s:
            e.throughput_vs_baseline = e.throughput_per_s / base.throughput_per_s
    saved = e.saved_per_inference_j
    if saved is not None and saved > 0 and e.run_energy_j is not None:
        e.payback_inferences = e.run_energy_j / saved
