"""Recipe files: YAML, validated by pydantic, errors pointing at the line that is wrong.

A recipe is a name, a description, an ordered list of steps (each a one-key mapping
from a registered step name to its config) and evaluation settings.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from green.compress import STEPS, StepConfig
from green.errors import GreenError

RECIPE_VERSION = 1


class EvaluateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runtime: Literal["onnxruntime", "torch"] = "onnxruntime"
    device: Literal["any", "cpu", "cuda"] = Field(default="any", description="where the recipe is meant to run")
    fallback_device: Literal["cpu"] | None = Field(
        default=None, description="where to run when the intended device is absent (else: an error)"
    )
    batch_size: int | None = Field(default=None, ge=1, description="throughput batch; device default when unset")
    cuda_graphs: bool = Field(default=False, description="ONNX Runtime on CUDA: replay captured CUDA graphs per shape")


class RecipeStep(BaseModel):
    name: str
    config: StepConfig


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    version: int = RECIPE_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    steps: list[RecipeStep] = Field(min_length=1)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    #: Where the recipe was read from (not part of the file).
    origin: str = ""

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "steps": [{s.name: s.config.model_dump()} for s in self.steps],
            "evaluate": self.evaluate.model_dump(),
        }


def builtin_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("green.recipes").iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A built-in recipe by name, or any recipe file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise GreenError(f"recipe file not found: {name_or_path}", "check the path, or see `green recipes list`")
        return parse_recipe(path.read_text(encoding="utf-8"), str(path))
    names = builtin_names()
    if name_or_path not in names:
        near = difflib.get_close_matches(name_or_path, names, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise GreenError(
            f"unknown recipe {name_or_path!r}",
            f"{hint}built-ins: {', '.join(names)}; or pass a path to a .yaml file",
        )
    text = resources.files("green.recipes").joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
    return parse_recipe(text, f"builtin:{name_or_path}")


def parse_recipe(text: str, origin: str) -> Recipe:
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GreenError(f"{where}: YAML syntax error: {problem}", "fix the YAML at that line") from None
    if not isinstance(raw, dict):
        raise GreenError(f"{origin}: a recipe must be a mapping with name, description and steps", "see `green recipes show int8`")

    def fail(loc: tuple, message: str, fix: str = "see `green recipes show int8` for a valid recipe") -> GreenError:
        line = _line_of(root, loc)
        at = f"{origin}:{line}" if line else origin
        key = ".".join(str(p) for p in loc) or "recipe"
        return GreenError(f"{at}: {key}: {message}", fix)

    steps_raw = raw.get("steps")
    steps: list[RecipeStep] = []
    if isinstance(steps_raw, list):
        for i, entry in enumerate(steps_raw):
            if not isinstance(entry, dict) or len(entry) != 1:
                raise fail(("steps", i), "each step is a one-key mapping like `- quantize: {method: dynamic-int8}`")
            (step_name, cfg), = entry.items()
            if step_name not in STEPS:
                near = difflib.get_close_matches(str(step_name), list(STEPS), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise fail(("steps", i, step_name), f"unknown step{hint}; known steps: {', '.join(sorted(STEPS))}")
            try:
                config = STEPS[step_name].config_cls.model_validate(cfg or {})
            except ValidationError as exc:
                err = exc.errors()[0]
                raise fail(("steps", i, step_name, *err["loc"]), _pydantic_message(err)) from None
            steps.append(RecipeStep(name=step_name, config=config))
        problem = _step_order_problem(steps)
        if problem:
            index, message, fix = problem
            raise fail(("steps", index, steps[index].name), message, fix)
    try:
        return Recipe.model_validate({**raw, "steps": steps if isinstance(steps_raw, list) else steps_raw, "origin": origin})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise fail(tuple(err["loc"]), _pydantic_message(err)) from None


def _step_order_problem(steps: list[RecipeStep]) -> tuple[int, str, str] | None:
    """Step combinations that run but defeat their purpose: (step index, problem, fix)."""
    fused = False
    for i, step in enumerate(steps):
        if step.name == "export":
            fused = bool(getattr(step.config, "optimize", False))
        if step.name == "quantize" and getattr(step.config, "method", "") == "static-int8" and fused:
            return (i, "static-int8 after a fused export (optimize: true) quantizes the weights only, since "
                       "ONNX Runtime's QDQ quantizer cannot see activations through fused ops, and runs slower "
                       "than fp32", "remove optimize from the export step; the serving session fuses the QDQ graph")
    return None


def _pydantic_message(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    return f"{err['msg']} (got {err.get('input')!r})"


def _line_of(node: Any, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
