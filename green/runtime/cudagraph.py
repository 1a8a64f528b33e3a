"""ONNX Runtime with CUDA graphs: one captured graph per input shape, replayed.

At batch 1 a MiniLM forward is dozens of tiny kernels, and launching them costs more
than running them (the H100 run of 2026-11-22: 40-80x the energy per sequence of batch
256). A CUDA graph replays the whole launch sequence at once. ONNX Runtime captures one
graph per fixed shape and buffer set; its own ``GpuBindingManager`` keeps a binding and
a graph id per shape in one session, and green uses it as is. Pair it with length
buckets (``multiple_of=8``) so the number of shapes, and of graphs, stays small.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from green.errors import GreenError
from green.runtime.base import Runner

log = logging.getLogger(__name__)


class CudaGraphOrtRunner(Runner):
    """ONNX Runtime on CUDA replaying one captured CUDA graph per input shape."""

    runtime = "onnxruntime"
    io_binding = True

    def __init__(self, model_path: Path, device: str, max_graphs: int = 64) -> None:
        import onnxruntime as ort

        if not device.startswith("cuda") or "CUDAExecutionProvider" not in ort.get_available_providers():
            raise GreenError("CUDA graphs need ONNX Runtime's CUDA provider and a GPU",
                             "drop cuda_graphs from the recipe, or run with --device cuda")
        import torch
        from onnxruntime.transformers.io_binding_helper import CudaSession, GpuBindingManager

        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        self.device = device
        self.onnx_path = Path(model_path)
        self._torch_device = torch.device(device)
        index = self._torch_device.index or 0
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        cuda = CudaSession.get_cuda_provider_options(index, enable_cuda_graph=True)
        self.session = ort.InferenceSession(str(model_path), sess_options=opts,
                                            providers=[("CUDAExecutionProvider", cuda), "CPUExecutionProvider"])
        self.providers = self.session.get_providers()
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        self._manager = GpuBindingManager(self.session, self._torch_device, max_cuda_graphs=max_graphs)
        self._out_dims: list | None = None
        self._torch = torch

    def prepare(self, batch: dict) -> dict:
        """Put a batch on the GPU once; replays copy it device-to-device into the graph's buffers."""
        return {k: self._torch.as_tensor(batch[k]).to(self._torch_device).contiguous() for k in self.input_names}

    def __call__(self, batch: dict) -> np.ndarray:
        feed = self.prepare(batch) if isinstance(batch[self.input_names[0]], np.ndarray) else batch
        if self._out_dims is None:
            self._out_dims = output_dims(self.session, {k: feed[k][:1].cpu().numpy() for k in self.input_names})
        inputs = {k: list(v.shape) for k, v in feed.items()}
        shapes = inputs | {self.output_name: resolve_dims(self._out_dims, inputs)}
        binding = self._manager.get_binding(shapes, use_cuda_graph=True)
        out = binding.infer(feed)[self.output_name]
        return out.float().cpu().numpy()

    def describe(self) -> dict:
        """Runtime, providers and how many graphs were captured, for the record."""
        return {"runtime": "onnxruntime", "providers": self.providers, "device": self.device,
                "io_binding": True, "cuda_graphs": True, "graphs_captured": len(self._manager.graph_bindings)}


def output_dims(session, probe_feed: dict[str, np.ndarray]) -> list:
    """The output's shape as a rule: a fixed size, ``(input, axis)`` for a dimension an input names, per axis.

    Any rank works (a class's logits per row, a tag's logits per token). A dimension that
    neither is fixed nor names an input's (a class count the exporter left symbolic) is read
    from one probe run. The probe must not be captured: with ``enable_cuda_graph`` a plain
    ``run`` would capture graph id 0 on the probe's temporary buffers, the id the first real
    shape uses.
    """
    import onnxruntime as ort

    named: dict[str, tuple[str, int]] = {}
    for inp in session.get_inputs():
        for axis, dim in enumerate(inp.shape):
            if isinstance(dim, str):
                named.setdefault(dim, (inp.name, axis))
    dims: list = []
    probe = None
    for axis, dim in enumerate(session.get_outputs()[0].shape):
        if isinstance(dim, int) and dim > 0:
            dims.append(dim)
        elif isinstance(dim, str) and dim in named:
            dims.append(named[dim])
        else:
            if probe is None:
                options = ort.RunOptions()
                options.add_run_config_entry("gpu_graph_id", "-1")
                probe = np.asarray(session.run(None, probe_feed, options)[0]).shape
            dims.append(int(probe[axis]))
    return dims


def resolve_dims(dims: list, inputs: dict[str, list[int]]) -> list[int]:
    """The output shape for these input shapes (see :func:`output_dims`)."""
    return [d if isinstance(d, int) else inputs[d[0]][d[1]] for d in dims]
