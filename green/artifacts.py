"""Artifacts: a model on disk plus a manifest saying what it is and where it came from."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

MANIFEST = "green-artifact.json"


def atomic_write_json(path: Path, payload: object) -> None:
    """Write JSON through a temp file and a rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dir_size_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in Path(path).rglob(pattern) if p.is_file() and p.name != MANIFEST)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Artifact:
    """A model directory and its lineage.

    ``format`` is ``torch`` (a save_pretrained folder) or ``onnx``; ``model_file`` names the
    weights file whose size is reported; ``energy`` is the measured window of the step
    that made it (training, export, quantization...).
    """

    path: Path
    format: str
    runtime: str
    step: str
    params: dict = field(default_factory=dict)
    parent: str | None = None
    model_file: str | None = None
    target_device: str = "any"
    energy: dict = field(default_factory=dict)
    created: str = field(default_factory=now_iso)
    extra: dict = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        if self.model_file:
            files = [self.path / self.model_file]
            # ONNX models over 2 GB keep weights in side files named after the model.
            files += [p for p in self.path.glob(f"{self.model_file}*_data")]
            files += [p for p in self.path.glob("*.onnx_data")]
            return sum(p.stat().st_size for p in set(files) if p.is_file())
        return dir_size_bytes(self.path, "*.safetensors") or dir_size_bytes(self.path)

    @property
    def run_energy_j(self) -> float | None:
        return self.energy.get("joules")

    def save(self) -> None:
        payload = asdict(self)
        payload["path"] = str(self.path)
        payload["size_bytes"] = self.size_bytes
        # The parent link is stored relative to this folder, so a workdir can be moved or
        # copied whole and keep its lineage; a parent outside the workdir stays absolute.
        if self.parent and Path(self.parent).is_absolute():
            payload["parent"] = _relative_if_near(Path(self.parent), Path(self.path))
        atomic_write_json(self.path / MANIFEST, payload)

    @classmethod
    def load(cls, path: Path | str) -> "Artifact":
        path = Path(path)
        payload = json.loads((path / MANIFEST).read_text())
        payload.pop("size_bytes", None)
        payload["path"] = path
        if payload.get("parent") and not Path(payload["parent"]).is_absolute():
            payload["parent"] = os.path.normpath(path.absolute() / payload["parent"])
        return cls(**payload)

    @staticmethod
    def exists(path: Path | str) -> bool:
        return (Path(path) / MANIFEST).is_file()

    def lineage(self) -> list["Artifact"]:
        """This artifact and its ancestors, newest first."""
        chain = [self]
        while chain[-1].parent and Artifact.exists(chain[-1].parent):
            chain.append(Artifact.load(chain[-1].parent))
        return chain


def _relative_if_near(target: Path, start: Path) -> str:
    """``target`` relative to ``start`` when they share the workdir (at most 3 levels up)."""
    try:
        rel = os.path.relpath(target.absolute(), start.absolute())
    except ValueError:  # another drive
        return str(target)
    return rel if rel.split(os.sep).count("..") <= 3 else str(target)
