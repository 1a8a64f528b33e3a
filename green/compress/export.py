"""Export a PyTorch model to ONNX through optimum-onnx, optionally with ORT's optimizer.

An encoder-only model becomes one file (role ``model``, format ``onnx``). A
sequence-to-sequence model is exported with its KV cache (the task's export name, e.g.
``text2text-generation-with-past``) as three files by role: ``encoder``, ``decoder`` (the
first step) and ``decoder_with_past`` (every later step, fed the cached keys and values);
format ``onnx-seq2seq``. optimum's merged decoder (both decoders behind an If node) is not
made: ONNX Runtime's quantizer does not reach into If branches, so it would stay fp32.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from typing import Literal

from pydantic import Field

from green.artifacts import Artifact, copy_support_files
from green.compress.registry import StepConfig, StepContext, StepResult, register_step
from green.errors import GreenError

log = logging.getLogger(__name__)


class ExportConfig(StepConfig):
    """Export settings: opset, and ONNX Runtime's optimizer (fusions, level, GPU, fp16)."""
    format: Literal["onnx"] = "onnx"
    opset: int | None = Field(default=None, ge=11, le=20, description="ONNX opset (11-20, what torch's exporter writes); optimum's default when unset")
    optimize: bool = Field(default=False, description="run ONNX Runtime's transformer optimizer (fusions)")
    optimization_level: Literal[0, 1, 2, 99] = Field(default=2, description=(
        "ONNX Runtime's own graph optimizer before the transformer fusions (0: fusions only). "
        "For GPU graphs use 0: at 1 and above ORT optimizes in a CUDA session first, which can "
        "insert Memcpy nodes that stop attention fusion; the serving session optimizes anyway"))
    for_gpu: bool = Field(default=False, description="fusions meant for the CUDA provider")
    fp16: bool = Field(default=False, description="cast weights to fp16 during optimization (GPU only)")
    fuse_attention: bool = Field(default=True, description="let the optimizer fuse attention (off: for comparisons)")


@register_step("export", ExportConfig, "PyTorch -> ONNX (optimum-onnx), with optional ORT fusions; "
               "encoder-decoder models with their KV cache", takes="torch", gives="onnx", kinds=("encoder", "seq2seq"))
def export_onnx(parent: Artifact, config: ExportConfig, ctx: StepContext) -> StepResult:
    """One export path for every task: the task names optimum's export task, the parts it makes and their format."""
    if config.fp16 and not config.optimize:
        raise GreenError("export: fp16 is applied by the optimizer", "set optimize: true with fp16: true")
    from optimum.exporters.onnx import onnx_export_from_model

    from green.runtime.pytorch import load_pretrained
    from green.tasks import get_task

    task = get_task(parent.task)
    parts = dict(task.export_parts)
    # Export from the loaded module, not from the folder: a model pruned to different widths
    # per layer only loads through green's loader, and the graph must carry its real shapes.
    model = load_pretrained(parent.path, task.model_class()).eval()
    raw_dir = ctx.out_dir / "raw" if config.optimize else ctx.out_dir
    multi = len(parts) > 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected
        try:
            # Several parts: no merged decoder (ORT's quantizer does not reach into If branches).
            onnx_export_from_model(model, output=raw_dir, task=task.export_task, opset=config.opset, device="cpu",
                                   do_validation=False, no_post_process=multi,
                                   custom_onnx_configs=pruned_cache_configs(model, task.export_task) if multi else None)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise GreenError(f"export to ONNX failed: {str(exc).strip().splitlines()[0][:200]}",
                             "check the export settings (opset) in the recipe") from None
    missing = [f for f in parts.values() if not (raw_dir / f).is_file()]
    if missing:
        raise GreenError(f"export made no {', '.join(missing)} (task {task.export_task})",
                         "export a model with a KV cache (use_cache), e.g. BART")
    files = parts
    fusions: dict = {}
    if config.optimize:
        from optimum.onnxruntime import ORTOptimizer
        from optimum.onnxruntime.configuration import OptimizationConfig

        copy_support_files(parent.path, raw_dir)  # the optimizer reads the model's config
        opt = OptimizationConfig(
            optimization_level=config.optimization_level, optimize_for_gpu=config.for_gpu, fp16=config.fp16,
            disable_attention_fusion=not config.fuse_attention,
        )
        ORTOptimizer.from_pretrained(raw_dir, file_names=list(parts.values())).optimize(
            save_dir=ctx.out_dir, optimization_config=opt)
        shutil.rmtree(raw_dir)
        files = {role: name.replace(".onnx", "_optimized.onnx") for role, name in parts.items()}
        counts = {role: fused_op_counts(ctx.out_dir / name) for role, name in files.items()}
        fusions = counts["model"] if not multi else counts
        if not multi and config.fuse_attention and not (fusions["Attention"] or fusions["MultiHeadAttention"]):
            hint = " (try optimization_level: 0 for GPU graphs)" if config.for_gpu and config.optimization_level else ""
            log.warning("the optimizer fused no attention in %s: expect a slower, unfused graph%s", ctx.out_dir, hint)
    params = {"kv_cache": True, "export_task": task.export_task} if multi else {}
    return StepResult(files=files, params=params, format=task.export_format,
                      extra={"fused_ops": fusions} if fusions else {})


def pruned_cache_configs(model, export_task: str) -> dict | None:
    """optimum-onnx configs for the decoder parts of a model whose attention heads were pruned; None if none were.

    optimum makes the example KV cache it traces the decoder-with-past with from the
    config's head counts; a pruned decoder's cache has fewer heads (one count per attention
    kind, see :mod:`green.compress.prune_seq2seq`), so its example cache generator is
    replaced by one with the model's real head counts.
    """
    from green.compress.prune_seq2seq import blocks, kept_heads

    if not getattr(model.config, "green_linear_shapes", None):
        return None
    heads = kept_heads(model)
    att = blocks(model)[0][0].module
    if heads.get("decoder.self_attn") == model.config.decoder_attention_heads and \
            heads.get("decoder.encoder_attn") == model.config.decoder_attention_heads:
        return None
    import optimum.exporters.onnx.model_configs  # noqa: F401  (registers the architectures)
    from optimum.exporters.tasks import TasksManager
    from optimum.exporters.utils import get_encoder_decoder_models_for_export
    from optimum.utils.input_generators import DummySeq2SeqPastKeyValuesGenerator

    head_dim = att.head_dim

    class PrunedCache(DummySeq2SeqPastKeyValuesGenerator):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # optimum's names: "encoder" is the cross-attention cache, "decoder" the self-attention one.
            self.encoder_num_attention_heads = heads["decoder.encoder_attn"]
            self.decoder_num_attention_heads = heads["decoder.self_attn"]
            self.encoder_hidden_size = self.encoder_num_attention_heads * head_dim
            self.decoder_hidden_size = self.decoder_num_attention_heads * head_dim

    def swap(entry):
        if isinstance(entry, dict):
            return {k: swap(v) for k, v in entry.items()}
        return PrunedCache if isinstance(entry, type) and issubclass(entry, DummySeq2SeqPastKeyValuesGenerator) else entry

    ctor = TasksManager.get_exporter_config_constructor(model=model, exporter="onnx", task=export_task,
                                                        library_name="transformers")
    parts = get_encoder_decoder_models_for_export(model, ctor(model.config, int_dtype="int64", float_dtype="fp32"))
    custom = {}
    for name in ("decoder_model", "decoder_with_past_model"):
        cfg = parts[name][1]
        cfg.DUMMY_INPUT_GENERATOR_CLASSES = tuple(swap(e) for e in cfg.DUMMY_INPUT_GENERATOR_CLASSES)
        custom[name] = cfg
    return custom


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
