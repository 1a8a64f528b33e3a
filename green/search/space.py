"""Search spaces: a recipe whose values may be ranges or choices, and whose steps may be optional or alternatives.

A space file reads like a recipe (``name``, ``description``, ``steps``, ``evaluate``) with
three additions, each validated against the step's own config class, errors at file:line:

* any value may be ``{choice: [a, b, ...]}`` or ``{range: [low, high], step: s, log: false}``
  (integers when both ends are integers);
* a step may be wrapped in ``optional:`` (a step, or a list of steps, that a trial uses or not);
* ``one_of:`` lists alternatives, each a step or a list of steps (for instance ONNX Runtime
  int8 or OpenVINO int8): this is where the runtime becomes one more dimension.

:meth:`Space.sample` turns a space into one concrete recipe (a plain dict) by asking a
:class:`Suggest` (an Optuna trial, in :mod:`green.search.study`) for each value.

>>> space = load_space("cpu-classification")
>>> space.dimensions()[:2]                       # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from green.compress import STEPS, chain_problem
from green.errors import GreenError
from green.recipe import EvaluateSettings, _line_of, _pydantic_message, _read_recipe_file, read_yaml

#: Keys a space file may have at its top level.
TOP_KEYS = ("version", "name", "description", "steps", "evaluate")
#: Structural variants (which optional steps, which alternative) checked when a space is read.
MAX_VARIANTS = 512


class Suggest(Protocol):
    """What a space asks for each dimension (Optuna's ``Trial`` has these three methods)."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...


@dataclass(frozen=True)
class Dimension:
    """One searched value: a choice among values, or a numeric range."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False

    def first(self) -> Any:
        return self.choices[0] if self.choices is not None else self.low

    def extremes(self) -> list:
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def sample(self, trial: Suggest) -> Any:
        if self.choices is not None:
            if all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices):
                return trial.suggest_categorical(self.name, list(self.choices))
            # Optuna stores scalars only: a list-valued choice (distilled layers [0, 3, 5]) goes as its JSON.
            picked = trial.suggest_categorical(self.name, [json.dumps(c) for c in self.choices])
            return json.loads(picked)
        assert self.low is not None and self.high is not None  # a range has both ends (checked when parsed)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            return " | ".join(json.dumps(c) if not isinstance(c, str) else c for c in self.choices)
        kind = "int" if self.integer else "float"
        extra = (f" step {self.step:g}" if self.step else "") + (" log" if self.log else "")
        return f"{kind} {self.low:g}..{self.high:g}{extra}"


@dataclass
class SpaceStep:
    """A step whose config may hold dimensions; ``loc`` is where it is in the file (for error lines)."""

    name: str
    config: Any
    loc: tuple
    label: str = ""


@dataclass
class Slot:
    """One entry of the space's ``steps``: always there, optional, or one of several alternatives."""

    kind: str  # "step" | "optional" | "one_of"
    options: list[list[SpaceStep]]
    loc: tuple
    name: str = ""

    def option_labels(self) -> list[str]:
        """One name per alternative: its steps, and where two have the same steps, what tells them apart."""
        names = ["+".join(s.name for s in option) or "none" for option in self.options]
        labels = []
        for j, (name, option) in enumerate(zip(names, self.options)):
            twins = [o for n, o in zip(names, self.options) if n == name]
            if len(twins) > 1:
                differ = [f"{k}={_text(v)}" for s_i, s in enumerate(option) if isinstance(s.config, dict)
                          for k, v in s.config.items()
                          if any(not isinstance(t[s_i].config, dict) or t[s_i].config.get(k) != v for t in twins)]
                name += f"({', '.join(differ) or j + 1})"
            labels.append(name)
        return labels


@dataclass
class Space:
    """A validated search space (see the module docstring)."""

    name: str
    description: str
    slots: list[Slot]
    evaluate: Any
    origin: str
    text: str = field(repr=False, default="")

    @property
    def builtin(self) -> bool:
        return self.origin.startswith("builtin:")

    def sample(self, trial: Suggest, name: str) -> dict:
        """One concrete recipe (a dict in recipe-file form) named ``name``, with each dimension asked of ``trial``."""
        steps: list[dict] = []
        for slot in self.slots:
            option = slot.options[0]
            if slot.kind == "optional":
                option = slot.options[0] if trial.suggest_categorical(slot.name, [True, False]) else []
            elif slot.kind == "one_of":
                labels = slot.option_labels()
                option = slot.options[labels.index(trial.suggest_categorical(slot.name, labels))]
            steps += [{s.name: _resolve(s.config, trial)} for s in option]
        recipe = {"name": name, "description": f"trial of search space {self.name} ({self.origin})", "steps": steps}
        if self.evaluate is not None:
            recipe["evaluate"] = _resolve(self.evaluate, trial)
        return recipe

    def dimensions(self) -> list[tuple[str, str]]:
        """(name, what it ranges over) for every dimension, in file order: what ``recipes show`` prints."""
        out: list[tuple[str, str]] = []
        for slot in self.slots:
            if slot.kind == "optional":
                out.append((slot.name, "use | skip"))
            elif slot.kind == "one_of":
                out.append((slot.name, " | ".join(slot.option_labels())))
            for option in slot.options:
                for s in option:
                    out += [(d.name, d.describe()) for d in _dimensions(s.config)]
        if self.evaluate is not None:
            out += [(d.name, d.describe()) for d in _dimensions(self.evaluate)]
        return out

    def variants(self) -> list[list[SpaceStep]]:
        """Every structural combination (which optional steps, which alternative), in order."""
        choices: list[list[list[SpaceStep]]] = [[[]] + slot.options if slot.kind == "optional" else slot.options for slot in self.slots]
        return [[s for option in combo for s in option] for combo in itertools.product(*choices)]

    def without(self, runtime_missing: set[str]) -> tuple["Space", list[str]]:
        """The space minus the alternatives whose runtime is not installed; with a note for each left out."""
        from green.runtime.extras import runtime_of_format

        notes: list[str] = []
        slots = []
        for slot in self.slots:
            if slot.kind != "one_of":
                slots.append(slot)
                continue
            kept = []
            for option, label in zip(slot.options, slot.option_labels()):
                last = option[-1] if option else None
                runtime = runtime_of_format(STEPS[last.name].gives_for(_first_config(last))) if last else None
                if runtime in runtime_missing:
                    notes.append(f"{slot.name}: {label} left out ({runtime} is not installed)")
                else:
                    kept.append(option)
            if not kept:
                raise GreenError(f"{self.origin}: every alternative of {slot.name} needs a runtime that is not "
                                 f"installed ({', '.join(sorted(runtime_missing))})",
                                 "install the extra the error names, e.g. pip install \"green[openvino]\"")
            slots.append(Slot(slot.kind, kept, slot.loc, slot.name))
        return Space(self.name, self.description, slots, self.evaluate, self.origin, self.text), notes


# -- reading a space ---------------------------------------------------------------------------


def builtin_space_names() -> list[str]:
    folder = resources.files("green.search").joinpath("spaces")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def is_space_file(text: str) -> bool:
    """Whether a recipe-looking file is a space (it has a choice, a range, an optional or a one_of)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return _has_space_syntax(raw)


def load_space(name_or_path: str) -> Space:
    """A built-in space by name (``cpu-classification``...), or a space file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path or path.is_file():
        return parse_space(_read_recipe_file(path, name_or_path), str(path))
    names = builtin_space_names()
    if name_or_path not in names:
        near = difflib.get_close_matches(name_or_path, names, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise GreenError(f"unknown search space {name_or_path!r}",
                         f"{hint}built-ins: {', '.join(names)}; or pass a path to a space .yaml file")
    text = resources.files("green.search").joinpath("spaces").joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
    return parse_space(text, f"builtin:{name_or_path}")


def parse_space(text: str, origin: str) -> Space:
    """Validate a space's text: its syntax, every step's keys and values, every structural variant's chain."""
    root, raw = read_yaml(text, origin, "space")

    def fail(loc: tuple, message: str, fix: str = "see `green recipes show cpu-classification` for a valid space"):
        line = _line_of(root, loc)
        key = ".".join(str(p)[:40] for p in loc) or "space"
        return GreenError(f"{origin}:{line}: {key}: {message[:300]}" if line else f"{origin}: {key}: {message}", fix)

    if not isinstance(raw, dict):
        raise GreenError(f"{origin}: a space must be a mapping with name, description and steps",
                         "see `green recipes show cpu-classification`")
    for key in raw:
        if key not in TOP_KEYS:
            raise fail((key,), f"unknown key; a space has {', '.join(TOP_KEYS)}")
    for key in ("name", "description", "steps"):
        if key not in raw:
            raise fail((), f"{key} is missing")
    if not isinstance(raw["name"], str) or not raw["name"] or len(raw["name"]) > 48 or not all(
            c.isalnum() or c in "-_." for c in raw["name"]):
        raise fail(("name",), "a space's name is 1-48 letters, digits, '-', '_' or '.'")
    if not isinstance(raw["steps"], list) or not raw["steps"]:
        raise fail(("steps",), "steps is a non-empty list")

    counts: dict[str, int] = {}
    slots: list[Slot] = []
    for i, entry in enumerate(raw["steps"]):
        loc = ("steps", i)
        if not isinstance(entry, dict) or len(entry) != 1:
            raise fail(loc, "each entry is a one-key mapping: a step, `optional:` or `one_of:`")
        (key, value), = entry.items()
        if key == "optional":
            option = _steps_of(value, (*loc, "optional"), fail, counts)
            slots.append(Slot("optional", [option], loc, f"use.{'+'.join(s.label for s in option)}"))
        elif key == "one_of":
            if not isinstance(value, list) or len(value) < 2:
                raise fail((*loc, "one_of"), "one_of lists two or more alternatives (each a step or a list of steps)")
            options = [_steps_of(v, (*loc, "one_of", j), fail, counts) for j, v in enumerate(value)]
            slot = Slot("one_of", options, loc, f"pick.{i + 1}")
            labels = slot.option_labels()
            if len(set(labels)) != len(labels) or any(a == b for k, a in enumerate(value) for b in value[k + 1:]):
                raise fail((*loc, "one_of"), "two alternatives are the same steps with the same settings",
                           "remove one")
            slots.append(slot)
        else:
            slots.append(Slot("step", [_steps_of(entry, loc, fail, counts)], loc))

    evaluate = raw.get("evaluate")
    if evaluate is not None:
        if not isinstance(evaluate, dict):
            raise fail(("evaluate",), "evaluate is a mapping (runtime, device, threads...)")
        _check_values(evaluate, EvaluateSettings, ("evaluate",), "evaluate", fail)
    space = Space(raw["name"], str(raw["description"]), slots, evaluate, origin, text)
    variants = space.variants()
    if len(variants) > MAX_VARIANTS:
        raise fail(("steps",), f"{len(variants)} combinations of optional steps and alternatives (at most "
                   f"{MAX_VARIANTS})", "split the space in two")
    for variant in variants:
        if not variant:
            raise fail(("steps",), "a trial could skip every step", "make at least one step not optional")
        # Rules between steps (static int8 after a fused export...) may hold for one choice and not another:
        # every combination of the variant's choices is chained, as a trial would run it.
        for pinned in _choice_pinnings(variant):
            problem = chain_problem([(s.name, _pinned_config(s, pinned)) for s in variant])
            if problem:
                index, message, fix = problem
                chosen = " -> ".join(s.name for s in variant)
                values = ", ".join(f"{k}={v}" for k, v in pinned.items())
                raise fail(variant[index].loc, f"in the combination {chosen}{f' ({values})' if values else ''}: "
                           f"{message}", f"{fix}; or move that choice into a one_of with steps that allow it")
    return space


#: Combinations of a variant's choices chained at parse time; past it, each choice is tried alone.
MAX_PINNINGS = 256


def _choice_pinnings(variant: list[SpaceStep]) -> list[dict]:
    dims = [d for s in variant for d in _dimensions(s.config) if d.choices is not None]
    if not dims:
        return [{}]
    if math.prod(len(d.choices or []) for d in dims) <= MAX_PINNINGS:
        return [dict(zip([d.name for d in dims], combo)) for combo in itertools.product(*[d.choices or [] for d in dims])]
    return [{d.name: v} for d in dims for v in d.choices or []]


def _pinned_config(step: SpaceStep, pinned: dict) -> Any:
    return STEPS[step.name].config_cls.model_validate(_fill(step.config, pinned))


def _steps_of(value: Any, loc: tuple, fail, counts: dict[str, int]) -> list[SpaceStep]:
    """A step mapping, or a list of them, validated; each dimension named after its step and key."""
    entries = value if isinstance(value, list) else [value]
    out = []
    for j, entry in enumerate(entries):
        where = (*loc, j) if isinstance(value, list) else loc
        if not isinstance(entry, dict) or len(entry) != 1:
            raise fail(where, "each step is a one-key mapping like `- quantize: {method: dynamic-int8}`")
        (name, config), = entry.items()
        if name not in STEPS:
            near = difflib.get_close_matches(str(name), list(STEPS), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise fail((*where, name), f"unknown step{hint}; known steps: {', '.join(sorted(STEPS))}, optional, one_of")
        counts[name] = counts.get(name, 0) + 1
        label = name if counts[name] == 1 else f"{name}#{counts[name]}"
        config = config or {}
        if not isinstance(config, dict):
            raise fail((*where, name), "a step's config is a mapping")
        _name_dimensions(config, label, (*where, name), fail)
        _check_values(config, STEPS[name].config_cls, (*where, name), name, fail)
        out.append(SpaceStep(name, config, (*where, name), label))
    return out


def _name_dimensions(node: Any, prefix: str, loc: tuple, fail) -> None:
    """Replace each ``{choice: ...}`` / ``{range: ...}`` mapping in place by a checked :class:`Dimension`."""
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        here, name = (*loc, key), f"{prefix}.{key}"
        if _is_dimension(value):
            node[key] = _dimension(value, name, here, fail)
        elif isinstance(value, dict):
            _name_dimensions(value, name, here, fail)


def _is_dimension(value: Any) -> bool:
    return isinstance(value, dict) and ("choice" in value or "range" in value)


def _dimension(value: dict, name: str, loc: tuple, fail) -> Dimension:
    allowed = {"choice"} if "choice" in value else {"range", "step", "log"}
    for key in value:
        if key not in allowed:
            raise fail((*loc, key), f"unknown key in a {'choice' if 'choice' in value else 'range'}; "
                       f"it has {', '.join(sorted(allowed))}")
    if "choice" in value:
        choices = value["choice"]
        if not isinstance(choices, list) or not choices:
            raise fail((*loc, "choice"), "choice is a non-empty list of values")
        if len({json.dumps(c, sort_keys=True, default=str) for c in choices}) != len(choices):
            raise fail((*loc, "choice"), "a value is listed twice")
        return Dimension(name, choices=tuple(choices))
    bounds = value["range"]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        raise fail((*loc, "range"), "range is [low, high], two numbers")
    low, high = bounds
    if not low < high:
        raise fail((*loc, "range"), f"low ({low}) must be below high ({high})")
    step = value.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise fail((*loc, "step"), "step is a positive number")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise fail((*loc, "log"), "log is true or false")
    if log and (low <= 0 or step is not None):
        raise fail((*loc, "log"), "a log range needs low > 0 and no step")
    integer = all(isinstance(b, int) for b in bounds) and (step is None or isinstance(step, int))
    return Dimension(name, low=low, high=high, step=step, log=log, integer=integer)


def _check_values(config: dict, model: Any, loc: tuple, what: str, fail) -> None:
    """Validate the config with every dimension at its first value, then each dimension at each extreme."""
    dims = _dimensions(config)
    trials: list[dict[str, Any]] = [{}] + [{d.name: v} for d in dims for v in d.extremes()]
    for pinned in trials:
        try:
            model.model_validate(_fill(config, pinned))
        except ValidationError as exc:
            err = exc.errors()[0]
            at = f" (with {next(iter(pinned))} = {json.dumps(next(iter(pinned.values())))})" if pinned else ""
            raise fail((*loc, *err["loc"]), _pydantic_message(err) + at,
                       f"see `green recipes show` for what {what} takes") from None


def _dimensions(node: Any) -> list[Dimension]:
    if isinstance(node, Dimension):
        return [node]
    if isinstance(node, dict):
        return [d for v in node.values() for d in _dimensions(v)]
    return []


def _fill(node: Any, pinned: dict) -> Any:
    """``node`` with every dimension at its pinned value (or its first)."""
    if isinstance(node, Dimension):
        return pinned.get(node.name, node.first())
    if isinstance(node, dict):
        return {k: _fill(v, pinned) for k, v in node.items()}
    return node


def _first_config(step: SpaceStep) -> Any:
    return STEPS[step.name].config_cls.model_validate(_fill(step.config, {}))


def _resolve(node: Any, trial: Suggest) -> Any:
    if isinstance(node, Dimension):
        return node.sample(trial)
    if isinstance(node, dict):
        return {k: _resolve(v, trial) for k, v in node.items()}
    return node


def _text(value: Any) -> str:
    if isinstance(value, Dimension):
        return value.describe()
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _has_space_syntax(node: Any) -> bool:
    if isinstance(node, dict):
        if _is_dimension(node) or "optional" in node or "one_of" in node:
            return True
        return any(_has_space_syntax(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_space_syntax(v) for v in node)
    return False


def space_as_yaml(space: Space) -> str:
    """The space as ``green recipes show`` prints it: its file, then its dimensions, one per line."""
    dims = "\n".join(f"#   {name}: {what}" for name, what in space.dimensions())
    return space.text.rstrip() + f"\n# dimensions ({len(space.dimensions())}):\n{dims}\n"
