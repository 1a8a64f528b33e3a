"""Arithmetic per inference, counted on the real module: torch's ``FlopCounterMode``, fitted per padded length.

FLOPs are counted on the model a step produced, so a pruned or distilled model has its own
figure, not its config's. A transformer's FLOPs per sequence are a polynomial in the
padded length L (projections and FFN grow with L, attention scores with L^2), so three
counts fix it exactly; evaluation then applies it to the padded batches the benchmark
actually ran (padding is work the device did). A leaf module: tasks count their models'
FLOPs with it, and :mod:`green.evaluate.flops` turns FLOPs into efficiency figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

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
        counts.append(count_flops(lambda: forward(ids, torch.ones_like(ids))))
    a = np.array([[1.0, L, L * L] for L in lengths])
    coefficients = np.linalg.solve(a, np.array(counts, dtype=np.float64))
    return {"coefficients": [float(round(c, 3)) for c in coefficients], "basis": BASIS,
            "counted": dict(zip(map(str, lengths), counts))}


def flops_at(model: dict, length: int) -> float:
    c0, c1, c2 = model["coefficients"]
    return c0 + c1 * length + c2 * length * length


def flops_per_inference(model: dict, batches: Sequence[tuple[int, ...]]) -> float:
    """Mean FLOPs per sequence over ``(batch_size, padded_length)`` pairs."""
    total = sum(b * flops_at(model, length) for b, length in batches)
    return total / max(1, sum(b for b, _ in batches))
