"""Habits that keep the structure: docstrings on the public step, runtime and meter API; no package cycles;
ruff's lint and import order; mypy; the package is typed and its front door is ``from green import Workbench``."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GREEN = Path(__file__).resolve().parent.parent / "green"


def _public_without_docstring(path: Path) -> list[str]:
    missing = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if not ast.get_docstring(node):
                missing.append(f"{path.name}:{node.lineno} {node.name}")
            if isinstance(node, ast.ClassDef):
                missing += [f"{path.name}:{sub.lineno} {node.name}.{sub.name}" for sub in node.body
                            if isinstance(sub, ast.FunctionDef) and not sub.name.startswith("_")
                            and not ast.get_docstring(sub)]
    return missing


def test_public_functions_of_steps_runtimes_and_the_meter_have_docstrings():
    files = [*sorted((GREEN / "compress").glob("*.py")), *sorted((GREEN / "runtime").glob("*.py")),
             GREEN / "evaluate" / "energy.py", GREEN / "engine.py"]
    missing = [m for f in files for m in _public_without_docstring(f)]
    assert not missing, missing


def test_no_subpackage_imports_one_that_imports_it_back():
    edges: dict[str, set[str]] = {}
    for f in GREEN.rglob("*.py"):
        rel = f.relative_to(GREEN)
        if len(rel.parts) < 2:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("green."):
                target = node.module.split(".")[1]
                if (GREEN / target).is_dir() and target != rel.parts[0]:
                    edges.setdefault(rel.parts[0], set()).add(target)
    cycles = sorted((a, b) for a, targets in edges.items() for b in targets if a in edges.get(b, set()))
    assert not cycles, cycles


def test_the_front_door_and_the_type_marker():
    import green

    assert green.Workbench.__name__ == "Workbench"
    assert (GREEN / "py.typed").is_file()


@pytest.mark.skipif(shutil.which("ruff") is None and not Path(sys.executable).with_name("ruff").exists(),
                    reason="ruff is not installed (pip install -e '.[dev]' installs it)")
def test_ruff_passes_on_the_package():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    res = subprocess.run([ruff, "check", str(GREEN)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]


def test_mypy_passes_on_the_package():
    """The package type-checks as configured in pyproject.toml ([tool.mypy]): a typed result stays typed."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[dev]' installs it)")
    res = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", str(GREEN)], capture_output=True,
                         text=True, cwd=GREEN.parent)
    assert res.returncode == 0, res.stdout[-3000:]
