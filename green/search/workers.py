"""Where trials run: in this process, one after another (the default), or as Ray Tune trials on a cluster.

Both drive the same :class:`green.search.study.TrialFeed`: the Optuna study (and its sampler)
stays with the driver, which asks and tells; only the trials travel. Under Ray each trial is a
Ray Tune trial on whichever node has room, with that node's hardware, and
:func:`green.search.trial.measuring_alone` keeps two trials from measuring on one node at once
(training may overlap). The workdir (and the study's SQLite file) must be on a filesystem every
node sees: a local Ray, or a shared mount.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Protocol

from green.errors import GreenError
from green.search.trial import environment_for_workers, run_trial


class Workers(Protocol):
    """Runs a search's trials until its feed has none left."""

    where: str

    def run(self, feed: Any) -> None: ...

    def close(self) -> None: ...


class InProcess:
    """One trial at a time, in this process: nothing to install, Ctrl-C stops it at once."""

    where = "in-process"

    def run(self, feed: Any) -> None:
        while (job := feed.next_job()) is not None:
            feed.finish(job["number"], run_trial(job))

    def close(self) -> None:
        pass


def tune_trainable(config: dict) -> None:
    """A Ray Tune function trainable: one green trial, its outcome reported as one JSON result."""
    from ray import tune

    tune.report({"outcome": json.dumps(run_trial(config["job"]))})


def tune_trial_name(trial: Any) -> str:
    """A Tune trial is named after the search trial it runs (``t003``), not after its whole config."""
    return f"t{trial.config['job']['number']:03d}"


class RayTune:
    """Trials as Ray Tune trials (``cpus_per_trial`` CPUs each, as many at once as the cluster holds),
    suggested by the search's own Optuna study through a Tune ``Searcher``."""

    def __init__(self, address: str, folder: Path, cpus_per_trial: int = 1) -> None:
        try:
            import ray
            from ray import tune  # noqa: F401 - Ray without its Tune extra cannot run a search
        except ImportError as exc:
            raise GreenError(f"--ray-address needs Ray Tune, which does not import here ({exc})",
                             'pip install "green[ray]", or drop --ray-address to search in-process') from exc
        self._ray = ray
        # Trials read and write absolute paths; Tune's own folder per trial is not where they work.
        env = {"env_vars": environment_for_workers() | {"RAY_CHDIR_TO_TRIAL_DIR": "0"}}
        try:
            if address == "local":  # a Ray of this machine's CPUs, started (and stopped) by this search
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, runtime_env=env,
                         log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, runtime_env=env, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise GreenError(f"cannot reach a Ray cluster at {address!r}: {str(exc).splitlines()[0][:200]}",
                             "start one (`ray start --head`), pass its address, or use --ray-address local") from exc
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.cpus_per_trial = max(1, min(cpus_per_trial, cpus))
        self.slots = max(1, cpus // self.cpus_per_trial)
        self.folder = folder
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.where = (f"Ray at {address} ({len(nodes)} node(s), {cpus} CPUs, {self.slots} Ray Tune trial(s) "
                      "at once)")

    def run(self, feed: Any) -> None:
        from ray import tune

        # green's own Ctrl-C handling stays in force: Tune's handler would swallow the first Ctrl-C (and stay
        # installed after the run), so a stopped search would go on to choose from what it had.
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        name = time.strftime("tune-%Y%m%d-%H%M%S")
        searcher = _feed_searcher(feed, self.folder / "ray" / name)
        tuner = tune.Tuner(
            tune.with_resources(tune_trainable, {"cpu": self.cpus_per_trial}),
            tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, max_concurrent_trials=self.slots,
                                        trial_name_creator=tune_trial_name, trial_dirname_creator=tune_trial_name),
            run_config=tune.RunConfig(name=name, storage_path=str(self.folder / "ray"), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
        tuner.fit()
        if searcher.failure is not None:  # the driver failed to ask or tell: Tune would have hidden it
            raise searcher.failure
        if not feed.finished():
            raise GreenError("Ray Tune ended the run before the search's trials were done",
                             "run the same command again: finished trials are kept and the rest resume")

    def close(self) -> None:
        self._ray.shutdown()


def _feed_searcher(feed: Any, experiment: Path) -> Any:
    """Ray Tune's ``Searcher`` over the feed: suggestions come from the search's Optuna study, outcomes go back to it.

    Defined when called: Ray is an optional extra, and the class must derive from Tune's.
    """
    from ray.tune.search import Searcher

    class FeedSearcher(Searcher):
        def __init__(self, feed: Any, experiment: Path) -> None:
            super().__init__()
            # Arguments, not closure cells: cloudpickle would carry a closed-over feed with the class.
            self.feed, self.experiment = feed, experiment
            self.by_tune_id: dict[str, int] = {}
            #: An exception raised while asking or telling the study. Tune catches what a searcher raises
            #: (and would then ask forever for a trial the feed still counts as running): it is kept here,
            #: the run is ended, and RayTune.run raises it.
            self.failure: BaseException | None = None

        def __getstate__(self) -> dict:
            # Tune pickles its config (this searcher included) into its experiment folder, for a Tune-level
            # restore green never uses: the feed (workbench, data, study) stays out of that file.
            return {}

        # Tune's own annotation omits the FINISHED string its docs tell searchers to return.
        def suggest(self, trial_id: str) -> dict | str | None:  # type: ignore[override]
            if self.failure is not None:
                return Searcher.FINISHED
            try:
                job = self.feed.next_job()
                if job is None:  # None: ask again later (trials still running may fail and need replacing)
                    return Searcher.FINISHED if self.feed.finished() else None
            except BaseException as exc:  # noqa: BLE001 - kept and raised after the run (see failure)
                self.failure = exc
                return Searcher.FINISHED
            self.by_tune_id[trial_id] = job["number"]
            return {"job": job}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            number = self.by_tune_id.pop(trial_id, None)
            if number is None:
                return
            if result and "outcome" in result:
                outcome = json.loads(result["outcome"])
            else:
                outcome = {"error": f"the Ray Tune trial failed before reporting its outcome (its worker died or "
                                    f"raised): see {self.experiment / f't{number:03d}' / 'error.txt'}"}
            try:
                self.feed.finish(number, outcome)
            except BaseException as exc:  # noqa: BLE001 - kept and raised after the run (see failure)
                self.failure = self.failure or exc

    return FeedSearcher(feed, experiment)


def workers_for(ray_address: str | None, folder: Path, cpus_per_trial: int = 1) -> Workers:
    return RayTune(ray_address, folder, cpus_per_trial) if ray_address else InProcess()
