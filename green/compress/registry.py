"""The one registry of compression steps.

A step is a function ``run(parent, config, ctx) -> Artifact`` plus a pydantic config
class. Adding a method is one module that calls :func:`register_step`, one import in
``green/compress/__init__.py``, one built-in recipe and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict

from green.artifacts import Artifact


class StepConfig(BaseModel):
    """Base for step configs: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class StepContext:
    """What a step may use besides its parent artifact and config."""

    out_dir: Path
    device: str
    #: Rows of the train split, for steps that calibrate or fine-tune.
    train_texts: list[str] = field(default_factory=list)
    seed: int = 42


StepFn = Callable[[Artifact, StepConfig, StepContext], Artifact]


@dataclass(frozen=True)
class Step:
    name: str
    config_cls: type[StepConfig]
    run: StepFn
    summary: str


STEPS: dict[str, Step] = {}


def register_step(name: str, config_cls: type[StepConfig], summary: str) -> Callable[[StepFn], StepFn]:
    def wrap(fn: StepFn) -> StepFn:
        if name in STEPS:
            raise ValueError(f"step {name!r} is registered twice")
        STEPS[name] = Step(name, config_cls, fn, summary)
        return fn

    return wrap
