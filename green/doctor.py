"""What interrupted commands left in a workdir, and removing it on request (``green doctor [--clean]``).

A command killed with ``kill -9`` (or by the machine going down) cannot clean up after
itself: it leaves a run folder without ``recipe.json`` (written only once every step
finished), a ``.tmp-baseline-*`` folder, or the temp file of an atomic write. These are
*removable*. Unreadable records, manifests and ``task.json`` are listed too, but never
removed: they may be the user's to repair, and a record is never deleted by green.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from green.artifacts import MANIFEST, Artifact
from green.errors import GreenError
from green.records import read_record
from green.runs import run_problem, step_dirs

#: Temp files of atomic_write_json (``.NAME.XXXXXXXX.tmp``) and of the writability probe.
_TEMP_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$|^\.green-probe-.+$")


@dataclass
class Finding:
    kind: str
    path: Path
    size_bytes: int
    detail: str
    removable: bool


def diagnose(workdir: Path) -> list[Finding]:
    """Every leftover and unreadable file in ``workdir``, removable ones first."""
    workdir = Path(workdir)
    found: list[Finding] = []
    for tmp in sorted(workdir.glob(".tmp-baseline-*")):
        found.append(Finding("temporary folder", tmp, _size(tmp), "baseline training that did not finish", True))
    runs = workdir / "runs"
    for run in sorted(runs.iterdir()) if runs.is_dir() else []:
        if run.is_dir():
            problem = run_problem(run)
            if problem:
                found.append(Finding("orphan run", run, _size(run), problem, True))
            else:
                found += _manifest_problems(step_dirs(run))
    for path in sorted(p for p in workdir.rglob(".*") if p.is_file() and _TEMP_FILE.match(p.name)):
        if not any(f.removable and path.is_relative_to(f.path) for f in found):
            found.append(Finding("temporary file", path, _size(path), "write that did not finish", True))
    baseline = workdir / "baseline"
    if baseline.is_dir():
        found += _manifest_problems([baseline])
    task_file = workdir / "task.json"
    if task_file.exists():
        try:
            from green.taskfile import read_task_file

            read_task_file(task_file)
        except GreenError as exc:
            found.append(Finding("unreadable task.json", task_file, _size(task_file), str(exc).split("; ")[0], False))
    records = workdir / "records"
    for path in sorted(records.glob("*.json")) if records.is_dir() else []:
        try:
            read_record(path)
        except ValueError as exc:
            found.append(Finding("unreadable record", path, _size(path), str(exc), False))
    return sorted(found, key=lambda f: not f.removable)


def clean(findings: list[Finding]) -> list[Finding]:
    """Remove the removable findings (the caller holds the workdir's lock); returns what was removed."""
    removed = []
    for f in findings:
        if not f.removable or not f.path.exists():
            continue
        if f.path.is_dir() and not f.path.is_symlink():
            shutil.rmtree(f.path)
        else:
            f.path.unlink()
        removed.append(f)
    return removed


def _manifest_problems(folders: list[Path]) -> list[Finding]:
    out = []
    for folder in folders:
        try:
            artifact = Artifact.load(folder)
        except GreenError as exc:
            problem = str(exc).split("; ")[0].replace(str(folder / MANIFEST), "").strip()
            out.append(Finding("unreadable manifest", folder / MANIFEST, _size(folder / MANIFEST), problem, False))
            continue
        for name in sorted(set(artifact.model_files.values())):
            if not (folder / name).is_file():
                out.append(Finding("missing model file", folder / name, 0, "named in the manifest, not on disk", False))
    return out


def _size(path: Path) -> int:
    """Bytes on disk under ``path``, symlinks not followed."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
