"""bitsandbytes weight quantization in PyTorch: LLM.int8 or 4-bit NF4.

These models stay in PyTorch (they cannot be exported to ONNX). On a model as small as
MiniLM the dequantization overhead can outweigh the smaller weights, so energy per
inference may go up: green measures it rather than assuming a saving.

The built-in recipes target CUDA, where bitsandbytes has its fast kernels. bitsandbytes
(>= 0.45) also runs on CPUs, which a recipe may ask for with ``device: cpu``; that is
how the tests run this step, and its energy says nothing about a GPU.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from green.artifacts import Artifact
from green.compress.registry import StepConfig, StepContext, StepResult, register_step
from green.errors import GreenError

log = logging.getLogger(__name__)


class BnbConfig(StepConfig):
    """bitsandbytes method (LLM.int8 or NF4), its compute dtype and the modules kept in full precision."""
    method: Literal["int8", "nf4"] = "int8"
    compute_dtype: Literal["bf16", "fp16", "fp32"] = Field(default="bf16", description="nf4 only: matmul dtype")
    double_quant: bool = Field(default=True, description="nf4 only: quantize the quantization constants too")
    skip_modules: list[str] = Field(default_factory=lambda: ["classifier", "pooler"],
                                    description="kept in full precision (tiny, and sensitive)")


def bnb_quantization_config(config: BnbConfig):
    """transformers' ``BitsAndBytesConfig`` for ``config``."""
    import torch
    from transformers import BitsAndBytesConfig

    if config.method == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=config.skip_modules)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[config.compute_dtype]
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                              bnb_4bit_use_double_quant=config.double_quant, llm_int8_skip_modules=config.skip_modules)


# bitsandbytes (0.50) repacks NF4 weights for its AVX-512-BF16 CPU kernel on the first forward
# (nn.Linear4bit.forward -> functional._convert_weight_packed_for_cpu): outputs in blocks of 32
# rows, and inputs a whole number of its 64-value quantization blocks. Other CPUs (AVX2) and CUDA
# take a path without that constraint.
CPU_PACK_BLOCK_N = 32


def packs_weights_for_cpu(device: str) -> bool:
    """Whether bitsandbytes will repack NF4 weights for its AVX-512-BF16 kernel on ``device``."""
    if not device.startswith("cpu"):
        return False
    from bitsandbytes.functional import has_avx512bf16

    return bool(has_avx512bf16())


def refuse_unblockable_layers(model, config: BnbConfig, device: str, packs: bool | None = None) -> None:
    """One-line GreenError naming the first NF4 layer this CPU's bitsandbytes kernel cannot block.

    Checked after loading and before anything is written, so a refusal leaves no half artifact;
    without it the failure is a reshape error deep inside the first forward pass.
    """
    if config.method != "nf4" or not (packs_weights_for_cpu(device) if packs is None else packs):
        return
    from bitsandbytes.nn import Linear4bit

    for name, module in model.named_modules():
        if not isinstance(module, Linear4bit):
            continue
        block = getattr(module.weight, "blocksize", None) or 64
        out_f, in_f = module.out_features, module.in_features
        if out_f % CPU_PACK_BLOCK_N or in_f % block:
            raise GreenError(
                f"bnb nf4 on this CPU (AVX-512-BF16 kernel) needs layers of a multiple of {CPU_PACK_BLOCK_N} "
                f"outputs and {block} inputs; {name} is {in_f}->{out_f}",
                "add such layers to the bnb step's skip_modules, use method: int8, or run on CUDA")


@register_step("bnb", BnbConfig, "bitsandbytes LLM.int8 / NF4 weights in PyTorch (CUDA; CPU also runs)",
               takes="torch", gives="torch-bnb")
def quantize_bnb(parent: Artifact, config: BnbConfig, ctx: StepContext) -> StepResult:
    """Load the parent with bitsandbytes-quantized Linear weights and save it."""
    if not ctx.device.startswith("cuda"):
        log.warning("bitsandbytes on %s: its CPU kernels are not its GPU ones; these figures say nothing "
                    "about a GPU", ctx.device)
    from transformers import AutoConfig

    from green.models import SAFE_LOAD
    from green.runtime.pytorch import LINEAR_SHAPES_KEY
    from green.tasks import get_task

    if getattr(AutoConfig.from_pretrained(str(parent.path), trust_remote_code=False), LINEAR_SHAPES_KEY, None):
        raise GreenError("bnb cannot load a model pruned to different widths per layer",
                         "prune uniformly (uniform: true) before bnb, or export it to ONNX instead")
    model = get_task(parent.task).model_class().from_pretrained(
        str(parent.path), quantization_config=bnb_quantization_config(config), device_map={"": ctx.device}, **SAFE_LOAD
    )
    refuse_unblockable_layers(model, config, ctx.device)
    model.save_pretrained(ctx.out_dir)
    return StepResult(files={"model": "model.safetensors"}, params={"quantization": f"bnb-{config.method}"},
                      target_device="cuda" if ctx.device.startswith("cuda") else "cpu")
