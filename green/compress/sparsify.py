"""Unstructured and 2:4 magnitude sparsity of the encoder's Linear weights.

Zeros only save work where a kernel skips them. PyTorch's and ONNX Runtime's dense
kernels do not: the weights are stored dense, every zero is multiplied, and a sparse
model runs exactly as fast as the dense one. green says so in the artifact and the
record, and measures it rather than assuming a saving. 2:4 sparsity (two zeros in every
four consecutive weights of a row) is accelerated by NVIDIA's sparse tensor cores
(Ampere and newer) through PyTorch's semi-structured sparse tensors: a recipe asks for
those kernels with ``evaluate: {semi_structured: true}`` on a CUDA device.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from green.artifacts import Artifact
from green.compress.registry import StepConfig, StepContext, StepResult, register_step, save_torch_model
from green.runtime.pytorch import target_linears

log = logging.getLogger(__name__)

#: What the record says about sparsity on dense kernels.
DENSE_NOTE = ("the zeros are stored dense: dense kernels (PyTorch, ONNX Runtime) multiply them like any weight, "
              "so sparsity alone gives no speed-up or energy saving; compare the measured figures")


class SparsifyConfig(StepConfig):
    """Which weights to zero: the pattern, how many, and over what scope."""
    pattern: Literal["unstructured", "2:4"] = Field(default="unstructured", description=(
        "unstructured: the smallest weights anywhere in each layer; 2:4: the two smallest of every four "
        "consecutive weights in a row (what sparse tensor cores accelerate)"))
    amount: float = Field(default=0.5, ge=0.0, lt=1.0, description="unstructured only: fraction of weights zeroed")
    scope: Literal["layer", "global"] = Field(default="layer", description=(
        "unstructured only: the same fraction in every layer, or the smallest weights across all layers"))


def sparsify_model(model, config: SparsifyConfig) -> float:
    """Zero weights in place; returns the fraction of zeros in the targeted weights."""
    import torch

    layers = target_linears(model)
    with torch.no_grad():
        if config.pattern == "2:4":
            for m in layers.values():
                w = m.weight
                if w.shape[1] % 4:
                    continue  # a row that does not split into groups of four stays dense
                groups = w.abs().reshape(w.shape[0], -1, 4)
                drop = groups.argsort(dim=-1)[..., :2]
                mask = torch.ones_like(groups, dtype=torch.bool).scatter_(-1, drop, False)
                w.mul_(mask.reshape(w.shape))
        elif config.scope == "global":
            scores = torch.cat([m.weight.abs().flatten() for m in layers.values()])
            k = int(config.amount * scores.numel())
            if k:
                threshold = scores.kthvalue(k).values
                for m in layers.values():
                    m.weight.mul_(m.weight.abs() > threshold)
        else:
            for m in layers.values():
                k = int(config.amount * m.weight.numel())
                if k:
                    threshold = m.weight.abs().flatten().kthvalue(k).values
                    m.weight.mul_(m.weight.abs() > threshold)
    zeros = sum(int((m.weight == 0).sum()) for m in layers.values())
    return zeros / max(1, sum(m.weight.numel() for m in layers.values()))


@register_step("sparsify", SparsifyConfig, "unstructured or 2:4 magnitude sparsity of the encoder weights "
               "(stored dense; 2:4 kernels on CUDA)", takes="torch", gives="torch")
def sparsify(parent: Artifact, config: SparsifyConfig, ctx: StepContext) -> StepResult:
    """Zero the smallest encoder Linear weights (stored dense; see the module docstring)."""
    from green.runtime.pytorch import load_pretrained
    from green.tasks import get_task

    model = load_pretrained(parent.path, get_task(parent.task).model_class()).float().eval()
    sparsity = sparsify_model(model, config)
    log.info("sparsify: %.1f%% of the encoder's Linear weights are zero (%s)", 100 * sparsity, config.pattern)
    # No model handed back: dense kernels do every multiply, so the arithmetic stays the parent's.
    return StepResult(files=save_torch_model(model, ctx.out_dir), params={"sparsity": sparsity},
                      extra={"notes": [f"{config.pattern} sparsity {sparsity:.0%}: {DENSE_NOTE}"]})
