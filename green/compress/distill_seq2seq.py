"""Shrink and fine-tune an encoder-decoder, distilbart style: keep the encoder, keep alternating decoder layers.

The parent artifact is the teacher. The student is a copy of it with a subset of its
decoder layers (every other one by default) and, optionally, of its encoder layers, so
every weight it starts from is a teacher weight ("Pre-trained Summarization
Distillation", Shleifer and Rush, 2020: shrink-and-fine-tune). It is then fine-tuned on
the data, and optionally against the teacher's softened next-token distributions on the
same summaries (``alpha`` > 0: the teacher's decoder runs per batch; vocabulary-sized
outputs are too large to cache).

With ``freeze_encoder`` (the default) the student's encoder layers stay the teacher's: the
encoder runs once per batch without gradients (for both models when ``alpha`` > 0), which
is what keeps the step in minutes on a 2-core CPU; the shared embeddings, which are also
the output layer, keep training. The whole step is one energy window; payback counts it.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Literal, Protocol

from pydantic import Field, model_validator

from green.artifacts import Artifact
from green.compress.distill import alternate
from green.compress.registry import StepConfig, StepContext, StepResult, register_step, save_torch_model
from green.errors import GreenError

log = logging.getLogger(__name__)

Layers = list[int] | Literal["alternate", "all"]


class Seq2SeqDistillConfig(StepConfig):
    """Which teacher layers the student keeps, and how it is fine-tuned (optionally against the teacher)."""
    decoder_layers: Layers = Field(default="alternate", description=(
        "teacher decoder layers the student keeps: a list of indices, alternate (every other, ending with the "
        "last: 6 -> [1, 3, 5]) or all"))
    encoder_layers: Layers = Field(default="all", description="teacher encoder layers the student keeps")
    freeze_encoder: bool = Field(default=True, description="keep the encoder's layers as the teacher's (no gradients)")
    alpha: float = Field(default=0.0, ge=0, le=1, description=(
        "weight of KL to the teacher's next-token distributions (runs the teacher's decoder per batch); "
        "0: fine-tune on the data alone"))
    temperature: float = Field(default=2.0, gt=0, le=20)
    epochs: int = Field(default=1, ge=1, le=100)
    max_steps: int | None = Field(default=None, ge=1)
    train_rows: int | None = Field(default=None, ge=1, description="train rows per epoch; the baseline budget's when unset")
    learning_rate: float | None = Field(default=None, gt=0, lt=1, description="the baseline budget's when unset")
    batch_size: int | None = Field(default=None, ge=1, le=4096, description="the baseline budget's when unset")
    patience: int = Field(default=1, ge=1)
    validation_rows: int | None = Field(default=None, ge=1, description="the baseline budget's when unset")

    @model_validator(mode="after")
    def _layers(self) -> "Seq2SeqDistillConfig":
        for layers in (self.decoder_layers, self.encoder_layers):
            if isinstance(layers, list) and (not layers or len(set(layers)) != len(layers) or min(layers) < 0):
                raise ValueError("a layer list holds distinct, non-negative teacher layer indices")
        return self


def _stack(model, which: str):
    stack = model.get_encoder() if which == "encoder" else model.get_decoder()
    if not hasattr(stack, "layers"):
        raise GreenError(f"distill-seq2seq does not know the layout of {type(model).__name__}",
                         "distill a BART-family model (BART, distilbart, mBART, Pegasus)")
    return stack


def pick(layers: Layers, n: int, which: str) -> list[int]:
    """The teacher layer indices to keep out of ``n``: all, alternate, or a list (checked against ``n``)."""
    keep = list(range(n)) if layers == "all" else alternate(n) if layers == "alternate" else list(layers)
    if any(i >= n for i in keep):
        raise GreenError(f"distill-seq2seq: {which} layers {keep} do not exist in a {n}-layer {which}",
                         f"use indices 0 to {n - 1}")
    return keep


def build_seq2seq_student(teacher, decoder_keep: list[int], encoder_keep: list[int] | None = None):
    """A copy of ``teacher`` with only the listed decoder (and encoder) layers, every weight the teacher's."""
    import torch

    student = copy.deepcopy(teacher)
    for which, keep, key in (("decoder", decoder_keep, "decoder_layers"), ("encoder", encoder_keep, "encoder_layers")):
        if keep is None:
            continue
        stack = _stack(student, which)
        stack.layers = torch.nn.ModuleList([stack.layers[i] for i in keep])
        setattr(student.config, key, len(keep))
        for new, layer in enumerate(stack.layers):  # the KV cache is indexed by layer
            for module in layer.modules():
                if hasattr(module, "layer_idx"):
                    module.layer_idx = new
    if hasattr(student.config, "num_hidden_layers") and student.config.model_type in ("bart", "mbart", "pegasus"):
        student.config.num_hidden_layers = student.config.encoder_layers
    return student


class SoftTargetSettings(Protocol):
    """What the loss reads of its config: Seq2SeqDistillConfig, or prune's RecoveryConfig."""

    alpha: float
    temperature: float


class Seq2SeqStudentLoss:
    """Cross-entropy on the summaries, plus ``alpha`` x KL(teacher || student) at ``temperature`` when asked."""

    def __init__(self, task, split, tokenizer, teacher, config: SoftTargetSettings, device: str,
                 shared_encoder: bool) -> None:
        self.task, self.teacher, self.config = task, teacher, config
        self.targets = task.training_targets(split, tokenizer).to(device)
        self.shared_encoder = shared_encoder

    def __call__(self, model, feed: dict, rows: list[int]):
        import torch
        import torch.nn.functional as F

        if self.config.alpha <= 0:  # the task's own loss (a frozen encoder runs without gradients)
            return self.task.loss(model, feed, self.targets[rows])
        labels = self.task.labels(model, self.targets[rows])
        mask = feed["attention_mask"]
        if self.shared_encoder:  # the student's encoder is the teacher's: run it once for both
            with torch.no_grad():
                enc = model.get_encoder()(input_ids=feed["input_ids"], attention_mask=mask)
            out = model(encoder_outputs=enc, attention_mask=mask, labels=labels)
        else:
            enc = None
            out = model(input_ids=feed["input_ids"], attention_mask=mask, labels=labels)
        with torch.no_grad():
            kwargs = {"encoder_outputs": enc} if enc is not None else {"input_ids": feed["input_ids"]}
            t_logits = self.teacher(**kwargs, attention_mask=mask, labels=labels).logits
        t = self.config.temperature
        keep = labels != -100
        soft = F.kl_div(F.log_softmax(out.logits[keep].float() / t, -1), F.log_softmax(t_logits[keep].float() / t, -1),
                        reduction="batchmean", log_target=True) * t * t
        return self.config.alpha * soft + (1 - self.config.alpha) * out.loss


@register_step("distill-seq2seq", Seq2SeqDistillConfig, "shrink and fine-tune an encoder-decoder: keep the encoder, "
               "keep alternating decoder layers (distilbart), optionally against the teacher's outputs",
               takes="torch", gives="torch", kinds=("seq2seq",))
def distill_seq2seq(parent: Artifact, config: Seq2SeqDistillConfig, ctx: StepContext) -> StepResult:
    """Build the shallower student from the parent's layers and fine-tune it (see the module docstring)."""
    import torch

    from green.models import load_tokenizer
    from green.runtime.pytorch import load_pretrained
    from green.tasks.summarization import ENCODER_PREFIXES
    from green.training import fit

    task, data = ctx.require_data("distill-seq2seq", "the train split to fine-tune on")
    tokenizer = load_tokenizer(str(parent.file("tokenizer")))
    torch.manual_seed(ctx.seed)
    teacher = load_pretrained(parent.path, task.model_class()).float().eval().to(ctx.device)
    n_dec, n_enc = len(_stack(teacher, "decoder").layers), len(_stack(teacher, "encoder").layers)
    dec_keep = pick(config.decoder_layers, n_dec, "decoder")
    enc_keep = pick(config.encoder_layers, n_enc, "encoder")
    student = build_seq2seq_student(teacher, dec_keep, None if enc_keep == list(range(n_enc)) else enc_keep)
    student.to(ctx.device)

    base = ctx.require_budget()
    budget = replace(base, name="distill", epochs=1 if ctx.quick else config.epochs,
                     max_train_rows=base.max_train_rows if ctx.quick else (config.train_rows or base.max_train_rows),
                     max_validation_rows=config.validation_rows or base.max_validation_rows,
                     batch_size=config.batch_size or base.batch_size,
                     learning_rate=config.learning_rate or base.learning_rate, max_steps=config.max_steps,
                     patience=config.patience, freeze=ENCODER_PREFIXES if config.freeze_encoder else ())
    train = data.train.head(budget.max_train_rows)
    shared = config.freeze_encoder and enc_keep == list(range(n_enc))
    loss = Seq2SeqStudentLoss(task, train, tokenizer, teacher if config.alpha > 0 else None, config, ctx.device, shared)
    result = fit(student, task, tokenizer, train, data.validation.head(budget.max_validation_rows), budget, ctx.device,
                 loss=loss, seed=ctx.seed, label=f"distilling decoder {n_dec} -> {len(dec_keep)} layers")
    params_t = sum(p.numel() for p in teacher.parameters())
    del teacher, loss
    student.eval().cpu()
    return StepResult(
        files=save_torch_model(student, ctx.out_dir),
        params={"teacher_decoder_layers": dec_keep, "teacher_encoder_layers": enc_keep},
        model=student,
        extra={"history": result.history, "best_epoch": result.best_epoch, "steps": result.steps,
               "wall_s": result.wall_s, "parameters_teacher": params_t,
               "parameters_student": sum(p.numel() for p in student.parameters()),
               "budget": {"train_rows": len(train), "learning_rate": budget.learning_rate,
                          "frozen": list(budget.freeze)}},
    )
