"""Knowledge distillation into a shallower (optionally narrower) student built from the teacher.

The parent artifact is the teacher. The student is the teacher with a subset of its
layers (every other layer by default, or a list), optionally narrowed by magnitude
pruning of heads and FFN channels, so every weight it starts from is a teacher weight
(DistilBERT's initialisation). It then learns from the teacher's temperature-softened
outputs and the task's labels (Hinton et al.), optionally also from the teacher's hidden
states and attention maps on mapped layers (TinyBERT / MiniLM style).

The teacher's outputs are computed once per run and looked up by row; hidden-state and
attention losses need the teacher's internals per batch, so they run it alongside (say so
in the budget). Training is the one loop: epochs or steps, validation each epoch, early
stop after ``patience`` epochs without improvement, best checkpoint kept. The whole step
is one energy window, so payback counts the distillation.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Literal

from pydantic import Field, model_validator

from green.artifacts import Artifact
from green.compress.registry import StepConfig, StepContext, StepResult, register_step, save_torch_model
from green.errors import GreenError

log = logging.getLogger(__name__)


class DistillConfig(StepConfig):
    """The student's layers and width, the losses that teach it, and its training budget."""
    layers: list[int] | Literal["alternate"] = Field(default="alternate", description=(
        "teacher layers the student keeps: a list of indices, or alternate (every other layer, ending with "
        "the last: 6 -> [1, 3, 5])"))
    heads: float = Field(default=0.0, ge=0.0, lt=1.0, description="fraction of the kept layers' heads removed first (magnitude)")
    ffn: float = Field(default=0.0, ge=0.0, lt=1.0, description="fraction of their FFN channels removed first (magnitude)")
    temperature: float = Field(default=2.0, gt=0, le=20)
    alpha: float = Field(default=0.7, ge=0, le=1, description="weight of the soft (teacher) loss; 1 - alpha: the task loss")
    hidden_weight: float = Field(default=0.0, ge=0, description="MSE between mapped hidden states (runs the teacher per batch)")
    attention_weight: float = Field(default=0.0, ge=0, description=(
        "KL between mapped attention maps, MiniLM style (runs the teacher per batch; needs equal head counts)"))
    epochs: int = Field(default=3, ge=1, le=100)
    max_steps: int | None = Field(default=None, ge=1, description="stop after this many optimizer steps")
    train_rows: int | None = Field(default=None, ge=1, description=(
        "train rows per epoch; the baseline budget's when unset (12,000 on a CPU, all of them on a GPU)"))
    learning_rate: float = Field(default=1e-4, gt=0, lt=1)
    batch_size: int = Field(default=32, ge=1, le=4096)
    patience: int = Field(default=1, ge=1, description="epochs without validation improvement before stopping")
    validation_rows: int | None = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _layers(self) -> "DistillConfig":
        if isinstance(self.layers, list) and (not self.layers or len(set(self.layers)) != len(self.layers)
                                              or any(i < 0 for i in self.layers)):
            raise ValueError("layers lists distinct, non-negative teacher layer indices")
        return self


def alternate(n: int) -> list[int]:
    """Every other layer, ending with the last: 6 -> [1, 3, 5], 12 -> [1, 3, ..., 11], 5 -> [0, 2, 4]."""
    return list(range(n - 1, -1, -2))[::-1]


def build_student(teacher, keep: list[int]):
    """A copy of ``teacher`` with only the layers ``keep`` (in that order), every weight the teacher's.

    The config follows: layer count, and per-layer facts keyed by layer index (pruned heads,
    green's per-layer Linear shapes) are renumbered to the student's layers.
    """
    import torch

    from green.compress.prune import encoder_layers
    from green.runtime.pytorch import LINEAR_SHAPES_KEY

    encoder_layers(teacher)  # a clear error for layouts green cannot take apart
    n = teacher.config.num_hidden_layers
    if any(i >= n for i in keep):
        raise GreenError(f"distill: layers {keep} do not exist in a {n}-layer teacher", f"use indices 0 to {n - 1}")
    student = copy.deepcopy(teacher)
    encoder = student.base_model.encoder
    encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in keep])
    cfg = student.config
    cfg.num_hidden_layers = len(keep)
    old_heads = {int(k): v for k, v in (cfg.pruned_heads or {}).items()}
    cfg.pruned_heads = {new: old_heads[old] for new, old in enumerate(keep) if old in old_heads}
    shapes = getattr(cfg, LINEAR_SHAPES_KEY, None)
    if shapes:
        prefix = f"{student.base_model_prefix}.encoder.layer."
        renamed = {}
        for new, old in enumerate(keep):
            for name, shape in shapes.items():
                if name.startswith(f"{prefix}{old}."):
                    renamed[f"{prefix}{new}." + name[len(f"{prefix}{old}."):]] = shape
        setattr(cfg, LINEAR_SHAPES_KEY, renamed)
    for new, layer in enumerate(student.base_model.encoder.layer):
        if hasattr(layer.attention.self, "layer_idx"):
            layer.attention.self.layer_idx = new
    return student


class StudentLoss:
    """Soft KL on cached teacher outputs + task loss, plus optional hidden-state and attention terms."""

    def __init__(self, task, train, cached: list, teacher, keep: list[int], config: DistillConfig, device: str,
                 tokenizer=None) -> None:
        from green.training.distill import DistillLoss

        self.soft = DistillLoss(task, train, cached, device, config.temperature, config.alpha, tokenizer)
        self.teacher, self.keep, self.config = teacher, keep, config

    def __call__(self, model, feed: dict, rows: list[int]):
        c = self.config
        if not (c.hidden_weight or c.attention_weight):
            return self.soft(model, feed, rows)
        import torch
        import torch.nn.functional as F

        want_att = c.attention_weight > 0
        out = model(**feed, output_hidden_states=True, output_attentions=want_att)
        with torch.no_grad():
            t = self.teacher(**feed, output_hidden_states=True, output_attentions=want_att)
        student_logits = out[0]
        soft = self.soft.soft_loss(student_logits, rows, feed.get("attention_mask"))
        loss = c.alpha * soft + (1 - c.alpha) * self.soft.task.loss_from_outputs(student_logits, self.soft.targets[rows])
        mask = feed["attention_mask"].unsqueeze(-1).float()
        if c.hidden_weight:
            # hidden_states[0] is the embeddings; student layer i maps to teacher layer keep[i].
            pairs = [(0, 0)] + [(i + 1, k + 1) for i, k in enumerate(self.keep)]
            mse = sum(((out.hidden_states[s] - t.hidden_states[k]) ** 2 * mask).sum() / mask.sum()
                      / out.hidden_states[s].shape[-1] for s, k in pairs)
            loss = loss + c.hidden_weight * mse / len(pairs)
        if want_att:
            kl: float | torch.Tensor = 0.0
            for i, k in enumerate(self.keep):
                s_att, t_att = out.attentions[i], t.attentions[k]
                if s_att.shape != t_att.shape:
                    raise GreenError("distill: attention transfer needs the same heads in student and teacher layers",
                                     "set attention_weight: 0 when the student is narrower")
                kl = kl + F.kl_div(torch.log(s_att.clamp_min(1e-9)), t_att, reduction="batchmean")
            loss = loss + c.attention_weight * kl / len(self.keep)
        return loss


@register_step("distill", DistillConfig, "knowledge distillation into a shallower student built from the "
               "teacher's layers (soft targets + labels; optional hidden-state and attention transfer)",
               takes="torch", gives="torch")
def distill(parent: Artifact, config: DistillConfig, ctx: StepContext) -> StepResult:
    """Build the student from the parent's layers and distil it (see the module docstring)."""
    import torch

    from green.compress.prune import PruneConfig, prune_model
    from green.models import load_tokenizer
    from green.runtime.pytorch import load_pretrained
    from green.tasks.base import OutputTask
    from green.training import QUICK, TrainBudget, fit
    from green.training.distill import teacher_outputs

    task, data = ctx.require_data("distill", "the train split to distill on")
    assert isinstance(task, OutputTask)  # distill takes encoder tasks, whose inference reads logits
    tokenizer = load_tokenizer(str(parent.file("tokenizer")))
    torch.manual_seed(ctx.seed)
    teacher = load_pretrained(parent.path, task.model_class()).float().eval().to(ctx.device)
    n = teacher.config.num_hidden_layers
    keep = alternate(n) if config.layers == "alternate" else list(config.layers)
    student = build_student(teacher, keep).to(ctx.device)
    if config.heads or config.ffn:
        ids = torch.randint(1000, 2000, (2, 16), device=ctx.device)
        feed = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.zeros(2, dtype=torch.long,
                                                                                                  device=ctx.device)}
        prune_model(student, PruneConfig(heads=config.heads, ffn=config.ffn, importance="magnitude", recovery=None),
                    [feed], task)

    base = ctx.require_budget()
    budget = TrainBudget("distill", epochs=config.epochs, max_train_rows=config.train_rows or base.max_train_rows,
                         max_validation_rows=config.validation_rows, max_test_rows=None,
                         batch_size=config.batch_size, learning_rate=config.learning_rate,
                         max_steps=config.max_steps, patience=config.patience)
    if ctx.quick:
        budget = replace(budget, epochs=1, max_train_rows=QUICK.max_train_rows,
                         max_validation_rows=QUICK.max_validation_rows)
    train = data.train.head(budget.max_train_rows)
    cached = teacher_outputs(teacher, task, tokenizer, train, ctx.device, budget.max_length)
    loss = StudentLoss(task, train, cached, teacher, keep, config, ctx.device, tokenizer)
    result = fit(student, task, tokenizer, train, data.validation.head(budget.max_validation_rows), budget,
                 ctx.device, loss=loss, seed=ctx.seed, label=f"distilling {n} -> {len(keep)} layers")
    del teacher
    student.eval().cpu()
    params_t = sum(p.numel() for p in load_pretrained(parent.path, task.model_class()).parameters())
    return StepResult(files=save_torch_model(student, ctx.out_dir), params={"teacher_layers": keep}, model=student,
                      extra={"history": result.history, "best_epoch": result.best_epoch, "steps": result.steps,
                             "wall_s": result.wall_s, "parameters_teacher": params_t,
                             "parameters_student": sum(p.numel() for p in student.parameters())})
