"""A trial's quality on the validation split, and how sure we are it is within the budget.

A finite validation split makes a measured drop noisy: with 1,000 rows, a model that
agrees with the baseline on all but 30 rows can read 1 point better or worse by chance.
The search judges a trial by a **paired bootstrap** of its drop against the baseline on
the very same rows: rows are resampled with replacement (2,000 times), the drop is
recomputed on each resample, and the trial is within the budget when the ``confidence``
quantile of those drops is at most ``max_drop`` points. So a trial passes only when it is
within the budget with that confidence, not merely on a lucky split. The test split is
never read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from green.artifacts import Artifact
from green.models import load_tokenizer
from green.run_recipe import RunRecipe
from green.runtime import open_runner
from green.tasks.base import Split, Task

#: Bootstrap resamples: the bound's own noise is well under 0.1 point at 1,000 rows.
RESAMPLES = 2000
#: Resamples when the primary metric is not a mean over rows (whole metrics recomputed each time).
SLOW_RESAMPLES = 200


@dataclass(frozen=True)
class Quality:
    """An artifact's validation metrics, its predictions and, where the task has them, per-row scores."""

    metrics: dict[str, float]
    predictions: np.ndarray
    rows: np.ndarray | None

    def primary(self, task: Task) -> float:
        return float(self.metrics[task.primary_metric])


@dataclass(frozen=True)
class Drop:
    """A trial's drop below the baseline in points (positive: worse), and its bootstrap upper bound."""

    points: float
    bound: float
    confidence: float
    rows: int

    def within(self, max_drop: float) -> bool:
        return self.bound <= max_drop


def validation_quality(artifact: Artifact, recipe: RunRecipe, task: Task, split: Split, device: str,
                       max_length: int) -> Quality:
    """The task's metrics of ``artifact`` on ``split`` (the validation rows), as its evaluation would run it."""
    from green.evaluate.evaluation import runtime_options
    from green.progress import progress_bar

    tokenizer = load_tokenizer(str(artifact.file("tokenizer")))
    enc = task.encode(tokenizer, split.inputs, max_length)
    runner = open_runner(artifact, device, runtime_options(recipe))
    generation = task.inference_settings(artifact.path, recipe.evaluate.generation)
    with progress_bar() as bar:
        bar_task = bar.add_task(f"validation {task.primary_metric} ({recipe.name})", total=len(split))
        preds = task.predict(runner, enc, 64, progress=lambda n: bar.update(bar_task, advance=n),
                             generation=generation)
    return Quality(dict(task.metrics(preds, split)), np.asarray(preds, dtype=object if task.generative else None),
                   task.row_scores(preds, split))


def paired_drop(task: Task, split: Split, baseline: Quality, trial: Quality, confidence: float,
                seed: int = 0) -> Drop:
    """The drop of ``trial`` below ``baseline`` on the same rows, in points, with its bootstrap bound."""
    sign = 1.0 if task.higher_is_better else -1.0
    point = sign * (baseline.primary(task) - trial.primary(task)) * 100
    rng = np.random.default_rng(seed)
    n = len(split)
    if baseline.rows is not None and trial.rows is not None:
        diff = sign * (np.asarray(baseline.rows, dtype=float) - np.asarray(trial.rows, dtype=float)) * 100
        drops = diff[rng.integers(0, n, size=(RESAMPLES, n))].mean(axis=1)
    else:
        drops = np.empty(SLOW_RESAMPLES)
        for b in range(SLOW_RESAMPLES):
            idx = rng.integers(0, n, size=n)
            part = Split([split.inputs[i] for i in idx], [split.targets[i] for i in idx])
            base = task.metrics(baseline.predictions[idx], part)[task.primary_metric]
            mine = task.metrics(trial.predictions[idx], part)[task.primary_metric]
            drops[b] = sign * (base - mine) * 100
    return Drop(point, float(np.quantile(drops, confidence)), confidence, n)
