"""Arithmetic per inference for BERT-family encoders, and the device's nominal energy floor.

FLOPs are counted on the padded batches the benchmark actually ran (padding is work the
device did). The floor is the device's peak dense fp16/bf16 tensor throughput at its
board power limit; a GPU not in the table gets no floor (omitted, not guessed).
"""

from __future__ import annotations

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


def encoder_flops(config, seq_len: int) -> float:
    """FLOPs of one forward pass over one sequence of ``seq_len`` tokens (2 FLOPs per MAC)."""
    h = config.hidden_size
    inter = getattr(config, "intermediate_size", 4 * h)
    layers = config.num_hidden_layers
    per_layer = seq_len * (4 * h * h + 2 * h * inter) + 2 * seq_len * seq_len * h  # projections, FFN, QK^T and AV
    head = h * h + h * getattr(config, "num_labels", 2)  # pooler and classifier, once per sequence
    return 2.0 * (layers * per_layer + head)


def flops_per_inference(config, batches: list[tuple[int, int]]) -> float:
    """Mean FLOPs per sequence over ``(batch_size, padded_length)`` pairs."""
    total = sum(b * encoder_flops(config, length) for b, length in batches)
    return total / max(1, sum(b for b, _ in batches))


def floor_j_per_flop(device_name: str) -> float | None:
    """Joules per FLOP at the device's nominal peak, or None for an unknown device."""
    for fragment, (tflops, watts) in KNOWN_GPUS.items():
        if fragment.lower() in device_name.lower():
            return watts / (tflops * 1e12)
    return None


def efficiency(config, batches: list[tuple[int, int]], joules_per_inference: float | None, device_name: str) -> dict:
    flops = flops_per_inference(config, batches)
    floor = floor_j_per_flop(device_name)
    j_per_flop = joules_per_inference / flops if joules_per_inference else None
    return {
        "flops_per_inference": flops,
        "joules_per_flop": j_per_flop,
        "floor_joules_per_flop": floor,
        "ratio_to_floor": (j_per_flop / floor) if (j_per_flop and floor) else None,
        "floor_basis": "peak dense fp16/bf16 tensor TFLOP/s at board power" if floor else "unknown device: omitted",
    }
