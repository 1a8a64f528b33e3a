"""Arithmetic per inference, counted on the real module, and the device's nominal energy floor.

FLOPs are counted with torch's ``FlopCounterMode`` on the model a step produced, so a
pruned or distilled model has its own figure, not its config's. A transformer's FLOPs
per sequence are a polynomial in the padded length L (projections and FFN grow with L,
attention scores with L^2), so three counts fix it exactly; evaluation then applies it
to the padded batches the benchmark actually ran (padding is work the device did).

The floor is the device's peak dense fp16/bf16 tensor throughput at its board power
limit; a device not in the table gets no floor (omitted, not guessed).
"""

from __future__ import annotations

from typing import Callable

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

#: Padded lengths the polynomial is fitted at (any three distinct lengths determine it).
FIT_LENGTHS = (16, 32, 64)
BASIS = "torch FlopCounterMode on the module, polynomial in padded length"


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """Q K^T and (softmax) V: two batched matmuls, 2 FLOPs per multiply-add."""
    *batch, lq, d = query_shape
    lk, dv = key_shape[-2], value_shape[-1]
    n = 1
    for b in batch:
        n *= b
    return 2 * n * lq * lk * d + 2 * n * lq * lk * dv


def count_flops(run: Callable[[], object]) -> int:
    """FLOPs of one call of ``run`` (2 per multiply-add), attention included.

    torch's counter knows the CUDA attention kernels but not the composite
    ``scaled_dot_product_attention`` that CPU inference dispatches, so it is added here.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    custom = {torch.ops.aten.scaled_dot_product_attention: _sdpa_flops}
    cpu_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_flash is not None:
        custom[cpu_flash] = _sdpa_flops
    with FlopCounterMode(display=False, custom_mapping=custom) as counter, torch.inference_mode():
        run()
    return int(counter.get_total_flops())


def fit_flops(forward: Callable, lengths: tuple[int, int, int] = FIT_LENGTHS, token_id: int = 100) -> dict:
    """A FLOPs model ``{"coefficients": [c0, c1, c2], ...}``: per sequence, c0 + c1 L + c2 L^2.

    ``forward(input_ids, attention_mask)`` runs the model on a batch of one sequence.
    """
    import numpy as np
    import torch

    counts = []
    for length in lengths:
        ids = torch.full((1, length), token_id, dtype=torch.long)
        counts.append(count_flops(lambda ids=ids: forward(ids, torch.ones_like(ids))))
    a = np.array([[1.0, L, L * L] for L in lengths])
    coefficients = np.linalg.solve(a, np.array(counts, dtype=np.float64))
    return {"coefficients": [float(round(c, 3)) for c in coefficients], "basis": BASIS,
            "counted": dict(zip(map(str, lengths), counts))}


def flops_at(model: dict, length: int) -> float:
    c0, c1, c2 = model["coefficients"]
    return c0 + c1 * length + c2 * length * length


def flops_per_inference(model: dict, batches: list[tuple[int, int]]) -> float:
    """Mean FLOPs per sequence over ``(batch_size, padded_length)`` pairs."""
    total = sum(b * flops_at(model, length) for b, length in batches)
    return total / max(1, sum(b for b, _ in batches))


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
