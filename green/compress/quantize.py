"""Quantize an ONNX model with ONNX Runtime's quantizer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from green.artifacts import Artifact
from green.compress.registry import StepConfig, StepContext, register_step
from green.errors import GreenError

#: Operators quantized by dynamic int8: the MatMuls and attention, and the embedding
#: Gather, which holds half of MiniLM's weights; leaving it fp32 would keep the model
#: at about 0.6x its fp32 size.
DYNAMIC_INT8_OPS = ["MatMul", "Attention", "Gather", "EmbedLayerNormalization"]


class QuantizeConfig(StepConfig):
    method: Literal["dynamic-int8"] = "dynamic-int8"
    per_channel: bool = Field(default=True, description="one scale per output channel of each weight")
    operators: list[str] = Field(default_factory=lambda: list(DYNAMIC_INT8_OPS))


@register_step("quantize", QuantizeConfig, "ONNX Runtime int8 quantization (dynamic)")
def quantize_onnx(parent: Artifact, config: QuantizeConfig, ctx: StepContext) -> Artifact:
    if parent.format != "onnx":
        raise GreenError(f"quantize needs an ONNX artifact, got {parent.format}", "put an export step before quantize")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from green.artifacts import atomic_write_json

    model_file = parent.model_file.replace(".onnx", "_quantized.onnx")
    quantize_dynamic(
        parent.path / parent.model_file,
        ctx.out_dir / model_file,
        op_types_to_quantize=config.operators,
        per_channel=config.per_channel,
        weight_type=QuantType.QInt8,
        # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
        # their outputs are float32, so say so instead of failing.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    # The settings that made the model, saved beside it (as optimum's ort_config.json).
    atomic_write_json(ctx.out_dir / "quantize_config.json", config.model_dump() | {"weight_type": "QInt8"})
    return Artifact(
        path=ctx.out_dir,
        format="onnx",
        runtime="onnxruntime",
        step="quantize",
        params=config.model_dump(),
        parent=str(parent.path),
        model_file=model_file,
        target_device="cpu",
    )
