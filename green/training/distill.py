"""Knowledge distillation losses, with the teacher's outputs computed once per run.

A teacher's forward pass costs about a third of a training step; recomputing it every
epoch would make distillation on a 2-core CPU take hours. The outputs are computed once
over the train rows (length-sorted, no padding waste), kept on the host, and looked up
by row index in each batch. Outputs of any shape work: one vector per row (a class's
logits), or one per token (a tag's logits per token), kept at the row's real length and
padded to the batch again when looked up; padding positions take no part in the loss.
"""

from __future__ import annotations

import numpy as np

from green.batching import sorted_batches
from green.progress import progress_bar
from green.tasks.base import OutputTask, Split


def teacher_outputs(teacher, task: OutputTask, tokenizer, split: Split, device: str, max_length: int = 128,
                    batch_size: int = 64) -> list:
    """The teacher's output tensor for every row of ``split`` (row order), on the CPU."""
    import torch

    enc = task.encode(tokenizer, split.inputs, max_length)
    out: list = [None] * len(enc)
    with torch.inference_mode(), progress_bar() as bar:
        bar_task = bar.add_task("teacher outputs", total=len(enc))
        for idx in sorted_batches(enc.lengths, batch_size):
            feed = {k: torch.from_numpy(v).to(device) for k, v in enc.batch(idx).items() if k != "token_type_ids"}
            logits = task.outputs(teacher, feed).float().cpu()
            for row, i in enumerate(idx):
                # Per-token outputs keep the row's real tokens only: batches pad to different widths.
                out[i] = (logits[row, : enc.lengths[i]] if logits.dim() > 2 else logits[row]).clone()
            bar.update(bar_task, advance=len(idx))
    return out


class DistillLoss:
    """``alpha`` x KL(teacher || student) at ``temperature`` (x T^2) + (1 - alpha) x the task's loss."""

    def __init__(self, task: OutputTask, split: Split, cached: list, device: str, temperature: float = 2.0,
                 alpha: float = 0.5, tokenizer=None) -> None:
        self.task, self.device = task, device
        self.targets = task.training_targets(split, tokenizer).to(device)
        self.cached = cached
        self.temperature, self.alpha = temperature, alpha

    def teacher(self, rows: list[int], width: int | None = None):
        """The cached outputs of ``rows`` as one batch; per-token outputs padded (with zeros) to ``width``."""
        import torch
        import torch.nn.functional as F

        outs = [self.cached[i] for i in rows]
        if outs and outs[0].dim() > 1:
            width = width or max(o.shape[0] for o in outs)
            outs = [F.pad(o[:width], (0, 0, 0, width - min(width, o.shape[0]))) for o in outs]
        return torch.stack(outs).to(self.device)

    def soft_loss(self, student, rows: list[int], mask=None):
        """KL(teacher || student) at the temperature, times T^2; over real tokens only for per-token outputs."""
        import torch.nn.functional as F

        t = self.temperature
        teacher = self.teacher(rows, student.shape[1] if student.dim() > 2 else None)
        if student.dim() > 2 and mask is not None:
            keep = mask.bool()
            student, teacher = student[keep], teacher[keep]
        return F.kl_div(F.log_softmax(student.float() / t, dim=-1), F.log_softmax(teacher / t, dim=-1),
                        reduction="batchmean", log_target=True) * (t * t)

    def __call__(self, model, feed: dict, rows: list[int]):
        student = self.task.outputs(model, feed)  # one forward serves both terms
        soft = self.soft_loss(student, rows, feed.get("attention_mask"))
        if self.alpha >= 1.0:
            return soft
        return self.alpha * soft + (1.0 - self.alpha) * self.task.loss_from_outputs(student, self.targets[rows])


def kl_to_teacher(student_logits: np.ndarray, teacher_logits: np.ndarray, temperature: float = 1.0) -> float:
    """Mean KL(teacher || student) of two output arrays, for checks and reports."""
    import torch
    import torch.nn.functional as F

    s = torch.as_tensor(student_logits, dtype=torch.float32) / temperature
    t = torch.as_tensor(teacher_logits, dtype=torch.float32) / temperature
    return float(F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), reduction="batchmean", log_target=True))
