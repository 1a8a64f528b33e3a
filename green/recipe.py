"""Recipe files: YAML, validated by pydantic, errors pointing at the line that is wrong.

A recipe is a name, a description, an ordered list of steps (each a one-key mapping
from a registered step name to its config) and evaluation settings.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from green.compress import STEPS, StepConfig, chain_problem
from green.errors import GreenError
from green.generation_settings import GenerationSettings
from green.runtime.extras import runtime_of_format

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

RECIPE_VERSION = 1
#: Recipes are a few hundred bytes; anything this large is a mistake or an attack.
MAX_RECIPE_BYTES = 64 * 1024
#: Nodes after YAML aliases are expanded (a 540-byte alias bomb expands to billions).
MAX_RECIPE_NODES = 5000
#: Names the workbench uses for itself.
RESERVED_NAMES = {"baseline"}


class EvaluateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    runtime: Literal["onnxruntime", "torch", "ctranslate2", "openvino"] | None = Field(
        default=None, description="checked against the last step's output; derived from it when unset")
    threads: int | None = Field(default=None, ge=1, le=1024, description=(
        "CPU threads of the runtime's pool (ONNX Runtime's intra-op, CTranslate2's intra_threads, OpenVINO's inference threads); "
        "the usable CPUs when unset"))
    device: Literal["any", "cpu", "cuda"] = Field(default="any", description="where the recipe is meant to run")
    fallback_device: Literal["cpu"] | None = Field(
        default=None, description="where to run when the intended device is absent (else: an error)"
    )
    batch_size: int | None = Field(default=None, ge=1, le=65536, description="throughput batch; device default when unset")
    cuda_graphs: bool = Field(default=False, description="ONNX Runtime on CUDA: replay captured CUDA graphs per shape")
    semi_structured: bool = Field(default=False, description=(
        "PyTorch on CUDA: run 2:4-sparse weights on semi-structured sparse kernels (Ampere and newer)"))
    generation: GenerationSettings | None = Field(default=None, description=(
        "tasks that generate (summarization): settings over the model's generation_config"))


class RecipeStep(BaseModel):
    name: str
    config: StepConfig


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    version: int = RECIPE_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    description: str
    steps: list[RecipeStep] = Field(min_length=1)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    #: Where the recipe was read from: ``builtin:NAME`` or a file path (not part of the file).
    origin: str = ""
    #: sha256 of the recipe text, to tell two recipes of one name apart (not part of the file).
    digest: str = ""

    @property
    def builtin(self) -> bool:
        return self.origin.startswith("builtin:")

    @property
    def output_format(self) -> str:
        return STEPS[self.steps[-1].name].gives_for(self.steps[-1].config)

    @property
    def runtime(self) -> str:
        """Where the result runs: declared, or what the last step's output needs."""
        return self.evaluate.runtime or runtime_of_format(self.output_format)

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "steps": [{s.name: s.config.model_dump()} for s in self.steps],
            "evaluate": self.evaluate.model_dump() | {
                "runtime": self.runtime,
                "generation": self.evaluate.generation.overrides() if self.evaluate.generation else None},
        }


def recipe_summaries(task: str | None = None) -> list[dict]:
    """Each built-in recipe as ``recipes list`` shows it: name, model family, device, runtime, first sentence.

    ``task`` keeps the recipes whose every step works on that task's models.
    """
    from green.compress import kind_problem
    from green.tasks import TASKS, get_task

    kinds = {"encoder": "BERT", "seq2seq": "BART"}
    wanted = get_task(task).model_kind if task else None
    rows = []
    for name in builtin_names():
        r = load_recipe(name)
        steps = [(s.name, s.config) for s in r.steps]
        fits = [k for k in sorted({t.model_kind for t in TASKS.values()}) if kind_problem(steps, k) is None]
        if wanted is not None and wanted not in fits:
            continue
        summary = " ".join(r.description.split())
        summary = summary.split(". ")[0].rstrip(".")
        rows.append({"name": name, "models": "+".join(kinds.get(k, k) for k in fits) or "none",
                     "device": r.evaluate.device, "runtime": r.runtime, "summary": summary})
    return rows


def builtin_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("green.recipes").iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A built-in recipe by name, or any recipe file by path.

    A bare name is always a built-in; a file is read when the argument looks like a path
    (a .yaml/.yml suffix or a directory separator), so a folder named ``int8`` in the
    current directory cannot shadow the built-in ``int8``.
    """
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path or os.sep in name_or_path or path.is_file():
        return parse_recipe(_read_recipe_file(path, name_or_path), str(path))
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


def _read_recipe_file(path: Path, given: str) -> str:
    try:
        if not path.is_file():
            raise GreenError(f"recipe file not found: {given}", "check the path, or see `green recipes list`")
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise GreenError(f"recipe file {given} is {path.stat().st_size:,} bytes, over the {MAX_RECIPE_BYTES:,} allowed",
                             "a recipe is a name, a description and a few steps; check the file")
        raw = path.read_bytes()
    except OSError as exc:
        raise GreenError(f"cannot read recipe file {given}: {exc.strerror or exc}", "check the path and its permissions") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GreenError(f"recipe file {given} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})",
                         "a recipe is a YAML text file; see `green recipes show int8`") from None


def read_yaml(text: str, origin: str, kind: str = "recipe") -> tuple[Any, Any]:
    """``text`` parsed safely: its node tree (for file:line errors) and its value.

    Shared by recipes and search spaces. Refuses what YAML would accept silently or slowly: a
    text over the size limit, aliases that expand past ``MAX_RECIPE_NODES``, a key given twice.
    """
    if len(text.encode("utf-8")) > MAX_RECIPE_BYTES:
        raise GreenError(f"{origin}: {kind} is over {MAX_RECIPE_BYTES:,} bytes", "check the file")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if _expanded_size(root) > MAX_RECIPE_NODES:
            raise GreenError(f"{origin}: {kind} expands to more than {MAX_RECIPE_NODES:,} YAML nodes (aliases)",
                             f"write the {kind} out without nested aliases")
        _refuse_duplicate_keys(root, origin)
        return root, yaml.safe_load(text)
    except RecursionError:
        raise GreenError(f"{origin}: {kind} is nested too deeply", f"a {kind} is a flat list of steps") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise GreenError(f"{origin}: {str(exc).split(';')[0][:120]}", "write numbers with fewer digits") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GreenError(f"{where}: YAML syntax error: {problem}", "fix the YAML at that line") from None


def parse_recipe(text: str, origin: str) -> Recipe:
    root, raw = read_yaml(text, origin)
    if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"] in RESERVED_NAMES:
        raise GreenError(f"{origin}:{_line_of(root, ('name',))}: name: {raw['name']!r} is reserved for the workbench's "
                         "own reference", "give the recipe another name")
    if not isinstance(raw, dict):
        raise GreenError(f"{origin}: a recipe must be a mapping with name, description and steps", "see `green recipes show int8`")

    def fail(loc: tuple, message: str, fix: str = "see `green recipes show int8` for a valid recipe") -> GreenError:
        line = _line_of(root, loc)
        at = f"{origin}:{line}" if line else origin
        key = ".".join(str(p)[:40] for p in loc) or "recipe"
        return GreenError(f"{at}: {key}: {message[:300]}", fix)

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
        problem = chain_problem([(st.name, st.config) for st in steps])
        if problem:
            index, message, fix = problem
            raise fail(("steps", index, steps[index].name), message, fix)
    try:
        recipe = Recipe.model_validate({**raw, "steps": steps if isinstance(steps_raw, list) else steps_raw,
                                        "origin": origin, "digest": hashlib.sha256(text.encode()).hexdigest()[:16]})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise fail(tuple(err["loc"]), _pydantic_message(err)) from None
    declared = recipe.evaluate.runtime
    natural = runtime_of_format(recipe.output_format)
    if declared and declared != natural:
        raise fail(("evaluate", "runtime"), f"{declared} cannot run what the last step "
                   f"({recipe.steps[-1].name}) gives ({recipe.output_format})", f"use runtime: {natural}, or leave it out")
    return recipe


def _refuse_duplicate_keys(root: Any, origin: str) -> None:
    """A key given twice in one mapping: YAML keeps the last silently, so the first setting is lost."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in keys:
                        raise GreenError(f"{origin}:{k.start_mark.line + 1}: key {k.value!r} is given twice",
                                         "keep one of them")
                    keys.add(k.value)
                stack += [k, v]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _expanded_size(node: Any, memo: dict | None = None, depth: int = 0) -> int:
    """Nodes in the document with every alias expanded, computed without expanding (memoized)."""
    memo = {} if memo is None else memo
    if node is None:
        return 0
    if id(node) in memo:
        return memo[id(node)]
    if depth > 100:
        return MAX_RECIPE_NODES + 1
    memo[id(node)] = MAX_RECIPE_NODES + 1  # a node reached again while being counted: a cycle
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, depth + 1) for v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _pydantic_message(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    got = repr(err.get("input"))
    return f"{err['msg']} (got {got[:60] + '...' if len(got) > 60 else got})"


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
