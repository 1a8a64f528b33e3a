"""PyTorch runners and loaders: Hugging Face folders, pruned folders, bitsandbytes folders.

A pruned model whose layers differ in width cannot be described by one
``intermediate_size``: the pruning step records the shape of every Linear it changed in
the config (``green_linear_shapes``) and :func:`load_pretrained` rebuilds those layers at
their saved shapes before loading the weights. Attention heads pruned per layer use the
config's own ``pruned_heads``, which ``from_pretrained`` replays by itself.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from green.errors import GreenError
from green.runtime.base import Runner, RuntimeOptions, register_loader

if TYPE_CHECKING:
    import torch

    from green.tasks.base import ModelClass

log = logging.getLogger(__name__)

#: Config key holding ``{module name: [out_features, in_features]}`` for Linear layers pruned per layer.
LINEAR_SHAPES_KEY = "green_linear_shapes"


class TorchRunner(Runner):
    """A transformers model in PyTorch eager mode (fp32, or bf16 autocast on a GPU)."""

    runtime = "torch"

    def __init__(self, model, device: str, dtype: str = "fp32", move: bool = True, notes: list[str] | None = None) -> None:
        import torch

        self.device = device
        self.dtype = dtype
        self.notes = list(notes or [])
        # bitsandbytes models are placed at load time and refuse .to()
        self.model = (model.to(device) if move else model).eval()
        self._autocast = dtype == "bf16"  # fp16: the weights themselves are half precision
        accepted = set(inspect.signature(self.model.forward).parameters)
        self.input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
        self._torch = torch

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        feed = {k: torch.from_numpy(batch[k]).to(self.device, non_blocking=True) for k in self.input_names}
        with torch.inference_mode(), torch.autocast(
            device_type=self.device.split(":")[0], dtype=torch.bfloat16, enabled=self._autocast
        ):
            out = self.model(**feed)[0]
        return out.float().cpu().numpy()

    def describe(self) -> dict:
        """Runtime, precision, device and notes, for the record."""
        return {"runtime": "torch", "precision": self.dtype, "device": self.device, "notes": self.notes}


def load_pretrained(path: str | Path, model_class: ModelClass, **kwargs):
    """``model_class.from_pretrained(path)``, rebuilding Linear layers pruned to per-layer shapes first.

    >>> from transformers import AutoModelForSequenceClassification
    >>> model = load_pretrained("green-runs/runs/<id>/01-prune", AutoModelForSequenceClassification)  # doctest: +SKIP
    """
    from transformers import AutoConfig

    from green.models import SAFE_LOAD, load_error

    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
        shapes = getattr(config, LINEAR_SHAPES_KEY, None)
        if not shapes:
            return model_class.from_pretrained(str(path), **SAFE_LOAD, **kwargs)
        return _load_reshaped(Path(path), model_class, config, shapes)
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(str(path), exc) from None


def _load_reshaped(path: Path, model_class: ModelClass, config, shapes: dict[str, list[int]]):
    import torch
    from safetensors.torch import load_file

    model = model_class.from_config(config)  # replays config.pruned_heads itself
    for name, (out_f, in_f) in shapes.items():
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, attr)
        if not isinstance(old, torch.nn.Linear):
            raise ValueError(f"{name} in {LINEAR_SHAPES_KEY} is not a Linear layer")
        setattr(parent, attr, torch.nn.Linear(in_f, out_f, bias=old.bias is not None))
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise OSError(f"{path} has no model.safetensors")
    state = load_file(str(weights))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied or buffer-only keys are allowed to be absent (tie_weights fills them); real weights are not.
    tied = {f"{name}.{key}" if name else key for name, module in model.named_modules()
            for key in (getattr(module, "_tied_weights_keys", None) or ())}
    missing = [k for k in missing if k not in tied and not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise ValueError(f"weights do not match the pruned shapes (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    if (path / "generation_config.json").is_file():  # from_config starts from the model config's defaults
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig.from_pretrained(str(path))
    return model.eval()


def _model_class(artifact):
    from green.tasks import get_task

    return get_task(artifact.task).model_class()


@register_loader("torch")
def open_torch(artifact, device: str, options: RuntimeOptions) -> Runner:
    """Open a PyTorch artifact: fp32 on the device, or 2:4 sparse kernels when the recipe asks."""
    model = load_pretrained(artifact.file("model").parent, _model_class(artifact))
    if getattr(model.config, "is_encoder_decoder", False):
        from green.runtime.seq2seq import TorchSeq2SeqRunner

        return TorchSeq2SeqRunner(model, device, "fp32")
    if options.semi_structured:
        return _semi_structured(model, device, options)
    return TorchRunner(model, device, "fp32")


def target_linears(model) -> dict[str, torch.nn.Linear]:
    """The encoder's Linear layers: not the embeddings, the pooler or the task head (small and sensitive)."""
    import torch

    head_words = ("classifier", "pooler", "lm_head", "qa_outputs", "score")
    return {name: m for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not any(w in name for w in head_words)}


def _semi_structured(model, device: str, options: RuntimeOptions) -> Runner:
    """2:4-sparse Linear weights on sparse tensor cores (Ampere+), fp16; dense only if the recipe allows it."""
    import torch

    capable = device.startswith("cuda") and torch.cuda.get_device_capability(torch.device(device)) >= (8, 0)
    if not capable:
        where = "this GPU (compute capability below 8.0)" if device.startswith("cuda") else "a CPU"
        if not options.dense_fallback:
            raise GreenError(f"2:4 semi-structured sparse kernels need an NVIDIA GPU of compute capability 8.0+, "
                             f"not {where}", "run on such a GPU, or add `fallback_device: cpu` under evaluate to "
                             "measure the dense model instead")
        note = f"semi_structured asked for, but {where} has no sparse kernels: ran dense (no speed-up expected)"
        log.warning(note)
        return TorchRunner(model, device, "fp32", notes=[note])
    from torch.sparse import to_sparse_semi_structured

    model = model.half().to(device).eval()
    converted = 0
    for m in target_linears(model).values():
        w = m.weight.detach()
        if w.shape[0] % 32 == 0 and w.shape[1] % 64 == 0:  # the kernels' tile constraints
            m.weight = torch.nn.Parameter(to_sparse_semi_structured(w), requires_grad=False)
            converted += 1
    return TorchRunner(model, device, "fp16", move=False,
                       notes=[f"{converted} Linear layers on 2:4 semi-structured sparse kernels (fp16)"])


@register_loader("torch-bnb")
def open_bnb(artifact, device: str, options: RuntimeOptions) -> Runner:
    """bitsandbytes places weights at load time; bf16 activations on a GPU, fp32 on a CPU."""
    from green.models import SAFE_LOAD

    dtype = "bf16" if device.startswith("cuda") else "fp32"
    try:
        model = _model_class(artifact).from_pretrained(str(artifact.path), device_map={"": device}, **SAFE_LOAD)
    except (OSError, ValueError, KeyError) as exc:
        raise GreenError(f"could not load the bitsandbytes model in {artifact.path}: {str(exc).splitlines()[0][:200]}",
                         "run its recipe again") from None
    return TorchRunner(model, device, dtype, move=False)
