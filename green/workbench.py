"""The Workbench: the Python API behind every CLI command.

A workdir holds ``baseline/`` (the fine-tuned reference), ``runs/<id>/NN-step/`` (one
folder per recipe run, each step a self-contained artifact), ``records/`` (one JSON per
evaluated artifact), ``task.json`` (task, model, data, seed and budget) and ``report/``.
Nothing already in a workdir is modified: new runs and records are added beside it, and
a failed run removes only the folder it created.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
import warnings
from pathlib import Path

from green.artifacts import Artifact, atomic_write_json, copy_support_files, support_roles
from green.errors import GreenError
from green.evaluate.bench import default_settings
from green.evaluate.energy import EnergyMeter
from green.records import Record, load_records, new_record_id, write_record
from green.runtime import resolve_device
from green.tasks import DEFAULT_TASK, DataSpec, Task, TaskData, get_task

log = logging.getLogger(__name__)

BASELINE = "baseline"
EMBEDDED = "embedded"


class Workbench:
    """One workdir's baseline, recipe runs and records.

    >>> wb = Workbench("green-runs", device="cpu")
    >>> wb.train(quick=True).metrics                   # doctest: +SKIP
    >>> wb.compress("int8").energy_per_inference_j    # doctest: +SKIP
    """

    def __init__(self, workdir: str | Path = "green-runs", device: str = "auto", country: str = "USA",
                 region: str | None = None) -> None:
        self.workdir = Path(workdir).expanduser().resolve()
        self.device_option = device
        self.country = country
        self.region = region
        self._meters: dict[str, EnergyMeter] = {}
        self._data: TaskData | None = None

    # -- layout --------------------------------------------------------------------------
    @property
    def baseline_dir(self) -> Path:
        return self.workdir / BASELINE

    @property
    def records_dir(self) -> Path:
        return self.workdir / "records"

    @property
    def runs_dir(self) -> Path:
        return self.workdir / "runs"

    @property
    def report_dir(self) -> Path:
        return self.workdir / "report"

    @property
    def task_file(self) -> Path:
        return self.workdir / "task.json"

    def has_baseline(self) -> bool:
        return Artifact.exists(self.baseline_dir) and self.task_file.is_file()

    def meter(self, device: str) -> EnergyMeter:
        kind = device.split(":")[0]
        if kind not in self._meters:
            self._meters[kind] = EnergyMeter.for_device(device, self.country, self.region, crosscheck=True)
        return self._meters[kind]

    # -- train ---------------------------------------------------------------------------
    def train(self, model: str | None = None, data: str = EMBEDDED, columns: dict[str, str | None] | None = None,
              quick: bool = False, seed: int = 42, task: str = DEFAULT_TASK) -> Record:
        """Fine-tune and evaluate the baseline; returns its record."""
        from green.models import load_tokenizer, resolve_model
        from green.training.baseline import train_baseline

        if self.baseline_dir.exists():
            raise GreenError(
                f"{self.workdir} already has a baseline",
                "use another --workdir, or remove its baseline/ folder to train again",
            )
        # Validate everything before the first byte is written.
        task_obj = get_task(task)
        model_ref = resolve_model(model)
        data = _absolute_data(data)
        spec = DataSpec(data, dict(columns or {}), seed)
        task_data = task_obj.load_data(spec)
        device = resolve_device(self.device_option)
        budget = task_obj.budget(device, quick)
        if model_ref and Path(model_ref).is_dir():
            load_tokenizer(model_ref)  # a folder without a tokenizer fails here, not after training

        tmp = self.workdir / f".tmp-baseline-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            train_baseline(model_ref, task_obj, task_data, tmp, device, budget, self.meter(device), seed)
            tmp.rename(self.baseline_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        artifact = Artifact.load(self.baseline_dir)
        artifact.save()  # its manifest still names the temporary folder
        atomic_write_json(self.task_file, {
            "task": task_obj.name,
            "model": model or EMBEDDED,
            "model_ref": model_ref,
            "data": data,
            "columns": task_data.info.get("columns", spec.columns),
            "seed": seed,
            "budget": budget.name,
            "max_test_rows": budget.max_test_rows,
            "max_length": budget.max_length,
            "quick": quick,
            "fingerprint": task_data.fingerprint,
        })
        self._data = task_data
        return self._evaluate_baseline(artifact, device, quick)

    def ensure_baseline(self, **train_kwargs) -> None:
        """Train the baseline if there is none; evaluate it if that was interrupted."""
        if not self.has_baseline():
            log.info("no baseline in %s: training one first", self.workdir)
            self.train(**train_kwargs)
            return
        device = resolve_device(self.device_option)
        if not any(r.recipe == BASELINE and r.device.kind == device.split(":")[0] and r.kind == "evaluation"
                   for r in load_records(self.records_dir)):
            log.info("baseline in %s has no evaluation on %s yet: evaluating it", self.workdir, device)
            self._evaluate_baseline(Artifact.load(self.baseline_dir), device, train_kwargs.get("quick", False))

    def _evaluate_baseline(self, artifact: Artifact, device: str, quick: bool) -> Record:
        spec = self._task_spec()
        recipe = {"name": BASELINE, "origin": BASELINE,
                  "description": f"fine-tuned {spec['model']} ({spec['budget']} budget), PyTorch fp32",
                  "steps": [{"train": artifact.params}], "evaluate": {"runtime": "torch", "device": "any"}}
        return self._evaluate(artifact, recipe, device, quick, [dict(artifact.energy, step="train")])

    # -- compress ------------------------------------------------------------------------
    def compress(self, recipe: str, quick: bool = False, **train_kwargs) -> Record:
        """Run a recipe on the baseline (training it first if needed) and evaluate the result."""
        from green.compress import STEPS, StepContext

        spec, device, intended = self.plan(recipe, task=train_kwargs.get("task"))  # fails before any training
        self.ensure_baseline(quick=quick, **train_kwargs)
        task = self.task()
        task_data = self.task_data()

        run_id = new_record_id(spec.name)
        run_dir = self.runs_dir / run_id
        run_dir.mkdir(parents=True)
        parent = Artifact.load(self.baseline_dir)
        steps_energy = []
        meter = self.meter(device)
        try:
            for i, step in enumerate(spec.steps, 1):
                out = run_dir / f"{i:02d}-{step.name}"
                out.mkdir()
                ctx = StepContext(out_dir=out, device=device, task=task, data=task_data, seed=task_data.seed,
                                  quick=quick or self._task_spec().get("quick", False))
                with meter.window(step.name) as w:
                    artifact = STEPS[step.name].run(parent, step.config, ctx)
                self._complete(artifact, parent)
                artifact.energy = w.to_dict()
                artifact.save()
                steps_energy.append(dict(w.to_dict(), step=step.name))
                parent = artifact
            atomic_write_json(run_dir / "recipe.json", spec.to_dict() | {"origin": spec.origin, "digest": spec.digest})
            return self._evaluate(parent, spec.to_dict() | {"origin": spec.origin, "digest": spec.digest}, device,
                                  quick, steps_energy, intended)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise

    @staticmethod
    def _complete(artifact: Artifact, parent: Artifact) -> None:
        """Make a step's artifact self-contained and carry what the step did not change.

        Tokenizer and config come from the parent unless the step wrote its own (a pruned
        model's config); FLOPs stay the parent's unless the step counted new ones (a step
        that changes the network's shape must).
        """
        copy_support_files(parent.path, artifact.path)
        artifact.files = {**support_roles(artifact.path), **artifact.files}
        if artifact.flops is None:
            artifact.flops = parent.flops

    def plan(self, recipe: str, task: str | None = None):
        """Validate a recipe for the workdir's task (or ``task`` when there is none yet) and decide where it runs.

        Touches nothing in the workdir.
        """
        from green.compress import kind_problem
        from green.recipe import load_recipe

        spec = load_recipe(recipe)
        task_obj = self.task() if self.task_file.is_file() else get_task(task or DEFAULT_TASK)
        problem = kind_problem([(s.name, s.config) for s in spec.steps], task_obj.model_kind)
        if problem:
            index, works_on = problem
            raise GreenError(
                f"recipe {spec.name!r}: step {index + 1} ({spec.steps[index].name}) works on {works_on}, "
                f"not on the {task_obj.name} task's {task_obj.model_kind} model",
                f"pick a recipe for {task_obj.name}: {', '.join(recipes_for(task_obj.model_kind)) or 'none built in'}")
        device, intended = self._placement(spec)
        return spec, device, intended

    def _placement(self, spec) -> tuple[str, str]:
        """Where a recipe runs (device) and where it is meant to run (intended)."""
        want = spec.evaluate.device
        if want == "cpu":
            return "cpu", "cpu"
        device = resolve_device(self.device_option)
        if want == "cuda" and not device.startswith("cuda"):
            if spec.evaluate.fallback_device:
                warnings.warn(f"recipe {spec.name} is meant for a CUDA GPU; none here, running on CPU", stacklevel=2)
                return "cpu", "cuda"
            raise GreenError(
                f"recipe {spec.name!r} needs a CUDA GPU and none is available",
                "run it on a GPU machine, pick a CPU recipe (int8), or add `fallback_device: cpu` under evaluate",
            )
        return device, want if want != "any" else device.split(":")[0]

    # -- the workdir's task ----------------------------------------------------------------
    def _task_spec(self) -> dict:
        try:
            spec = json.loads(self.task_file.read_text(encoding="utf-8"))
            if not isinstance(spec, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise GreenError(f"{self.task_file} is unreadable ({type(exc).__name__})",
                             "restore it, or train a new baseline in another --workdir") from None
        if "columns" not in spec:  # written by green 0.1
            spec["columns"] = {"text": spec.get("text_column"), "label": spec.get("label_column")}
        spec.setdefault("task", DEFAULT_TASK)
        return spec

    def task(self) -> Task:
        return get_task(self._task_spec()["task"])

    def task_data(self) -> TaskData:
        """The workdir's data, read and split as when the baseline was trained (cached per Workbench)."""
        if self._data is None:
            spec = self._task_spec()
            self._data = self.task().load_data(DataSpec(spec["data"], spec["columns"], spec["seed"]))
            if spec.get("fingerprint") and self._data.fingerprint != spec["fingerprint"]:
                warnings.warn("the data file changed since the baseline was trained; metrics may not compare",
                              stacklevel=2)
        return self._data

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate(self, artifact: Artifact, recipe: dict, device: str, quick: bool, run_energy: list[dict],
                  intended: str | None = None) -> Record:
        from green.evaluate.evaluation import evaluate_artifact

        spec = self._task_spec()
        settings = default_settings(device, quick or spec.get("quick", False),
                                    (recipe.get("evaluate") or {}).get("batch_size"))
        record = evaluate_artifact(
            artifact, recipe, self.task(), self.task_data(), device, self.meter(device), settings,
            max_test_rows=spec.get("max_test_rows"), max_length=spec.get("max_length") or 128,
            intended_device=intended, run_energy=run_energy,
            country=self.country, region=self.region,
            baseline_run_energy_j=Artifact.load(self.baseline_dir).energy.get("joules"),
        )
        write_record(self.records_dir, record)
        return record

    # -- measure -------------------------------------------------------------------------
    def resolve_artifact(self, target: str) -> tuple[Artifact, dict]:
        """An artifact folder, ``baseline``, a run id, or a recipe name (its newest run); with its recipe."""
        path = Path(target).expanduser()
        if Artifact.exists(path):
            return Artifact.load(path), self._recipe_of(path)
        if target == BASELINE and self.has_baseline():
            return Artifact.load(self.baseline_dir), {"name": BASELINE, "origin": BASELINE}
        runs = {r: _run_recipe(r) for r in sorted(self.runs_dir.glob("*"))} if self.runs_dir.is_dir() else {}
        runs = {r: rec for r, rec in runs.items() if rec}
        # Folder names are <stamp>-<recipe>-<id>, and recipe names can prefix each other
        # (int8, int8-static): match on the recipe each run recorded, not on the name.
        match = [r for r in runs if r.name == target] or [r for r, rec in runs.items() if rec["name"] == target]
        steps = sorted(p for p in match[-1].iterdir() if Artifact.exists(p)) if match else []
        if steps:
            return Artifact.load(steps[-1]), runs[match[-1]]
        known = ([BASELINE] if self.has_baseline() else []) + sorted({rec["name"] for rec in runs.values()})
        raise GreenError(
            f"nothing to measure called {target!r} in {self.workdir}",
            f"pass an artifact folder or one of: {', '.join(known) or 'none yet (run green compress first)'}",
        )

    def evaluate(self, target: str) -> Record:
        """Evaluate an artifact again (metrics, latency, energy); adds an evaluation record."""
        artifact, recipe = self.resolve_artifact(target)
        if recipe["name"] == BASELINE:
            return self._evaluate_baseline(artifact, resolve_device(self.device_option), False)
        want = (recipe.get("evaluate") or {}).get("device", "any")
        device = "cpu" if want == "cpu" else resolve_device(self.device_option)
        steps = [dict(a.energy, step=a.step) for a in reversed(artifact.lineage()) if a.step != "train"]
        return self._evaluate(artifact, recipe, device, False, steps, want if want != "any" else None)

    def _recipe_of(self, artifact_dir: Path) -> dict:
        """The recipe that made an artifact: its run's recipe.json, or the baseline."""
        if artifact_dir.resolve() == self.baseline_dir.resolve():
            return {"name": BASELINE, "origin": BASELINE}
        return _run_recipe(artifact_dir.parent) or {"name": artifact_dir.name}

    def measure(self, target: str, batch_sizes: list[int] | None = None, repeats: int | None = None,
                min_window_s: float | None = None, grid_lengths: list[int] | None = None) -> Record:
        """Re-measure an artifact's energy; adds a ``measurement`` record, replaces nothing."""
        from dataclasses import replace

        from green.evaluate.measure import measure_artifact

        artifact, recipe = self.resolve_artifact(target)
        device = "cpu" if artifact.target_device == "cpu" else resolve_device(self.device_option)
        settings = default_settings(device)
        if repeats:
            settings = replace(settings, repeats=repeats)
        if min_window_s:
            settings = replace(settings, min_window_s=min_window_s)
        batch_sizes = list(batch_sizes or ([1, 32, 256] if grid_lengths and device.startswith("cuda") else
                                           [1, 32] if grid_lengths else [settings.batch_size]))
        if self.task_file.is_file():
            task, data = self.task(), self.task_data()
        else:  # an artifact folder outside any workdir: its task's embedded default data
            task = get_task(artifact.task)
            data = task.load_data(DataSpec(EMBEDDED))
        record = measure_artifact(artifact, recipe, task, data, device, self.meter(device), settings, batch_sizes,
                                  grid_lengths, self.country, self.region)
        write_record(self.records_dir, record)
        return record


def recipes_for(kind: str) -> list[str]:
    """Built-in recipes whose every step works on models of ``kind``."""
    from green.compress import kind_problem
    from green.recipe import builtin_names, load_recipe

    names = []
    for name in builtin_names():
        spec = load_recipe(name)
        if kind_problem([(s.name, s.config) for s in spec.steps], kind) is None:
            names.append(name)
    return names


def _absolute_data(data: str) -> str:
    """A local data path as an absolute path, so the workdir works from any directory."""
    if data in (EMBEDDED, "", None):
        return EMBEDDED
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


def _run_recipe(run_dir: Path) -> dict | None:
    """The recipe a run folder recorded, or None for anything else."""
    recipe_file = run_dir / "recipe.json"
    try:
        recipe = json.loads(recipe_file.read_text(encoding="utf-8")) if recipe_file.is_file() else None
    except (OSError, ValueError):
        return None
    return recipe if isinstance(recipe, dict) and isinstance(recipe.get("name"), str) else None
