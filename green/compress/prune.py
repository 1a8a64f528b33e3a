"""Structured pruning of attention heads and FFN channels with torch-pruning's dependency graph.

Torch-Pruning's dependency graph says which weights are coupled (a head's query, key and
value rows and the attention output's columns; an FFN channel's up-projection row and
down-projection column), and its group importance scores them (magnitude, or first-order
Taylor from a few batches of train data). green chooses what to remove, uniformly per
layer or globally across layers, and removes it so the model saves and reloads:

* heads through the model's own ``prune_heads``, which records ``config.pruned_heads``
  per layer; ``from_pretrained`` replays that by itself, so uneven head counts reload;
* FFN channels through the dependency graph; when layers end up with different widths,
  their Linear shapes go into the config (``green_linear_shapes``) and green's loader
  (:func:`green.runtime.pytorch.load_pretrained`) rebuilds them before loading weights.

Torch-Pruning's own Hugging Face BERT example patches ``num_attention_heads`` by hand and
leaves a model that only lives in memory; this closes that gap. Optional recovery
fine-tuning uses the one training loop, inside the step's energy window, so payback
counts it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from green.artifacts import Artifact
from green.compress.registry import StepConfig, StepContext, StepResult, register_step, save_torch_model
from green.errors import GreenError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Ratio = float | list[float]


class RecoveryConfig(StepConfig):
    """Fine-tuning after pruning; unset fields take the baseline's budget."""

    epochs: int = Field(default=1, ge=1, le=100)
    train_rows: int | None = Field(default=None, ge=1, description="train rows; the baseline budget's when unset")
    learning_rate: float | None = Field(default=None, gt=0, lt=1, description="the baseline budget's when unset")
    distill: bool = Field(default=True, description=(
        "learn from the unpruned parent's outputs as well as the labels (knowledge distillation); its outputs "
        "are computed once per run"))
    temperature: float = Field(default=2.0, gt=0, le=20)
    alpha: float = Field(default=0.5, ge=0, le=1, description="weight of the distillation term (1 - alpha: the task loss)")


class PruneConfig(StepConfig):
    """How much to prune (heads, FFN channels), how to score and allocate it, and the recovery after."""
    heads: Ratio = Field(default=0.5, description="fraction of attention heads removed: one ratio, or one per layer")
    ffn: Ratio = Field(default=0.5, description="fraction of FFN channels removed: one ratio, or one per layer")
    allocation: Literal["uniform", "global"] = Field(default="uniform", description=(
        "uniform: each layer loses the same fraction; global: the least important heads and channels of the "
        "whole model go, so layers end up with different widths (per-layer ratios are uniform by definition)"))
    importance: Literal["magnitude", "taylor"] = Field(default="taylor", description=(
        "magnitude: L2 norm of the coupled weights; taylor: |weight x gradient| summed over the coupled "
        "weights, from importance_batches batches of train data"))
    importance_batches: int = Field(default=32, ge=1, le=10_000)
    round_to: int = Field(default=8, ge=1, le=256, description="FFN channels kept per layer: a multiple of this")
    recovery: RecoveryConfig | None = Field(default_factory=RecoveryConfig,
                                            description="fine-tuning after pruning; null for none")

    @field_validator("heads", "ffn")
    @classmethod
    def _in_range(cls, v: Ratio) -> Ratio:
        for r in v if isinstance(v, list) else [v]:
            if not 0.0 <= r < 1.0:
                raise ValueError(f"a ratio is a fraction removed, from 0 up to (not including) 1; got {r}")
        if isinstance(v, list) and not v:
            raise ValueError("a per-layer list needs one ratio per layer")
        return v


@dataclass
class LayerParts:
    """The modules of one transformer layer that pruning touches."""

    index: int
    query: torch.nn.Linear
    key: torch.nn.Linear
    value: torch.nn.Linear
    attn_out: torch.nn.Linear
    ffn_in: torch.nn.Linear
    ffn_out: torch.nn.Linear
    heads: int
    head_dim: int
    ffn_in_name: str
    ffn_out_name: str


def encoder_layers(model) -> list[LayerParts]:
    """The prunable layers of a BERT-family encoder (BERT, RoBERTa, XLM-R, ELECTRA, MiniLM)."""
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(layers[0], "attention") or not hasattr(layers[0], "intermediate"):
        raise GreenError(f"prune does not know the layout of {type(model).__name__} (model_type "
                         f"{model.config.model_type!r})", "prune a BERT-family encoder (BERT, RoBERTa, MiniLM)")
    prefix = f"{model.base_model_prefix}.encoder.layer"
    parts = []
    for i, layer in enumerate(layers):
        att = layer.attention.self
        parts.append(LayerParts(i, att.query, att.key, att.value, layer.attention.output.dense,
                                layer.intermediate.dense, layer.output.dense, att.num_attention_heads,
                                att.attention_head_size, f"{prefix}.{i}.intermediate.dense",
                                f"{prefix}.{i}.output.dense"))
    return parts


def per_layer(ratio: Ratio, n_layers: int, what: str) -> list[float]:
    """One ratio per layer: a list as given (of the right length), or one ratio repeated."""
    if isinstance(ratio, list):
        if len(ratio) != n_layers:
            raise GreenError(f"prune: {what} lists {len(ratio)} ratios for a model with {n_layers} layers",
                             f"give one {what} ratio, or one per layer ({n_layers})")
        return list(ratio)
    return [ratio] * n_layers


def score_groups(model, layers: list[LayerParts], config: PruneConfig, feeds: list[dict], task) -> tuple:
    """Per-layer head scores and FFN channel scores from torch-pruning's group importance."""
    import torch
    import torch_pruning as tp

    example = {k: v for k, v in feeds[0].items() if k != "labels"}
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example,
                                                  output_transform=lambda out: out[0].sum())
    if config.importance == "taylor":
        imp = tp.importance.GroupTaylorImportance(normalizer=None)
        model.zero_grad(set_to_none=True)
        model.eval()  # no dropout: the gradients of the model as it will run
        for feed in feeds:
            task.loss(model, {k: v for k, v in feed.items() if k != "labels"}, feed["labels"]).backward()
    else:
        imp = tp.importance.GroupMagnitudeImportance(p=2, normalizer=None)
    head_scores, ffn_scores = [], []
    with torch.no_grad():
        for part in layers:
            group = graph.get_pruning_group(part.query, tp.prune_linear_out_channels,
                                            idxs=list(range(part.query.out_features)))
            channel = imp(group)
            head_scores.append(channel.reshape(part.heads, part.head_dim).sum(dim=1).float().cpu())
            group = graph.get_pruning_group(part.ffn_in, tp.prune_linear_out_channels,
                                            idxs=list(range(part.ffn_in.out_features)))
            ffn_scores.append(imp(group).float().cpu())
    model.zero_grad(set_to_none=True)
    return head_scores, ffn_scores, graph


def choose(scores: list, ratios: list[float], allocation: str, minimum: int, multiple: int = 1) -> list[list[int]]:
    """Indices to remove per layer: the lowest scores, per layer (uniform) or ranked across layers (global)."""
    import torch

    sizes = [len(s) for s in scores]

    def round_keep(n: int, keep: int) -> int:
        return min(n, max(minimum, int(math.ceil(keep / multiple) * multiple)))

    keeps = [round_keep(n, n - int(round(n * r))) for n, r in zip(sizes, ratios)]
    if allocation == "global" and len(set(ratios)) == 1:
        # Layers score on different scales: normalize each by its mean (as torch-pruning's global
        # pruning does), reserve each layer's best `minimum`, and give the rest of the model-wide
        # budget to the best remaining scores wherever they are.
        normalized = [s / s.mean().clamp_min(1e-12) for s in scores]
        budget = sum(keeps) - minimum * len(sizes)
        rest = sorted(((float(v), i) for i, s in enumerate(normalized)
                       for v in torch.sort(s, descending=True).values[minimum:]), reverse=True)
        keeps = [minimum] * len(sizes)
        for _, i in rest[:budget]:
            keeps[i] += 1
        keeps = [round_keep(n, k) for n, k in zip(sizes, keeps)]
    return [sorted(torch.argsort(s, descending=True)[keep:].tolist()) for s, keep in zip(scores, keeps)]


def prune_model(model, config: PruneConfig, feeds: list[dict], task) -> dict:
    """Prune ``model`` in place; returns what was kept per layer."""
    import torch_pruning as tp

    layers = encoder_layers(model)
    n = len(layers)
    head_ratios, ffn_ratios = per_layer(config.heads, n, "heads"), per_layer(config.ffn, n, "ffn")
    head_scores, ffn_scores, graph = score_groups(model, layers, config, feeds, task)
    drop_heads = choose(head_scores, head_ratios, config.allocation, minimum=1)
    drop_ffn = choose(ffn_scores, ffn_ratios, config.allocation, minimum=config.round_to, multiple=config.round_to)

    # FFN channels first, through the dependency graph (it still points at the live modules);
    # then heads through the model's own prune_heads, which replaces the attention Linears.
    for part, idxs in zip(layers, drop_ffn):
        if idxs:
            graph.get_pruning_group(part.ffn_in, tp.prune_linear_out_channels, idxs=idxs).prune()
    already = {int(k): set(v) for k, v in (model.config.pruned_heads or {}).items()}
    to_prune = {}
    for part, idxs in zip(layers, drop_heads):
        # prune_heads speaks in the original head numbering; scores index the heads that remain.
        original = [h for h in range(model.config.num_attention_heads) if h not in already.get(part.index, set())]
        if idxs:
            to_prune[part.index] = [original[i] for i in idxs]
    if to_prune:
        model.prune_heads(to_prune)

    widths = [part.ffn_in.out_features for part in encoder_layers(model)]
    if len(set(widths)) == 1:
        model.config.intermediate_size = widths[0]
        model.config.green_linear_shapes = None
    else:
        from green.runtime.pytorch import LINEAR_SHAPES_KEY

        shapes = {}
        for part in encoder_layers(model):
            shapes[part.ffn_in_name] = [part.ffn_in.out_features, part.ffn_in.in_features]
            shapes[part.ffn_out_name] = [part.ffn_out.out_features, part.ffn_out.in_features]
        setattr(model.config, LINEAR_SHAPES_KEY, shapes)
    after = encoder_layers(model)
    return {"heads_kept": [p.heads for p in after], "ffn_kept": [p.ffn_in.out_features for p in after],
            "heads_before": [p.heads for p in layers], "ffn_before": [len(s) for s in ffn_scores]}


def _importance_feeds(ctx: StepContext, tokenizer, config: PruneConfig, device: str) -> list[dict]:
    """Batches of train rows (with targets) for Taylor importance; one batch suffices for magnitude."""
    import torch

    from green.batching import bucketed_batches

    task, data = ctx.require_data("prune", "a few batches of train data to score importance")
    rows = data.train.head(32 * config.importance_batches)
    enc = task.encode(tokenizer, rows.inputs, 128)
    targets = task.training_targets(rows, tokenizer)  # class ids, or a summary's token ids
    feeds = []
    for idx in bucketed_batches(enc.lengths, 32, ctx.seed)[: config.importance_batches if config.importance == "taylor" else 1]:
        batch = {k: torch.from_numpy(v).to(device) for k, v in enc.batch(idx).items() if k != "token_type_ids"}
        batch["labels"] = targets[idx].to(device)
        feeds.append(batch)
    return feeds


@register_step("prune", PruneConfig, "structured pruning of attention heads and FFN channels (torch-pruning), "
               "with recovery fine-tuning", takes="torch", gives="torch", kinds=("encoder", "seq2seq"))
def prune(parent: Artifact, config: PruneConfig, ctx: StepContext) -> StepResult:
    """Prune heads and FFN channels of the parent (encoder or encoder-decoder), then fine-tune to recover."""
    import torch

    from green.models import load_tokenizer
    from green.runtime.pytorch import load_pretrained

    task, data = ctx.require_data("prune", "train batches for importance and recovery")
    tokenizer = load_tokenizer(str(parent.file("tokenizer")))
    torch.manual_seed(ctx.seed)
    model = load_pretrained(parent.path, task.model_class()).float()
    device = ctx.device
    model.to(device)
    params_before = sum(p.numel() for p in model.parameters())
    feeds = _importance_feeds(ctx, tokenizer, config, device)
    if getattr(model.config, "is_encoder_decoder", False):
        from green.compress import prune_seq2seq

        kept = prune_seq2seq.prune_model(model, config, feeds, task)
    else:
        kept = prune_model(model, config, feeds, task)
    params_after = sum(p.numel() for p in model.parameters())
    log.info("pruned to %s heads and %s FFN channels per layer (%.0f%% of the parameters)",
             kept["heads_kept"], kept["ffn_kept"], 100 * params_after / params_before)

    history = None
    if config.recovery is not None:
        history = recover(model, parent, config.recovery, ctx, tokenizer, data)
    model.eval().cpu()
    return StepResult(files=save_torch_model(model, ctx.out_dir), model=model,
                      extra={**kept, "parameters_before": params_before, "parameters_after": params_after,
                             "recovery_history": history})


def recover(model, parent: Artifact, config: RecoveryConfig, ctx: StepContext, tokenizer, data) -> list[dict]:
    """Fine-tune the pruned model with the one training loop (optionally distilling from the parent)."""
    from dataclasses import replace

    from green.tasks.base import OutputTask
    from green.training import LossFn, fit
    from green.training.distill import DistillLoss, teacher_outputs

    task = ctx.task
    assert task is not None  # prune's require_data checked it
    base = ctx.require_budget()
    budget = replace(base, name="recovery", epochs=config.epochs,
                     max_train_rows=config.train_rows or base.max_train_rows,
                     learning_rate=config.learning_rate or base.learning_rate)
    train = data.train.head(budget.max_train_rows)
    loss: LossFn | None = None
    if config.distill:
        from green.runtime.pytorch import load_pretrained

        teacher = load_pretrained(parent.path, task.model_class()).eval().to(ctx.device)
        if getattr(teacher.config, "is_encoder_decoder", False):
            # Next-token distributions are vocabulary-sized per summary token: the teacher runs per batch.
            from green.compress.distill_seq2seq import Seq2SeqStudentLoss

            loss = Seq2SeqStudentLoss(task, train, tokenizer, teacher, config, ctx.device, shared_encoder=False)
        else:
            assert isinstance(task, OutputTask)  # an encoder's task reads its logits
            cached = teacher_outputs(teacher, task, tokenizer, train, ctx.device, budget.max_length)
            del teacher
            loss = DistillLoss(task, train, cached, ctx.device, config.temperature, config.alpha, tokenizer)
    result = fit(model, task, tokenizer, train, data.validation.head(budget.max_validation_rows), budget,
                 ctx.device, loss=loss, seed=ctx.seed, label="recovery fine-tuning")
    return result.history
