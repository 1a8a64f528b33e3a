"""Which device work runs on, and its human name."""

from __future__ import annotations

from green.errors import GreenError


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when torch sees a GPU; an explicit ``cuda`` that is absent fails."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GreenError("--device cuda was asked for, but torch sees no CUDA GPU", "use --device cpu or auto")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise GreenError(f"--device {device!r} is not a device", "use auto, cpu or cuda")
    return device


def device_name(device: str) -> str:
    """A human name for the device: the GPU model, or the CPU model string."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    try:
        import cpuinfo  # py-cpuinfo, a codecarbon dependency

        return cpuinfo.get_cpu_info().get("brand_raw") or "cpu"
    except Exception:
        import platform

        return platform.processor() or "cpu"
