"""Records: one JSON document per evaluated artifact, written atomically, never edited.

Reports are computed from records only.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from green.artifacts import atomic_write_json, now_iso

RECORD_VERSION = 1
#: Keys every record carries (``results.json`` entries too).
REQUIRED_KEYS = (
    "recipe",
    "accuracy",
    "macro_f1",
    "size_mb",
    "latency_ms",
    "throughput_per_s",
    "energy_per_inference_j",
    "energy_source",
    "device",
    "run_energy_j",
)


def new_record_id(recipe: str) -> str:
    stamp = re.sub(r"[^0-9]", "", now_iso())[:14]
    return f"{stamp}-{recipe}-{uuid.uuid4().hex[:6]}"


def write_record(records_dir: Path, record: dict) -> Path:
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"record lacks {missing}")
    path = Path(records_dir) / f"{record['id']}.json"
    if path.exists():
        raise FileExistsError(f"{path} exists; records are never overwritten")
    atomic_write_json(path, record)
    return path


def load_records(records_dir: Path) -> list[dict]:
    """Every readable record, oldest first; unreadable files are skipped with a note."""
    out = []
    for path in sorted(Path(records_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and all(k in rec for k in REQUIRED_KEYS):
            rec["_file"] = str(path)
            out.append(rec)
    return out
