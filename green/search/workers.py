"""Where trials run: in this process, one after another (the default), or as tasks on a Ray cluster.

Both take a trial job (a dict) and hand back its outcome dict; the Optuna study stays with
the driver, which asks and tells. Under Ray each trial runs on whichever node has a free
slot, with that node's hardware, and :func:`green.search.trial.measuring_alone` keeps two
trials from measuring on one node at once. The workdir (and the study's SQLite file) must
be on a filesystem every node sees: a local Ray, or a shared mount.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from green.errors import GreenError
from green.search.trial import environment_for_workers, run_trial


class Workers(Protocol):
    """Runs trial jobs; ``slots`` says how many may run at once."""

    slots: int
    where: str

    def submit(self, job: dict) -> Any: ...

    def wait_one(self, handles: list[Any]) -> tuple[Any, dict]: ...

    def close(self) -> None: ...


class InProcess:
    """One trial at a time, in this process: nothing to install, Ctrl-C stops it at once."""

    slots = 1
    where = "in-process"

    def __init__(self) -> None:
        self._done: dict[int, dict] = {}

    def submit(self, job: dict) -> Any:
        handle = job["number"]
        self._done[handle] = run_trial(job)
        return handle

    def wait_one(self, handles: list[Any]) -> tuple[Any, dict]:
        handle = handles[0]
        return handle, self._done.pop(handle)

    def close(self) -> None:
        pass


class RayWorkers:
    """Trials as Ray tasks, one CPU slot-set each (``cpus_per_trial``), as many at once as the cluster holds."""

    def __init__(self, address: str, cpus_per_trial: int = 1) -> None:
        try:
            import ray
        except ImportError as exc:
            raise GreenError("--ray-address needs Ray, which is not installed",
                             'pip install "green[ray]", or drop --ray-address to search in-process') from exc
        self._ray = ray
        env = {"env_vars": environment_for_workers()}
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
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.where = f"Ray at {address} ({len(nodes)} node(s), {cpus} CPUs, {self.slots} trial(s) at once)"
        self._remote = ray.remote(run_trial).options(num_cpus=self.cpus_per_trial, max_retries=0)

    def submit(self, job: dict) -> Any:
        return self._remote.remote(job)

    def wait_one(self, handles: list[Any]) -> tuple[Any, dict]:
        ready, _ = self._ray.wait(handles, num_returns=1)
        try:
            return ready[0], self._ray.get(ready[0])
        except self._ray.exceptions.RayError as exc:  # the worker died (killed, out of memory)
            return ready[0], {"error": f"Ray worker failed: {str(exc).splitlines()[0][:300]}"}

    def close(self) -> None:
        self._ray.shutdown()


def workers_for(ray_address: str | None, cpus_per_trial: int = 1) -> Workers:
    return RayWorkers(ray_address, cpus_per_trial) if ray_address else InProcess()
