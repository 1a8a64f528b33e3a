"""Bounds checked before any work starts, so a bad number fails in one line instead of deep inside torch."""

from __future__ import annotations

import json
from pathlib import Path

from green.errors import GreenError

#: numpy and torch take seeds in [0, 2**32): 2**70 overflowed inside torch.manual_seed.
MAX_SEED = 2**32 - 1
#: Share of the free memory a measurement may plan to fill; the estimate is rough.
MEMORY_SHARE = 0.8
#: Bytes per token of a Python list of token ids (an int object and its pointer).
_LIST_BYTES_PER_TOKEN = 36


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise GreenError(f"--seed {seed} is out of range", f"use a whole number from 0 to {MAX_SEED}")


def activation_bytes(config: dict, batch: int, length: int) -> int:
    """Rough peak bytes of one encoder layer's fp32 activations for a ``batch x length`` forward pass.

    A few hidden-sized tensors, the feed-forward's intermediate twice (before and after the
    activation) and the attention scores and probabilities; layers run one after another.
    """
    hidden = int(config.get("hidden_size") or config.get("d_model") or 768)
    inter = int(config.get("intermediate_size") or config.get("encoder_ffn_dim") or 4 * hidden)
    heads = int(config.get("num_attention_heads") or config.get("encoder_attention_heads") or 12)
    return 4 * batch * length * (6 * hidden + 2 * inter + 2 * heads * length)


def free_memory_bytes(device: str) -> int | None:
    """Free memory where the model runs: the GPU's, or the host's available RAM."""
    try:
        if device.startswith("cuda"):
            import torch

            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # no way to tell: do not guess
        return None


def check_batch_memory(model_dir: Path, device: str, batch_sizes: list[int], lengths: list[int],
                       grid: bool = True) -> None:
    """Refuse batch x length cells that cannot fit in memory, before allocating anything.

    ``green measure --grid --batch-size 100000`` once ran for 104 s and died of a
    MemoryError at 6.9 GB; the estimate here says so at once and names a size that fits.
    """
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
        config = config if isinstance(config, dict) else {}
    except (OSError, ValueError, RecursionError):
        config = {}
    free = free_memory_bytes(device)
    if free is None:
        return
    budget = MEMORY_SHARE * free
    for length in sorted(set(lengths), reverse=True):
        for batch in sorted(set(batch_sizes), reverse=True):
            # The grid's synthetic rows (4 batches of Python lists) live on the host.
            need = activation_bytes(config, batch, length) + 4 * batch * length * _LIST_BYTES_PER_TOKEN
            if need > budget:
                fits = max(1, int(batch * budget / need))
                where = "GPU" if device.startswith("cuda") else "host"
                raise GreenError(
                    f"batch {batch} x {length} tokens needs about {need / 1e9:.1f} GB, and the {where} has "
                    f"{free / 1e9:.1f} GB free",
                    f"use --batch-size {fits} or less" + (" or a shorter --seq-len" if grid and length > 32 else ""),
                )
