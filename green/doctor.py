"""What interrupted commands left in a workdir, and removing it on request (``green doctor [--clean]``).

A command killed with ``kill -9`` (or by the machine going down) cannot clean up after
itself: it leaves a run folder without ``recipe.json`` (written only once every step
finished), a ``.tmp-baseline-*`` folder, or the temp file of an atomic write. These are
*removable*. Unreadable records, manifests and ``task.json`` are listed too, but never
removed: they may be the user's to repair, and a record is never deleted by green.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from green.artifacts import MANIFEST, Artifact
from green.errors import GreenError
from green.records import read_record
from green.runs import STEP_DIR, run_problem, step_dirs

#: Temp files of atomic_write_json (``.NAME.XXXXXXXX.tmp``) and of the writability probe.
_TEMP_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$|^\.green-probe-.+$")
#: A run folder's name: ``<14-digit stamp>-<recipe slug>-<6 hex>``, as new_record_id makes it.
RUN_ID = re.compile(r"^\d{14}-[0-9A-Za-z_.-]{1,64}-[0-9a-f]{6}$")
#: ``.tmp-baseline-<8 hex>``, as Workbench._train makes it.
_TMP_BASELINE = re.compile(r"^\.tmp-baseline-[0-9a-f]{8}$")
#: Temp files younger than this may belong to a write in progress (a report holds no lock).
FRESH_TEMP_S = 600


def workdir_problem(workdir: Path) -> str | None:
    """Why ``workdir`` is not a green workdir, or None when it is one.

    A workdir is what green made: a ``task.json`` file, a ``records/`` folder, or a
    ``baseline/`` with green's manifest. The file-system root and the home folder never are.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        return "no such folder"
    resolved = workdir.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        return "it is the file-system root or the home folder"
    if (workdir / "task.json").is_file() or (workdir / "records").is_dir() \
            or (workdir / "baseline" / MANIFEST).is_file():
        return None
    # A first training killed with kill -9 leaves only its temp folder: still ours to clean.
    if any(p.is_dir() and _TMP_BASELINE.match(p.name) for p in workdir.glob(".tmp-baseline-*")):
        return None
    return "it has no task.json, records/ or baseline/" + MANIFEST


def _green_run(run: Path) -> bool:
    """A folder green's compress made: its name, and nothing inside but steps, recipe.json and temp files."""
    if not RUN_ID.match(run.name) or run.is_symlink():
        return False
    try:
        entries = list(run.iterdir())
    except OSError:
        return False
    return all((p.is_dir() and not p.is_symlink() and STEP_DIR.match(p.name)) or p.name == "recipe.json"
               or (p.is_file() and _TEMP_FILE.match(p.name)) or _reused_step(p) for p in entries)


def _reused_step(p: Path) -> bool:
    """A step a run reused: a link to another run's step folder in the same runs/ (removing it removes the link only)."""
    if not (p.is_symlink() and STEP_DIR.match(p.name)):
        return False
    try:
        target = p.resolve(strict=True)
    except (OSError, RuntimeError):
        return True  # a dangling link of green's own making: removable
    return target.parent.parent == p.parent.parent.resolve() and STEP_DIR.match(target.name) is not None


def _green_folders(workdir: Path) -> list[Path]:
    """The folders green writes files into: where its atomic writes can leave temp files."""
    folders = [workdir, workdir / "records", workdir / "report", workdir / "baseline"]
    runs = workdir / "runs"
    for run in sorted(runs.iterdir()) if runs.is_dir() and not runs.is_symlink() else []:
        if run.is_dir() and _green_run(run):
            folders += [run, *step_dirs(run)]
    return [f for f in folders if f.is_dir() and not f.is_symlink()]


@dataclass
class Finding:
    kind: str
    path: Path
    size_bytes: int
    detail: str
    removable: bool


def check_workdir(workdir: Path) -> None:
    """Refuse, in one line, a folder that is not a green workdir."""
    problem = workdir_problem(workdir)
    if problem:
        raise GreenError(f"{workdir} is not a green workdir ({problem}); doctor looks only in green workdirs",
                         "pass the --workdir that `green compress` made")


def diagnose(workdir: Path) -> list[Finding]:
    """Every leftover and unreadable file in ``workdir``, removable ones first."""
    workdir = Path(workdir)
    check_workdir(workdir)
    found: list[Finding] = []
    for tmp in sorted(workdir.glob(".tmp-baseline-*")):
        if tmp.is_dir() and not tmp.is_symlink() and _TMP_BASELINE.match(tmp.name):
            found.append(Finding("temporary folder", tmp, _size(tmp), "baseline training that did not finish", True))
    runs = workdir / "runs"
    for run in sorted(runs.iterdir()) if runs.is_dir() and not runs.is_symlink() else []:
        if run.is_dir() and _green_run(run):
            problem = run_problem(run)
            if problem:
                found.append(Finding("orphan run", run, _size(run), problem, True))
            else:
                found += _manifest_problems(step_dirs(run))
    now = time.time()
    for folder in _green_folders(workdir):
        for path in sorted(p for p in folder.iterdir() if _TEMP_FILE.match(p.name) and p.is_file()
                           and not p.is_symlink()):
            if any(f.removable and path.is_relative_to(f.path) for f in found):
                continue
            if now - path.lstat().st_mtime < FRESH_TEMP_S:
                found.append(Finding("temporary file", path, _size(path),
                                     f"written under {FRESH_TEMP_S // 60} minutes ago: a write may be under way", False))
            else:
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
    readable = []
    for path in sorted(records.glob("*.json")) if records.is_dir() else []:
        try:
            readable.append(read_record(path))
        except ValueError as exc:
            found.append(Finding("unreadable record", path, _size(path), str(exc), False))
    found += _unused_runs(runs, readable, found)
    return sorted(found, key=lambda f: not f.removable)


def _unused_runs(runs: Path, records: list, found: list[Finding]) -> list[Finding]:
    """Complete runs whose artifacts no record uses, directly or through a later run's link.

    Listed, never removed: a record deleted by hand leaves its run behind, and only the user
    knows whether it is still wanted (a later recipe sharing its steps would reuse it).
    """
    if not runs.is_dir() or runs.is_symlink():
        return []
    # Record paths may be relative to wherever green ran: a run is named by its folder.
    used = {Path(p).parent.name for r in records for p in [r.artifact, *(s.get("path", "") for s in r.lineage)]}
    folders = [r for r in sorted(runs.iterdir()) if r.is_dir() and _green_run(r)
               and not any(f.path == r for f in found)]
    for run in folders:
        for step in run.iterdir():
            if step.is_symlink() and run.name in used:
                try:
                    used.add(step.resolve(strict=True).parent.name)
                except (OSError, RuntimeError):
                    pass
    return [Finding("unused run", run, _size(run), "no record uses its artifacts (its record was removed?); "
                    "delete the folder by hand if no later recipe should reuse its steps", False)
            for run in folders if run.name not in used and not run_problem(run) and not _search_trial(run)]


def _search_trial(run: Path) -> bool:
    """A run ``green search`` made: a trial outside the budget has no record by design (never energy-measured)."""
    try:
        return "search" in json.loads((run / "recipe.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


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
