"""Knowledge distillation losses, with the teacher's outputs computed once per run.

A teacher's forward pass costs about a third of a training step; recomputing it every
epoch would make distillation on a 2-core CPU take hours. The outputs are computed once
over the train rows (length-sorted, no padding waste), kept on the host, and looked up
by row index in each batch.
"""

from __future__ import annotations

import numpy as np

from green.batching import sorted_batches
from green.progress import progress_bar
from green.tasks.base import Split, Task


def teacher_outputs(teacher, task: Task, tokenizer, split: Split, device: str, max_length: int = 128,
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
                out[i] = logits[row].clone()
            bar.update(bar_task, advance=len(idx))
    return out


class DistillLoss:
    """``alpha`` x KL(teacher || student) at ``temperature`` (x T^2) + (1 - alpha) x the task's loss."""

    def __init__(self, task: Task, split: Split, cached: list, device: str, temperature: float = 2.0,
                 alpha: float = 0.5) -> None:
        self.task, self.device = task, device
        self.targets = task.target_tensor(split.targets).to(device)
        self.cached = cached
        self.temperature, self.alpha = temperature, alpha

    def teacher(self, rows: list[int]):
        import torch

        return torch.stack([self.cached[i] for i in rows]).to(self.device)

    def __call__(self, model, feed: dict, rows: list[int]):
        import torch.nn.functional as F

        t = self.temperature
        student = self.task.outputs(model, feed)  # one forward serves both terms
        soft = F.kl_div(F.log_softmax(student.float() / t, dim=-1), F.log_softmax(self.teacher(rows) / t, dim=-1),
                        reduction="batchmean", log_target=True) * (t * t)
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
