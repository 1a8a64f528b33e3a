"""Records: one typed, versioned JSON document per evaluated artifact, written atomically, never edited.

:class:`Record` is the one schema; :func:`build_record` the one place a record is
assembled, for evaluations and for ``green measure`` alike. Reports are computed from
records only. A file that does not validate is skipped with a note, never fatal: one
bad file cannot break a workdir.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from green.artifacts import atomic_write_json, now_iso
from green.machine import MachineInfo, machine_info
from green.results import Cell, Energy, EnergySplit, Latency, Paired, StepWindow, Window
from green.run_recipe import RunRecipe

__all__ = ["Cell", "DeviceInfo", "Energy", "EnergySplit", "Latency", "Measured", "Origin", "Paired", "Record",
           "StepWindow", "TaskInfo", "Window", "build_record", "load_records", "read_record", "write_record"]

RECORD_VERSION = 3
_ID = r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,120}$"

#: Version 2 kept these at the top level beside a duplicate ``energy`` dict; version 3 keeps
#: them once, in the typed ``energy`` block (name there on the right).
_V2_ENERGY_FIELDS = {"energy_per_inference_j": "per_inference_j", "energy_source": "source",
                     "energy_estimate": "estimate", "energy_scope": "scope", "energy_attribution": "attribution",
                     "throughput_per_s": "throughput_per_s", "batch_size": "batch_size",
                     "cpu_s_per_inference": "cpu_s_per_inference"}


class DeviceInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str
    name: str
    intended: str | None = None
    ran_on: str | None = None
    runtime: dict = Field(default_factory=dict)


class TaskInfo(BaseModel):
    """The task a record's metrics belong to: its primary metric decides the chart and the frontier."""

    model_config = ConfigDict(extra="allow")

    name: str
    primary_metric: str
    higher_is_better: bool = True
    inference_unit: str = "sequence"
    data: dict = Field(default_factory=dict)
    test_rows_evaluated: int | None = None


class Record(BaseModel):
    """One evaluated (or re-measured) artifact: what it is, what it scored, and its typed measurements.

    The energy figures live once, in ``energy`` (:class:`~green.results.Energy`); the
    properties ``energy_per_inference_j`` and ``energy_source`` read the headline there.
    Older records (versions 1 and 2, and the flat keyword form) are upgraded on validation.
    """

    model_config = ConfigDict(extra="forbid")

    record_version: Literal[3] = 3
    kind: Literal["evaluation", "measurement"]
    id: str = Field(pattern=_ID)
    created: str
    recipe: str = Field(min_length=1)
    #: ``builtin:NAME``, a recipe file path, or ``baseline``; tells same-named recipes apart.
    recipe_origin: str | None = None
    recipe_digest: str | None = None
    recipe_detail: dict | None = None
    artifact: str
    artifact_format: str
    lineage: list[dict] = Field(default_factory=list)
    task: TaskInfo
    metrics: dict[str, float | None] = Field(default_factory=dict)
    size_mb: float
    latency_ms: Latency | None = None
    sequence_length_policy: str | None = None
    energy: Energy = Field(default_factory=Energy)
    #: True when a figure of this record (energy windows, paired rounds, latency) ran while
    #: other processes used the CPU, even after retries.
    contended: bool = False
    paired: Paired | None = None
    placement: dict | None = None
    efficiency: dict | None = None
    device: DeviceInfo
    #: The CPU, its kernel-deciding ISA and the threads used (green.machine); None in older records.
    machine: MachineInfo | None = None
    #: The energy of the artifact's whole lineage: what the recipe costs to make from scratch
    #: (steps reused from an earlier run count with their original energy). Payback divides this.
    run_energy_j: float | None = None
    #: The energy this run spent: reused steps (``run_steps[i].reused``) count zero.
    run_energy_spent_j: float | None = None
    #: The counters (or estimates) the steps' windows read, joined with ``+``.
    run_energy_source: str | None = None
    run_energy_kwh: float | None = None
    #: ``run_energy_j`` on the record's grid (codecarbon's offline intensity for its country/region).
    run_gco2e: float | None = None
    run_seconds: float | None = None
    #: One window per step that made the artifact, oldest first (training for the baseline).
    run_steps: list[StepWindow] = Field(default_factory=list)
    #: What training the baseline cost: the part of a recipe's story it does not pay again.
    baseline_run_energy_j: float | None = None
    #: The benchmark's settings (batch size, window length, repeats, spread target...).
    bench_settings: dict = Field(default_factory=dict)
    #: ``green measure``: one cell per batch size (and length, on a grid).
    cells: list[Cell] | None = None
    #: What the numbers mean beyond themselves (sparsity on dense kernels, a fallback, ...).
    notes: list[str] = Field(default_factory=list)
    #: Generative tasks: the generation settings every output was made with (model's config + recipe).
    generation: dict | None = None
    #: Generative tasks: the encoder/decoder split of energy per output, and energy per generated token.
    energy_split: EnergySplit | None = None
    #: A trivial predictor's metrics on the same test rows (lead-N for summaries), when the task has one.
    reference: dict | None = None
    #: The first test rows' inputs, targets and this artifact's predictions, as text (``Task.prediction_sample``).
    predictions: dict | None = None
    versions: dict[str, str | None] = Field(default_factory=dict)
    #: Where the record was read from (set on load, not stored).
    file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _older(cls, data: Any) -> Any:
        return _upgrade(data) if isinstance(data, dict) else data

    @property
    def primary_value(self) -> float | None:
        return self.metrics.get(self.task.primary_metric)

    # The headline figure and what measured it, read from the one energy block (the rest: ``record.energy``).
    @property
    def energy_per_inference_j(self) -> float | None:
        return self.energy.per_inference_j

    @property
    def energy_source(self) -> str:
        return self.energy.source


def new_record_id(recipe: str) -> str:
    stamp = re.sub(r"[^0-9]", "", now_iso())[:14]
    slug = re.sub(r"[^0-9A-Za-z_.-]", "-", recipe)[:64]
    return f"{stamp}-{slug}-{uuid.uuid4().hex[:6]}"


@dataclass
class Origin:
    """What a record is about: the recipe and artifact, the task and data, the device, and how it was benchmarked."""

    recipe: RunRecipe
    artifact: Any
    #: The task's metric description (``Task.metric_description``) and the data's (``TaskData.describe``).
    task: dict
    data: dict
    device: dict
    settings: dict
    versions: dict
    #: The windows of the steps that made the artifact (training for the baseline), reused ones marked.
    run_steps: list[StepWindow] = field(default_factory=list)
    baseline_run_energy_j: float | None = None
    country: str = "USA"
    region: str | None = None


@dataclass
class Measured:
    """What evaluation or ``green measure`` found: energy at the throughput batch and everything beside it."""

    energy: Energy
    latency: Latency | None = None
    paired: Paired | None = None
    cells: list[Cell] | None = None
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    test_rows: int | None = None
    placement: dict | None = None
    efficiency: dict | None = None
    sequence_policy: str | None = None
    notes: list[str] = field(default_factory=list)
    generation: dict | None = None
    reference: dict | None = None
    predictions: dict | None = None


def build_record(kind: Literal["evaluation", "measurement"], origin: Origin, measured: Measured) -> Record:
    """Assemble and validate a record: the one place records are made, for evaluations and measurements alike.

    The energy block gains the record's scope, the idle window and the scaled figures (Wh and
    gCO2e per million inferences, on ``origin``'s grid); the run's energy is the sum of its
    steps' windows, known only when every step was measured.
    """
    from green.carbon import J_PER_KWH, grams_co2e

    recipe, artifact, steps = origin.recipe, origin.artifact, origin.run_steps
    run_j = [s.joules for s in steps]
    run_total = sum(j for j in run_j if j is not None) if steps and None not in run_j else None
    spent = sum(s.joules or 0.0 for s in steps if not s.reused) if run_total is not None else None
    energy = measured.energy.model_copy()
    per_inf = energy.per_inference_j
    energy.scope = "gpu" if origin.device["kind"] == "cuda" else "cpu+ram" if energy.estimate else "cpu"
    energy.wh_per_million = per_inf * 1e6 / 3600.0 if per_inf is not None else None
    energy.gco2e_per_million = grams_co2e(per_inf * 1e6, origin.country, origin.region) if per_inf is not None else None
    energy.country, energy.region = origin.country, origin.region
    paired, latency = measured.paired, measured.latency
    return Record(
        kind=kind,
        id=new_record_id(recipe.name if kind == "evaluation" else f"measure-{recipe.name}"),
        created=now_iso(),
        recipe=recipe.name,
        recipe_origin=recipe.origin,
        recipe_digest=recipe.digest,
        recipe_detail=recipe.detail(),
        artifact=str(artifact.path),
        artifact_format=artifact.format,
        lineage=[{"step": a.step, "path": str(a.path)} for a in artifact.lineage()],
        task=TaskInfo(**origin.task, data=origin.data, test_rows_evaluated=measured.test_rows),
        metrics=dict(measured.metrics),
        size_mb=artifact.size_bytes / 1e6,
        latency_ms=latency,
        sequence_length_policy=measured.sequence_policy,
        energy=energy,
        contended=bool(energy.contended or (paired and paired.contended) or (latency and latency.contended)),
        paired=paired,
        placement=measured.placement,
        efficiency=measured.efficiency,
        device=DeviceInfo(**origin.device),
        machine=machine_info((origin.device.get("runtime") or {}).get("intra_op_threads")),
        run_energy_j=run_total if kind == "evaluation" else artifact.run_energy_j,
        run_energy_spent_j=spent if kind == "evaluation" else None,
        run_energy_source="+".join(sorted({s.source for s in steps})) or None,
        run_energy_kwh=run_total / J_PER_KWH if run_total is not None else None,
        run_gco2e=grams_co2e(run_total, origin.country, origin.region) if run_total is not None else None,
        run_seconds=sum(s.seconds or 0.0 for s in steps) if steps else None,
        run_steps=steps,
        baseline_run_energy_j=origin.baseline_run_energy_j,
        bench_settings=origin.settings,
        cells=measured.cells,
        notes=list(measured.notes),
        versions=origin.versions,
        generation=measured.generation,
        energy_split=energy.split,
        reference=measured.reference,
        predictions=measured.predictions,
    )


def write_record(records_dir: Path, record: Record) -> Path:
    """Write ``record`` as ``<id>.json``; an existing record is never overwritten."""
    if not isinstance(record, Record):
        raise TypeError("write_record takes a Record (see build_record)")
    path = Path(records_dir) / f"{record.id}.json"
    if path.exists():
        raise FileExistsError(f"{path} exists; records are never overwritten")
    atomic_write_json(path, record.model_dump(mode="json"))
    record.file = str(path)
    return path


def read_record(path: Path) -> Record:
    """One record file, upgraded from older versions; raises ValueError when it is not one."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable ({type(exc).__name__})") from None
    except RecursionError:
        raise ValueError("unreadable (nested too deeply)") from None
    except ValueError as exc:  # NaN/Infinity, or an integer past Python's digit limit
        raise ValueError(f"unreadable ({str(exc).split(':')[0][:80]})") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    payload.pop("_file", None)
    problem = _number_problem(payload)
    if problem:
        raise ValueError(problem)
    try:
        record = Record.model_validate(payload)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "record"
        raise ValueError(f"{where}: {err['msg']}") from None
    record.file = str(path)
    return record


#: No figure green writes comes near this; a larger one (1e308) overflows the report's arithmetic.
MAX_FIGURE = 1e18
#: Figures that cannot be negative: a record holding one below zero was hand-edited or broken.
_NON_NEGATIVE = {"energy_per_inference_j", "run_energy_j", "energy_ratio", "energy_ratio_range", "per_inference_j",
                 "per_inference_j_repeats", "throughput_per_s", "size_mb", "gco2e_per_million", "wh_per_million"}


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number green writes")


def _number_problem(payload: dict) -> str | None:
    """The first figure out of range (over MAX_FIGURE, or a negative energy, ratio or size), or None.

    Iterative, so a payload nested as deep as the JSON parser allows cannot overflow the stack.
    """
    stack: list[tuple[str, object]] = [("", payload)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack += [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(key, v) for v in value]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if abs(value) > MAX_FIGURE:
                return f"{key or 'a number'}: {value:.3g} is out of range"
            if value < 0 and key in _NON_NEGATIVE:
                return f"{key}: {value:.3g} is negative"
    return None


def load_records(records_dir: Path, notes: list[str] | None = None) -> list[Record]:
    """Every valid record, oldest first. Invalid files are skipped; ``notes`` collects why."""
    out = []
    for path in sorted(Path(records_dir).glob("*.json")):
        try:
            out.append(read_record(path))
        except ValueError as exc:
            if notes is not None:
                notes.append(f"skipped {path.name}: {exc}")
    return sorted(out, key=lambda r: r.created)


def _upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    """An older record as this version reads it: version 1 (green 0.1), version 2, or the flat keyword form."""
    version = payload.get("record_version")
    if version is not None and version >= RECORD_VERSION:
        return payload
    task = payload.get("task")
    # Version 1 files carry no version and no task block with a primary metric.
    has_task = isinstance(task, TaskInfo) or (isinstance(task, dict) and "primary_metric" in task)
    v1 = version == 1 or (version is None and not has_task)
    legacy = payload.keys() & (_V2_ENERGY_FIELDS.keys() | {"stability"})
    if version is None and not v1 and not legacy:
        return payload  # already this version's shape (built in code, the version left to its default)
    return _from_v2(_from_v1(payload) if v1 else dict(payload))


def _from_v2(p: dict[str, Any]) -> dict[str, Any]:
    """Version 2: headline energy figures at the top level and again in an untyped ``energy`` dict."""
    p["record_version"] = RECORD_VERSION
    energy = dict(p.get("energy") or {})
    for old, new in _V2_ENERGY_FIELDS.items():
        value = p.pop(old, None)
        if value is not None:  # the top-level figure was the record's own; the dict's copy may be older
            energy[new] = value
    energy.pop("pareto_uses", None)
    stability = p.pop("stability", None) or {}
    for key in ("converged", "converged_on", "spread", "spread_target", "windows_run", "retries",
                "contended_windows"):
        if key in stability and key not in energy:
            energy[key] = stability[key]
    if energy.get("source") is None:
        energy["source"] = "none"
    p["energy"] = energy
    if isinstance(p.get("cells"), list):
        p["cells"] = [_cell_from_v2(c) if isinstance(c, dict) else c for c in p["cells"]]
    return p


def _cell_from_v2(cell: dict[str, Any]) -> dict[str, Any]:
    """A version 2 cell merged its energy block into itself; version 3 nests it."""
    if "energy" in cell:
        return cell
    own = {"batch_size", "seq_len", "paired", "wh_per_million", "gco2e_per_million", "efficiency"}
    return {k: v for k, v in cell.items() if k in own} | {"energy": {k: v for k, v in cell.items() if k not in own}}


def _from_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 records (green 0.1): classification metrics at the top level, no task block."""
    p = dict(payload)
    p.setdefault("kind", "evaluation")
    metrics = {k: p.pop(k) for k in ("accuracy", "macro_f1") if k in p}
    p["metrics"] = {k: v for k, v in metrics.items() if v is not None}
    old_task = p.pop("task", None)
    p["task"] = {"name": "text-classification", "primary_metric": "accuracy", "higher_is_better": True,
                 "data": {k: v for k, v in (old_task or {}).items() if k != "test_rows_evaluated"},
                 "test_rows_evaluated": (old_task or {}).get("test_rows_evaluated")}
    if "idle" in p:  # measurement records kept idle at the top level
        p.setdefault("energy", {})["idle"] = p.pop("idle")
    if "settings" in p:
        p["bench_settings"] = p.pop("settings")
    p.setdefault("energy_source", "none")
    p.setdefault("size_mb", 0.0)
    p.setdefault("artifact_format", "unknown")
    return p
