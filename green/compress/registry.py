"""The one registry of compression steps.

A step is a function ``run(parent, config, ctx) -> Artifact`` plus a pydantic config
class, and it declares the artifact format it takes and the one it gives (``torch`` in,
``onnx`` out...). Recipe validation derives the legal step orders from those
declarations, not from step names. Adding a method is one module that calls
:func:`register_step`, one import in ``green/compress/__init__.py``, one built-in recipe
and a test row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel, ConfigDict

from green.artifacts import Artifact

if TYPE_CHECKING:
    from green.tasks.base import Task, TaskData


class StepConfig(BaseModel):
    """Base for step configs: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a weight of .inf trained NaN silently


@dataclass
class StepContext:
    """What a step may use besides its parent artifact and config."""

    out_dir: Path
    device: str
    #: The workdir's task and data, for steps that calibrate, score importance or train.
    task: "Task | None" = None
    data: "TaskData | None" = None
    seed: int = 42
    #: A smoke run: steps that train shrink their budgets.
    quick: bool = False

    def require_data(self, step: str, why: str) -> "TaskData":
        from green.errors import GreenError

        if self.data is None or self.task is None or not len(self.data.train):
            raise GreenError(f"{step} needs the task's train split ({why})",
                             "run it through `green compress` on a workdir with a task")
        return self.data


StepFn = Callable[[Artifact, StepConfig, StepContext], Artifact]
#: ``check(config, earlier)`` -> ``(problem, fix)`` when this step's config makes no sense
#: after the ``earlier`` steps (names and configs), else None.
ChainCheck = Callable[[StepConfig, list[tuple[str, StepConfig]]], "tuple[str, str] | None"]

#: What each artifact format is, in words, for error messages.
FORMAT_WORDS = {"torch": "a PyTorch model", "onnx": "an ONNX model", "torch-bnb": "a bitsandbytes PyTorch model"}


#: The model shapes a step works on, given its config: a tuple, or a function of the config.
Kinds = "tuple[str, ...] | Callable[[StepConfig], tuple[str, ...]]"
#: What each model kind is, in words.
KIND_WORDS = {"encoder": "encoder-only (BERT-family) models", "seq2seq": "encoder-decoder (BART-family) models"}


@dataclass(frozen=True)
class Step:
    name: str
    config_cls: type[StepConfig]
    run: StepFn
    summary: str
    takes: tuple[str, ...]
    gives: str
    check: ChainCheck | None = None
    kinds: Kinds = ("encoder",)

    def works_on(self, config: StepConfig) -> tuple[str, ...]:
        return self.kinds(config) if callable(self.kinds) else tuple(self.kinds)


STEPS: dict[str, Step] = {}


def register_step(name: str, config_cls: type[StepConfig], summary: str, *, takes: str | tuple[str, ...],
                  gives: str, check: ChainCheck | None = None, kinds: Kinds = ("encoder",)) -> Callable[[StepFn], StepFn]:
    """Register a step under ``name``: it runs on artifacts of format ``takes`` and makes one of ``gives``.

    ``kinds`` names the model shapes it works on (``encoder``, ``seq2seq``; see ``Task.model_kind``),
    or is a function of the step's config that says so.
    """

    def wrap(fn: StepFn) -> StepFn:
        if name in STEPS:
            raise ValueError(f"step {name!r} is registered twice")
        STEPS[name] = Step(name, config_cls, fn, summary, (takes,) if isinstance(takes, str) else tuple(takes),
                           gives, check, kinds)
        return fn

    return wrap


def kind_problem(steps: list[tuple[str, StepConfig]], kind: str) -> tuple[int, str] | None:
    """The first step that does not work on models of ``kind``: (index, what it works on); None when all do."""
    for i, (name, config) in enumerate(steps):
        kinds = STEPS[name].works_on(config)
        if kind not in kinds:
            return i, " and ".join(KIND_WORDS.get(k, k) for k in kinds)
    return None


def chain_problem(steps: list[tuple[str, StepConfig]], start: str = "torch") -> tuple[int, str, str] | None:
    """The first step that cannot follow the ones before it: (index, problem, fix); None when all chain.

    ``start`` is the baseline's format. A step's input must be what the step before it gives.
    """
    have, made_by = start, "the baseline"
    for i, (name, config) in enumerate(steps):
        step = STEPS[name]
        if have not in step.takes:
            wanted = " or ".join(FORMAT_WORDS.get(t, t) for t in step.takes)
            makers = sorted(s.name for s in STEPS.values() if s.gives in step.takes and have in s.takes)
            fix = (f"put {name} before the step that makes {FORMAT_WORDS.get(have, have)}" if have != start
                   else f"add a step that makes {wanted} first" + (f" ({', '.join(makers)})" if makers else ""))
            return i, f"{name} takes {wanted}, but {made_by} gives {FORMAT_WORDS.get(have, have)}", fix
        if step.check is not None:
            problem = step.check(config, steps[:i])
            if problem:
                return i, problem[0], problem[1]
        have, made_by = step.gives, name
    return None
