"""One search trial: an ordinary recipe run, judged on validation quality first and measured only if it passes.

:func:`run_trial` is what a worker runs, in-process or as a Ray task on another node: it
takes a :class:`TrialJob` (plain data, so it crosses process boundaries) and returns a
plain dict, never raising for a trial's own failure (a pruned trial or a recipe error
comes back as ``{"pruned": ...}`` / ``{"error": ...}``). Cheap first: the artifact's
validation quality is computed and bootstrapped before any energy window runs, and a
trial outside the budget is never energy-measured.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from green.errors import GreenError
from green.search.quality import Quality, paired_drop, validation_quality

#: A trial whose training validation score falls this many points below the budget (after its
#: first epoch) is stopped: distillation and recovery climb a few points per epoch, not ten.
PRUNE_MARGIN_POINTS = 5.0

#: Workbenches of this process by (workdir, device, country, region): its data and meters, kept across trials.
_WORKBENCHES: dict[tuple, Any] = {}


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run trial ``number`` (paths are absolute; the workdir is shared)."""

    workdir: str
    search: str
    number: int
    trial_id: int
    recipe_file: str
    device: str
    country: str
    region: str | None
    max_drop: float
    confidence: float
    seed: int
    storage: str
    prune_below: float | None
    baseline_quality: str

    def to_dict(self) -> dict:
        return asdict(self)


def save_quality(quality: Quality, path: Path) -> None:
    from green.artifacts import atomic_write_json

    atomic_write_json(path, {"metrics": quality.metrics, "predictions": quality.predictions.tolist(),
                             "rows": None if quality.rows is None else np.asarray(quality.rows).tolist()})


def load_quality(path: Path) -> Quality:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    preds = raw["predictions"]
    arr = np.asarray(preds, dtype=object) if preds and isinstance(preds[0], str) else np.asarray(preds)
    return Quality(raw["metrics"], arr, None if raw["rows"] is None else np.asarray(raw["rows"], dtype=float))


def node_label() -> str:
    """The machine a trial ran on: its host name, and its Ray node id when it ran under Ray."""
    label = socket.gethostname()
    try:
        import ray

        if ray.is_initialized():
            label += f" (ray node {ray.get_runtime_context().get_node_id()[:12]})"
    except Exception:  # noqa: BLE001 - no Ray, or not inside a Ray worker: the host name is enough
        pass
    return label


@contextlib.contextmanager
def measuring_alone() -> Iterator[None]:
    """Hold this machine's measurement lock: two trials' energy windows on one node would pollute each other.

    A file lock in the node's temp folder, so it holds across processes (Ray workers) and is
    released by the kernel if a worker is killed. Training may overlap; measuring may not.
    """
    path = Path(tempfile.gettempdir()) / "green-measure.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pruning_reporter(job: TrialJob):
    """An epoch observer that reports each training epoch to the trial and stops it when Optuna's pruner says so."""
    import optuna

    if job.prune_below is None:
        return None
    study = optuna.load_study(study_name=job.search, storage=job.storage,
                              pruner=optuna.pruners.ThresholdPruner(lower=job.prune_below, n_warmup_steps=1))
    trial = optuna.trial.Trial(study, job.trial_id)
    step = iter(range(10_000))

    def observe(label: str, epoch: int, score: float) -> None:
        trial.report(score, next(step))
        if trial.should_prune():
            raise optuna.TrialPruned(f"{label}: validation {score:.4f} after epoch {epoch} is below "
                                     f"{job.prune_below:.4f} (the budget less {PRUNE_MARGIN_POINTS:g} points)")

    return observe


def run_trial(job_dict: dict) -> dict:
    """Run one trial; returns its outcome dict (or ``{"pruned": reason}`` / ``{"error": message}``)."""
    import optuna

    job = TrialJob(**job_dict)
    try:
        return _run(job)
    except optuna.TrialPruned as exc:
        return {"pruned": str(exc) or "stopped by the pruner", "node": node_label()}
    except GreenError as exc:
        return {"error": str(exc), "node": node_label()}
    except (RuntimeError, ValueError, MemoryError, OSError) as exc:  # a recipe this model cannot take
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                "node": node_label()}


def _run(job: TrialJob) -> dict:
    from green.run_recipe import RunRecipe
    from green.training import watch
    from green.workbench import Workbench

    started = time.perf_counter()
    key = (job.workdir, job.device, job.country, job.region)
    if key not in _WORKBENCHES:  # once per worker process: the data is read (and its warnings said) once
        _WORKBENCHES[key] = Workbench(job.workdir, device=job.device, country=job.country, region=job.region)
    wb = _WORKBENCHES[key]
    spec, device, _ = wb.plan(job.recipe_file)
    task, data = wb.task(), wb.task_data()
    max_length = wb.task_spec().get("max_length") or 128
    baseline = load_quality(Path(job.baseline_quality))
    meter = wb.meter(device)
    observer = _pruning_reporter(job)
    record = None
    tag = {"search": job.search, "trial": job.number}
    with meter.window(f"search {job.search} trial {job.number}") as whole:
        with watch.watching(observer) if observer else contextlib.nullcontext():
            with wb.recipe_run(spec, device, tag=tag) as made:
                recipe = RunRecipe.of(made.recipe)
                quality = validation_quality(made.artifact, recipe, task, data.validation, device, max_length)
                drop = paired_drop(task, data.validation, baseline, quality, job.confidence, job.seed)
                if drop.within(job.max_drop):
                    record = measure_on_validation(wb, made.artifact, recipe, device, quick=True,
                                                   note=f"green search {job.search} trial {job.number}")
    steps = [{"step": s.step, "joules": s.joules, "reused": s.reused, "source": s.source} for s in made.steps]
    paired = record.paired if record is not None else None
    return {
        "number": job.number, "recipe_file": job.recipe_file, "run": made.run_dir.name,
        "metric": quality.primary(task), "drop": drop.points, "bound": drop.bound, "within": drop.within(job.max_drop),
        "validation_rows": drop.rows,
        "energy_ratio": paired.energy_ratio if paired else None,
        "energy_ratio_range": paired.energy_ratio_range if paired else None,
        "throughput_ratio": paired.throughput_ratio if paired else None,
        "per_inference_j": paired.per_inference_j if paired else None,
        "reference_per_inference_j": paired.reference_per_inference_j if paired else None,
        "record": Path(record.file).name if record is not None and record.file else None,
        "make_j": sum(s["joules"] or 0.0 for s in steps),
        "spent_j": sum(s["joules"] or 0.0 for s in steps if not s["reused"]),
        "steps": steps, "node": node_label(), "seconds": time.perf_counter() - started,
        "trial_j": whole.joules, "energy_source": whole.source, "estimate": whole.estimate,
    }


def measure_on_validation(wb: Any, artifact: Any, recipe: Any, device: str, quick: bool, note: str,
                          reference: Any = None):
    """A paired ``measurement`` record of ``artifact`` against the baseline on the validation rows.

    ``quick``: the cheap settings a trial gets (1 s windows, at most five rounds); otherwise
    the full ones (repeated until stable) the frontier gets before the choice is made.
    """
    from green.artifacts import Artifact
    from green.evaluate.bench import default_settings
    from green.evaluate.evaluation import Subject
    from green.evaluate.measure import measure_artifact
    from green.evaluate.paired import Reference
    from green.records import write_record
    from green.runs import BASELINE

    data = wb.task_data()
    settings = default_settings(device, quick, recipe.evaluate.batch_size)
    # The search never reads the test split: energy is measured on the validation rows too.
    subject = Subject(artifact, recipe, wb.task(), replace(data, test=data.validation), device, wb.meter(device),
                      settings, wb.country, wb.region)
    # Its own reference, not the Workbench's: that one's batches are the test split's.
    reference = reference or Reference(BASELINE, Artifact.load(wb.baseline_dir), device)
    with measuring_alone():
        record = measure_artifact(subject, [settings.batch_size], reference=reference,
                                  max_length=wb.task_spec().get("max_length") or 128)
    record.notes.append(f"{note}: measured on the validation split ({len(data.validation)} rows) "
                        f"on {node_label()}, {'quick' if quick else 'full'} settings")
    write_record(wb.records_dir, record)
    return record


def environment_for_workers() -> dict[str, str]:
    """The variables a remote worker needs to load models as the driver does (offline hub, caches)."""
    keep = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM",
            "GREEN_")
    return {k: v for k, v in os.environ.items() if k.startswith(keep)}
