"""Fine-tune the baseline: the reference every recipe is compared with."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from green.artifacts import Artifact, support_roles
from green.budget import TrainBudget
from green.evaluate.energy import EnergyMeter
from green.models import load_tokenizer
from green.tasks.base import Task, TaskData
from green.training.loop import fit


def train_baseline(
    model_ref: str,
    task: Task,
    data: TaskData,
    out_dir: Path,
    device: str,
    budget: TrainBudget,
    meter: EnergyMeter,
    seed: int = 42,
) -> Artifact:
    """Fine-tune ``model_ref`` on ``data`` (the best epoch on validation), save it as a torch artifact."""
    import torch

    torch.manual_seed(seed)
    tokenizer = load_tokenizer(model_ref)
    model = task.new_model(model_ref, data)
    result = fit(model, task, tokenizer, data.train.head(budget.max_train_rows),
                 data.validation.head(budget.max_validation_rows), budget, device, seed=seed,
                 label="fine-tuning", meter=meter, window="train")
    out_dir = Path(out_dir)
    model.cpu().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    artifact = Artifact(
        path=out_dir,
        format="torch",
        task=task.name,
        step="train",
        files={"model": "model.safetensors", **support_roles(out_dir)},
        params={"base_model": model_ref, "budget": asdict(budget), "best_epoch": result.best_epoch,
                "precision": result.precision, "seed": seed},
        energy=result.energy,
        flops=task.count_flops(model.eval()),
        extra={"history": result.history, "task": data.describe(), "wall_s": result.wall_s, "trained_on": device},
    )
    artifact.save()
    return artifact
