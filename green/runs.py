"""The ``runs/`` folder: one folder per recipe run, ``NN-step`` artifacts inside, ``recipe.json`` last.

``recipe.json`` is written only after every step finished and the run's record was written, so a run without it (or
whose last step has no manifest) was interrupted: such a run is never picked by name or
recipe, and an artifact inside it is refused rather than recorded under a made-up name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from green.artifacts import MANIFEST, Artifact
from green.errors import GreenError

BASELINE = "baseline"
#: Step folders of a run: ``01-export``, ``02-quantize``...
STEP_DIR = re.compile(r"^\d{2}-")


def step_dirs(run: Path) -> list[Path]:
    """A run's step folders, in order."""
    return sorted(p for p in Path(run).iterdir() if p.is_dir() and STEP_DIR.match(p.name))


def run_recipe(run: Path) -> dict | None:
    """The recipe a run folder recorded, or None."""
    try:
        recipe = json.loads((Path(run) / "recipe.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return recipe if isinstance(recipe, dict) and isinstance(recipe.get("name"), str) else None


def run_problem(run: Path) -> str | None:
    """Why a run folder is unfinished, or None for a complete run."""
    run = Path(run)
    if not (run / "recipe.json").exists():
        return "no recipe.json: the run was interrupted"
    recipe = run_recipe(run)
    if recipe is None:
        return "recipe.json is unreadable or names no recipe"
    steps = step_dirs(run)
    if not steps:
        return "no step folders"
    if not (steps[-1] / MANIFEST).is_file():
        return f"its last step {steps[-1].name} has no {MANIFEST}"
    if isinstance(recipe.get("steps"), list) and len(recipe["steps"]) != len(steps):
        return f"{len(steps)} step folders for a recipe of {len(recipe['steps'])} steps"
    return None


def unfinished(run: Path, problem: str) -> GreenError:
    return GreenError(f"run {Path(run).name} did not finish ({problem})",
                      "`green doctor --clean` removes it; run its recipe again with `green compress`")


def complete_runs(runs_dir: Path) -> dict[Path, dict]:
    """Complete runs, oldest first (folder names start with a timestamp), with their recipes."""
    runs_dir = Path(runs_dir)
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    return {r: rec for r in folders if not run_problem(r) and (rec := run_recipe(r))}


def find_run(runs_dir: Path, target: str) -> tuple[Artifact, dict] | None:
    """A run by folder name, or a recipe's newest complete run: its last artifact and its recipe."""
    named = Path(runs_dir) / target
    if "/" not in target and named.is_dir() and (problem := run_problem(named)):
        raise unfinished(named, problem)
    runs = complete_runs(runs_dir)
    # Folder names are <stamp>-<recipe>-<id>, and recipe names can prefix each other
    # (int8, int8-static): match on the recipe each run recorded, not on the name.
    match = [r for r in runs if r.name == target] or [r for r, rec in runs.items() if rec["name"] == target]
    if not match:
        return None
    return Artifact.load(step_dirs(match[-1])[-1]), runs[match[-1]]


def recipe_of(artifact_dir: Path, baseline_dir: Path) -> dict:
    """The recipe that made an artifact folder: its run's recipe.json, the baseline, or the folder itself.

    An intermediate step of a run is named ``RECIPE:NN-step`` with the steps up to it, so
    its record is not mistaken for the recipe's result.
    """
    artifact_dir = Path(artifact_dir).resolve()
    if artifact_dir == Path(baseline_dir).resolve():
        return {"name": BASELINE, "origin": BASELINE}
    run = artifact_dir.parent
    if (run / "recipe.json").exists() or (STEP_DIR.match(artifact_dir.name) and run.parent.name == "runs"):
        problem = run_problem(run)
        if problem:
            raise unfinished(run, problem)
        recipe = run_recipe(run)
        assert recipe is not None  # run_problem returned None, so recipe.json names a recipe
        steps = [p.resolve() for p in step_dirs(run)]
        if artifact_dir in steps[:-1]:
            done = steps.index(artifact_dir) + 1
            recipe = dict(recipe, name=f"{recipe['name']}:{artifact_dir.name}", steps=(recipe.get("steps") or [])[:done])
        return recipe
    # An artifact folder from elsewhere: named after itself, never taken for this workdir's baseline.
    name = artifact_dir.name if artifact_dir.name != BASELINE else f"{BASELINE}-of-{run.name}"
    return {"name": name, "origin": str(artifact_dir)}
