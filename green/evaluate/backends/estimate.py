"""codecarbon's model of energy, for machines without readable counters. Always an estimate.

Each window runs its own ``OfflineEmissionsTracker`` (never a network call): on CPUs
without RAPL it multiplies a TDP from codecarbon's table by the measured CPU load and
adds a RAM power model; on NVIDIA GPUs it reads NVML itself. The emissions of the
window come from the same tracker, for the country (and region) configured.
"""

from __future__ import annotations

import logging
import warnings

from green.evaluate.backends.base import BackendUnavailable, EnergyBackend, MeasurementError

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
        self._tracker_cls = OfflineEmissionsTracker
        self.country = country.upper()
        self.region = region
        self.tracking_mode = tracking_mode
        self.last_emissions_kg: float | None = None
        # codecarbon logs an INFO line per tracker; keep the user's terminal for green's output.
        logging.getLogger("codecarbon").setLevel(logging.ERROR)

    def domains(self) -> list[str]:
        return ["cpu", "ram", "gpu"]

    def begin(self) -> object:
        kwargs = dict(
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
