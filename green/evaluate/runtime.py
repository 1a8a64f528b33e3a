"""Runners: load an artifact in its runtime and map a padded batch to logits.

Both runners take and return NumPy arrays, so accuracy and the energy benchmark run
the same loop over PyTorch and ONNX Runtime.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import numpy as np

from green.artifacts import Artifact
from green.errors import GreenError

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when torch sees a GPU; an explicit ``cuda`` that is absent fails."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GreenError("--device cuda was asked for, but torch sees no CUDA GPU", "use --device cpu or auto")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise GreenError(f"--device {device!r} is not a device", "use auto, cpu or cuda")
    return device


def device_name(device: str) -> str:
    """A human name for the device: the GPU model, or the CPU model string."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    try:
        import cpuinfo  # py-cpuinfo, a codecarbon dependency

        return cpuinfo.get_cpu_info().get("brand_raw") or "cpu"
    except Exception:
        import platform

        return platform.processor() or "cpu"


class TorchRunner:
    """A transformers model in PyTorch eager mode (fp32, or bf16 autocast on a GPU)."""

    runtime = "torch"

    def __init__(self, model, device: str, dtype: str = "fp32") -> None:
        import torch

        self.device = device
        self.dtype = dtype
        self.model = model.to(device).eval()
        self._autocast = dtype == "bf16"
        accepted = set(inspect.signature(self.model.forward).parameters)
        self.input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
        self._torch = torch

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        feed = {k: torch.from_numpy(batch[k]).to(self.device, non_blocking=True) for k in self.input_names}
        with torch.inference_mode(), torch.autocast(
            device_type=self.device.split(":")[0], dtype=torch.bfloat16, enabled=self._autocast
        ):
            logits = self.model(**feed).logits
        return logits.float().cpu().numpy()

    def describe(self) -> dict:
        return {"runtime": "torch", "precision": self.dtype, "device": self.device}


class OrtRunner:
    """An ONNX model in an ONNX Runtime session on the requested execution provider."""

    runtime = "onnxruntime"

    def __init__(self, model_path: Path, device: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        if device.startswith("cuda"):
            if hasattr(ort, "preload_dlls"):
                ort.preload_dlls()  # onnxruntime-gpu finds the CUDA libraries torch brought
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        providers = [p for p in providers if p in available]
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
        self.providers = self.session.get_providers()
        if device.startswith("cuda") and "CUDAExecutionProvider" not in self.providers:
            raise GreenError(
                "ONNX Runtime could not start its CUDA provider",
                "install onnxruntime-gpu matching your CUDA, or use --device cpu",
            )
        self.device = device
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: batch[k] for k in self.input_names})[0]

    def describe(self) -> dict:
        return {"runtime": "onnxruntime", "providers": self.providers, "device": self.device}


def open_runner(artifact: Artifact, device: str):
    """Load ``artifact`` in the runtime its manifest names, on ``device``."""
    if artifact.format == "onnx":
        return OrtRunner(artifact.path / artifact.model_file, device)
    if artifact.format == "torch":
        from green.models import load_classifier

        model = load_classifier(str(artifact.path))
        dtype = "bf16" if device.startswith("cuda") and artifact.params.get("precision") == "bf16" else "fp32"
        return TorchRunner(model, device, dtype)
    raise GreenError(f"artifact {artifact.path} has unknown format {artifact.format!r}", "re-create it with green")
