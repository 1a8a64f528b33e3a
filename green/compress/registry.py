"""The one registry of compression steps, and what a step gets and gives.

A step is a function plus a pydantic config class. It declares the artifact format it
takes and the one it gives (``torch`` in, ``onnx`` out...); recipe validation derives the
legal step orders from those declarations, not from step names. A step receives its
parent artifact, its validated config and a :class:`StepContext` (data, task, budget,
device, the folder to write into) and returns a :class:`StepResult`: the files it wrote,
by role, and what it learned. It never builds an artifact, copies tokenizers or saves a
manifest: the engine (:mod:`green.engine`) does that, once, for every step.

A *per-part* step is written for one ONNX model (quantization is one): it gets a
:class:`Part` and returns the file it wrote, and the engine runs it over every part of a
multi-file model (an encoder-decoder's encoder, decoder and decoder with past).

Adding a method is one module that calls :func:`register_step`, one import in
``green/compress/__init__.py``, one built-in recipe and a test row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

from green.artifacts import Artifact
from green.errors import GreenError

if TYPE_CHECKING:
    from green.budget import TrainBudget
    from green.tasks.base import Task, TaskData


class StepConfig(BaseModel):
    """Base for step configs: unknown keys are errors, not silently ignored; so are NaN and infinities.

    ``VERSION`` goes up when a field's meaning changes, so an old run's config is read as
    what it was (and a cached step of another version is never reused for this one).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    VERSION: ClassVar[int] = 1


@dataclass
class StepContext:
    """What a step may use besides its parent artifact and config.

    ``budget`` is the lineage root's training budget (the baseline's), the one rule every
    step that trains starts from; the engine fills it in when it is not given.
    """

    out_dir: Path
    device: str
    #: The workdir's task and data, for steps that calibrate, score importance or train.
    task: "Task | None" = None
    data: "TaskData | None" = None
    seed: int = 42
    #: A smoke run: steps that train shrink their budgets.
    quick: bool = False
    budget: "TrainBudget | None" = None

    def require_data(self, step: str, why: str) -> "tuple[Task, TaskData]":
        """The task and its data, or a one-line error naming the step and why it needs them."""
        if self.data is None or self.task is None or not len(self.data.train):
            raise GreenError(f"{step} needs the task's train split ({why})",
                             "run it through `green compress` on a workdir with a task")
        return self.task, self.data

    def require_budget(self) -> "TrainBudget":
        """The training budget, or a one-line error (a step that trains outside the engine)."""
        if self.budget is None:
            raise GreenError("this step trains, and no training budget was given",
                             "run it through `green compress`, or pass a StepContext with a budget")
        return self.budget


@dataclass
class StepResult:
    """What a step wrote into ``ctx.out_dir`` and what it learned.

    Args:
        files: role -> file name of the model files it wrote (``model``; ``encoder``...).
            Tokenizer and config come from the parent unless the step wrote its own.
        params: facts about the result beyond the config (kept layers, sparsity...).
        format: the artifact format; the step's registered ``gives`` when unset (a
            per-format step, such as quantize, keeps its parent's).
        model: the module it saved, when it changed the network's shape: the engine
            counts its FLOPs. Otherwise the parent's FLOPs carry over.
        target_device: where the result is meant to run (``cpu`` for int8 kernels).
        extra: anything else for the manifest (training history, notes).
    """

    files: dict[str, str]
    params: dict = field(default_factory=dict)
    format: str | None = None
    model: Any = None
    target_device: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """One ONNX part of a model, for a per-part step: its role, its file, and the artifact it belongs to."""

    role: str
    source: Path
    parent: Artifact


StepFn = Callable[[Artifact, Any, StepContext], StepResult]
PartFn = Callable[[Part, Any, StepContext], str]
#: ``check(config, earlier)`` -> ``(problem, fix)`` when this step's config makes no sense
#: after the ``earlier`` steps (names and configs), else None.
ChainCheck = Callable[[Any, list[tuple[str, StepConfig]]], "tuple[str, str] | None"]

#: What each artifact format is, in words, for error messages.
FORMAT_WORDS = {"torch": "a PyTorch model", "onnx": "an ONNX model", "torch-bnb": "a bitsandbytes PyTorch model"}

#: The model shapes a step works on, given its config: a tuple, or a function of the config.
Kinds = "tuple[str, ...] | Callable[[Any], tuple[str, ...]]"
#: What each model kind is, in words.
KIND_WORDS = {"encoder": "encoder-only (BERT-family) models", "seq2seq": "encoder-decoder (BART-family) models"}


@dataclass(frozen=True)
class Step:
    """A registered step: its config class, its function, what it takes and gives, and the models it works on."""
    name: str
    config_cls: type[StepConfig]
    run: Callable[..., Any]
    summary: str
    takes: tuple[str, ...]
    #: The format it makes: one, or a function of the step's config (``convert`` makes the one its config names).
    gives: Any
    check: ChainCheck | None = None
    kinds: Any = ("encoder",)
    #: ``run`` handles one ONNX part (:data:`PartFn`); the engine applies it to every part.
    per_part: bool = False
    #: Where the result is meant to run, when the step decides it (int8 kernels: ``cpu``).
    target_device: str | None = None

    def gives_for(self, config: StepConfig) -> str:
        """The format the step makes with ``config``."""
        return self.gives(config) if callable(self.gives) else self.gives

    def works_on(self, config: StepConfig) -> tuple[str, ...]:
        """The model kinds (``encoder``, ``seq2seq``) the step works on with ``config``."""
        return self.kinds(config) if callable(self.kinds) else tuple(self.kinds)


STEPS: dict[str, Step] = {}
#: The same steps by config class: the engine dispatches on a config's type, not on a string.
BY_CONFIG: dict[type, Step] = {}


def register_step(name: str, config_cls: type[StepConfig], summary: str, *, takes: str | tuple[str, ...],
                  gives: Any, check: ChainCheck | None = None, kinds: Any = ("encoder",), per_part: bool = False,
                  target_device: str | None = None) -> Callable[[Callable], Callable]:
    """Register a step under ``name``: it runs on artifacts of format ``takes`` and makes one of ``gives``
    (a format, or a function of the step's config that names it).

    ``kinds`` names the model shapes it works on (``encoder``, ``seq2seq``; see ``Task.model_kind``),
    or is a function of the step's config that says so. ``per_part``: the function handles one
    ONNX part (:class:`Part`) and returns the file name it wrote.
    """

    def wrap(fn: Callable) -> Callable:
        if name in STEPS:
            raise ValueError(f"step {name!r} is registered twice")
        if config_cls in BY_CONFIG:
            raise ValueError(f"{config_cls.__name__} already configures step {BY_CONFIG[config_cls].name!r}")
        step = Step(name, config_cls, fn, summary, (takes,) if isinstance(takes, str) else tuple(takes),
                    gives, check, kinds, per_part, target_device)
        STEPS[name] = step
        BY_CONFIG[config_cls] = step
        return fn

    return wrap


def step_for(config: StepConfig) -> Step:
    """The step a config belongs to."""
    try:
        return BY_CONFIG[type(config)]
    except KeyError:
        raise TypeError(f"{type(config).__name__} configures no registered step") from None


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
            makers = sorted(s.name for s in STEPS.values()
                            if isinstance(s.gives, str) and s.gives in step.takes and have in s.takes)
            fix = (f"put {name} before the step that makes {FORMAT_WORDS.get(have, have)}" if have != start
                   else f"add a step that makes {wanted} first" + (f" ({', '.join(makers)})" if makers else ""))
            return i, f"{name} takes {wanted}, but {made_by} gives {FORMAT_WORDS.get(have, have)}", fix
        if step.check is not None:
            problem = step.check(config, steps[:i])
            if problem:
                return i, problem[0], problem[1]
        have, made_by = step.gives_for(config), name
    return None


def save_torch_model(model, out_dir: Path) -> dict[str, str]:
    """Save a PyTorch model (and a generating model's generation_config) the way every torch step does."""
    model.save_pretrained(out_dir)
    if getattr(model.config, "is_encoder_decoder", False) and getattr(model, "generation_config", None) is not None:
        # from_config starts from the model config's defaults; a pruned summarizer must keep its own.
        model.generation_config.save_pretrained(out_dir)
    return {"model": "model.safetensors"}
