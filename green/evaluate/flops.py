"""The device's nominal energy floor, and how far a measured inference is from it.

The floor is the device's peak dense fp16/bf16 tensor throughput at its board power
limit; a device not in the table gets no floor (omitted, not guessed). The FLOPs
themselves are counted by :mod:`green.flops`.
"""

from __future__ import annotations

from green.flops import BASIS, FIT_LENGTHS, count_flops, fit_flops, flops_at, flops_per_inference  # noqa: F401

#: name fragment (as torch reports it) -> (peak dense fp16/bf16 TFLOP/s, board power W)
KNOWN_GPUS: dict[str, tuple[float, float]] = {
    "H200": (989.0, 700.0),
    "H100 PCIe": (756.0, 350.0),
    "H100 NVL": (835.0, 400.0),
    "H100": (989.0, 700.0),  # SXM5 (e.g. "NVIDIA H100 80GB HBM3")
    "A100-SXM": (312.0, 400.0),
    "A100-PCIE": (312.0, 300.0),
    "A100": (312.0, 400.0),
    "L40S": (362.0, 350.0),
    "L4": (121.0, 72.0),
    "A10": (125.0, 150.0),
    "T4": (65.0, 70.0),
    "V100": (125.0, 300.0),
}

def floor_j_per_flop(device_name: str) -> float | None:
    """Joules per FLOP at the device's nominal peak, or None for an unknown device."""
    for fragment, (tflops, watts) in KNOWN_GPUS.items():
        if fragment.lower() in device_name.lower():
            return watts / (tflops * 1e12)
    return None


def efficiency(flops_model: dict | None, batches: list[tuple[int, int]], joules_per_inference: float | None,
               device_name: str) -> dict | None:
    """FLOPs per inference, joules per FLOP, and the ratio to the device's floor (None without a FLOPs model)."""
    if not flops_model:
        return None
    return efficiency_of(flops_per_inference(flops_model, batches), flops_model.get("basis", BASIS),
                         joules_per_inference, device_name)


def efficiency_of(flops: float | None, basis: str, joules_per_inference: float | None, device_name: str) -> dict | None:
    """:func:`efficiency` for FLOPs per inference worked out elsewhere (a task's own count, e.g. per summary)."""
    if not flops:
        return None
    floor = floor_j_per_flop(device_name)
    j_per_flop = joules_per_inference / flops if joules_per_inference and flops else None
    return {
        "flops_per_inference": flops,
        "flops_basis": basis,
        "joules_per_flop": j_per_flop,
        "floor_joules_per_flop": floor,
        "ratio_to_floor": (j_per_flop / floor) if (j_per_flop and floor) else None,
        "floor_basis": "peak dense fp16/bf16 tensor TFLOP/s at board power" if floor else "unknown device: omitted",
    }
