"""Quantize an ONNX model with ONNX Runtime's quantizer.

The step is written for one ONNX model; the engine runs it over every part of a
composite artifact (an encoder-decoder's encoder, decoder and decoder-with-past), each on
its own (as Olive applies a pass per component), and the result keeps the parent's
roles and format.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from green.artifacts import Artifact
from green.compress.registry import Part, StepConfig, StepContext, register_step
from green.errors import GreenError

#: Operators quantized by dynamic int8: the MatMuls and attention, and the embedding
#: Gather, which holds half of MiniLM's weights; leaving it fp32 would keep the model
#: at about 0.6x its fp32 size.
DYNAMIC_INT8_OPS = ["MatMul", "Attention", "Gather", "EmbedLayerNormalization"]


class QuantizeConfig(StepConfig):
    """ONNX Runtime int8: dynamic, or static QDQ with calibration on train rows."""
    method: Literal["dynamic-int8", "static-int8"] = "dynamic-int8"
    per_channel: bool = Field(default=True, description="one scale per output channel of each weight")
    operators: list[str] | None = Field(default=None, description="op types to quantize; method default when unset")
    calibration_method: Literal["minmax", "entropy", "percentile"] = Field(
        default="minmax", description=(
            "static only: how activation ranges are chosen from calibration data. percentile and entropy "
            "keep every calibration activation in memory (6 GB peak for MiniLM at 256 rows)"))
    calibration_samples: int = Field(default=256, ge=8, le=100_000, description="static only: train rows used")
    calibration_batch_size: int = Field(default=16, ge=1)


#: Static QDQ, on the unfused graph: the MatMuls and the embedding table. ONNX Runtime fuses
#: each DequantizeLinear -> MatMul -> QuantizeLinear group into an int8 kernel when the
#: session loads. Add/Gemm biases are left alone (int32 bias quantization buys nothing here).
STATIC_INT8_OPS = ["MatMul", "Gather"]

#: Fused contrib ops from ORT's transformer optimizer. Their outputs carry no type
#: information, so the QDQ quantizer leaves activations around them in float: only the
#: weights get quantized, and the DequantizeLinear before every fp32 MatMul runs per call.
FUSED_CONTRIB_OPS = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "EmbedLayerNormalization")


def static_after_fused(config: QuantizeConfig, earlier: list) -> tuple[str, str] | None:
    """Static QDQ on a fused graph quantizes only the weights (see FUSED_CONTRIB_OPS)."""
    exports = [c for name, c in earlier if name == "export"]
    if config.method == "static-int8" and exports and getattr(exports[-1], "optimize", False):
        return ("static-int8 after a fused export (optimize: true) quantizes the weights only, since ONNX "
                "Runtime's QDQ quantizer cannot see activations through fused ops, and runs slower than fp32",
                "remove optimize from the export step; the serving session fuses the QDQ graph")
    return None


def _kinds(config: QuantizeConfig) -> tuple[str, ...]:
    # Static calibration feeds one graph with the task's inputs; a decoder's step inputs are another matter.
    return ("encoder", "seq2seq") if config.method == "dynamic-int8" else ("encoder",)


@register_step("quantize", QuantizeConfig, "ONNX Runtime int8 quantization (dynamic, or static QDQ with calibration), "
               "of every ONNX part", takes="onnx", gives="onnx", check=static_after_fused, kinds=_kinds, per_part=True,
               target_device="cpu")
def quantize_onnx(part: Part, config: QuantizeConfig, ctx: StepContext) -> str:
    """Quantize one ONNX part into ``ctx.out_dir``; returns the file name it wrote."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if config.method != "dynamic-int8" and set(part.parent.model_files) != {"model"}:
        raise GreenError(f"{config.method} calibrates a single-graph model, not {', '.join(part.parent.model_files)}",
                         "use method: dynamic-int8 for encoder-decoder models")
    # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
    # their outputs are float32, so say so instead of failing.
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    name = part.source.name.replace(".onnx", "_quantized.onnx")
    if config.method == "dynamic-int8":
        quantize_dynamic(
            part.source,
            ctx.out_dir / name,
            op_types_to_quantize=config.operators or DYNAMIC_INT8_OPS,
            per_channel=config.per_channel,
            weight_type=QuantType.QInt8,
            extra_options=extra,
        )
    else:
        _quantize_static(part.parent, config, ctx, ctx.out_dir / name, extra)
    return name


def _quantize_static(parent: Artifact, config: QuantizeConfig, ctx: StepContext, out_path, extra: dict) -> None:
    """Static QDQ int8: activation ranges calibrated on a sample of the train split."""
    import random

    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from green.batching import sorted_batches
    from green.models import load_tokenizer

    task, data = ctx.require_data("static-int8", "calibration text")
    fused = {op: n for op, n in (parent.extra.get("fused_ops") or {}).items() if op in FUSED_CONTRIB_OPS and n}
    if fused:
        raise GreenError(f"static-int8 got a fused graph ({', '.join(fused)}), where it can quantize only the weights",
                         "export without optimize before static-int8")
    texts = list(data.train.inputs)
    random.Random(ctx.seed).shuffle(texts)
    tokenizer = load_tokenizer(str(parent.file("tokenizer")))
    enc = task.encode(tokenizer, texts[: config.calibration_samples], 128)
    model_path = parent.file("model")
    names = [i.name for i in ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).get_inputs()]
    groups = sorted_batches(enc.lengths, config.calibration_batch_size)
    if config.calibration_method == "minmax":
        batches = [enc.batch(idx) for idx in groups]
    else:
        # Histogram methods stack every batch's activations into one array: all batches
        # need one shape, so pad to the longest sample and drop a ragged last batch.
        width = max(enc.lengths)
        if len(groups) > 1 and len(groups[-1]) < config.calibration_batch_size:
            groups = groups[:-1]
        batches = [enc.batch(idx, pad_to=width) for idx in groups]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self):
            batch = next(self._it, None)
            return None if batch is None else {k: batch[k] for k in names}

    quantize_static(
        model_path,
        out_path,
        Reader(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=config.operators or STATIC_INT8_OPS,
        per_channel=config.per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                          "percentile": CalibrationMethod.Percentile}[config.calibration_method],
        extra_options=extra | {"ActivationSymmetric": False, "WeightSymmetric": True},
    )
