"""Export a PyTorch classifier to ONNX through optimum-onnx, optionally with ORT's optimizer."""

from __future__ import annotations

import logging
import shutil
import warnings
from typing import Literal

from pydantic import Field

from green.artifacts import Artifact
from green.compress.registry import StepConfig, StepContext, register_step
from green.errors import GreenError

log = logging.getLogger(__name__)


class ExportConfig(StepConfig):
    format: Literal["onnx"] = "onnx"
    opset: int | None = Field(default=None, ge=11, description="ONNX opset; optimum's default when unset")
    optimize: bool = Field(default=False, description="run ONNX Runtime's transformer optimizer (fusions)")
    optimization_level: Literal[0, 1, 2, 99] = Field(default=2, description=(
        "ONNX Runtime's own graph optimizer before the transformer fusions (0: fusions only). "
        "For GPU graphs use 0: at 1 and above ORT optimizes in a CUDA session first, which can "
        "insert Memcpy nodes that stop attention fusion; the serving session optimizes anyway"))
    for_gpu: bool = Field(default=False, description="fusions meant for the CUDA provider")
    fp16: bool = Field(default=False, description="cast weights to fp16 during optimization (GPU only)")
    fuse_attention: bool = Field(default=True, description="let the optimizer fuse attention (off: for comparisons)")


@register_step("export", ExportConfig, "PyTorch -> ONNX (optimum-onnx), with optional ORT fusions")
def export_onnx(parent: Artifact, config: ExportConfig, ctx: StepContext) -> Artifact:
    if parent.format != "torch":
        raise GreenError(f"export needs a PyTorch artifact, got {parent.format}", "put export first in the recipe")
    if config.fp16 and not config.optimize:
        raise GreenError("export: fp16 is applied by the optimizer", "set optimize: true with fp16: true")
    from optimum.exporters.onnx import main_export

    raw_dir = ctx.out_dir / "raw" if config.optimize else ctx.out_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected
        main_export(
            str(parent.path),
            output=raw_dir,
            task="text-classification",
            opset=config.opset,
            device="cpu",
            do_validation=False,
        )
    model_file = "model.onnx"
    fusions: dict = {}
    if config.optimize:
        from optimum.onnxruntime import ORTOptimizer
        from optimum.onnxruntime.configuration import OptimizationConfig

        opt = OptimizationConfig(
            optimization_level=config.optimization_level, optimize_for_gpu=config.for_gpu, fp16=config.fp16,
            disable_attention_fusion=not config.fuse_attention,
        )
        ORTOptimizer.from_pretrained(raw_dir).optimize(save_dir=ctx.out_dir, optimization_config=opt)
        shutil.rmtree(raw_dir)
        model_file = "model_optimized.onnx"
        fusions = fused_op_counts(ctx.out_dir / model_file)
        if config.fuse_attention and not (fusions["Attention"] or fusions["MultiHeadAttention"]):
            hint = " (try optimization_level: 0 for GPU graphs)" if config.for_gpu and config.optimization_level else ""
            log.warning("the optimizer fused no attention in %s: expect a slower, unfused graph%s", ctx.out_dir, hint)
    return Artifact(
        path=ctx.out_dir,
        format="onnx",
        runtime="onnxruntime",
        step="export",
        params=config.model_dump(),
        parent=str(parent.path),
        model_file=model_file,
        extra={"fused_ops": fusions} if fusions else {},
    )


FUSED_OPS = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu", "FastGelu", "EmbedLayerNormalization")


def fused_op_counts(model_path) -> dict[str, int]:
    """How many fused transformer nodes the optimizer produced (0 Attention = fusion missed)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    counts = {op: 0 for op in FUSED_OPS}
    for node in graph.node:
        if node.op_type in counts:
            counts[node.op_type] += 1
    return counts
