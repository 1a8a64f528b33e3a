"""Sequence-to-sequence runners: PyTorch ``generate``, and ONNX Runtime generation with the KV cache.

Both implement :meth:`Runner.generate` (token ids for a batch, with the model's
``generation_config`` overridden by the settings given) and run the encoder alone on
``__call__``, so evaluation can measure the encoder's share of a summary in its own
windows. The ``onnx-seq2seq`` loader opens an artifact whose files are by role
``encoder``, ``decoder`` and ``decoder_with_past`` (optimum-onnx's layout): ONNX Runtime
runs the encoder once, the decoder for the first step, then the decoder-with-past for
every later step, feeding back the cached keys and values. On the CPU the search (greedy or
beams) is :mod:`green.runtime.search`, transformers' algorithm over each row's best candidates;
elsewhere it is transformers' own ``GenerationMixin``. Either way the same settings give the
same tokens as PyTorch ``generate``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from green.errors import GreenError
from green.runtime import search as search_lib
from green.runtime.base import Runner, RuntimeOptions, register_loader
from green.runtime.pytorch import TorchRunner

log = logging.getLogger(__name__)

#: Input names of a seq2seq encoder; BERT-style token types mean nothing to it.
INPUTS = ["input_ids", "attention_mask"]


def read_configs(path) -> tuple:
    """An exported seq2seq folder's model config and generation config (derived from the model's when absent).

    Every runner of an exported encoder-decoder (ONNX Runtime's, CTranslate2's) reads both this way.
    """
    from transformers import AutoConfig, GenerationConfig

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        try:
            generation_config = GenerationConfig.from_pretrained(str(path), local_files_only=True)
        except OSError:
            generation_config = GenerationConfig.from_model_config(config)
    except Exception as exc:  # transformers raises its own types for a broken config
        raise GreenError(f"{path} has no readable model config ({str(exc).strip().splitlines()[0][:160]})",
                         "run the recipe that made this artifact again") from None
    return config, generation_config


def pad_id(generation_config, config) -> int:
    """The pad id generated rows are filled with: the generation config's, else the model config's, else 0."""
    for value in (getattr(generation_config, "pad_token_id", None), getattr(config, "pad_token_id", None)):
        if value is not None:
            return int(value)
    return 0


class TorchSeq2SeqRunner(TorchRunner):
    """A transformers encoder-decoder in PyTorch eager mode; ``generate`` is the model's own."""

    def __init__(self, model, device: str, dtype: str = "fp32", notes: list[str] | None = None) -> None:
        super().__init__(model, device, dtype, notes=notes)
        self.input_names = list(INPUTS)
        self.pad_token_id = pad_id(model.generation_config, model.config)
        self.eos_token_ids = search_lib.token_ids(model.generation_config.eos_token_id or model.config.eos_token_id)

    def _feed(self, batch: dict) -> dict:
        torch = self._torch
        return {k: torch.from_numpy(np.ascontiguousarray(batch[k])).to(self.device) for k in self.input_names}

    def __call__(self, batch: dict) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self._autocast):
            out = self.model.get_encoder()(**self._feed(batch))[0]
        return out.float().cpu().numpy()

    def generate(self, batch: dict, settings: dict) -> np.ndarray:
        """Token ids from transformers' ``generate`` with ``settings``."""
        torch = self._torch
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self._autocast):
            return self.model.generate(**self._feed(batch), **settings).cpu().numpy()


#: Outputs and input that :func:`with_top_k` adds to a decoder graph.
TOP_VALUES, TOP_IDS, TOP_K = "green_top_log_probs", "green_top_ids", "green_top_k"


def with_top_k(path: Path) -> bytes:
    """The decoder graph at ``path`` ending in ``LogSoftmax`` and ``TopK`` over its logits, serialized.

    Its outputs become the ``k`` best log-probabilities of each row and their token ids
    (``k`` is an input), then the cache; the ``[rows, vocabulary]`` logits stay inside ONNX
    Runtime instead of being copied out and processed in Python every step.
    """
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    logits = next((o for o in graph.output if o.name == "logits"), None)
    if logits is None:
        raise ValueError(f"{path.name} has no 'logits' output")
    graph.input.append(helper.make_tensor_value_info(TOP_K, TensorProto.INT64, [1]))
    graph.node.extend([
        helper.make_node("LogSoftmax", ["logits"], ["green_log_probs"], axis=-1),
        helper.make_node("TopK", ["green_log_probs", TOP_K], [TOP_VALUES, TOP_IDS], axis=-1, largest=1, sorted=1),
    ])
    rest = [o for o in graph.output if o.name != "logits"]
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(TOP_VALUES, logits.type.tensor_type.elem_type, None),
                         helper.make_tensor_value_info(TOP_IDS, TensorProto.INT64, None), *rest])
    return model.SerializeToString()  # raises past protobuf's 2 GB; the caller then uses transformers' loop


class OrtDecoder:
    """Encoder, first decoder step and decoder-with-past sessions behind :class:`green.runtime.search.Decoder`.

    The self-attention cache is reordered to the surviving beams every step; the
    cross-attention cache and mask are the same for every beam of an input, so they are
    gathered only when inputs leave the batch.
    """

    def __init__(self, encoder, decoder, with_past, vocab_size: int | None = None) -> None:
        self.encoder, self.decoder, self.with_past = encoder, decoder, with_past
        self.vocab_size = vocab_size
        self.encoder_inputs = [i.name for i in encoder.get_inputs()]
        self.first_outputs = [o.name for o in decoder.get_outputs()]
        self.step_outputs = [o.name for o in with_past.get_outputs()]
        self.step_inputs = {i.name for i in with_past.get_inputs()}
        self.mask: np.ndarray | None = None
        self.self_kv: dict[str, np.ndarray] = {}
        self.cross_kv: dict[str, np.ndarray] = {}

    def _k(self, k: int) -> np.ndarray:
        """TopK's k, no more than the vocabulary (a tiny vocabulary is then scored whole)."""
        return np.array([min(k, self.vocab_size) if self.vocab_size else k], np.int64)

    @staticmethod
    def _top(outs: list, rows: int) -> tuple[np.ndarray, np.ndarray]:
        return outs[0].reshape(rows, -1).astype(np.float32, copy=False), outs[1].reshape(rows, -1)

    def _keep(self, names: list[str], outs: list) -> None:
        for name, value in zip(names[2:], outs[2:]):
            past = name.replace("present.", "past_key_values.", 1)
            if past in self.step_inputs:
                (self.cross_kv if ".encoder." in name else self.self_kv)[past] = value

    def start(self, batch: dict, start_token: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Run the encoder and the first decoder step; returns the top-k log-probabilities and ids per input."""
        feed = {n: np.ascontiguousarray(batch[n], dtype=np.int64) for n in self.encoder_inputs}
        hidden = self.encoder.run(None, feed)[0]
        self.mask = feed["attention_mask"]
        rows = len(self.mask)
        self.self_kv, self.cross_kv = {}, {}
        outs = self.decoder.run(self.first_outputs, {
            "input_ids": np.full((rows, 1), start_token, np.int64), "encoder_attention_mask": self.mask,
            "encoder_hidden_states": hidden, TOP_K: self._k(k)})
        self._keep(self.first_outputs, outs)
        return self._top(outs, rows)

    def expand(self, beams: int) -> None:
        """Repeat the mask and the cached keys and values once per beam."""
        if beams == 1:
            return
        assert self.mask is not None, "start() comes first"
        self.mask = np.repeat(self.mask, beams, axis=0)
        for cache in (self.self_kv, self.cross_kv):
            for name in cache:
                cache[name] = np.repeat(cache[name], beams, axis=0)

    def step(self, tokens: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One decoder-with-past step for the rows still generating; returns their top-k scores and ids."""
        assert self.mask is not None, "start() comes first"
        shrunk = len(rows) != len(self.mask)  # inputs left the batch
        if shrunk:
            self.mask = self.mask[rows]
            self.cross_kv = {n: v[rows] for n, v in self.cross_kv.items()}
        if shrunk or not np.array_equal(rows, np.arange(len(rows))):
            self.self_kv = {n: v[rows] for n, v in self.self_kv.items()}
        feed = {"input_ids": tokens.reshape(-1, 1).astype(np.int64), "encoder_attention_mask": self.mask,
                TOP_K: self._k(k), **self.self_kv, **self.cross_kv}
        outs = self.with_past.run(self.step_outputs, feed)
        self._keep(self.step_outputs, outs)
        return self._top(outs, len(tokens))


class OrtSeq2SeqRunner(Runner):
    """Encoder, decoder and decoder-with-past ONNX files in ONNX Runtime sessions.

    On the CPU, :mod:`green.runtime.search` drives the sessions directly (the decoders end
    in a top-k, see :func:`with_top_k`). On CUDA (IO binding), for settings that search does
    not implement, and for exports without the KV cache, optimum-onnx's
    ``ORTModelForSeq2SeqLM`` runs transformers' own ``generate``.
    """

    runtime = "onnxruntime"

    def __init__(self, artifact, device: str, threads: int | None = None, transformers_search: bool = False) -> None:
        import onnxruntime as ort

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
        self._artifact, self._provider, self._opts = artifact, provider, opts
        self.device = device
        self.kv_cache = files.get("decoder_with_past") is not None
        config, self.generation_config = read_configs(artifact.path)
        self.pad_token_id = pad_id(self.generation_config, config)
        self.eos_token_ids = search_lib.token_ids(self.generation_config.eos_token_id or config.eos_token_id)
        self._hf: Any = None  # optimum's ORTModelForSeq2SeqLM (untyped), loaded on first need
        self._plans: dict[str, object] = {}
        self._decoder: OrtDecoder | None = None
        if not cuda and self.kv_cache and not transformers_search:
            self._decoder = self._own_sessions(getattr(config, "vocab_size", None))
        if self._decoder is None:
            self._transformers()
        else:
            self.providers = self._decoder.encoder.get_providers()
        self.onnx_path = artifact.path / files["encoder"]  # the placement audit profiles the encoder
        self.input_names = list(INPUTS)

    def _session(self, model):
        import onnxruntime as ort

        try:
            return ort.InferenceSession(model, self._opts, providers=[self._provider])
        except Exception as exc:  # onnxruntime raises its own types
            raise GreenError(f"ONNX Runtime could not load {self._artifact.path}: "
                             f"{str(exc).strip().splitlines()[0][:200]}", "run the recipe that made this artifact again") from None

    def _own_sessions(self, vocab_size: int | None) -> OrtDecoder | None:
        """Sessions for green's search; None (with a log line) where the decoders cannot take the top-k."""
        art = self._artifact
        try:
            scored = {role: with_top_k(art.path / art.files[role]) for role in ("decoder", "decoder_with_past")}
        except Exception as exc:  # a graph without logits, or past protobuf's limit
            log.info("transformers' search loop runs generation (%s)", str(exc).splitlines()[0][:160])
            return None
        return OrtDecoder(self._session(str(art.path / art.files["encoder"])),
                          self._session(scored["decoder"]), self._session(scored["decoder_with_past"]), vocab_size)

    def _transformers(self):
        """optimum-onnx's model, on first need: CUDA, or settings green's search does not implement."""
        if self._hf is not None:
            return self._hf
        from optimum.onnxruntime import ORTModelForSeq2SeqLM

        art, cuda = self._artifact, self._provider == "CUDAExecutionProvider"
        with_past = art.files.get("decoder_with_past")
        try:
            self._hf = ORTModelForSeq2SeqLM.from_pretrained(
                str(art.path), encoder_file_name=art.files["encoder"], decoder_file_name=art.files["decoder"],
                decoder_with_past_file_name=with_past, use_merged=False, use_cache=with_past is not None,
                provider=self._provider, session_options=self._opts, use_io_binding=cuda, local_files_only=True)
        except Exception as exc:  # ONNX Runtime and optimum raise their own types
            raise GreenError(f"ONNX Runtime could not load {art.path}: {str(exc).strip().splitlines()[0][:200]}",
                             "run the recipe that made this artifact again") from None
        self.providers = self._hf.encoder.session.get_providers()
        if cuda and "CUDAExecutionProvider" not in self.providers:
            raise GreenError("ONNX Runtime could not start its CUDA provider", "install onnxruntime-gpu, or use --device cpu")
        return self._hf

    @property
    def sessions(self) -> list:
        """The ONNX Runtime sessions generation runs (for benchmarks that time them)."""
        if self._decoder is not None:
            return [self._decoder.encoder, self._decoder.decoder, self._decoder.with_past]
        parts = (self._hf.encoder, self._hf.decoder, getattr(self._hf, "decoder_with_past", None))
        return [p.session for p in parts if p is not None]

    def _plan(self, settings: dict):
        key = repr(sorted(settings.items()))
        if key not in self._plans:
            plan = search_lib.plan(self.generation_config, settings)
            if not isinstance(plan, search_lib.SearchPlan):
                log.warning("generation with %s runs transformers' search loop, which is slower", plan)
            self._plans[key] = plan
        return self._plans[key]

    def __call__(self, batch: dict) -> np.ndarray:
        session = self._decoder.encoder if self._decoder is not None else self._hf.encoder.session
        names = [i.name for i in session.get_inputs()]
        return session.run(None, {k: batch[k] for k in names})[0]

    def generate(self, batch: dict, settings: dict) -> np.ndarray:
        """Token ids: green's search over the decoder graph's top-k where it applies, transformers' loop otherwise."""
        if self._decoder is not None:
            plan = self._plan(settings)
            if isinstance(plan, search_lib.SearchPlan):
                return search_lib.search(self._decoder, batch, plan)
        import torch

        model = self._transformers()
        feed = {k: torch.from_numpy(np.ascontiguousarray(batch[k])).to(model.device) for k in self.input_names}
        with torch.inference_mode():
            return model.generate(**feed, **settings).cpu().numpy()

    def describe(self) -> dict:
        """Runtime, providers, the KV cache and which search generates, for the record."""
        return {"runtime": "onnxruntime", "providers": self.providers, "device": self.device,
                "io_binding": self.device.startswith("cuda"), "kv_cache": self.kv_cache,
                "search": "green (top-k in the decoder graph)" if self._decoder is not None else "transformers",
                "parts": ["encoder", "decoder"] + (["decoder_with_past"] if self.kv_cache else [])}


@register_loader("onnx-seq2seq")
def open_onnx_seq2seq(artifact, device: str, options: RuntimeOptions) -> Runner:
    """Open an encoder-decoder ONNX artifact (encoder, decoder, decoder with past)."""
    if options.cuda_graphs:
        log.warning("CUDA graphs are not used for generation (shapes change every step); running without them")
    return OrtSeq2SeqRunner(artifact, device, threads=options.threads, transformers_search=options.transformers_search)
