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
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from green.artifacts import atomic_write_json, now_iso
from green.machine import MachineInfo, machine_info

RECORD_VERSION = 2
_ID = r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,120}$"


class Latency(BaseModel):
    model_config = ConfigDict(extra="allow")

    p50: float
    p95: float
    mean: float | None = None
    batch_size: int = 1
    samples: int | None = None


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


class Stability(BaseModel):
    """How the energy windows went: agreement, contention, retries (see ``green.evaluate.bench``)."""

    model_config = ConfigDict(extra="allow")

    #: Windows the figures come from, and every window run (retried and discarded ones too).
    windows: int
    windows_run: int
    #: (max - min) / median of energy per inference over the windows used; None below two windows.
    spread: float | None = None
    spread_target: float
    #: True: the last ``repeats`` windows (paired: rounds) agreed within the target; False: the
    #: measurement stopped at its maximum; None: a single window, nothing to agree.
    converged: bool | None = None
    #: What had to agree: "energy per inference", or "paired energy ratio".
    converged_on: str | None = None
    #: Some window kept for the figures ran while other processes used the CPU (after retries).
    contended: bool = False
    contended_windows: int = 0
    retries: int = 0
    #: Why the windows kept although contended counted as contended (the first five).
    contention: list[str] = Field(default_factory=list)


class Paired(BaseModel):
    """This artifact and a reference measured in alternating windows of one session (``green.evaluate.paired``).

    Ratios are this artifact over the reference; each is the median of per-round ratios.
    The report's "vs baseline" and payback use these when present.
    """

    model_config = ConfigDict(extra="allow")

    #: The reference's recipe name (``baseline``, or what ``green measure --pair`` named) and folder.
    reference: str
    reference_artifact: str | None = None
    order: str | None = None
    #: Rounds the figures come from, and every round run.
    rounds: int
    rounds_run: int | None = None
    per_inference_j: float | None = None
    reference_per_inference_j: float | None = None
    energy_ratio: float | None = None
    #: [min, max] of the per-round energy ratios used.
    energy_ratio_range: list[float] | None = None
    energy_ratio_spread: float | None = None
    round_ratios: list[float | None] = Field(default_factory=list)
    #: Median over rounds of (reference - this) joules per inference: what payback divides by.
    saved_per_inference_j: float | None = None
    throughput_per_s: float | None = None
    reference_throughput_per_s: float | None = None
    throughput_ratio: float | None = None
    cpu_s_per_inference: float | None = None
    reference_cpu_s_per_inference: float | None = None
    cpu_seconds_ratio: float | None = None
    cpu_seconds_ratio_spread: float | None = None
    converged: bool | None = None
    spread_target: float | None = None
    retries: int = 0
    #: Rounds kept although one of their windows was still contended after retries.
    contended_rounds: int = 0
    contended: bool = False
    source: str | None = None
    estimate: bool = False
    attribution: str | None = None
    reference_windows: list[dict] = Field(default_factory=list)


class EnergySplit(BaseModel):
    """Generative tasks: one output's energy between the encoder (measured alone, same batches) and the decoder."""

    model_config = ConfigDict(extra="allow")

    encoder_per_inference_j: float | None = None
    decoder_per_inference_j: float | None = None
    encoder_share: float | None = None
    per_generated_token_j: float | None = None
    decoder_per_generated_token_j: float | None = None
    dynamic_encoder_per_inference_j: float | None = None
    generated_tokens_per_inference: float | None = None
    input_tokens_per_inference: float | None = None
    encoder_windows: list[dict] = Field(default_factory=list)
    method: str | None = None


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_version: Literal[2] = RECORD_VERSION
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
    throughput_per_s: float | None = None
    batch_size: int | None = None
    sequence_length_policy: str | None = None
    energy_per_inference_j: float | None = None
    energy_source: str
    energy_estimate: bool = False
    energy_scope: str | None = None
    #: What the energy figure is charged to: ``process-cpu-time`` (an estimate charged to the
    #: measuring process's CPU time), ``machine`` or ``device`` (see ``green.evaluate.energy``).
    energy_attribution: str | None = None
    #: CPU time (all threads of the measuring process) per inference, beside wall-clock figures.
    cpu_s_per_inference: float | None = None
    #: True when a figure of this record (energy windows, paired rounds, latency) ran while
    #: other processes used the CPU, even after retries.
    contended: bool = False
    stability: Stability | None = None
    paired: Paired | None = None
    placement: dict | None = None
    efficiency: dict | None = None
    energy: dict = Field(default_factory=dict)
    device: DeviceInfo
    #: The CPU, its kernel-deciding ISA and the threads used (green.machine); None in older records.
    machine: MachineInfo | None = None
    #: The energy of the artifact's whole lineage: what the recipe costs to make from scratch
    #: (steps reused from an earlier run count with their original energy). Payback divides this.
    run_energy_j: float | None = None
    #: The energy this run spent: reused steps (``run_steps[i].reused``) count zero.
    run_energy_spent_j: float | None = None
    run_energy_source: str | None = None
    run_energy_kwh: float | None = None
    run_gco2e: float | None = None
    run_seconds: float | None = None
    run_steps: list[dict] = Field(default_factory=list)
    baseline_run_energy_j: float | None = None
    bench_settings: dict = Field(default_factory=dict)
    cells: list[dict] | None = None
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

    @property
    def primary_value(self) -> float | None:
        return self.metrics.get(self.task.primary_metric)


def new_record_id(recipe: str) -> str:
    stamp = re.sub(r"[^0-9]", "", now_iso())[:14]
    slug = re.sub(r"[^0-9A-Za-z_.-]", "-", recipe)[:64]
    return f"{stamp}-{slug}-{uuid.uuid4().hex[:6]}"


def build_record(
    *,
    kind: Literal["evaluation", "measurement"],
    recipe: dict,
    artifact,
    task: dict,
    device: dict,
    energy: dict,
    latency: dict | None,
    settings: dict,
    versions: dict,
    metrics: dict | None = None,
    data: dict | None = None,
    test_rows: int | None = None,
    run_steps: list[dict] | None = None,
    placement: dict | None = None,
    efficiency: dict | None = None,
    sequence_policy: str | None = None,
    country: str = "USA",
    region: str | None = None,
    cells: list[dict] | None = None,
    baseline_run_energy_j: float | None = None,
    notes: list[str] | None = None,
    paired: dict | None = None,
    generation: dict | None = None,
    reference: dict | None = None,
    predictions: dict | None = None,
) -> Record:
    """Assemble and validate a record. ``energy`` is the benchmark's result at the throughput batch.

    ``recipe`` is the recipe as a dict with ``name`` (and ``origin``/``digest`` when read
    from a file); ``run_steps`` the measured windows of the steps that made the artifact;
    ``paired`` the block of :func:`green.evaluate.paired.measure_paired`, when there was one.
    """
    from green.carbon import J_PER_KWH, grams_co2e

    steps = run_steps or []
    run_j = [s.get("joules") for s in steps]
    # The run's energy is known only when every step that made the artifact was measured.
    run_total = sum(run_j) if steps and all(j is not None for j in run_j) else None
    fresh = [s.get("joules") for s in steps if not s.get("reused")]
    spent = sum(fresh) if run_total is not None else None  # type: ignore[arg-type]
    per_inf = energy.get("per_inference_j")
    contended = bool(energy.get("contended") or (paired or {}).get("contended") or (latency or {}).get("contended"))
    return Record(
        kind=kind,
        id=new_record_id(recipe["name"] if kind == "evaluation" else f"measure-{recipe['name']}"),
        created=now_iso(),
        recipe=recipe["name"],
        recipe_origin=recipe.get("origin"),
        recipe_digest=recipe.get("digest"),
        recipe_detail={k: v for k, v in recipe.items() if k not in ("origin", "digest")},
        artifact=str(artifact.path),
        artifact_format=artifact.format,
        lineage=[{"step": a.step, "path": str(a.path)} for a in artifact.lineage()],
        task=TaskInfo(**task, data=data or {}, test_rows_evaluated=test_rows),
        metrics=metrics or {},
        size_mb=artifact.size_bytes / 1e6,
        latency_ms=Latency(**latency) if latency else None,
        throughput_per_s=energy.get("throughput_per_s"),
        batch_size=energy.get("batch_size"),
        sequence_length_policy=sequence_policy,
        energy_per_inference_j=per_inf,
        energy_source=energy.get("source") or "none",
        energy_estimate=bool(energy.get("estimate")),
        energy_scope=("gpu" if device["kind"] == "cuda" else "cpu+ram" if energy.get("estimate") else "cpu"),
        energy_attribution=energy.get("attribution"),
        cpu_s_per_inference=energy.get("cpu_s_per_inference"),
        contended=contended,
        stability=_stability(energy),
        paired=Paired(**paired) if paired else None,
        placement=placement,
        efficiency=efficiency,
        energy={
            **{k: v for k, v in energy.items() if k not in ("batch_shapes", "generation_shapes", "split", "generation")},
            "pareto_uses": "total",
            "wh_per_million": per_inf * 1e6 / 3600.0 if per_inf is not None else None,
            "gco2e_per_million": grams_co2e(per_inf * 1e6, country, region) if per_inf is not None else None,
            "country": country,
            "region": region,
        },
        device=DeviceInfo(**device),
        machine=machine_info((device.get("runtime") or {}).get("intra_op_threads")),
        run_energy_j=run_total if kind == "evaluation" else artifact.run_energy_j,
        run_energy_spent_j=spent if kind == "evaluation" else None,
        run_energy_source="+".join(sorted({s.get("source", "none") for s in steps})) or None,
        run_energy_kwh=run_total / J_PER_KWH if run_total is not None else None,
        run_gco2e=grams_co2e(run_total, country, region) if run_total is not None else None,
        run_seconds=sum(s.get("seconds") or 0.0 for s in steps) if steps else None,
        run_steps=steps,
        baseline_run_energy_j=baseline_run_energy_j,
        bench_settings=settings,
        cells=cells,
        notes=list(notes or []),
        versions=versions,
        generation=generation,
        energy_split=EnergySplit(**energy["split"]) if energy.get("split") else None,
        reference=reference,
        predictions=predictions,
    )


def _stability(energy: dict) -> Stability | None:
    if "windows_run" not in energy:  # an energy block from before windows were judged
        return None
    # One line per window kept although contended, the first few: enough to say why.
    reasons = ["; ".join(w["contention"]) for w in energy.get("windows", []) if w.get("used") and w.get("contention")]
    return Stability(windows=energy["repeats"], windows_run=energy["windows_run"], spread=energy.get("spread"),
                     spread_target=energy["spread_target"], converged=energy.get("converged"),
                     converged_on=energy.get("converged_on"), contended=bool(energy.get("contended")),
                     contended_windows=energy.get("contended_windows", 0), retries=energy.get("retries", 0),
                     contention=reasons[:5])


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
        record = Record.model_validate(_upgrade(payload))
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
    """Version 1 records (green 0.1): classification metrics at the top level, no task block."""
    if payload.get("record_version", 1) >= RECORD_VERSION:
        return payload
    p = dict(payload)
    p["record_version"] = RECORD_VERSION
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
