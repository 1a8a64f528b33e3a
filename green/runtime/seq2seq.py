"""Sequence-to-sequence runners: PyTorch ``generate``, and ONNX Runtime generation with the KV cache.

Both implement :meth:`Runner.generate` (token ids for a batch, with the model's
``generation_config`` overridden by the settings given) and run the encoder alone on
``__call__``, so evaluation can measure the encoder's share of a summary in its own
windows. The ``onnx-seq2seq`` loader opens an artifact whose files are by role
``encoder``, ``decoder`` and ``decoder_with_past`` (optimum-onnx's layout): ONNX Runtime
runs the encoder once, the decoder for the first step, then the decoder-with-past for
every later step, feeding back the cached keys and values; the search (greedy or beams)
is transformers' own ``GenerationMixin``, so the same settings give the same tokens.
"""

from __future__ import annotations

import logging

import numpy as np

from green.errors import GreenError
from green.runtime.base import Runner, RuntimeOptions, register_loader
from green.runtime.pytorch import TorchRunner

log = logging.getLogger(__name__)

#: Input names of a seq2seq encoder; BERT-style token types mean nothing to it.
INPUTS = ["input_ids", "attention_mask"]


def _pad_id(generation_config, config) -> int:
    for value in (getattr(generation_config, "pad_token_id", None), getattr(config, "pad_token_id", None)):
        if value is not None:
            return int(value)
    return 0


class TorchSeq2SeqRunner(TorchRunner):
    """A transformers encoder-decoder in PyTorch eager mode; ``generate`` is the model's own."""

    def __init__(self, model, device: str, dtype: str = "fp32", notes: list[str] | None = None) -> None:
        super().__init__(model, device, dtype, notes=notes)
        self.input_names = list(INPUTS)
        self.pad_token_id = _pad_id(model.generation_config, model.config)

    def _feed(self, batch: dict) -> dict:
        torch = self._torch
        return {k: torch.from_numpy(np.ascontiguousarray(batch[k])).to(self.device) for k in self.input_names}

    def __call__(self, batch: dict) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self._autocast):
            out = self.model.get_encoder()(**self._feed(batch))[0]
        return out.float().cpu().numpy()

    def generate(self, batch: dict, settings: dict) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self._autocast):
            return self.model.generate(**self._feed(batch), **settings).cpu().numpy()


class OrtSeq2SeqRunner(Runner):
    """Encoder, decoder and decoder-with-past ONNX files in ONNX Runtime sessions, driven by optimum-onnx."""

    runtime = "onnxruntime"

    def __init__(self, artifact, device: str, threads: int | None = None) -> None:
        import onnxruntime as ort
        from optimum.onnxruntime import ORTModelForSeq2SeqLM

        files = artifact.files
        for role in ("encoder", "decoder"):
            if role not in files or not (artifact.path / files[role]).is_file():
                raise GreenError(f"{artifact.path} has no {role} ONNX file", "run the recipe that made it again")
        cuda = device.startswith("cuda")
        if cuda and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        provider = "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
        if provider not in ort.get_available_providers():
            raise GreenError(f"ONNX Runtime has no {provider}", "install onnxruntime-gpu matching your CUDA, or use --device cpu")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        with_past = files.get("decoder_with_past")
        try:
            self.model = ORTModelForSeq2SeqLM.from_pretrained(
                str(artifact.path), encoder_file_name=files["encoder"], decoder_file_name=files["decoder"],
                decoder_with_past_file_name=with_past, use_merged=False, use_cache=with_past is not None,
                provider=provider, session_options=opts, use_io_binding=cuda, local_files_only=True)
        except Exception as exc:  # ONNX Runtime and optimum raise their own types
            raise GreenError(f"ONNX Runtime could not load {artifact.path}: {str(exc).strip().splitlines()[0][:200]}",
                             "run the recipe that made this artifact again") from None
        self.device = device
        self.providers = self.model.encoder.session.get_providers()
        if cuda and "CUDAExecutionProvider" not in self.providers:
            raise GreenError("ONNX Runtime could not start its CUDA provider", "install onnxruntime-gpu, or use --device cpu")
        self.onnx_path = artifact.path / files["encoder"]  # the placement audit profiles the encoder
        self.input_names = list(INPUTS)
        self.kv_cache = with_past is not None
        self.pad_token_id = _pad_id(self.model.generation_config, self.model.config)
        self._encoder_inputs = [i.name for i in self.model.encoder.session.get_inputs()]

    def __call__(self, batch: dict) -> np.ndarray:
        return self.model.encoder.session.run(None, {k: batch[k] for k in self._encoder_inputs})[0]

    def generate(self, batch: dict, settings: dict) -> np.ndarray:
        import torch

        feed = {k: torch.from_numpy(np.ascontiguousarray(batch[k])).to(self.model.device) for k in self.input_names}
        with torch.inference_mode():
            return self.model.generate(**feed, **settings).cpu().numpy()

    def describe(self) -> dict:
        return {"runtime": "onnxruntime", "providers": self.providers, "device": self.device,
                "io_binding": self.device.startswith("cuda"), "kv_cache": self.kv_cache,
                "parts": ["encoder", "decoder"] + (["decoder_with_past"] if self.kv_cache else [])}


@register_loader("onnx-seq2seq")
def open_onnx_seq2seq(artifact, device: str, options: RuntimeOptions) -> Runner:
    if options.cuda_graphs:
        log.warning("CUDA graphs are not used for generation (shapes change every step); running without them")
    return OrtSeq2SeqRunner(artifact, device, threads=options.threads)
