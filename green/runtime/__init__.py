"""Runtimes: one runner interface, and a loader registered per artifact format.

Importing this package registers the built-in loaders: ``torch``, ``torch-bnb``, ``onnx``, ``onnx-seq2seq``,
``ctranslate2`` and ``openvino`` (optional extras, imported only when an artifact is opened).
"""

from green.runtime import ct2, ort, ov, pytorch, seq2seq  # noqa: E402,F401  (registration side effect)
from green.runtime.base import LOADERS, Runner, RuntimeOptions, open_runner, register_loader
from green.runtime.device import device_name, resolve_device

__all__ = ["LOADERS", "Runner", "RuntimeOptions", "device_name", "open_runner", "register_loader", "resolve_device"]
