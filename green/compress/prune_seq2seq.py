"""Structured pruning of an encoder-decoder (BART family): attention heads and FFN channels of both stacks.

Scores come from torch-pruning's dependency graph and group importance, as for encoders
(:mod:`green.compress.prune`): a head's score sums the importance of its query, key and
value channels' groups (the value group reaches the output projection's columns); an FFN
channel's group is its ``fc1`` row and ``fc2`` column. FFN channels are removed through the
dependency graph. Heads are removed by slicing the projections, because BART's attention has
no ``prune_heads``; its forward infers the head count from the projections' widths (it reshapes
to ``-1`` heads of ``head_dim``), so a sliced attention runs as it is.

Every attention is pruned: the encoder's self-attention, and the decoder's self-attention
and cross-attention. The decoder's heads shape the KV cache, and optimum-onnx exports the
cache with one head count per kind across layers, so heads are pruned uniformly: every
attention of a kind keeps the same number (``allocation: global`` then applies to FFN
channels only, and says so in the log). Linear shapes go into the config
(``green_linear_shapes``) so the model reloads; :func:`kept_heads` tells the export the
cache's head counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from green.compress.prune import PruneConfig, choose, per_layer
from green.errors import GreenError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Attention kinds in a BART layer: (stack, attribute).
ATTENTIONS = (("encoder", "self_attn"), ("decoder", "self_attn"), ("decoder", "encoder_attn"))


class AttentionModule(Protocol):
    """What pruning reads and replaces in a BART-family attention (BartAttention, MBartAttention...)."""

    q_proj: torch.nn.Linear
    k_proj: torch.nn.Linear
    v_proj: torch.nn.Linear
    out_proj: torch.nn.Linear
    head_dim: int
    num_heads: int


@dataclass
class Attention:
    """One attention module of a BART layer that pruning may narrow, and the ratio slot it uses."""

    path: str  # module path, e.g. model.decoder.layers.0.encoder_attn
    module: AttentionModule
    layer: int  # index into per-layer ratios: the encoder's layers, then the decoder's

    @property
    def heads(self) -> int:
        """Heads the module has now (its query width over the head size)."""
        return self.module.q_proj.out_features // self.module.head_dim


@dataclass
class Ffn:
    """One BART layer's feed-forward pair (fc1, fc2) and the ratio slot it uses."""

    path: str  # the layer's module path; fc1 and fc2 under it
    fc1: torch.nn.Linear
    fc2: torch.nn.Linear
    layer: int


def stacks(model) -> tuple[list, list]:
    """The encoder's and decoder's layers of a BART-family model, or a one-line error."""
    enc = getattr(model.get_encoder(), "layers", None) if hasattr(model, "get_encoder") else None
    dec = getattr(getattr(getattr(model, "model", None), "decoder", None), "layers", None)
    if enc is None or dec is None or not hasattr(enc[0], "fc1") or not hasattr(dec[0], "encoder_attn"):
        raise GreenError(f"prune does not know the layout of {type(model).__name__} (model_type "
                         f"{model.config.model_type!r})", "prune a BART-family encoder-decoder (BART, mBART, "
                         "distilbart) or a BERT-family encoder")
    return list(enc), list(dec)


def blocks(model) -> tuple[list[Attention], list[Ffn]]:
    """Every attention and FFN of both stacks, with the per-layer ratio index each follows."""
    enc, dec = stacks(model)
    prefix = model.base_model_prefix
    attentions, ffns = [], []
    for stack, layers, offset in (("encoder", enc, 0), ("decoder", dec, len(enc))):
        for i, layer in enumerate(layers):
            path = f"{prefix}.{stack}.layers.{i}"
            for s, attr in ATTENTIONS:
                if s == stack:
                    attentions.append(Attention(f"{path}.{attr}", getattr(layer, attr), offset + i))
            ffns.append(Ffn(path, layer.fc1, layer.fc2, offset + i))
    return attentions, ffns


def kind(att: Attention) -> str:
    """``encoder.self_attn``, ``decoder.self_attn`` or ``decoder.encoder_attn``."""
    parts = att.path.split(".")
    return f"{parts[-4]}.{parts[-1]}"


def kept_heads(model) -> dict[str, int]:
    """Heads per attention kind (each kind has one count after pruning), for the export's cache shapes."""
    counts: dict[str, set[int]] = {}
    for att in blocks(model)[0]:
        counts.setdefault(kind(att), set()).add(att.heads)
    return {k: max(v) for k, v in counts.items()}


def _slice_heads(att: Attention, drop: list[int]) -> None:
    """Remove heads ``drop`` (indices among the heads left) from one attention."""
    import torch

    m, d = att.module, att.module.head_dim
    keep = [h for h in range(att.heads) if h not in set(drop)]
    rows = torch.tensor([h * d + j for h in keep for j in range(d)], dtype=torch.long)

    def linear(old, dim: int):
        w = old.weight.detach().index_select(dim, rows.to(old.weight.device))
        new = torch.nn.Linear(w.shape[1], w.shape[0], bias=old.bias is not None,
                              device=w.device, dtype=w.dtype)
        new.weight.data.copy_(w)
        if old.bias is not None:
            new.bias.data.copy_(old.bias.detach().index_select(0, rows.to(old.bias.device)) if dim == 0
                                else old.bias.detach())
        return new

    m.q_proj, m.k_proj, m.v_proj = (linear(p, 0) for p in (m.q_proj, m.k_proj, m.v_proj))
    m.out_proj = linear(m.out_proj, 1)
    m.num_heads = len(keep)


def prune_model(model, config: PruneConfig, feeds: list[dict], task) -> dict:
    """Prune ``model`` in place; returns what was kept per layer and per attention kind."""
    import torch
    import torch_pruning as tp

    from green.runtime.pytorch import LINEAR_SHAPES_KEY

    if isinstance(config.heads, list) and len(set(config.heads)) > 1:
        raise GreenError("prune: an encoder-decoder's heads take one ratio (its KV cache has one head count per "
                         "attention kind)", "give `heads` as one number; `ffn` may still be a per-layer list")
    attentions, ffns = blocks(model)
    n = len(stacks(model)[0]) + len(stacks(model)[1])
    head_ratio = config.heads[0] if isinstance(config.heads, list) else config.heads
    ffn_ratios = per_layer(config.ffn, n, "ffn")
    if config.allocation == "global" and head_ratio:
        log.info("an encoder-decoder's heads are pruned uniformly (one head count per attention kind, for the KV "
                 "cache); global allocation applies to its FFN channels")

    example = {k: v for k, v in feeds[0].items() if k != "labels"}
    if "decoder_input_ids" not in example:
        example["decoder_input_ids"] = example["input_ids"][:, :4]
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example,
                                                  output_transform=lambda out: out[0].sum())
    if config.importance == "taylor":
        imp = tp.importance.GroupTaylorImportance(normalizer=None)
        model.zero_grad(set_to_none=True)
        model.eval()
        for feed in feeds:
            task.loss(model, {k: v for k, v in feed.items() if k != "labels"}, feed["labels"]).backward()
    else:
        imp = tp.importance.GroupMagnitudeImportance(p=2, normalizer=None)

    def group_scores(linear) -> "torch.Tensor":
        group = graph.get_pruning_group(linear, tp.prune_linear_out_channels, idxs=list(range(linear.out_features)))
        return imp(group).float().cpu()

    def head_scores_of(a: Attention) -> "torch.Tensor":
        q, k, v = (group_scores(getattr(a.module, p)) for p in ("q_proj", "k_proj", "v_proj"))
        return (q + k + v).reshape(a.heads, a.module.head_dim).sum(1)

    with torch.no_grad():
        head_scores = [head_scores_of(a) for a in attentions]
        ffn_scores = [group_scores(f.fc1) for f in ffns]
    model.zero_grad(set_to_none=True)
    heads_before = [a.heads for a in attentions]
    drop_heads = choose(head_scores, [head_ratio] * len(attentions), "uniform", minimum=1)
    drop_ffn = choose(ffn_scores, [ffn_ratios[f.layer] for f in ffns], config.allocation,
                      minimum=config.round_to, multiple=config.round_to)
    # FFN channels through the dependency graph while it still points at the live modules; then heads.
    for f, idxs in zip(ffns, drop_ffn):
        if idxs:
            graph.get_pruning_group(f.fc1, tp.prune_linear_out_channels, idxs=idxs).prune()
    for a, idxs in zip(attentions, drop_heads):
        if idxs:
            _slice_heads(a, idxs)

    attentions, ffns = blocks(model)
    shapes = {}
    for a in attentions:
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            lin = getattr(a.module, p)
            shapes[f"{a.path}.{p}"] = [lin.out_features, lin.in_features]
    for f in ffns:
        shapes[f"{f.path}.fc1"] = [f.fc1.out_features, f.fc1.in_features]
        shapes[f"{f.path}.fc2"] = [f.fc2.out_features, f.fc2.in_features]
    setattr(model.config, LINEAR_SHAPES_KEY, shapes)
    return {"heads_kept": kept_heads(model), "heads_before": {kind(a): h for a, h in zip(attentions, heads_before)},
            "ffn_kept": [f.fc1.out_features for f in ffns], "ffn_before": [len(s) for s in ffn_scores]}
