"""``green search``: the recipe that saves the most energy within an accuracy budget, on this workdir's data and machine.

Optuna is the engine (ask/tell, constraints, TPE, a threshold pruner). Its study lives in
``<workdir>/search/<name>/study.db`` (SQLite), so a search stopped by Ctrl-C or ``kill -9``
resumes with the same command: trials left running are told failed and asked again with
their parameters, and finished ones are never rerun. Each trial is an ordinary recipe run
(:mod:`green.search.trial`), so shared step prefixes are reused (a space over pruning
amounts distils once) and every trial can be inspected, measured and reported like any run.

The choice: among trials whose validation drop is within ``--max-drop`` at the stated
confidence, the Pareto set on (objective, drop); its best ``frontier_max`` are measured
again with the full settings (paired with the baseline, repeated until stable); the one
with the lowest objective is written as ``best.yaml`` and evaluated once on the test split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from green.artifacts import atomic_write_json
from green.errors import GreenError
from green.search.space import load_space
from green.search.trial import PRUNE_MARGIN_POINTS, TrialJob, load_quality, save_quality

log = logging.getLogger(__name__)

OBJECTIVES = ("energy", "lifetime")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Consecutive trials whose recipe an earlier trial already ran: the sampler has nothing new to offer.
MAX_DUPLICATES_IN_A_ROW = 20
#: Settings a resumed search must share with the one it resumes (trials, timeout and frontier may grow).
IDENTITY = ("space_digest", "max_drop", "objective", "inferences", "multi", "confidence", "seed")


@dataclass(frozen=True)
class SearchSettings:
    """What ``green search`` was asked for (see ``green search --help``)."""

    space: str
    max_drop: float = 1.0
    trials: int = 12
    objective: str = "energy"
    inferences: float = 1e6
    multi: bool = False
    confidence: float = 0.9
    seed: int = 0
    timeout_s: float | None = None
    frontier_max: int = 3
    name: str | None = None

    def check(self) -> None:
        if not (0 < self.max_drop <= 100):
            raise GreenError(f"--max-drop {self.max_drop} is not a drop in points", "pass a number of points, e.g. 1.0")
        if self.trials < 1 or self.trials > 10_000:
            raise GreenError(f"--trials {self.trials} is out of range", "pass 1 to 10000 trials")
        if self.objective not in OBJECTIVES:
            raise GreenError(f"unknown --objective {self.objective!r}", f"pick one of: {', '.join(OBJECTIVES)}")
        if not (0.5 <= self.confidence < 1):
            raise GreenError(f"--confidence {self.confidence} is out of range", "pass a value in [0.5, 1), e.g. 0.9")
        if not (self.inferences > 0 and math.isfinite(self.inferences)):
            raise GreenError(f"--inferences {self.inferences} is not a positive count", "pass e.g. 1e6 or 50M")
        if self.name is not None and not _NAME.match(self.name):
            raise GreenError(f"--name {self.name!r} is not a folder name",
                             "use letters, digits, '-', '_' or '.', at most 64 characters")


@dataclass
class SearchResult:
    folder: Path
    summary: dict
    notes: list[str]


def parse_count(text: str) -> float:
    """``50M``, ``1e8``, ``10k``, ``2.5G`` or a plain number, as a count."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGbB]?)\s*", str(text))
    if not m:
        raise GreenError(f"--inferences {text!r} is not a count", "pass e.g. 50M, 1e8 or 10000")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}[m.group(2).lower()]
    return float(m.group(1)) * scale


def default_space(task_kind: str, device: str) -> str:
    """The built-in space for this task's models and this device."""
    kind = "summarization" if task_kind == "encoder-decoder" else "classification"
    return f"{'cuda' if device.startswith('cuda') else 'cpu'}-{kind}"


def constraints(trial: Any) -> list[float]:
    """Optuna's constraint: the drop's bootstrap bound less the budget (<= 0 is feasible)."""
    return list(trial.user_attrs.get("constraint", [0.0]))


def _per_trial_constraints() -> bool:
    """Optuna 5 reads constraints set on each trial (``Trial.set_constraint``) and deprecates ``constraints_func``."""
    import optuna

    return hasattr(optuna.trial.Trial, "set_constraint")


def set_constraint(trial: Any, value: float) -> None:
    """The trial's constraint (its drop's bound less the budget), where both Optuna 4 and 5 find it."""
    trial.set_user_attr("constraint", [value])
    if _per_trial_constraints():
        trial.set_constraint("max_drop", value)


def recipe_key(recipe: dict) -> str:
    """Two trials with the same steps and settings are the same recipe, whatever they are called."""
    body = json.dumps({"steps": recipe.get("steps"), "evaluate": recipe.get("evaluate")}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class Search:
    """One named search in a workdir: its folder, its Optuna study and its choice."""

    def __init__(self, wb: Any, settings: SearchSettings, device: str, ray_address: str | None = None) -> None:
        settings.check()
        self.wb = wb
        self.device = device
        self.ray_address = ray_address
        self.notes: list[str] = []
        self._baseline_j: float | None = None
        space = load_space(settings.space)
        self.space, left_out = space.without(_missing_runtimes())
        self.notes += left_out
        name = settings.name or self.space.name
        self.settings = settings if settings.name else SearchSettings(**{**asdict(settings), "name": name})
        self.name = name
        self.folder = wb.workdir / "search" / name
        self.storage = f"sqlite:///{self.folder / 'study.db'}"

    # -- the search's own files -----------------------------------------------------------
    def identity(self) -> dict:
        s = self.settings
        return {"space": s.space, "space_digest": hashlib.sha256(self.space.text.encode()).hexdigest()[:16],
                "max_drop": s.max_drop, "objective": s.objective,
                "inferences": s.inferences if s.objective == "lifetime" else None, "multi": s.multi,
                "confidence": s.confidence, "seed": s.seed}

    def _check_or_write_identity(self) -> None:
        path = self.folder / "search.json"
        mine = self.identity()
        if path.is_file():
            theirs = json.loads(path.read_text(encoding="utf-8"))
            differ = [k for k in IDENTITY if theirs.get(k) != mine.get(k)]
            if differ:
                k = differ[0]
                raise GreenError(f"search {self.name!r} in {self.folder.parent} was started with {k} "
                                 f"{theirs.get(k)!r}, not {mine.get(k)!r}",
                                 "pass the same options to resume it, or --name NEW for a new search")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, mine | {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def _baseline_quality(self):
        """The baseline's validation quality, computed once per search (the bootstrap pairs every trial with it)."""
        from green.artifacts import Artifact
        from green.run_recipe import RunRecipe
        from green.runs import BASELINE
        from green.search.quality import validation_quality

        path = self.folder / "baseline-validation.json"
        if not path.is_file():
            wb = self.wb
            recipe = RunRecipe.of({"name": BASELINE, "origin": BASELINE, "evaluate": {"runtime": "torch"}})
            quality = validation_quality(Artifact.load(wb.baseline_dir), recipe, wb.task(), wb.task_data().validation,
                                         self.device, wb.task_spec().get("max_length") or 128)
            save_quality(quality, path)
        return path, load_quality(path)

    # -- the study ------------------------------------------------------------------------
    def _study(self, prune_below: float | None):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        directions: list[Any] = ["minimize", "minimize"] if self.settings.multi else ["minimize"]
        existing = _count_finished(self.storage, self.name)
        # A resumed search draws new numbers: the seed alone would replay its first random trials.
        sampler = optuna.samplers.TPESampler(seed=self.settings.seed + existing,
                                             constraints_func=None if _per_trial_constraints() else constraints,
                                             n_startup_trials=min(8, max(2, self.settings.trials // 3)))
        pruner = (optuna.pruners.ThresholdPruner(lower=prune_below, n_warmup_steps=1)
                  if prune_below is not None else optuna.pruners.NopPruner())
        return optuna.create_study(storage=self.storage, study_name=self.name, directions=directions,
                                   sampler=sampler, pruner=pruner, load_if_exists=True)

    def _recover(self, study) -> int:
        """Trials a kill left running are told failed and asked again with the same parameters."""
        import optuna
        from optuna.trial import TrialState

        again = 0
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            optuna.trial.Trial(study, t._trial_id).set_user_attr("interrupted", True)
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"resumes": t.number}, skip_if_exists=False)
            again += 1
        if again:
            log.info("search %s: %d trial(s) interrupted last time will run again", self.name, again)
        return again

    def run(self) -> SearchResult:
        """Run (or resume) the search to its trial count, then choose; holds the workdir's lock throughout."""
        from optuna.trial import TrialState

        from green.search.workers import workers_for

        wb = self.wb
        started = time.perf_counter()
        with wb.writing("search"):
            self._check_or_write_identity()
            meter = wb.meter(self.device)
            study = None
            # One energy window over this invocation (trials, re-measurement, the test evaluation), kept in the
            # study so a resumed search adds to it. Under Ray the trials' windows run on their nodes and are
            # added from their outcomes; in-process they are inside this window. A search stopped by Ctrl-C
            # or SIGTERM keeps this invocation's energy all the same (only kill -9 loses it).
            try:
                with meter.window(f"search {self.name}") as spent:
                    base_path, baseline = self._baseline_quality()
                    task = wb.task()
                    margin = (self.settings.max_drop + PRUNE_MARGIN_POINTS) / 100
                    prune_below = baseline.primary(task) - margin if task.higher_is_better else None
                    study = self._study(prune_below)
                    self._recover(study)
                    (self.folder / "trials").mkdir(exist_ok=True)
                    workers = workers_for(self.ray_address, self.folder)
                    log.info("search %s: space %s, %d trials, --max-drop %g points at %.0f%% confidence, "
                             "objective %s, %s", self.name, self.space.origin, self.settings.trials,
                             self.settings.max_drop, 100 * self.settings.confidence, self._objective_words(),
                             workers.where)
                    feed = TrialFeed(self, study, base_path, prune_below, started)
                    try:
                        workers.run(feed)
                    finally:
                        workers.close()
                    self.notes += feed.notes()
                    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
                    decision = self._decide(study, done)
            finally:
                if study is not None:
                    self._add_spent(study, spent, remote=self.ray_address is not None)
            summary = self._write(study, done, decision, time.perf_counter() - started)
        return SearchResult(self.folder, summary, self.notes)

    def _add_spent(self, study, window, remote: bool) -> None:
        spent = list(study.user_attrs.get("spent", []))
        spent.append({"joules": window.joules, "seconds": window.seconds, "source": window.source,
                      "estimate": window.estimate, "where": "driver"})
        if remote:
            seen = {w.get("trial") for w in spent}
            for t in study.get_trials(deepcopy=False):
                o = t.user_attrs.get("outcome")
                if o and t.number not in seen and "duplicate_of" not in t.user_attrs:
                    spent.append({"joules": o.get("trial_j"), "seconds": o.get("seconds"), "trial": t.number,
                                  "source": o.get("energy_source"), "estimate": o.get("estimate"),
                                  "where": o.get("node")})
        study.set_user_attr("spent", spent)

    def _objective_words(self) -> str:
        if self.settings.objective == "lifetime":
            return f"lifetime energy at {self.settings.inferences:.3g} inferences"
        return "energy per inference (paired with the baseline)"

    def _job_for(self, trial, base_path: Path, prune_below: float | None) -> dict:
        """What a worker needs to run ``trial``: an ordinary recipe run plus the search's judging settings."""
        return TrialJob(str(self.wb.workdir), self.name, trial.number, trial._trial_id,
                        str(self.folder / "trials" / f"t{trial.number:03d}.yaml"), self.wb.device_option,
                        self.wb.country, self.wb.region, self.settings.max_drop, self.settings.confidence,
                        self.settings.seed, self.storage, prune_below, str(base_path)).to_dict()

    def _tell(self, study, trial, outcome: dict) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr("node", outcome.get("node"))
        if "pruned" in outcome:
            trial.set_user_attr("pruned", outcome["pruned"])
            study.tell(trial, state=TrialState.PRUNED)
            log.info("search %s: trial %d pruned: %s", self.name, trial.number, outcome["pruned"])
            return
        if "error" in outcome:
            trial.set_user_attr("error", outcome["error"])
            study.tell(trial, state=TrialState.FAIL)
            log.warning("search %s: trial %d failed: %s", self.name, trial.number, outcome["error"])
            return
        trial.set_user_attr("outcome", outcome)
        set_constraint(trial, outcome["bound"] - self.settings.max_drop)
        study.tell(trial, self._values(outcome))

    def _values(self, outcome: dict) -> list[float]:
        """The objective(s) Optuna minimises; trials outside the budget get the baseline's value (and fail the constraint)."""
        s = self.settings
        ratio = outcome.get("energy_ratio")
        if s.objective == "energy":
            value = ratio if ratio is not None else 1.0
        else:
            per = outcome.get("per_inference_j") or outcome.get("reference_per_inference_j") or self._baseline_per_j()
            value = outcome["make_j"] + s.inferences * per if outcome.get("within") else s.inferences * self._baseline_per_j()
        return [value, outcome["drop"]] if s.multi else [value]

    def _baseline_per_j(self) -> float:
        """The baseline's energy per inference on this device kind, from its latest record (read once)."""
        from green.records import load_records
        from green.runs import BASELINE

        if self._baseline_j is None:
            kind = self.device.split(":")[0]
            recs = [r for r in load_records(self.wb.records_dir) if r.recipe == BASELINE and r.device.kind == kind]
            if not recs or not recs[-1].energy_per_inference_j:
                return 1.0  # not cached: a baseline record may still be written during the search
            self._baseline_j = recs[-1].energy_per_inference_j
        return self._baseline_j

    def _progress(self, study, running: int, started: float) -> None:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        failed = sum(t.state == TrialState.FAIL and "error" in t.user_attrs for t in trials)
        within = [t for t in complete if t.user_attrs.get("outcome", {}).get("within") and "duplicate_of" not in t.user_attrs]
        best = min(within, key=lambda t: t.values[0], default=None)
        counted = _counted(study)
        elapsed = time.perf_counter() - started
        left = self.settings.trials - counted
        eta = f", ETA {_duration(elapsed / max(1, counted) * left)}" if left > 0 and counted else ""
        best_words = (f"best {self._value_words(best.values[0])} (t{best.number:03d})" if best
                      else "none within the budget yet")
        log.info("search %s: %d/%d done (%d within budget, %d pruned, %d failed), %d running, %s%s", self.name,
                 counted, self.settings.trials, len(within), pruned, failed, running, best_words, eta)

    def _value_words(self, value: float) -> str:
        return f"{value:.3g} J lifetime" if self.settings.objective == "lifetime" else f"{value:.2f}x energy"

    # -- the choice -------------------------------------------------------------------------
    def _decide(self, study, done: list) -> tuple[list, dict[int, dict], int | None, dict | None]:
        """The frontier, its re-measurement, the choice and the choice's test evaluation."""
        feasible = [t for t in done if t.user_attrs.get("outcome", {}).get("within")
                    and t.user_attrs["outcome"].get("energy_ratio") is not None
                    and "duplicate_of" not in t.user_attrs]
        frontier = pareto([(t.values[0], t.user_attrs["outcome"]["drop"], t) for t in feasible])
        remeasured = self._remeasure(frontier[: self.settings.frontier_max]) if frontier else {}
        choice = min(remeasured, key=lambda n: remeasured[n]["value"]) if remeasured else None
        test = self._evaluate_choice(study, choice) if choice is not None else None
        return frontier, remeasured, choice, test

    def _write(self, study, done: list, decision, wall_s: float) -> dict:
        from green.search.outputs import write_outputs

        frontier, remeasured, choice, test = decision
        summary = write_outputs(self, study, frontier, remeasured, choice, test, wall_s)
        if choice is None:
            tried = [t for t in done if "outcome" in t.user_attrs]
            closest = min(tried, key=lambda t: t.user_attrs["outcome"]["bound"], default=None)
            near = (f"; the closest, t{closest.number:03d}, is within {closest.user_attrs['outcome']['bound']:.2f} "
                    f"points at {100 * self.settings.confidence:.0f}% confidence" if closest else "")
            raise GreenError(f"no trial of search {self.name!r} kept validation quality within --max-drop "
                             f"{self.settings.max_drop:g}{near}",
                             "raise --max-drop, run more trials (--trials N resumes the search), or use a milder space")
        return summary

    def _remeasure(self, frontier: list) -> dict[int, dict]:
        """The frontier's best trials measured again with the full settings, before the choice is made (cached)."""
        from green.run_recipe import RunRecipe
        from green.search.trial import measure_on_validation

        cache_path = self.folder / "frontier-measured.json"
        cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.is_file() else {}
        out: dict[int, dict] = {}
        for t in frontier:
            o = t.user_attrs["outcome"]
            if str(t.number) not in cache:
                artifact, recipe = self.wb.resolve_artifact(o["run"])
                log.info("search %s: measuring frontier trial %d again, full settings", self.name, t.number)
                rec = measure_on_validation(self.wb, artifact, RunRecipe.of(recipe), self.device, quick=False,
                                            note=f"green search {self.name} frontier, trial {t.number}")
                p = rec.paired
                cache[str(t.number)] = {"energy_ratio": p.energy_ratio, "energy_ratio_range": p.energy_ratio_range,
                                        "per_inference_j": p.per_inference_j,
                                        "reference_per_inference_j": p.reference_per_inference_j,
                                        "throughput_ratio": p.throughput_ratio,
                                        "rounds": p.rounds, "converged": p.converged,
                                        "record": Path(rec.file).name if rec.file else None}
                atomic_write_json(cache_path, cache)
            m = cache[str(t.number)]
            value = self._values(o | {k: m[k] for k in ("energy_ratio", "per_inference_j")})[0]
            out[t.number] = m | {"value": value}
        return out

    def _evaluate_choice(self, study, number: int) -> dict:
        """The choice evaluated once on the test split (an ordinary evaluation record), cached in the folder."""
        path = self.folder / "choice-test.json"
        t = study.trials[number]
        run = t.user_attrs["outcome"]["run"]
        if path.is_file():
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached.get("run") == run:
                return cached
        record = self.wb.evaluate(run)
        out = {"run": run, "trial": number, "record": Path(record.file).name if record.file else None,
               "metrics": record.metrics, "primary": record.primary_value,
               "energy_ratio": record.paired.energy_ratio if record.paired else None}
        atomic_write_json(path, out)
        return out


class TrialFeed:
    """The search loop's two halves, for whoever drives it: the next trial to run, and a finished trial's outcome.

    In-process, a loop runs one trial after another; under Ray, Ray Tune asks for trials as the
    cluster has room (:class:`green.search.workers.RayTune`). Either way the Optuna study stays
    here, with the driver: it asks, skips recipes an earlier trial already ran (their result is
    told again, not rerun), and tells.
    """

    def __init__(self, search: Search, study: Any, base_path: Path, prune_below: float | None,
                 started: float) -> None:
        self.search, self.study, self.base_path, self.prune_below, self.started = (
            search, study, base_path, prune_below, started)
        self.running: dict[int, Any] = {}
        self.duplicates = 0
        self._timed_out = False

    def _out_of_time(self) -> bool:
        timeout = self.search.settings.timeout_s
        self._timed_out = self._timed_out or (timeout is not None and time.perf_counter() - self.started > timeout)
        return self._timed_out

    def exhausted(self) -> bool:
        return self.duplicates >= MAX_DUPLICATES_IN_A_ROW

    def next_job(self) -> dict | None:
        """The next trial's job, or None when no trial should start now (the count is reached, time is up,
        the space is exhausted): ``finished()`` says whether one may start later."""
        search, study = self.search, self.study
        while (not self._out_of_time() and not self.exhausted()
               and _counted(study) + len(self.running) < search.settings.trials):
            trial = study.ask()
            recipe = search.space.sample(trial, f"{search.name}-t{trial.number:03d}")
            key = recipe_key(recipe)
            trial.set_user_attr("key", key)
            path = search.folder / "trials" / f"t{trial.number:03d}.yaml"
            path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
            earlier = _finished_with_key(study, key)
            if earlier is not None:  # the same recipe: its result, not a second run
                self.duplicates += 1
                trial.set_user_attr("duplicate_of", earlier.number)
                if "outcome" in earlier.user_attrs:
                    trial.set_user_attr("outcome", earlier.user_attrs["outcome"])
                if "constraint" in earlier.user_attrs:
                    set_constraint(trial, earlier.user_attrs["constraint"][0])
                study.tell(trial, earlier.values)
                continue
            self.duplicates = 0
            self.running[trial.number] = trial
            return search._job_for(trial, self.base_path, self.prune_below)
        return None

    def finish(self, number: int, outcome: dict) -> None:
        """Tell the study how trial ``number`` ended, and say where the search stands."""
        trial = self.running.pop(number)
        self.search._tell(self.study, trial, outcome)
        self.search._progress(self.study, len(self.running), self.started)

    def finished(self) -> bool:
        """Nothing runs and nothing more will start: the count is reached, time is up or the space is exhausted."""
        if self.running:
            return False
        return (_counted(self.study) >= self.search.settings.trials or self._out_of_time() or self.exhausted())

    def notes(self) -> list[str]:
        out = []
        counted = _counted(self.study)
        if self._timed_out and counted < self.search.settings.trials:
            out.append(f"stopped by --timeout after {counted} trial(s)")
        if self.exhausted():
            out.append(f"the space is exhausted: {self.duplicates} trials in a row asked for recipes already run")
        return out


def pareto(points: list[tuple[float, float, Any]]) -> list[Any]:
    """The points no other point beats on both (value, drop), lowest value first."""
    keep = [p for p in points
            if not any(q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1]) for q in points)]
    return [p[2] for p in sorted(keep, key=lambda p: (p[0], p[1]))]


def _counted(study) -> int:
    """Trials that count toward --trials: finished ones, pruned ones and real failures (not interruptions, not repeats)."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if (t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs)
               or t.state == TrialState.PRUNED
               or (t.state == TrialState.FAIL and "error" in t.user_attrs))


def _finished_with_key(study, key: str):
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("key") == key and "duplicate_of" not in t.user_attrs:
            return t
    return None


def _count_finished(storage: str, name: str) -> int:
    import optuna

    try:
        return len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:  # a new study
        return 0


def _missing_runtimes() -> set[str]:
    """Optional runtimes that do not import here: their alternatives are left out of the space."""
    from green.runtime.extras import OPTIONAL_RUNTIMES, import_runtime

    missing = set()
    for runtime in OPTIONAL_RUNTIMES:
        try:
            import_runtime(runtime)
        except GreenError:
            missing.add(runtime)
    return missing


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def load_search(wb: Any, name: str) -> tuple[Any, dict]:
    """An existing search's study and settings, read only (``green search --show``)."""
    import optuna

    folder = wb.workdir / "search" / name
    if not (folder / "study.db").is_file():
        names = sorted(p.name for p in (wb.workdir / "search").glob("*/study.db")) if (wb.workdir / "search").is_dir() else []
        known = sorted(p.parent.name for p in (wb.workdir / "search").glob("*/study.db")) if names else []
        raise GreenError(f"no search {name!r} in {wb.workdir}",
                         f"searches there: {', '.join(known)}" if known else "run `green search` first")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
    return study, json.loads((folder / "search.json").read_text(encoding="utf-8"))


