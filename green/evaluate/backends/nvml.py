"""NVIDIA GPU energy: NVML's total-energy counter, or integrated power samples.

The ``nvml`` argument is the ``pynvml`` module (from nvidia-ml-py) or a fake with the
same functions, so tests run the real backend code without a GPU.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from green.evaluate.backends.base import BackendUnavailable, CounterBackend, MeasurementError

#: How often NVML's energy counter advanced on the H100 we measured (about 100 ms).
NVML_COUNTER_PERIOD_S = 0.1


def load_nvml() -> Any:
    """Import and initialise pynvml, or say why it cannot be used."""
    try:
        import pynvml
    except ImportError:
        raise BackendUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        raise BackendUnavailable(f"NVML did not initialise: {exc} (no NVIDIA driver here)") from None
    return pynvml


def visible_gpu_indices(nvml: Any) -> list[int]:
    """NVML indices of the GPUs this process can use (CUDA_VISIBLE_DEVICES respected)."""
    count = nvml.nvmlDeviceGetCount()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or visible.strip() == "":
        return list(range(count))
    out = []
    for item in visible.split(","):
        item = item.strip()
        if item.isdigit() and int(item) < count:
            out.append(int(item))
        elif item.startswith("GPU-"):
            for i in range(count):
                uuid = nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))
                uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
                if uuid.startswith(item):
                    out.append(i)
    return out


class _NvmlDevices:
    def __init__(self, nvml: Any, indices: list[int] | None) -> None:
        self.nvml = nvml
        self.indices = visible_gpu_indices(nvml) if indices is None else list(indices)
        if not self.indices:
            raise BackendUnavailable("NVML sees no visible GPU")
        self.handles = {i: nvml.nvmlDeviceGetHandleByIndex(i) for i in self.indices}

    def names(self) -> list[str]:
        return [f"gpu:{i}" for i in self.indices]


class NvmlCounterBackend(CounterBackend):
    """NVML total-energy counter (millijoules since driver load; Volta and newer).

    A counter that does not advance during a window several update periods long while
    the GPU is powered has stalled: the window is refused (MeasurementError), so the
    meter falls back to power samples instead of reporting 0 J.
    """

    source = "nvml-energy-counter"
    update_period_s = NVML_COUNTER_PERIOD_S
    attribution = "device"

    def __init__(self, nvml: Any, indices: list[int] | None = None) -> None:
        self._dev = _NvmlDevices(nvml, indices)
        for i, h in self._dev.handles.items():
            try:
                nvml.nvmlDeviceGetTotalEnergyConsumption(h)
            except Exception as exc:
                raise BackendUnavailable(f"GPU {i} has no total-energy counter ({exc}); pre-Volta GPU") from None

    def domains(self) -> list[str]:
        return self._dev.names()

    def read(self) -> dict[str, float]:
        out = {}
        for i, h in self._dev.handles.items():
            try:
                out[f"gpu:{i}"] = self._dev.nvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0
            except Exception as exc:
                raise MeasurementError(f"GPU {i} energy counter unreadable: {exc}") from None
        return out

    def difference(self, domain: str, start: float, end: float, seconds: float) -> float:
        joules = super().difference(domain, start, end, seconds)
        if joules == 0.0 and seconds > 5 * self.update_period_s:
            raise MeasurementError(f"{domain} energy counter stalled for {seconds:.2f} s")
        return joules


class NvmlPowerSamplerBackend(CounterBackend):
    """Integrates NVML power readings (milliwatts) from a background thread.

    Used where the energy counter is missing, and beside it as the fallback. The thread
    starts with the first window and samples at ``hz`` (trapezoid rule between samples).
    """

    source = "nvml-power-samples"
    attribution = "device"

    def __init__(self, nvml: Any, indices: list[int] | None = None, hz: float = 50.0) -> None:
        if hz < 20:
            raise ValueError("power sampling below 20 Hz misses short bursts; use hz >= 20")
        self._dev = _NvmlDevices(nvml, indices)
        self.update_period_s = 1.0 / hz
        for i, h in self._dev.handles.items():
            try:
                nvml.nvmlDeviceGetPowerUsage(h)
            except Exception as exc:
                raise BackendUnavailable(f"GPU {i} power reading unsupported: {exc}") from None
        self._lock = threading.Lock()
        self._energy = {d: 0.0 for d in self._dev.names()}
        self._last: dict[str, tuple[float, float]] = {}
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def domains(self) -> list[str]:
        return self._dev.names()

    def _sample_once(self) -> None:
        now = time.perf_counter()
        for i, h in self._dev.handles.items():
            watts = self._dev.nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
            d = f"gpu:{i}"
            with self._lock:
                if d in self._last:
                    t0, w0 = self._last[d]
                    if now <= t0:  # the other thread sampled later than us: keep its point
                        continue
                    self._energy[d] += 0.5 * (w0 + watts) * (now - t0)
                self._last[d] = (now, watts)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample_once()
            except Exception as exc:  # the device vanished, or the driver failed
                self._error = str(exc)
                return
            self._stop.wait(self.update_period_s)

    def _ensure_running(self) -> None:
        if self._thread is None:
            self._sample_once()
            self._thread = threading.Thread(target=self._run, name="green-nvml-sampler", daemon=True)
            self._thread.start()

    def read(self) -> dict[str, float]:
        self._ensure_running()
        if self._error is not None:
            raise MeasurementError(f"power sampling failed: {self._error}")
        try:
            self._sample_once()  # close the integral at this instant
        except Exception as exc:
            self._error = str(exc)
            raise MeasurementError(f"power sampling failed: {exc}") from None
        with self._lock:
            return dict(self._energy)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
