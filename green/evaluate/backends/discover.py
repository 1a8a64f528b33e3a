"""Which energy backends this machine has, chosen once when a meter is built.

Missing hardware is not an error: it becomes the next backend down, and ``green meters``
says why each one above it was unavailable. The order is NVML (GPU work), RAPL (CPU
work), then codecarbon's estimate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from green.evaluate.backends.base import BackendUnavailable, EnergyBackend
from green.evaluate.backends.estimate import CodecarbonBackend
from green.evaluate.backends.nvml import NvmlCounterBackend, NvmlPowerSamplerBackend, load_nvml
from green.evaluate.backends.rapl import POWERCAP, RaplBackend

log = logging.getLogger(__name__)


@dataclass
class BackendStatus:
    name: str
    available: bool
    detail: str


def _try(make: Callable[[], EnergyBackend]) -> tuple[EnergyBackend | None, str]:
    try:
        backend = make()
    except BackendUnavailable as exc:
        return None, str(exc)
    return backend, ", ".join(backend.domains())


def _nvml(nvml: Any | None) -> tuple[Any | None, str]:
    if nvml is not None:
        return nvml, ""
    try:
        return load_nvml(), ""
    except BackendUnavailable as exc:
        return None, str(exc)


def _torch_sees_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def survey(nvml: Any | None = None, rapl_root: Path = POWERCAP) -> list[BackendStatus]:
    """Every backend green knows, whether it works here, and if not, why not."""
    out = []
    lib, why = _nvml(nvml)
    for cls in (NvmlCounterBackend, NvmlPowerSamplerBackend):
        if lib is None:
            out.append(BackendStatus(cls.source, False, why))
            continue
        backend, detail = _try(partial(cls, lib))
        out.append(BackendStatus(cls.source, backend is not None, detail))
        if backend is not None:
            backend.close()
    backend, detail = _try(lambda: RaplBackend(rapl_root))
    out.append(BackendStatus(RaplBackend.source, backend is not None, detail))
    backend, detail = _try(CodecarbonBackend)
    out.append(
        BackendStatus(
            CodecarbonBackend.source,
            backend is not None,
            "estimate from TDP and a RAM model, charged to this process's CPU time on CPUs (labelled estimate)"
            if backend else detail,
        )
    )
    return out


def build_meter(
    meter_cls: type,
    device: str,
    country: str = "USA",
    region: str | None = None,
    crosscheck: bool = False,
    nvml: Any | None = None,
    rapl_root: Path = POWERCAP,
    clock: Callable[[], float] | None = None,
):
    """Build an EnergyMeter for work running on ``device`` (``clock``: the meter's window clock; tests fake it).

    CPU work gets codecarbon's estimate charged to this process's CPU time (so another
    job on the machine does not inflate it); GPU work keeps it machine-wide, as the
    cross-check of a counter that covers the whole device anyway.
    """
    estimate, why_no_estimate = None, ""
    if not device.startswith("cuda"):
        estimate, why_no_estimate = _try(lambda: CodecarbonBackend(country, region, tracking_mode="process"))
        if estimate is None:
            log.warning("CPU energy estimate is machine-wide, not this process's: %s", why_no_estimate)
    if estimate is None:
        estimate, why_no_estimate = _try(lambda: CodecarbonBackend(country, region, tracking_mode="machine"))
    primary: list[EnergyBackend] = []
    fallback: EnergyBackend | None = None
    sync = None

    if device.startswith("cuda"):
        lib, why = _nvml(nvml)
        if lib is None and not _torch_sees_cuda():
            # Asked for a GPU that is not here: a CPU estimate would pass for a GPU figure.
            from green.errors import GreenError

            raise GreenError(f"no NVIDIA GPU to measure for device {device!r} ({why})",
                             "measure with device cpu, or run on a machine with an NVIDIA GPU and its driver")
        counter = sampler = None
        if lib is not None:
            counter, why = _try(lambda: NvmlCounterBackend(lib))
            sampler, why_s = _try(lambda: NvmlPowerSamplerBackend(lib))
        if counter is not None:
            primary, fallback = [counter], sampler
        elif sampler is not None:
            log.warning("NVML energy counter unavailable (%s); integrating power samples", why)
            primary = [sampler]
        else:
            log.warning("no NVML energy reading (%s); GPU energy will be codecarbon's estimate", why)
        try:
            import torch

            if torch.cuda.is_available():
                sync = torch.cuda.synchronize
        except ImportError:
            pass
    else:
        rapl, why = _try(lambda: RaplBackend(rapl_root))
        if rapl is not None:
            primary, fallback = [rapl], estimate
        else:
            log.info("RAPL unavailable (%s); CPU energy will be codecarbon's estimate", why)

    if not primary:
        if estimate is None:
            raise BackendUnavailable(f"no energy backend works on this machine: {why_no_estimate}")
        primary, fallback = [estimate], None
        estimate = None  # it is the primary now; no cross-check against itself
    extra = {"clock": clock} if clock is not None else {}
    return meter_cls(primary, fallback=fallback, crosscheck=estimate if crosscheck else None, sync=sync, **extra)
