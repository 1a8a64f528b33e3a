"""What a task is: its data and split, its model class, batching, metrics, FLOPs per inference.

Everything that knows about labels, logits, argmax (or, for the next task, summaries,
beams and ROUGE) lives in a :class:`Task` subclass. The workbench, the steps, the runtime,
the benchmark and the report see only inputs, opaque targets, outputs and a dict of
metrics with one primary metric.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol

import numpy as np

from green.batching import Encoded, sorted_batches
from green.errors import GreenError
from green.results import Energy


class ModelClass(Protocol):
    """What loads a task's models: a ``transformers`` auto class such as ``AutoModelForSequenceClassification``."""

    def from_pretrained(self, *args: Any, **kwargs: Any) -> Any: ...

    def from_config(self, *args: Any, **kwargs: Any) -> Any: ...


@dataclass
class Split:
    """Rows of one split: model inputs (texts) and the task's targets (labels, summaries...)."""

    inputs: list[str]
    targets: list[Any]

    def __len__(self) -> int:
        return len(self.inputs)

    def head(self, n: int | None) -> "Split":
        """The first ``n`` rows; splits are already shuffled, so this is a random sample."""
        if n is None or n >= len(self):
            return self
        return Split(self.inputs[:n], self.targets[:n])


@dataclass
class TaskData:
    """A task's three splits, where they came from, and task-specific facts (label names...)."""

    train: Split
    validation: Split
    test: Split
    source: str
    fingerprint: str
    seed: int
    info: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            "sizes": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
            **self.info,
        }


@dataclass(frozen=True)
class DataSpec:
    """Where a task's data comes from: ``embedded``, a CSV/JSONL path or a Hub dataset name.

    ``columns`` maps the task's column roles (``text``, ``label``...) to the file's column
    names; a role left out takes the task's default.
    """

    data: str = "embedded"
    columns: dict[str, str | None] = field(default_factory=dict)
    seed: int = 42


class Task(ABC):
    """One kind of problem green can compress models for.

    Subclasses set the class attributes and implement the methods; :func:`register_task`
    makes them available by ``name``.
    """

    #: Registry key and ``--task`` value, e.g. ``text-classification``.
    name: ClassVar[str]
    #: optimum-onnx's task name for export.
    export_task: ClassVar[str]
    #: The ONNX files that export makes, by role (optimum's file names), and their artifact format.
    export_parts: ClassVar[dict[str, str]] = {"model": "model.onnx"}
    export_format: ClassVar[str] = "onnx"
    #: The metric records, the Pareto chart and every comparison use.
    primary_metric: ClassVar[str]
    #: False for metrics where lower is better (error rates, losses).
    higher_is_better: ClassVar[bool] = True
    #: What one inference is, for labels: "sequence", "summary".
    inference_unit: ClassVar[str] = "sequence"
    #: Column roles and their defaults.
    column_roles: ClassVar[dict[str, str]] = {}
    #: The model's shape, for steps that only know one: ``encoder`` (BERT-family) or ``seq2seq``.
    model_kind: ClassVar[str] = "encoder"
    #: True when one inference is a generation loop (runner.generate), not one forward pass.
    generative: ClassVar[bool] = False
    #: How one inference runs, for the benchmark: ``forward`` (one pass) or ``generate`` (a whole
    #: generation); :mod:`green.evaluate.inference` times each kind.
    inference: ClassVar[str] = "forward"

    # -- data ------------------------------------------------------------------------
    @abstractmethod
    def load_data(self, spec: DataSpec) -> TaskData:
        """Read, clean and split the task's data, deterministically for ``spec.seed``."""

    # -- model -----------------------------------------------------------------------
    @abstractmethod
    def model_class(self) -> ModelClass:
        """The ``transformers`` auto class that loads this task's models."""

    @abstractmethod
    def new_model(self, model_ref: str, data: TaskData):
        """A model ready to fine-tune on ``data`` (a fresh head sized to the task, for example)."""

    def encode(self, tokenizer, inputs: list[str], max_length: int) -> Encoded:
        from green.batching import encode

        return encode(tokenizer, inputs, max_length)

    # -- training --------------------------------------------------------------------
    def budget(self, device: str, quick: bool):
        """How much training the baseline gets on ``device`` (``quick``: a smoke run)."""
        from green.budget import choose_budget

        return choose_budget(device, quick)

    def budgets(self) -> dict:
        """The task's training budgets by name: the root of a lineage names the one its steps start from."""
        from green.budget import BUDGETS

        return dict(BUDGETS)

    @abstractmethod
    def training_targets(self, split: Split, tokenizer):
        """The targets the loss indexes by row (class ids; a summary's token ids; a word's tag per token)."""

    @abstractmethod
    def loss(self, model, feed: dict, targets):
        """The training loss of ``model`` on one batch (``feed``: input tensors, ``targets``: rows)."""

    def outputs(self, model, feed: dict):
        """The model's primary output tensor for a batch (what runners return)."""
        return model(**feed)[0]

    # -- evaluation ------------------------------------------------------------------
    @abstractmethod
    def metrics(self, predictions: np.ndarray, split: Split) -> dict[str, float]:
        """Every metric of the task on a split; must include :attr:`primary_metric`."""

    def row_scores(self, predictions: np.ndarray, split: Split) -> np.ndarray | None:
        """Per-row scores whose mean is the primary metric (for paired bootstraps), or None when the
        primary metric is not a mean over rows (token accuracy, macro-F1): callers then resample whole metrics."""
        return None

    @abstractmethod
    def predict(self, runner: Callable[[dict], np.ndarray], encoded: Encoded, batch_size: int = 64,
                progress: Callable[[int], None] | None = None, multiple_of: int = 1,
                generation: dict | None = None) -> np.ndarray:
        """Predictions for every row of ``encoded``, in the original row order.

        ``generation`` is what :meth:`inference_settings` resolved, for generative tasks.
        """

    #: Test rows whose predictions a record keeps (the same first rows in every record, so they compare).
    SAMPLE_ROWS: ClassVar[int] = 200
    #: Characters of an input kept in a record's sample.
    SAMPLE_CHARS: ClassVar[int] = 300

    def prediction_sample(self, predictions: np.ndarray, split: Split, data: TaskData) -> dict:
        """The first test rows' inputs, targets and predictions, as text, for the report's side-by-side view.

        Every record keeps the same rows, so the report can show what a recipe changed.
        """
        n = min(len(split), self.SAMPLE_ROWS)
        return {"rows": list(range(n)), "inputs": [self._clip(t) for t in split.inputs[:n]],
                "targets": [self.show(t, data) for t in split.targets[:n]],
                "predictions": [self.show(p, data) for p in predictions[:n]]}

    def show(self, value, data: TaskData) -> str:
        """A target or a prediction as a person reads it (a label's name; a summary as it is)."""
        return self._clip(value)

    def _clip(self, value) -> str:
        text = " ".join(str(value).split())
        return text if len(text) <= self.SAMPLE_CHARS else text[: self.SAMPLE_CHARS - 1] + "\u2026"

    def reference(self, data: TaskData, split: Split) -> dict | None:
        """A trivial predictor's metrics on ``split`` (lead-N for summaries), to judge the model by; or None."""
        return None

    def inference_settings(self, artifact_dir, overrides: dict | None = None) -> dict:
        """How one inference runs (generation settings), from the artifact and a recipe's overrides."""
        if overrides:
            raise GreenError(f"the {self.name} task does not generate, so it takes no generation settings",
                             "remove generation from the recipe's evaluate section")
        return {}

    def metric_description(self) -> dict:
        return {"name": self.name, "primary_metric": self.primary_metric, "higher_is_better": self.higher_is_better,
                "inference_unit": self.inference_unit}

    # -- arithmetic ------------------------------------------------------------------
    def count_flops(self, model) -> dict:
        """FLOPs per inference of ``model`` as a polynomial in the padded input length.

        Counted on the real module (torch's FlopCounterMode), so a pruned or distilled
        model gets its own figure; see :func:`green.evaluate.flops.fit_flops`.
        """
        from green.flops import fit_flops

        return fit_flops(lambda ids, mask: self.outputs(model, {"input_ids": ids, "attention_mask": mask}))

    def flops_per_inference(self, flops_model: dict | None, run: Energy) -> float | None:
        """FLOPs of one inference as the benchmark ran it (``run.batch_shapes``: rows and padded length)."""
        from green.flops import flops_per_inference

        if not flops_model:
            return None
        return flops_per_inference(flops_model, run.batch_shapes)


class OutputTask(Task):
    """A task whose inference is one forward pass read from the model's primary output (logits).

    Classification and token classification are; summarization (a generation loop) is not.
    Distilling from a teacher's outputs (``green.training.distill``) works on these tasks.
    """

    def new_model(self, model_ref: str, data: TaskData):
        """The pretrained encoder with a fresh head sized to the label set (``data.info["label_names"]``)."""
        from transformers.utils import logging as hf_logging

        from green.models import SAFE_LOAD, load_error

        names = data.info["label_names"]
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "newly initialized classifier" is expected, not news
        try:
            return self.model_class().from_pretrained(
                model_ref, num_labels=len(names), id2label=dict(enumerate(names)),
                label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True, **SAFE_LOAD)
        except (OSError, ValueError, KeyError) as exc:
            raise load_error(model_ref, exc) from None
        finally:
            hf_logging.set_verbosity(verbosity)

    @abstractmethod
    def loss_from_outputs(self, outputs, targets):
        """The training loss given the model's primary outputs for a batch and its targets."""

    @abstractmethod
    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """Predictions from a batch of runner outputs."""

    def training_targets(self, split: Split, tokenizer):
        """One integer target per row (class ids); tasks with other targets override this."""
        import torch

        return torch.tensor(split.targets, dtype=torch.long)

    def loss(self, model, feed: dict, targets):
        """The loss from the primary output: one forward pass."""
        return self.loss_from_outputs(self.outputs(model, feed), targets)

    def predict(self, runner: Callable[[dict], np.ndarray], encoded: Encoded, batch_size: int = 64,
                progress: Callable[[int], None] | None = None, multiple_of: int = 1,
                generation: dict | None = None) -> np.ndarray:
        """The batch predictions of each length-sorted batch, put back in row order."""
        preds: np.ndarray | None = None
        for idx in sorted_batches(encoded.lengths, batch_size):
            batch_preds = self.predictions(runner(encoded.batch(idx, multiple_of=multiple_of)))
            if preds is None:
                preds = np.empty((len(encoded), *batch_preds.shape[1:]), dtype=batch_preds.dtype)
            preds[idx] = batch_preds
            if progress:
                progress(len(idx))
        return preds if preds is not None else np.empty(0, dtype=np.int64)


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make ``task`` available by its name (``--task``). One line per task module."""
    if task.name in TASKS and type(TASKS[task.name]) is not type(task):
        raise ValueError(f"task {task.name!r} is registered twice")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise GreenError(f"unknown task {name!r}", f"use one of: {', '.join(sorted(TASKS))}")
    return TASKS[name]
