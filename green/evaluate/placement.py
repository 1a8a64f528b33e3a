""""Is it really accelerated?": where ONNX Runtime placed each node, and where the time went.

A quantized graph can load on the CUDA provider and still run most of its work on the
CPU: ONNX Runtime's CUDA provider has no kernels for dynamic int8 nodes, so they fall
back silently. This audit runs a few batches with session profiling on, reads the
per-node kernel events, and reports the share of node time spent off the intended
provider.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

INTENDED_PROVIDER = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def audit_placement(model_path: Path, providers: list[str], batches: list[dict[str, np.ndarray]], intended: str) -> dict:
    """Profile ``batches`` through a fresh session; summarize node placement and time per provider."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        opts.profile_file_prefix = os.path.join(tmp, "green-audit")
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
        names = [i.name for i in session.get_inputs()]
        for batch in batches:
            session.run(None, {k: batch[k] for k in names})
        events = json.loads(Path(session.end_profiling()).read_text())
    return summarize_profile(events, INTENDED_PROVIDER.get(intended.split(":")[0], intended))


def summarize_profile(events: list[dict], intended_provider: str) -> dict:
    time_us: dict[str, float] = defaultdict(float)
    nodes: dict[str, set] = defaultdict(set)
    ops_off: dict[str, float] = defaultdict(float)
    for ev in events:
        args = ev.get("args") or {}
        provider = args.get("provider")
        if ev.get("cat") != "Node" or not provider or not ev.get("name", "").endswith("_kernel_time"):
            continue
        node = ev["name"][: -len("_kernel_time")]
        time_us[provider] += float(ev.get("dur", 0))
        nodes[provider].add(node)
        if provider != intended_provider:
            ops_off[args.get("op_name", "?")] += float(ev.get("dur", 0))
    total = sum(time_us.values())
    off = total - time_us.get(intended_provider, 0.0)
    share = off / total if total else None
    return {
        "intended_provider": intended_provider,
        "nodes_by_provider": {p: len(n) for p, n in nodes.items()},
        "time_share_by_provider": {p: t / total for p, t in time_us.items()} if total else {},
        "off_device_share": share,
        "off_device_ops": dict(sorted(ops_off.items(), key=lambda kv: -kv[1])[:10]),
        "fell_back": bool(share and share > 0.01),
    }
