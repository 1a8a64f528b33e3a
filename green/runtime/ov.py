"""OpenVINO runner and the ``openvino`` loader: an IR compiled for the CPU (``openvino.Core().compile_model``).

The forward pass returns the model's first output (the logits) for a padded batch, like
ONNX Runtime's runner. Threads: ``INFERENCE_NUM_THREADS`` from the recipe's
``evaluate.threads``, else the usable CPUs; the compiled model's own reading of it, and its
inference precision (f32 for an fp32 IR; int8 kernels run where NNCF inserted them), are
recorded. CPU only: green's OpenVINO path is a second CPU runtime beside ONNX Runtime.
The placement audit does not apply (it profiles ONNX Runtime sessions).
"""

from __future__ import annotations

import numpy as np

from green.errors import GreenError
from green.runtime.base import Runner, RuntimeOptions, register_loader
from green.runtime.extras import import_runtime


class OpenVinoRunner(Runner):
    """An OpenVINO IR compiled for the CPU behind the Runner interface."""

    runtime = "openvino"

    def __init__(self, artifact, device: str, threads: int | None = None) -> None:
        from green.runtime.ct2 import usable_cpus

        ov = import_runtime("openvino", f"artifact {artifact.path}")
        if not device.startswith("cpu"):
            raise GreenError(f"green runs OpenVINO artifacts on the CPU, not {device!r}", "use --device cpu")
        xml = artifact.file("model")
        if not xml.is_file() or not xml.with_suffix(".bin").is_file():
            raise GreenError(f"{artifact.path} has no OpenVINO model.xml and model.bin", "run the recipe that made it again")
        self.threads_from = "recipe" if threads else "usable CPUs"
        wanted = int(threads) if threads else usable_cpus()
        try:
            # f32 inference precision: on CPUs with bf16 OpenVINO would otherwise run an fp32 IR in bf16.
            self.compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_NUM_THREADS": wanted,
                                                                      "INFERENCE_PRECISION_HINT": "f32"})
        except Exception as exc:  # OpenVINO raises its own types
            raise GreenError(f"OpenVINO could not load {xml}: {str(exc).strip().splitlines()[0][:200]}",
                             "run the recipe that made this artifact again") from None
        self.device = "cpu"
        self.input_names = [p.get_any_name() for p in self.compiled.inputs]
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.version = ov.__version__
        self._request = self.compiled.create_infer_request()

    def __call__(self, batch) -> np.ndarray:
        out = self._request.infer({k: np.ascontiguousarray(batch[k]) for k in self.input_names})
        return np.asarray(out[self.compiled.outputs[0]], dtype=np.float32)

    def describe(self) -> dict:
        """Runtime, version, device, the thread setting and the inference precision, for the record."""
        return {"runtime": "openvino", "version": self.version, "device": self.device,
                "inference_num_threads": self.threads, "threads_from": self.threads_from,
                # the key records read for the machine's thread count (green.machine), as ONNX Runtime's
                "intra_op_threads": self.threads, "inference_precision": self.precision}


@register_loader("openvino")
def open_openvino(artifact, device: str, options: RuntimeOptions) -> Runner:
    """Open an OpenVINO IR artifact (``convert: {format: openvino}``) on the CPU."""
    return OpenVinoRunner(artifact, device, threads=options.threads)
