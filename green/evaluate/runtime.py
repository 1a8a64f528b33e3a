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

    def __init__(self, model, device: str, dtype: str = "fp32", move: bool = True) -> None:
        import torch

        self.device = device
        self.dtype = dtype
        # bitsandbytes models are placed at load time and refuse .to()
        self.model = (model.to(device) if move else model).eval()
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
    """An ONNX model in an ONNX Runtime session on the requested execution provider.

    With ``io_binding`` (the default on CUDA) inputs are bound as device buffers and the
    output is allocated on the device, so a benchmark can upload its batches once
    (:meth:`prepare`) and time only the model; only the logits come back to the host.
    """

    runtime = "onnxruntime"

    def __init__(self, model_path: Path, device: str, threads: int | None = None,
                 io_binding: bool | None = None) -> None:
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
        self.model_path = Path(model_path)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        self.io_binding = device.startswith("cuda") if io_binding is None else io_binding
        self._ort = ort
        kind, _, index = device.partition(":")
        self._ort_device = (kind, int(index or 0))

    def prepare(self, batch: dict[str, np.ndarray]) -> dict:
        """Upload a batch to the session's device once (IO binding); a no-op without it."""
        if not self.io_binding:
            return {k: batch[k] for k in self.input_names}
        kind, index = self._ort_device
        return {k: self._ort.OrtValue.ortvalue_from_numpy(batch[k], kind, index) for k in self.input_names}

    def __call__(self, batch: dict) -> np.ndarray:
        if not self.io_binding:
            return self.session.run(None, {k: batch[k] for k in self.input_names})[0]
        if isinstance(batch[self.input_names[0]], np.ndarray):  # not prepared: upload now
            batch = self.prepare(batch)
        kind, index = self._ort_device
        binding = self.session.io_binding()
        for name in self.input_names:
            binding.bind_ortvalue_input(name, batch[name])
        binding.bind_output(self.output_name, kind, index)
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)

    def describe(self) -> dict:
        return {"runtime": "onnxruntime", "providers": self.providers, "device": self.device,
                "io_binding": self.io_binding}


def open_runner(artifact: Artifact, device: str, cuda_graphs: bool = False):
    """Load ``artifact`` in the runtime its manifest names, on ``device``."""
    if artifact.format == "onnx":
        if cuda_graphs and device.startswith("cuda"):
            from green.evaluate.cudagraph import CudaGraphOrtRunner

            return CudaGraphOrtRunner(artifact.path / artifact.model_file, device)
        return OrtRunner(artifact.path / artifact.model_file, device)
    if artifact.format == "torch":
        from green.models import load_classifier

        if artifact.params.get("quantization", "").startswith("bnb-"):
            # bitsandbytes places weights at load time; bf16 activations on the GPU, fp32 on a CPU
            dtype = "bf16" if device.startswith("cuda") else "fp32"
            return TorchRunner(load_classifier(str(artifact.path), device_map={"": device}), device, dtype, move=False)
        return TorchRunner(load_classifier(str(artifact.path)), device, "fp32")
    raise GreenError(f"artifact {artifact.path} has unknown format {artifact.format!r}", "re-create it with green")
