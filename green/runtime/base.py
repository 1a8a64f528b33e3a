"""The one runner interface, and the registry of loaders that open an artifact as a runner.

A runner maps a padded batch (NumPy arrays keyed by input name) to the model's primary
output as a NumPy array; what the output means is the task's business. Runners of
sequence-to-sequence models also generate (``generate``: token ids), and their forward
pass is the encoder alone, so the encoder's share of a generation can be measured. Each artifact
format registers one loader; evaluation calls :func:`open_runner` and never branches
on formats. A new format adds a loader, not a branch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from green.errors import GreenError


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run an artifact, from the recipe's ``evaluate`` section."""

    cuda_graphs: bool = False
    threads: int | None = None
    #: PyTorch on CUDA: run 2:4-sparse Linear weights on semi-structured sparse kernels.
    semi_structured: bool = False
    #: The recipe declared a fallback device: run dense (and say so) where sparse kernels are absent.
    dense_fallback: bool = False
    #: ONNX Runtime generation: run transformers' search loop even where green's applies (for comparisons).
    transformers_search: bool = False


class Runner(ABC):
    """A loaded model on one device.

    ``prepare`` turns a host batch into whatever ``__call__`` runs fastest on (device
    buffers with IO binding); benchmarks prepare their batches once and time only calls.
    """

    #: ``torch`` or ``onnxruntime``.
    runtime: str = "unknown"
    device: str = "cpu"
    input_names: list[str]
    #: The ONNX file the session runs, for the placement audit; None for PyTorch.
    onnx_path: Path | None = None
    #: Execution providers the session runs on (ONNX Runtime only).
    providers: list[str] = []

    def prepare(self, batch: dict[str, np.ndarray]) -> Any:
        """The batch in the form ``__call__`` runs fastest on; by default its input arrays."""
        return {k: batch[k] for k in self.input_names}

    @abstractmethod
    def __call__(self, batch: Any) -> np.ndarray:
        """The model's primary output for a host batch or a prepared one."""

    @abstractmethod
    def describe(self) -> dict:
        """Runtime, device and settings, for the record."""

    #: Sequence-to-sequence runners: the pad id that fills generated rows after their end.
    pad_token_id: int | None = None
    #: Sequence-to-sequence runners: the ids that end a generated sequence.
    eos_token_ids: tuple[int, ...] = ()
    #: Sequence-to-sequence runners: ``__call__`` runs the encoder alone. A runtime that only runs whole
    #: generations (CTranslate2) says False, and evaluation records the encoder/decoder split as not measured.
    encoder_alone: bool = True

    def generate(self, batch: Any, settings: dict) -> np.ndarray:
        """Token ids generated for a batch (one row per input, padded); ``settings`` override the model's defaults.

        Only runners of generative models implement it; ``__call__`` then runs the encoder alone.
        """
        raise GreenError(f"the {self.runtime} runner of this artifact cannot generate",
                         "generation needs a sequence-to-sequence artifact (summarization)")


Loader = Callable[..., Runner]
LOADERS: dict[str, Loader] = {}


def register_loader(fmt: str) -> Callable[[Loader], Loader]:
    """Register ``fn(artifact, device, options) -> Runner`` for artifacts of format ``fmt``."""

    def wrap(fn: Loader) -> Loader:
        if fmt in LOADERS:
            raise ValueError(f"a loader for format {fmt!r} is registered twice")
        LOADERS[fmt] = fn
        return fn

    return wrap


def open_runner(artifact, device: str, options: RuntimeOptions | None = None) -> Runner:
    """Load ``artifact`` with the loader its format names, on ``device``."""
    import green.runtime  # noqa: F401  (registers the built-in loaders)

    loader = LOADERS.get(artifact.format)
    if loader is None:
        raise GreenError(f"artifact {artifact.path} has format {artifact.format!r}, which no loader opens",
                         f"known formats: {', '.join(sorted(LOADERS))}; re-create the artifact with green")
    return loader(artifact, device, options or RuntimeOptions())
