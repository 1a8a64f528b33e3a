"""The Workbench: the Python API behind every CLI command.

A workdir holds ``baseline/`` (the fine-tuned reference), ``runs/<id>/NN-step/`` (one
folder per recipe run, each step a self-contained artifact), ``records/`` (one JSON per
evaluated artifact), ``task.json`` (task, model, data, seed and budget) and ``report/``.
Nothing already in a workdir is modified: new runs and records are added beside it, and
a failed run removes only the folder it created. Commands that write hold the workdir's
lock (``green.workdir``), so two of them never race; ``green doctor`` finds what a killed
command left behind.
"""

from __future__ import annotations

import logging
import shutil
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from green.artifacts import Artifact, atomic_write_json
from green.errors import GreenError
from green.evaluate.bench import default_settings
from green.evaluate.energy import EnergyMeter
from green.evaluate.paired import Reference
from green.limits import check_batch_memory, check_seed
from green.records import Record, load_records, new_record_id, write_record
from green.results import StepWindow
from green.run_recipe import RunRecipe
from green.runs import BASELINE, complete_runs, find_run, recipe_of
from green.runtime import resolve_device
from green.taskfile import read_task_file
from green.tasks import DEFAULT_TASK, DataSpec, Task, TaskData, get_task
from green.workdir import WorkdirLock, check_writable, disk_errors

if TYPE_CHECKING:
    from green.recipe import Recipe
    from green.report import Report

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
#: Tokens the task's real-length batches are cut to (``measure_artifact`` encodes at 128).
MAX_REAL_LENGTH = 128


@dataclass
class MadeRun:
    """A recipe run's folder, its last artifact, one window per step (reused ones marked) and its recipe."""

    run_dir: Path
    artifact: Artifact
    steps: list[StepWindow]
    recipe: dict


class Workbench:
    """One workdir's baseline, recipe runs and records.

    >>> wb = Workbench("green-runs", device="cpu")
    >>> wb.train(quick=True).metrics                   # doctest: +SKIP
    >>> wb.compress("int8").energy_per_inference_j    # doctest: +SKIP
    """

    def __init__(self, workdir: str | Path = "green-runs", device: str = "auto", country: str = "USA",
                 region: str | None = None) -> None:
        self.workdir = Path(workdir).expanduser().resolve()
        # The layout: the baseline, one JSON record per evaluation, one folder per recipe run.
        self.baseline_dir = self.workdir / BASELINE
        self.records_dir = self.workdir / "records"
        self.runs_dir = self.workdir / "runs"
        self.report_dir = self.workdir / "report"
        self.task_file = self.workdir / "task.json"
        self.device_option = device
        self.country = country
        self.region = region
        self._meters: dict[str, EnergyMeter] = {}
        self._references: dict[str, Reference] = {}
        self._data: TaskData | None = None
        self._lock: WorkdirLock | None = None

    # -- layout --------------------------------------------------------------------------
    def has_baseline(self) -> bool:
        return Artifact.exists(self.baseline_dir) and self.task_file.is_file()

    @contextmanager
    def writing(self, command: str) -> Iterator[None]:
        """Hold the workdir's lock for a command that writes (reentrant: compress may train)."""
        if self._lock is not None:
            yield
            return
        lock = WorkdirLock(self.workdir, command)
        lock.acquire()
        self._lock = lock
        try:
            with disk_errors(self.workdir):
                yield
        finally:
            self._lock = None
            lock.release()

    def _check_grid(self) -> None:
        """An unknown --country/--region fails now, not after a full compress."""
        from green.carbon import grid_intensity_g_per_kwh

        grid_intensity_g_per_kwh(self.country, self.region)

    def meter(self, device: str) -> EnergyMeter:
        kind = device.split(":")[0]
        if kind not in self._meters:
            self._meters[kind] = EnergyMeter.for_device(device, self.country, self.region, crosscheck=True)
        return self._meters[kind]

    def baseline_reference(self, device: str) -> Reference:
        """The baseline, opened once per device: recipes are measured in rounds alternating with it."""
        if device not in self._references:
            self._references[device] = Reference(BASELINE, Artifact.load(self.baseline_dir), device)
        return self._references[device]

    # -- train ---------------------------------------------------------------------------
    def train(self, model: str | None = None, data: str = EMBEDDED, columns: dict[str, str | None] | None = None,
              quick: bool = False, seed: int = 42, task: str = DEFAULT_TASK) -> Record:
        """Fine-tune and evaluate the baseline; returns its record."""
        from green.models import load_tokenizer, resolve_model

        self._refuse_second_baseline()
        # Validate everything before the first byte is written.
        check_seed(seed)
        self._check_grid()
        task_obj = get_task(task)
        model_ref = resolve_model(model)
        data = _absolute_data(data)
        spec = DataSpec(data, dict(columns or {}), seed)
        task_data = task_obj.load_data(spec)
        device = resolve_device(self.device_option)
        budget = task_obj.budget(device, quick)
        load_tokenizer(model_ref)  # a model without a tokenizer fails here, not after training
        with self.writing("train"):
            self._refuse_second_baseline()  # another command may have trained one meanwhile
            return self._train(model, model_ref, task_obj, spec, task_data, device, budget, quick, seed)

    def _refuse_second_baseline(self) -> None:
        if self.baseline_dir.exists():
            raise GreenError(
                f"{self.workdir} already has a baseline",
                "use another --workdir, or remove its baseline/ folder to train again",
            )

    def _train(self, model, model_ref, task_obj, spec, task_data, device, budget, quick, seed) -> Record:
        from green.training.baseline import train_baseline

        data = spec.data
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
        spec = self.task_spec()
        recipe = {"name": BASELINE, "origin": BASELINE,
                  "description": f"fine-tuned {spec['model']} ({spec['budget']} budget), PyTorch fp32",
                  "steps": [{"train": artifact.params}], "evaluate": {"runtime": "torch", "device": "any"}}
        return self._evaluate(artifact, recipe, device, quick, [StepWindow(**artifact.energy, step="train")])

    # -- compress ------------------------------------------------------------------------
    def compress(self, recipe: str, quick: bool = False, reuse: bool = True, **train_kwargs) -> Record:
        """Run a recipe on the baseline (training it first if needed) and evaluate the result.

        With ``reuse`` (the default) a step whose output already exists in the workdir (same
        parent, config, seed, data and budget; see :mod:`green.engine`) is taken from that run
        instead of being run again; ``reuse=False`` runs every step.
        """
        spec, device, intended = self.plan(recipe, task=train_kwargs.get("task"))  # fails before any training
        self._check_grid()
        with self.writing("compress"):
            self.ensure_baseline(quick=quick, **train_kwargs)
            return self._run_recipe(spec, device, intended, quick, reuse)

    def _run_recipe(self, spec, device: str, intended: str, quick: bool, reuse: bool = True) -> Record:
        with self.recipe_run(spec, device, quick, reuse) as made:
            return self._evaluate(made.artifact, made.recipe, device, quick, made.steps, intended,
                                  reference=self.baseline_reference(device))

    @contextmanager
    def recipe_run(self, spec: "Recipe", device: str, quick: bool = False, reuse: bool = True,
                   tag: dict | None = None) -> Iterator["MadeRun"]:
        """Run a recipe's steps into a new ``runs/<id>/`` (reusing finished steps) and yield what they made.

        The run becomes complete (findable, reusable) only when the ``with`` body returns: then its
        ``recipe.json`` is written, with ``tag`` merged in (``green search`` names its trial there).
        An exception, ``kill -9`` included, leaves no complete run: the folder is removed, or left
        unfinished for ``green doctor --clean``. The caller holds the workdir's lock.
        """
        import os

        from green.compress import StepContext
        from green.engine import StepCache, root_budget, run_step, step_key
        from green.progress import status

        task = self.task()
        task_data = self.task_data()
        quick = quick or self.task_spec().get("quick", False)

        run_id = new_record_id(spec.name)
        run_dir = self.runs_dir / run_id
        run_dir.mkdir(parents=True)
        parent = Artifact.load(self.baseline_dir)
        budget = root_budget(task, parent, device, quick)
        cache = StepCache(self.runs_dir) if reuse else None
        steps_energy: list[StepWindow] = []
        meter = self.meter(device)
        try:
            for i, step in enumerate(spec.steps, 1):
                out = run_dir / f"{i:02d}-{step.name}"
                ctx = StepContext(out_dir=out, device=device, task=task, data=task_data, seed=task_data.seed,
                                  quick=quick, budget=budget)
                key = step_key(parent, step.config, ctx, task_data.fingerprint)
                cached = cache.find(key) if cache is not None else None
                if cached is not None:
                    # Linked, never copied or changed: the run shows the step; its energy is the original's.
                    os.symlink(os.path.relpath(cached.path, run_dir), out, target_is_directory=True)
                    artifact = Artifact.load(out)
                    log.info("%s: step %d/%d, %s: reused from run %s", spec.name, i, len(spec.steps), step.name,
                             Path(cached.path).parent.name)
                    steps_energy.append(StepWindow(**cached.energy, step=step.name, reused=True,
                                                   reused_from=Path(cached.path).parent.name))
                else:
                    with status(f"{spec.name}: step {i}/{len(spec.steps)}, {step.name}"):
                        artifact = run_step(parent, step.config, ctx, meter, key=key)
                    steps_energy.append(StepWindow(**artifact.energy, step=step.name, reused=False))
                parent = artifact
            recipe = spec.to_dict() | {"origin": spec.origin, "digest": spec.digest}
            yield MadeRun(run_dir, parent, steps_energy, recipe)
            # Last: a run is complete (findable, reusable) only once what it was made for is done, so a
            # kill -9 during the evaluation leaves an unfinished run that `green doctor --clean` removes.
            atomic_write_json(run_dir / "recipe.json", recipe | (tag or {}))
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)  # links inside are removed, never what they point at
            raise

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
        if spec.evaluate.generation is not None and not task_obj.generative:
            raise GreenError(f"recipe {spec.name!r}: evaluate.generation is set, but the {task_obj.name} task does not "
                             "generate", "remove generation from the recipe's evaluate section")
        from green.runtime.extras import import_runtime

        import_runtime(spec.runtime, f"recipe {spec.name!r}")  # an optional runtime that is absent: one line, now
        device, intended = self._placement(spec)
        return spec, device, intended

    def _placement(self, spec: "Recipe | RunRecipe") -> tuple[str, str]:
        """Where a recipe runs (device) and where it is meant to run (intended): the one rule, for
        ``compress``, ``evaluate`` and ``measure`` alike (CPU recipes on the CPU, CUDA ones on a GPU
        or their declared fallback, the rest where ``--device`` or the machine says)."""
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
    def task_spec(self) -> dict:
        """The workdir's task.json: the task, its data and columns, the budget, max_length, quick."""
        return read_task_file(self.task_file)

    def task(self) -> Task:
        return get_task(self.task_spec()["task"])

    def task_data(self) -> TaskData:
        """The workdir's data, read and split as when the baseline was trained (cached per Workbench)."""
        if self._data is None:
            spec = self.task_spec()
            self._data = self.task().load_data(DataSpec(spec["data"], spec["columns"], spec["seed"]))
            if spec.get("fingerprint") and self._data.fingerprint != spec["fingerprint"]:
                warnings.warn("the data file changed since the baseline was trained; metrics may not compare",
                              stacklevel=2)
        return self._data

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate(self, artifact: Artifact, recipe: dict, device: str, quick: bool, run_energy: list[StepWindow],
                  intended: str | None = None, reference: Reference | None = None) -> Record:
        from green.evaluate.evaluation import Subject, evaluate_artifact

        spec = self.task_spec()
        run_recipe = RunRecipe.of(recipe)
        settings = default_settings(device, quick or spec.get("quick", False), run_recipe.evaluate.batch_size)
        subject = Subject(artifact, run_recipe, self.task(), self.task_data(), device, self.meter(device), settings,
                          self.country, self.region)
        record = evaluate_artifact(
            subject, max_test_rows=spec.get("max_test_rows"), max_length=spec.get("max_length") or 128,
            intended_device=intended, run_energy=run_energy,
            baseline_run_energy_j=Artifact.load(self.baseline_dir).energy.get("joules"),
            reference=reference,
        )
        write_record(self.records_dir, record)
        return record

    # -- measure -------------------------------------------------------------------------
    def resolve_artifact(self, target: str) -> tuple[Artifact, dict]:
        """An artifact folder, ``baseline``, a run id, or a recipe name (its newest run); with its recipe.

        A run that a killed command left unfinished (see ``green doctor``) is never picked:
        naming it is an error, and a recipe name picks its newest complete run.
        """
        path = Path(target).expanduser()
        found: tuple[Artifact, dict] | None
        if Artifact.exists(path):
            found = Artifact.load(path), recipe_of(path, self.baseline_dir)
        elif target == BASELINE and self.has_baseline():
            found = Artifact.load(self.baseline_dir), {"name": BASELINE, "origin": BASELINE}
        else:
            found = find_run(self.runs_dir, target)
        if found:
            if self.task_file.is_file() and found[0].task != self.task_spec()["task"]:
                # A summarizer measured for a classification workdir ran for a minute, then a KeyError.
                raise GreenError(f"{found[0].path} is a {found[0].task} artifact; {self.workdir} is a "
                                 f"{self.task_spec()['task']} workdir",
                                 "pass that artifact's own --workdir, or an artifact of this workdir")
            # A looping parent chain or a deleted model file fails now, not after the meters started.
            found[0].lineage()
            for role in found[0].model_files:
                if not found[0].file(role).is_file():
                    raise GreenError(f"{found[0].file(role)} is missing", "run the recipe that made this artifact again")
            return found
        names = sorted({rec["name"] for rec in complete_runs(self.runs_dir).values()})
        known = ([BASELINE] if self.has_baseline() else []) + names
        raise GreenError(
            f"nothing to measure called {target!r} in {self.workdir}",
            f"pass an artifact folder or one of: {', '.join(known) or 'none yet (run green compress first)'}",
        )

    def evaluate(self, target: str) -> Record:
        """Evaluate an artifact again (metrics, latency, energy); adds an evaluation record."""
        self._check_grid()
        with self.writing("evaluate"):
            artifact, recipe = self.resolve_artifact(target)
            if recipe["name"] == BASELINE:
                return self._evaluate_baseline(artifact, resolve_device(self.device_option), False)
            device, intended = self._placement(RunRecipe.of(recipe))
            # Nothing is rerun: every step's energy is its original, none of it spent now.
            steps = [StepWindow(**a.energy, step=a.step, reused=True, reused_from=Path(a.path).parent.name)
                     for a in reversed(artifact.lineage()) if a.step != "train"]
            return self._evaluate(artifact, recipe, device, False, steps, intended,
                                  reference=self.baseline_reference(device))

    def measure(self, target: str, batch_sizes: list[int] | None = None, repeats: int | None = None,
                min_window_s: float | None = None, grid_lengths: list[int] | None = None,
                pair: str | None = None, max_repeats: int | None = None) -> Record:
        """Re-measure an artifact's energy; adds a ``measurement`` record, replaces nothing.

        ``pair`` names a second artifact (``baseline``, a recipe, a run id or a folder):
        the two are measured in alternating windows and the record carries their ratios.
        """
        self._check_grid()
        with self.writing("measure"):
            return self._measure(target, batch_sizes, repeats, min_window_s, grid_lengths, pair, max_repeats)

    def _measure(self, target, batch_sizes, repeats, min_window_s, grid_lengths, pair, max_repeats) -> Record:
        from dataclasses import replace

        from green.evaluate.measure import measure_artifact

        artifact, recipe = self.resolve_artifact(target)
        run_recipe = RunRecipe.of(recipe)
        if run_recipe.evaluate.device == "any" and artifact.target_device == "cpu":  # a folder without its run
            run_recipe.evaluate.device = "cpu"
        device, _ = self._placement(run_recipe)
        settings = default_settings(device)
        if repeats:
            settings = replace(settings, repeats=repeats)
        if max_repeats:
            settings = replace(settings, max_repeats=max_repeats)
        if min_window_s:
            settings = replace(settings, min_window_s=min_window_s)
        batch_sizes = list(batch_sizes or ([1, 32, 256] if grid_lengths and device.startswith("cuda") else
                                           [1, 32] if grid_lengths else [settings.batch_size]))
        check_batch_memory(artifact.path, device, batch_sizes, grid_lengths or [MAX_REAL_LENGTH], bool(grid_lengths))
        max_length = 128
        if self.task_file.is_file():
            task, data = self.task(), self.task_data()
            max_length = self.task_spec().get("max_length") or max_length
        else:  # an artifact folder outside any workdir: its task's embedded default data
            task = get_task(artifact.task)
            data = task.load_data(DataSpec(EMBEDDED))
        reference = None
        if pair:
            other, other_recipe = self.resolve_artifact(pair)
            from green.evaluate.evaluation import runtime_options

            reference = Reference(other_recipe["name"], other, device, runtime_options(RunRecipe.of(other_recipe)))
        from green.evaluate.evaluation import Subject

        subject = Subject(artifact, run_recipe, task, data, device, self.meter(device), settings, self.country,
                          self.region)
        record = measure_artifact(subject, batch_sizes, grid_lengths, reference=reference, max_length=max_length)
        write_record(self.records_dir, record)
        return record

    # -- report and upkeep ---------------------------------------------------------------
    def report(self, device_kind: str | None = None) -> "Report":
        """Write the report files from the records (of one device kind, if given). Takes no lock: it only reads.

        >>> report = Workbench("green-runs").report()       # doctest: +SKIP
        >>> report.paths["pareto.html"], report.entries[0]["recipe"]
        """
        from green.report import Report, build_report

        if not self.records_dir.is_dir() or not any(self.records_dir.glob("*.json")):
            raise GreenError(f"no records in {self.workdir}", "run `green compress --recipe int8` first, or pass --workdir")
        check_writable(self.report_dir if self.report_dir.is_dir() else self.workdir)
        task = self.task_spec()["task"] if self.task_file.is_file() else None
        with disk_errors(self.report_dir):
            return Report(*build_report(self.records_dir, self.report_dir, device_kind, task=task))

    def doctor(self, clean: bool = False):
        """Leftovers of interrupted commands and unreadable files; with ``clean``, remove the leftovers.

        Returns (findings, removed, holder): ``holder`` names the process writing to the
        workdir right now (its run in progress looks unfinished), or None. Cleaning takes
        the workdir's lock, so it refuses while another command writes.
        """
        from green.doctor import check_workdir, diagnose
        from green.doctor import clean as remove
        from green.workdir import lock_holder

        if not self.workdir.is_dir():
            raise GreenError(f"no workdir at {self.workdir}", "pass --workdir")
        check_workdir(self.workdir)  # before the lock: it would write .lock into any folder
        if not clean:
            return diagnose(self.workdir), [], lock_holder(self.workdir)
        with self.writing("doctor --clean"):
            findings = diagnose(self.workdir)
            return findings, remove(findings), None

    def export(self, target: str, to: str | Path, push_to_hub: str | None = None):
        """Write ``target`` (a recipe, run id, record, ``baseline`` or artifact folder) as a folder Hugging Face
        users load without green, with its model card; returns a ``green.deploy.ExportedFolder``.

        Reads the workdir only (no lock): the folder goes to ``to``, which must be new or empty.
        ``push_to_hub`` names a Hub repository to upload the folder to.
        """
        from green import deploy
        from green.modelcard import model_card
        from green.report import summarize

        to = deploy.check_destination(Path(to))
        if push_to_hub and deploy.offline():
            deploy.push_folder(to, push_to_hub)  # fails in one line before anything is written
        artifact, recipe = self._export_target(target)
        record, baseline = self._export_records(artifact)
        task = self.task_spec() if self.task_file.is_file() else {"task": artifact.task}
        chain = list(reversed(artifact.lineage()))
        lineage = [(a.step, deploy.neutral(dict(a.params))) for a in chain]
        needs = deploy.needs_green(artifact)
        notes = [] if record is not None else ["no evaluation record of this artifact in the workdir"]
        card = model_card(title=to.name, where=push_to_hub or f"./{to.name}", fmt=artifact.format, recipe=recipe,
                          lineage=lineage, task=task, record=record, baseline=baseline,
                          entries=summarize([r for r in (record, baseline) if r is not None]), needs_green=needs)
        provenance = {"green_version": _green_version(), "recipe": recipe.get("name"),
                      "recipe_origin": recipe.get("origin") if str(recipe.get("origin", "")).startswith(
                          ("builtin:", BASELINE)) else "recipe file",
                      "recipe_digest": recipe.get("digest"), "task": artifact.task,
                      "lineage": [{"step": s, "params": p} for s, p in lineage],
                      "record": record.id if record else None, "baseline_record": baseline.id if baseline else None}
        out = deploy.write_folder(artifact, to, card, provenance)
        out.notes = notes + out.notes
        if push_to_hub:
            out.notes.append(f"pushed to {deploy.push_folder(out.path, push_to_hub)}")
        return out

    def _export_target(self, target: str) -> tuple[Artifact, dict]:
        """A record (its id or file) names its artifact; anything else is resolved as ``green measure`` does."""
        for rec in load_records(self.records_dir) if self.records_dir.is_dir() else []:
            if target in (rec.id, rec.file, Path(rec.file or "").name):
                return self.resolve_artifact(self._local(rec.artifact))
        return self.resolve_artifact(target)

    def _local(self, recorded: str) -> str:
        """A record's artifact path, found in this workdir even if the workdir moved since."""
        path = Path(recorded)
        if path.is_dir():
            return str(path)
        parts = path.parts
        for anchor in ("runs", BASELINE):
            if anchor in parts:
                return str(self.workdir.joinpath(*parts[parts.index(anchor):]))
        return recorded

    def _export_records(self, artifact: Artifact):
        """The newest evaluation record of ``artifact`` and the newest baseline evaluation on its device kind."""
        records = [r for r in load_records(self.records_dir) if r.kind == "evaluation"] if self.records_dir.is_dir() else []
        here = Path(artifact.path).resolve()
        mine = [r for r in records if Path(self._local(r.artifact)).resolve() == here]
        record = mine[-1] if mine else None
        kind = record.device.kind if record else None
        bases = [r for r in records if r.recipe == BASELINE and (kind is None or r.device.kind == kind)]
        return record, (bases[-1] if bases else None)


def _green_version() -> str:
    from green import __version__

    return __version__


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
