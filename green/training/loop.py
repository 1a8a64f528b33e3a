"""The one training loop: baseline fine-tuning, recovery after pruning, distillation.

What differs between them is the loss (pluggable: the task's own, or a distillation
loss that looks rows up in cached teacher outputs) and the budget. The loop batches by
length (little padding, random order), warms the learning rate up and decays it
linearly, clips gradients, validates on the task's primary metric after each epoch and
keeps the best epoch. With a meter, the whole run is one energy window.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from green import interrupts
from green.batching import bucketed_batches
from green.budget import TrainBudget
from green.errors import GreenError
from green.progress import progress_bar
from green.tasks.base import Split, Task
from green.training import watch

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: ``loss(model, feed, rows)``: ``feed`` holds the batch's input tensors on the device,
#: ``rows`` the batch's row indices into the train split (to look up targets or cached outputs).
LossFn = Callable[[Any, dict, list[int]], "torch.Tensor"]


@dataclass
class FitResult:
    history: list[dict]
    best_epoch: int
    best_score: float
    wall_s: float
    steps: int
    precision: str
    energy: dict = field(default_factory=dict)


class TaskLoss:
    """The task's own loss against the split's targets (cross-entropy on labels, for example)."""

    def __init__(self, task: Task, split: Split, device: str, tokenizer=None) -> None:
        self.task = task
        self.targets = task.training_targets(split, tokenizer).to(device)

    def __call__(self, model, feed: dict, rows: list[int]):
        return self.task.loss(model, feed, self.targets[rows])


class _ModelRunner:
    """Model outputs as NumPy, for validating with the task's own predict and metrics."""

    def __init__(self, task: Task, model, device: str, bf16: bool) -> None:
        self.task, self.model, self.device, self.bf16 = task, model, device, bf16

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        feed = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items() if k != "token_type_ids"}
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self.bf16):
            return self.task.outputs(self.model, feed).float().cpu().numpy()

    def generate(self, batch: dict[str, np.ndarray], settings: dict) -> np.ndarray:
        """Token ids from the model's own ``generate`` (validation of generative tasks)."""
        import torch

        feed = {k: torch.from_numpy(batch[k]).to(self.device) for k in ("input_ids", "attention_mask")}
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self.bf16):
            return self.model.generate(**feed, **settings).cpu().numpy()


def fit(
    model,
    task: Task,
    tokenizer,
    train: Split,
    validation: Split,
    budget: TrainBudget,
    device: str,
    loss: LossFn | None = None,
    seed: int = 42,
    label: str = "fine-tuning",
    meter=None,
    window: str = "train",
) -> FitResult:
    """Train ``model`` in place on ``train`` within ``budget``; the best epoch on ``validation`` is kept.

    ``train`` and ``validation`` are used whole: sample them (``Split.head``) before calling.
    """
    import contextlib

    import torch

    torch.manual_seed(seed)
    model.to(device)
    enc_train = task.encode(tokenizer, train.inputs, budget.max_length)
    enc_val = task.encode(tokenizer, validation.inputs, budget.max_length)
    loss_fn = loss or TaskLoss(task, train, device, tokenizer)
    for name, p in model.named_parameters():
        if budget.freeze and name.startswith(budget.freeze):
            p.requires_grad_(False)

    steps_per_epoch = math.ceil(len(train) / budget.batch_size)
    total_steps = steps_per_epoch * budget.epochs
    if budget.max_steps is not None:
        total_steps = min(total_steps, budget.max_steps)
    warmup = max(1, int(total_steps * budget.warmup_fraction))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=budget.learning_rate, weight_decay=budget.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    )
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    sign = 1.0 if task.higher_is_better else -1.0

    history: list[dict] = []
    best_state, best_score, step, stale = None, -math.inf, 0, 0
    started = time.perf_counter()
    energy_window = meter.window(window) if meter is not None else contextlib.nullcontext()
    with energy_window as w, progress_bar() as bar:
        bar_task = bar.add_task(label, total=total_steps)
        for epoch in range(budget.epochs):
            if step >= total_steps:
                break
            model.train()
            loss_sum, n = 0.0, 0
            for rows in bucketed_batches(enc_train.lengths, budget.batch_size, seed + epoch):
                if step >= total_steps:
                    break
                feed = {k: torch.from_numpy(v).to(device) for k, v in enc_train.batch(rows).items()
                        if k != "token_type_ids"}
                with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                    value = loss_fn(model, feed, rows)
                value.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                interrupts.check()
                loss_value = float(value.detach())
                if not math.isfinite(loss_value):  # every later batch would be NaN too, and the result reported as normal
                    raise GreenError(f"{label}: the training loss became {loss_value} at step {step + 1}",
                                     "check the step's numbers (a weight or temperature of inf or 0) "
                                     "or lower its learning rate")
                loss_sum += loss_value
                n += 1
                step += 1
                bar.update(bar_task, advance=1,
                           description=f"{label}: epoch {epoch + 1}/{budget.epochs} loss {loss_sum / n:.3f}")
            model.eval()
            preds = task.predict(_ModelRunner(task, model, device, bf16), enc_val, 128)
            metrics = task.metrics(preds, validation)
            score = metrics[task.primary_metric]
            history.append({"epoch": epoch + 1, "steps": step, "train_loss": loss_sum / max(1, n),
                            **{f"val_{k}": v for k, v in metrics.items()}})
            log.info("%s: epoch %d, validation %s %.4f", label, epoch + 1, task.primary_metric, score)
            watch.epoch_done(label, epoch + 1, score)  # a search may stop a hopeless trial here
            if sign * score > best_score:
                best_score, stale = sign * score, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            else:
                stale += 1
                if budget.patience is not None and stale >= budget.patience:
                    log.info("%s: no better %s for %d epoch(s): stopping early", label, task.primary_metric, stale)
                    break
    wall_s = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)
    best_epoch = max(history, key=lambda h: sign * h[f"val_{task.primary_metric}"])["epoch"] if history else 0
    return FitResult(history, best_epoch, sign * best_score if history else float("nan"), wall_s, step,
                     "bf16" if bf16 else "fp32", w.to_dict() if w is not None else {})
