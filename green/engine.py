"""The engine: runs one recipe step and owns the artifact it makes.

A step (:mod:`green.compress`) gets its parent, its validated config and a context, and
returns the files it wrote. Everything every step would otherwise repeat happens here,
once: the training budget (one rule: the lineage root's), the step's energy window, the
support files (tokenizer, config) copied from the parent, the FLOPs of a model whose
shape changed, the :class:`~green.artifacts.Artifact` and its manifest. A per-part step
(written for one ONNX model) is run over each part of a multi-file model.

Steps are never run twice. A step's output is keyed by what determines it: the parent's
content digest, the step name and config version, the validated config, the seed, the
data fingerprint, the budget and the device kind. :class:`StepCache` finds a finished,
intact artifact with that key in the workdir's complete runs; the workbench links it
into the new run instead of running the step again, and the record says so. A cached
artifact is never modified; one whose files no longer match its digest is not reused.

>>> art = run_step(parent, QuantizeConfig(), StepContext(out_dir, "cpu"))   # doctest: +SKIP
>>> art.files["model"], art.parent                                        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from green.artifacts import MANIFEST, Artifact, copy_support_files, support_roles
from green.compress.registry import Part, StepConfig, StepContext, StepResult, step_for

if TYPE_CHECKING:
    from green.budget import TrainBudget
    from green.evaluate.energy import EnergyMeter
    from green.tasks.base import Task

log = logging.getLogger(__name__)

#: Goes up when what the key covers changes, so keys of older green versions never match.
KEY_VERSION = 1


def root_budget(task: "Task", parent: Artifact, device: str, quick: bool) -> "TrainBudget":
    """The one budget rule: the lineage root's budget (the baseline's), by name in the task's budgets.

    ``quick`` (a smoke run) takes the task's quick budget whatever the baseline had.
    """
    if quick:
        return task.budget(device, True)
    root = parent.lineage()[-1]
    name = (root.params.get("budget") or {}).get("name", "") if isinstance(root.params.get("budget"), dict) else ""
    return task.budgets().get(name) or task.budget(device, False)


def run_step(parent: Artifact, config: StepConfig, ctx: StepContext, meter: "EnergyMeter | None" = None,
             key: str | None = None) -> Artifact:
    """Run the step ``config`` belongs to on ``parent`` into ``ctx.out_dir``; returns the saved artifact.

    With a ``meter`` the step runs inside one energy window (named after the step), which
    the artifact keeps as the energy that made it.
    """
    from green.tasks import get_task

    step = step_for(config)
    task = ctx.task or get_task(parent.task)
    if ctx.budget is None:
        ctx = replace(ctx, budget=root_budget(task, parent, ctx.device, ctx.quick))
    out = Path(ctx.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    window = meter.window(step.name) if meter is not None else nullcontext()
    with window as w:
        if step.per_part:
            files = {role: step.run(Part(role, parent.path / name, parent), config, ctx)
                     for role, name in parent.model_files.items()}
            result = StepResult(files=files, format=parent.format)
        else:
            result = step.run(parent, config, ctx)
    copy_support_files(parent.path, out)  # a step that changed the config wrote its own first
    artifact = Artifact(
        path=out,
        format=result.format or step.gives_for(config),
        task=parent.task,
        step=step.name,
        files={**support_roles(out), **result.files},
        params=config.model_dump() | result.params,
        config_version=type(config).VERSION,
        parent=str(parent.path),
        target_device=result.target_device or step.target_device or "any",
        energy=w.to_dict() if w is not None else {},
        # A step that changes the network's shape hands over its module; the arithmetic is counted on it.
        flops=task.count_flops(result.model) if result.model is not None else parent.flops,
        extra=result.extra,
        key=key,
    )
    artifact.digest = artifact.content_digest()
    artifact.save()
    return artifact


def step_key(parent: Artifact, config: StepConfig, ctx: StepContext, data_fingerprint: str | None) -> str:
    """What determines a step's output, as one digest (see the module docstring)."""
    step = step_for(config)
    budget = ctx.budget
    payload = {
        "key_version": KEY_VERSION,
        "parent": parent.digest or parent.content_digest(),
        "step": step.name,
        "config_version": type(config).VERSION,
        "config": config.model_dump(mode="json"),
        "seed": ctx.seed,
        "data": data_fingerprint,
        "budget": budget.name if budget is not None else None,
        "quick": ctx.quick,
        "device": ctx.device.split(":")[0],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


class StepCache:
    """Finished step artifacts of a workdir's complete runs, by key.

    Only complete runs count (an interrupted one may hold a half-written step), and only
    folders a step wrote (not the links a reusing run made to them).
    """

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._index: dict[str, Path] | None = None

    def _build(self) -> dict[str, Path]:
        from green.runs import complete_runs, step_dirs

        index: dict[str, Path] = {}
        for run in complete_runs(self.runs_dir):
            for folder in step_dirs(run):
                if folder.is_symlink():
                    continue
                try:
                    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
                except (OSError, ValueError, RecursionError):
                    continue
                key = manifest.get("key") if isinstance(manifest, dict) else None
                if isinstance(key, str):
                    index.setdefault(key, folder)
        return index

    def find(self, key: str) -> Artifact | None:
        """The intact artifact made under ``key``, or None (a damaged one is logged and passed over)."""
        if self._index is None:
            self._index = self._build()
        folder = self._index.get(key)
        if folder is None:
            return None
        try:
            artifact = Artifact.load(folder)
        except Exception:  # a manifest damaged since the index was built: run the step again
            return None
        if not artifact.digest or artifact.content_digest() != artifact.digest:
            log.warning("%s changed since it was made (its files no longer match its digest): running the step again",
                        folder)
            self._index.pop(key, None)
            return None
        return artifact
