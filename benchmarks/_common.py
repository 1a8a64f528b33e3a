"""Helpers shared by the benchmark scripts: where results go and what describes the machine."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from green.artifacts import atomic_write_json
from green.evaluate.evaluation import package_versions
from green.evaluate.runtime import device_name

RESULTS = Path(__file__).resolve().parent / "results"


def machine(device: str) -> dict:
    import os

    return {"device": device, "device_name": device_name(device), "cpu_count": os.cpu_count(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": package_versions()}


def save(name: str, device: str, payload: dict, out_dir: Path | None = None) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")[:40]
    day = datetime.now(timezone.utc).strftime("%Y%m%d")
    path = (out_dir or RESULTS) / f"{name}-{slug}-{day}.json"
    atomic_write_json(path, payload)
    return path
