"""Runtimes that are optional extras: which module each needs, which extra installs it, and the check.

A leaf module (no green imports but the error type), so recipe validation and the plan can
ask, before any step runs, whether a recipe's runtime is installed, and fail in one line
naming the extra to install. Each format's natural runtime lives here too, so the recipe
schema, the artifact and the runner agree on one name per runtime.
"""

from __future__ import annotations

import importlib

from green.errors import GreenError

#: runtime -> (the module it imports, the pip extra that installs it, its name in words).
OPTIONAL_RUNTIMES: dict[str, tuple[str, str, str]] = {
    "ctranslate2": ("ctranslate2", "ct2", "CTranslate2"),
    "openvino": ("openvino", "openvino", "OpenVINO"),
}

#: Artifact formats whose runtime is not what the format's prefix says (onnx* -> onnxruntime, else torch).
FORMAT_RUNTIMES = {"ctranslate2": "ctranslate2", "openvino": "openvino"}


def runtime_of_format(fmt: str) -> str:
    """The runtime that runs artifacts of format ``fmt``: ``onnxruntime``, ``ctranslate2`` or ``torch``."""
    if fmt in FORMAT_RUNTIMES:
        return FORMAT_RUNTIMES[fmt]
    return "onnxruntime" if fmt.startswith("onnx") else "torch"


def import_runtime(runtime: str, why: str = ""):
    """The runtime's module, or a one-line GreenError naming the extra that installs it.

    ``why`` says who asked (a recipe's name) for the message. Runtimes that are not
    optional (torch, onnxruntime) return None: they are green's own dependencies.
    """
    if runtime not in OPTIONAL_RUNTIMES:
        return None
    module, extra, words = OPTIONAL_RUNTIMES[runtime]
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # absent, or a wheel that does not load on this machine
        detail = "" if isinstance(exc, ModuleNotFoundError) else f" ({str(exc).splitlines()[0][:120]})"
        who = f"{why} runs on" if why else "this needs"
        raise GreenError(f"{who} {words}, which is not installed{detail}",
                         f'pip install "green[{extra}]" (or pip install {module})') from None
