"""ONNX Runtime runner and the ``onnx`` loader (CPU or CUDA provider, IO binding, CUDA graphs)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from green.errors import GreenError
from green.runtime.base import Runner, RuntimeOptions, register_loader
from green.runtime.threads import pools_sleep

log = logging.getLogger(__name__)


class OrtRunner(Runner):
    """An ONNX model in an ONNX Runtime session on the requested execution provider.

    With ``io_binding`` (the default on CUDA) inputs are bound as device buffers and the
    output is allocated on the device, so a benchmark can upload its batches once
    (:meth:`prepare`) and time only the model; only the output comes back to the host.
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
        if pools_sleep():  # idle threads sleep, like PyTorch's (see green.runtime.threads)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if not Path(model_path).is_file():
            raise GreenError(f"{model_path} is missing", "run the recipe that made this artifact again")
        try:
            self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise GreenError(f"ONNX Runtime could not load {model_path}: {str(exc).splitlines()[0][:200]}",
                             "run the recipe that made this artifact again") from None
        self.providers = self.session.get_providers()
        if device.startswith("cuda") and "CUDAExecutionProvider" not in self.providers:
            raise GreenError(
                "ONNX Runtime could not start its CUDA provider",
                "install onnxruntime-gpu matching your CUDA, or use --device cpu",
            )
        self.device = device
        self.onnx_path = Path(model_path)
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
            return self.session.run([self.output_name], {k: batch[k] for k in self.input_names})[0]
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
        """Runtime, providers, device, IO binding and the thread policy, for the record."""
        return {"runtime": "onnxruntime", "providers": self.providers, "device": self.device,
                "io_binding": self.io_binding, "allow_spinning": not pools_sleep(),
                "intra_op_threads": self.session.get_session_options().intra_op_num_threads}


@register_loader("onnx")
def open_onnx(artifact, device: str, options: RuntimeOptions) -> Runner:
    """Open a single-graph ONNX artifact (CUDA graphs when the recipe asks and the device is CUDA)."""
    path = artifact.file("model")
    if options.cuda_graphs and device.startswith("cuda"):
        from green.runtime.cudagraph import CudaGraphOrtRunner

        return CudaGraphOrtRunner(path, device)
    return OrtRunner(path, device, threads=options.threads)
