"""Artifacts: a self-contained model folder plus a manifest saying what it is and where it came from.

An artifact folder loads on its own: its model files (by role: ``model``, or ``encoder``
and ``decoder``...), its tokenizer and its config sit side by side, so nothing walks the
lineage to find them. ``format`` names the registered loader (``green.runtime``) that
opens it, ``task`` the task it was trained for, and ``parent``/``step`` its lineage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from green.errors import GreenError

MANIFEST = "green-artifact.json"
MANIFEST_VERSION = 2

#: Roles whose files are the model itself (counted in its size); the others support it.
SUPPORT_ROLES = ("tokenizer", "config")
#: Files a Hugging Face tokenizer and config are saved as; copied into every artifact folder.
SUPPORT_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
                 "sentencepiece.bpe.model", "added_tokens.json")


def atomic_write_json(path: Path, payload: object) -> None:
    """Write JSON through a temp file, fsync and a rename, so a reader never sees half a file.

    A full disk or a read-only folder is a one-line GreenError, and leaves no temp file.
    """
    from green.workdir import disk_errors

    path = Path(path)
    tmp = None
    with disk_errors(path, name_file=False):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=2, sort_keys=False, default=str)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())  # the rename must not land before the bytes (a crash would leave it empty)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; records and reports are for sharing
            os.replace(tmp, path)
        except BaseException:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class LineageError(GreenError, ValueError):
    """A manifest's parent chain loops back on itself (a GreenError: the CLI says so in one line)."""


@dataclass
class Artifact:
    """A model folder and its lineage.

    Args:
        path: the folder.
        format: the loader that opens it (``torch``, ``torch-bnb``, ``onnx``...).
        task: the task name it was trained for.
        step: the recipe step (or ``train``) that made it.
        files: role -> file name inside ``path`` (``model``, ``encoder``, ``decoder``...;
            ``tokenizer`` and ``config`` are the supporting roles).
        energy: the measured window of the step that made it.
        flops: FLOPs per inference as a polynomial in the padded length, counted on the
            real module when the step made one (``green.evaluate.flops``).
        config_version: the version of the step config that made it (``StepConfig.VERSION``).
        key: what determined it (:func:`green.engine.step_key`), for step reuse.
        digest: the content digest of its files when it was made (:meth:`content_digest`).
    """

    path: Path
    format: str
    task: str
    step: str
    files: dict[str, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    parent: str | None = None
    target_device: str = "any"
    energy: dict = field(default_factory=dict)
    flops: dict | None = None
    created: str = field(default_factory=now_iso)
    extra: dict = field(default_factory=dict)
    config_version: int | None = None
    key: str | None = None
    digest: str | None = None

    @property
    def runtime(self) -> str:
        from green.runtime.extras import runtime_of_format

        return runtime_of_format(self.format)

    def file(self, role: str) -> Path:
        if role not in self.files:
            raise KeyError(f"artifact {self.path} has no {role!r} file (roles: {', '.join(self.files)})")
        return self.path / self.files[role]

    @property
    def model_files(self) -> dict[str, str]:
        return {r: f for r, f in self.files.items() if r not in SUPPORT_ROLES}

    @property
    def size_bytes(self) -> int:
        """Bytes of the model files (ONNX external-data side files included), not tokenizer or config."""
        total = 0
        for name in set(self.model_files.values()):
            main = self.path / name
            side = [p for p in self.path.glob(f"{name}*_data")] + [p for p in self.path.glob(f"{name}.data")]
            total += sum(p.stat().st_size for p in {main, *side} if p.is_file())
        return total

    @property
    def run_energy_j(self) -> float | None:
        return self.energy.get("joules")

    def content_digest(self) -> str:
        """sha256 over the model, config and tokenizer files (names and bytes): what the artifact *is*."""
        h = hashlib.sha256()
        names = set(self.model_files.values()) | {n for n in SUPPORT_FILES if (self.path / n).is_file()}
        side = {p.name for name in self.model_files.values()
                for p in [*self.path.glob(f"{name}*_data"), *self.path.glob(f"{name}.data")]}
        for name in sorted(names | side):
            f = self.path / name
            if not f.is_file():
                h.update(f"{name}:missing".encode())
                continue
            h.update(f"{name}:{f.stat().st_size}:".encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()[:32]

    def save(self) -> None:
        payload = asdict(self)
        payload["manifest_version"] = MANIFEST_VERSION
        # Relative paths only: the folder is wherever the manifest is, so a workdir (or one
        # artifact folder) can be moved, copied or shared without leaking where it was made.
        payload["path"] = "."
        payload["size_bytes"] = self.size_bytes
        # The parent link is stored relative to this folder, so a workdir can be moved or
        # copied whole and keep its lineage; a parent outside the workdir stays absolute.
        if self.parent and Path(self.parent).is_absolute():
            payload["parent"] = _relative_if_near(Path(self.parent), Path(self.path))
        atomic_write_json(self.path / MANIFEST, payload)

    @classmethod
    def load(cls, path: Path | str) -> "Artifact":
        path = Path(path)
        try:
            payload = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
            payload = _upgrade(payload, path)
            payload.pop("size_bytes", None)
            payload.pop("manifest_version", None)
            payload["path"] = path
            if payload.get("parent") and not Path(payload["parent"]).is_absolute():
                payload["parent"] = os.path.normpath(path.absolute() / payload["parent"])
            for role, name in (payload.get("files") or {}).items():
                # Model files live in the folder itself: a manifest naming ../../etc/passwd is not opened.
                if Path(str(name)).is_absolute() or (role not in SUPPORT_ROLES and ".." in Path(str(name)).parts):
                    raise GreenError(f"{path / MANIFEST} names {role} file {str(name)[:200]!r} outside its folder",
                                     "remove that artifact folder and run its recipe again")
            return cls(**payload)
        except RecursionError:
            raise GreenError(f"{path / MANIFEST} is not a readable green manifest (nested too deeply)",
                             "remove that artifact folder and run its recipe again") from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise GreenError(f"{path / MANIFEST} is not a readable green manifest ({type(exc).__name__}: {str(exc)[:200]})",
                             "remove that artifact folder and run its recipe again") from None

    @staticmethod
    def exists(path: Path | str) -> bool:
        return (Path(path) / MANIFEST).is_file()

    def lineage(self) -> list["Artifact"]:
        """This artifact and its ancestors, newest first; a parent chain that loops is an error."""
        chain = [self]
        seen = {Path(self.path).resolve()}
        while chain[-1].parent and Artifact.exists(chain[-1].parent):
            parent = Path(chain[-1].parent).resolve()
            if parent in seen:
                raise LineageError(f"the lineage of {self.path} loops back to {parent}",
                                   "fix the parent in that folder's green-artifact.json, or run its recipe again")
            seen.add(parent)
            chain.append(Artifact.load(parent))
        return chain


def copy_support_files(src: Path, dst: Path) -> list[str]:
    """Copy tokenizer and config files from ``src`` that ``dst`` lacks; returns what was copied.

    A step that changes the model's shape writes its own config first, so it is kept.
    """
    copied = []
    for name in SUPPORT_FILES:
        if (Path(src) / name).is_file() and not (Path(dst) / name).exists():
            shutil.copy2(Path(src) / name, Path(dst) / name)
            copied.append(name)
    return copied


def support_roles(folder: Path) -> dict[str, str]:
    """The tokenizer and config roles a folder can fill (``.``: a Hugging Face folder)."""
    roles = {}
    if (Path(folder) / "tokenizer_config.json").is_file():
        roles["tokenizer"] = "."
    if (Path(folder) / "config.json").is_file():
        roles["config"] = "config.json"
    return roles


def _upgrade(payload: dict, path: Path) -> dict:
    """Read a manifest written by green 0.1 (one ``model_file``, tokenizer found in the lineage)."""
    if payload.get("manifest_version", 1) >= MANIFEST_VERSION:
        return payload
    payload = dict(payload)
    model_file = payload.pop("model_file", None)
    payload.pop("runtime", None)
    fmt = payload.get("format", "torch")
    if fmt == "torch" and str(payload.get("params", {}).get("quantization", "")).startswith("bnb-"):
        fmt = "torch-bnb"
    payload["format"] = fmt
    payload.setdefault("task", "text-classification")
    files = {"model": model_file or "model.safetensors"}
    # 0.1 kept the tokenizer with the baseline only: point at the nearest folder that has it.
    folder: Path | None = path
    hops = 0
    while folder is not None and hops < 16:
        if (folder / "tokenizer_config.json").is_file():
            files["tokenizer"] = os.path.relpath(folder, path)
            break
        manifest = folder / MANIFEST
        parent = json.loads(manifest.read_text()).get("parent") if manifest.is_file() else None
        folder = (folder / parent).resolve() if parent and not Path(parent).is_absolute() else (
            Path(parent) if parent else None)
        hops += 1
    if (path / "config.json").is_file():
        files["config"] = "config.json"
    elif "tokenizer" in files and (path / files["tokenizer"] / "config.json").is_file():
        files["config"] = os.path.join(files["tokenizer"], "config.json")
    payload["files"] = files
    return payload


def _relative_if_near(target: Path, start: Path) -> str:
    """``target`` relative to ``start`` when they share the workdir (at most 3 levels up)."""
    try:
        rel = os.path.relpath(target.absolute(), start.absolute())
    except ValueError:  # another drive
        return str(target)
    return rel if rel.split(os.sep).count("..") <= 3 else str(target)
