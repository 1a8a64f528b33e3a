"""codecarbon's model of energy, for machines without readable counters. Always an estimate.

``tracking_mode="machine"``: each window runs its own ``OfflineEmissionsTracker`` (never a
network call). On CPUs without RAPL it multiplies a TDP from codecarbon's table by the
machine's CPU load and adds a RAM power model; on NVIDIA GPUs it reads NVML itself. So
another job running beside the model raises the figure: codecarbon 3.3.2 makes CPU power
cubic in machine load (10 % of TDP at rest) and charges RAM power for every second.

``tracking_mode="process"`` (what green uses for CPU work, ``attribution =
"process-cpu-time"``) charges this process only, with codecarbon's own coefficients read
once (its TDP for this CPU, its RAM power for this machine):

    joules = (TDP + RAM power) x (this process's CPU seconds / CPUs)

the CPU term being codecarbon's process mode (TDP x the process's share of the CPUs),
and the RAM term the same share of the machine's RAM power, so a window that waits
while another process holds the CPU costs nothing extra. The CPU time is the kernel's
exact figure for all our threads (``getrusage``), not sampled: codecarbon's own
per-window process mode samples psutil once a second and read erratically in short
windows here (one 1 s window with 0.67 CPU-seconds read 18.9 J, 4.7x its neighbours).
A process-attributed figure is therefore proportional to the CPU time the model used.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from green.evaluate.backends.base import BackendUnavailable, EnergyBackend, MeasurementError
from green.evaluate.contention import process_cpu_seconds

KWH_TO_J = 3.6e6


class CodecarbonBackend(EnergyBackend):
    source = "codecarbon-estimate"
    estimate = True
    update_period_s = 0.0  # computed at stop(): no counter period to wait for

    def __init__(self, country: str = "USA", region: str | None = None, tracking_mode: str = "machine") -> None:
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            raise BackendUnavailable("codecarbon is not installed (pip install codecarbon)") from None
        if tracking_mode not in ("machine", "process"):
            raise ValueError(f"tracking_mode must be 'machine' or 'process', not {tracking_mode!r}")
        self._tracker_cls = OfflineEmissionsTracker
        self.country = country.upper()
        self.region = region
        self.tracking_mode = tracking_mode
        self.attribution = "process-cpu-time" if tracking_mode == "process" else "machine"
        self.last_emissions_kg: float | None = None
        # codecarbon logs an INFO line per tracker; keep the user's terminal for green's output.
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self.coefficients: dict | None = self._coefficients() if tracking_mode == "process" else None

    def _coefficients(self) -> dict:
        """codecarbon's TDP, CPU count and machine RAM power, from one tracker's hardware setup.

        codecarbon has no public accessor for them; where its internals differ, process
        attribution is unavailable and the caller falls back to the machine-wide model.
        """
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tracker = self._tracker_cls(country_iso_code=self.country, save_to_file=False, log_level="error",
                                            tracking_mode="machine")
                tracker.start()  # codecarbon sets its hardware up here
                tracker.stop()
            hardware = {type(h).__name__: h for h in getattr(tracker, "_hardware", [])}
            cpu, ram = hardware["CPU"], hardware["RAM"]
            out: dict[str, Any] = {"tdp_w": float(cpu._tdp), "cpus": int(cpu._cpu_count), "cpu_mode": str(cpu._mode),
                   "ram_w": float(ram.total_power().W)}
        except Exception as exc:  # KeyError, AttributeError, TypeError: another codecarbon version
            raise BackendUnavailable(f"codecarbon's CPU and RAM model could not be read ({exc!r})") from None
        if out["cpu_mode"] not in ("cpu_load", "constant") or out["cpus"] < 1:
            raise BackendUnavailable(f"codecarbon models this CPU as {out['cpu_mode']!r}, not from its load")
        return out

    def domains(self) -> list[str]:
        return ["cpu", "ram", "gpu"]

    def begin(self) -> object:
        if self.coefficients is not None:
            return process_cpu_seconds()
        kwargs: dict[str, Any] = dict(
            country_iso_code=self.country,
            save_to_file=False,
            log_level="error",
            tracking_mode=self.tracking_mode,
            measure_power_secs=1,
        )
        if self.region:
            kwargs["region"] = self.region
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tracker = self._tracker_cls(**kwargs)
                tracker.start()
        except Exception as exc:
            raise MeasurementError(f"codecarbon tracker did not start: {exc}") from None
        return tracker

    def end(self, token: object, seconds: float) -> dict[str, float]:
        c = self.coefficients
        if c is not None:
            share = max(0.0, process_cpu_seconds() - token) / c["cpus"]  # type: ignore[operator]
            self.last_emissions_kg = None
            return {"cpu": c["tdp_w"] * share, "ram": c["ram_w"] * share, "gpu": 0.0}
        tracker = token
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tracker.stop()  # type: ignore[attr-defined]
            data = tracker.final_emissions_data  # type: ignore[attr-defined]
        except Exception as exc:
            raise MeasurementError(f"codecarbon tracker did not stop cleanly: {exc}") from None
        if data is None:
            raise MeasurementError("codecarbon returned no data for the window")
        self.last_emissions_kg = float(data.emissions)
        return {
            "cpu": float(data.cpu_energy) * KWH_TO_J,
            "ram": float(data.ram_energy) * KWH_TO_J,
            "gpu": float(data.gpu_energy) * KWH_TO_J,
        }
