"""CTranslate2 runner and the ``ctranslate2`` loader: an encoder-decoder in a ``ctranslate2.Translator``.

``generate(batch, settings)`` returns token ids shaped like PyTorch ``generate``'s: one row
per input, the decoder start token first, the end token where the sequence ended, then
transformers' fill (the pad id after greedy search; ``pad or eos`` after beam search), so
evaluation decodes and counts them as it does every other runner's.

How green's generation settings (the model's generation_config, then the recipe's
``evaluate.generation``; resolved as :func:`green.runtime.search.plan` resolves them) map to
``translate_batch``:

* ``num_beams`` -> ``beam_size``; ``max_length`` (transformers counts the start token) ->
  ``max_decoding_length = max_length - 1``; ``max_new_tokens`` -> ``max_decoding_length``;
  ``min_length`` -> ``min_decoding_length = min_length - 1`` (the end token may come once the
  sequence, start token included, is ``min_length`` long); ``no_repeat_ngram_size``,
  ``length_penalty`` as they are; ``early_stopping: true`` -> ``patience: 1`` (stop once
  ``num_beams`` hypotheses are finished); ``forced_bos_token_id`` -> a one-token
  ``target_prefix`` (exact for greedy search); the end tokens -> ``end_token``. With these, float32 greedy and beam
  search give PyTorch's tokens (``tests/test_ct2.py`` checks it setting by setting).
* Mapped approximately (said in ``describe()["approximations"]``): ``forced_eos_token_id``:
  CTranslate2 cannot force the end token at the last position; a sequence that reaches the
  maximum length gets its last token replaced by the end token afterwards, which is exactly
  transformers' result for greedy search, and may pick another beam than transformers would
  for beam search. ``early_stopping: false`` (transformers' heuristic stop) runs as ``true``.
  ``forced_bos_token_id`` with beam search (the target prefix's beams differ from transformers').
  ``repetition_penalty`` is CTranslate2's (the same CTRL-style penalty; not compared in tests).
* Refused with a one-line error: ``early_stopping: never``, sampling, and anything else
  :func:`~green.runtime.search.plan` does not resolve.

CTranslate2 cannot run the encoder alone (its Translator has no such call): ``__call__``
raises, and :attr:`encoder_alone` is False, so evaluation measures whole generations and
records the encoder/decoder split as not measured instead of estimating it.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from green.errors import GreenError
from green.runtime import search as search_lib
from green.runtime.base import Runner, RuntimeOptions, register_loader
from green.runtime.extras import import_runtime

log = logging.getLogger(__name__)

INPUTS = ["input_ids", "attention_mask"]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def check_device(ctranslate2, device: str, compute_type: str) -> tuple[str, int]:
    """CTranslate2's device and index for green's ``device``, with the compute type checked; one-line errors."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        if ctranslate2.get_cuda_device_count() < 1:
            raise GreenError("CTranslate2 sees no CUDA device (or this wheel was built without CUDA)",
                             "run on the CPU (--device cpu), or install a CUDA build of ctranslate2")
    elif kind != "cpu":
        raise GreenError(f"CTranslate2 runs on cpu or cuda, not {device!r}", "use --device cpu or cuda")
    supported = sorted(ctranslate2.get_supported_compute_types(kind, int(index or 0)))
    if compute_type not in supported:
        raise GreenError(f"CTranslate2 cannot compute {compute_type} on this {kind} (it can: {', '.join(supported)})",
                         "convert with a quantization this device runs, e.g. int8 on a CPU, float16 on a GPU")
    return kind, int(index or 0)


class Ct2Seq2SeqRunner(Runner):
    """A CTranslate2 ``Translator`` behind the Runner interface (see the module docstring for the settings)."""

    runtime = "ctranslate2"
    #: The Translator runs whole generations only (see the module docstring).
    encoder_alone = False

    def __init__(self, artifact, device: str, threads: int | None = None) -> None:
        from transformers import AutoTokenizer

        from green.runtime.seq2seq import pad_id, read_configs

        ctranslate2 = import_runtime("ctranslate2", f"artifact {artifact.path}")
        model_dir = artifact.file("model").parent
        if not (model_dir / "model.bin").is_file():
            raise GreenError(f"{artifact.path} has no CTranslate2 model.bin", "run the recipe that made it again")
        # The converted model computes in the type it was converted to (the step's quantization).
        self.compute_type = str(artifact.params.get("quantization") or "default")
        kind, index = check_device(ctranslate2, device, self.compute_type)
        self.device = device
        # One translation at a time (the benchmark's batches are sequential); its OpenMP pool gets the cores.
        self.inter_threads = 1
        self.intra_threads = int(threads) if threads else (usable_cpus() if kind == "cpu" else 1)
        self.threads_from = "recipe" if threads else ("usable CPUs" if kind == "cpu" else "GPU (one host thread)")
        try:
            self.translator = ctranslate2.Translator(str(model_dir), device=kind, device_index=index,
                                                     compute_type=self.compute_type, inter_threads=self.inter_threads,
                                                     intra_threads=self.intra_threads)
        except (RuntimeError, ValueError) as exc:
            raise GreenError(f"CTranslate2 could not load {model_dir}: {str(exc).strip().splitlines()[0][:200]}",
                             "run the recipe that made this artifact again") from None
        config, self.generation_config = read_configs(artifact.path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(artifact.file("tokenizer")), local_files_only=True)
        except Exception as exc:  # transformers raises its own types for a broken folder
            raise GreenError(f"{artifact.path} has no readable tokenizer ({str(exc).strip().splitlines()[0][:160]})",
                             "run the recipe that made it again") from None
        self._tokens = tokenizer.convert_ids_to_tokens  # ids -> the strings CTranslate2 takes
        vocab = tokenizer.get_vocab()
        self._ids = vocab.get
        self._unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
        self.pad_token_id = pad_id(self.generation_config, config)
        self.eos_token_ids = search_lib.token_ids(self.generation_config.eos_token_id or config.eos_token_id)
        self.input_names = list(INPUTS)
        self._plans: dict[str, tuple[dict, search_lib.SearchPlan, list[str]]] = {}
        self.approximations: list[str] = []

    # -- settings ------------------------------------------------------------------------
    def options(self, settings: dict) -> tuple[dict, search_lib.SearchPlan, list[str]]:
        """``translate_batch`` options for ``settings``, the resolved plan, and what was mapped approximately."""
        key = repr(sorted(settings.items()))
        if key in self._plans:
            return self._plans[key]
        rest = dict(settings)
        repetition = rest.pop("repetition_penalty", None)
        plan = search_lib.plan(self.generation_config, rest)
        if not isinstance(plan, search_lib.SearchPlan):
            raise GreenError(f"CTranslate2 has no equivalent of the generation {plan}",
                             "remove it from evaluate.generation, or run this model on ONNX Runtime or PyTorch")
        approx = []
        if plan.early_stopping == "never":
            raise GreenError("CTranslate2 has no equivalent of the generation setting early_stopping: never",
                             "use early_stopping: true for CTranslate2 recipes")
        if plan.num_beams > 1 and plan.early_stopping is False:
            approx.append("early_stopping: false ran as true (CTranslate2 stops once num_beams hypotheses finish)")
        if plan.forced_eos and plan.num_beams > 1:
            approx.append("forced_eos_token_id: the end token replaces the last token of a sequence at max length, "
                          "after beam search (transformers forces it during the search)")
        if plan.forced_bos is not None and plan.num_beams > 1:
            approx.append("forced_bos_token_id with beam search: CTranslate2's target prefix, whose beams differ "
                          "from transformers' (greedy search is exact)")
        if repetition is not None and float(repetition) != 1.0:
            approx.append(f"repetition_penalty {repetition}: CTranslate2's own")
        opts = {
            "beam_size": plan.num_beams,
            "max_decoding_length": max(1, plan.max_length - 1),
            "min_decoding_length": max(0, plan.min_length - 1),
            "no_repeat_ngram_size": plan.no_repeat_ngram_size,
            "length_penalty": plan.length_penalty,
            "patience": 1.0,
            "end_token": list(plan.eos),
            "return_end_token": True,
            "max_input_length": 0,  # green truncated the inputs already; CTranslate2 would cut at 1024
            "num_hypotheses": 1,
            "repetition_penalty": float(repetition) if repetition is not None else 1.0,
        }
        for note in approx:
            if note not in self.approximations:
                log.warning("CTranslate2 generation: %s", note)
                self.approximations.append(note)
        self._plans[key] = (opts, plan, approx)
        return self._plans[key]

    # -- running -------------------------------------------------------------------------
    def __call__(self, batch) -> np.ndarray:
        raise GreenError("CTranslate2 cannot run the encoder alone (its Translator only generates)",
                         "use generate(); evaluation records the encoder/decoder split of a ctranslate2 artifact as "
                         "not measured")

    def _sources(self, batch) -> list[list[str]]:
        ids, mask = np.asarray(batch["input_ids"]), np.asarray(batch["attention_mask"])
        return [self._tokens(row[m.astype(bool)].tolist()) for row, m in zip(ids, mask)]

    def generate(self, batch, settings: dict) -> np.ndarray:
        """Token ids for ``batch`` (rows like PyTorch ``generate``'s), settings mapped as the module says."""
        opts, plan, _ = self.options(settings)
        prefix = None
        if plan.forced_bos is not None:
            prefix = [[self._tokens(plan.forced_bos)]] * len(np.asarray(batch["input_ids"]))
        results = self.translator.translate_batch(self._sources(batch), prefix, **opts)
        rows = []
        limit = plan.max_length - 1
        ends = set(plan.eos)
        for result in results:
            ids = [self._ids(t, self._unk) for t in result.hypotheses[0]]
            if plan.forced_eos and len(ids) >= limit and not (ids and ids[-1] in ends):
                ids = ids[: limit - 1] + [plan.forced_eos[0]]  # what transformers' forced end token gives
            rows.append([plan.start] + ids)
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), plan.fill, dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def describe(self) -> dict:
        """Runtime, device, compute type, the thread settings and any approximated settings, for the record."""
        import ctranslate2

        return {"runtime": "ctranslate2", "version": ctranslate2.__version__, "device": self.device,
                "compute_type": self.compute_type,
                # what CTranslate2 resolved it to on this device (int8 -> int8_float32 on a CPU)
                "compute_type_resolved": self.translator.compute_type, "intra_threads": self.intra_threads,
                # the key records read for the machine's thread count (green.machine), as ONNX Runtime's
                "intra_op_threads": self.intra_threads,
                "inter_threads": self.inter_threads, "threads_from": self.threads_from,
                "encoder_alone": False, "approximations": list(self.approximations),
                "notes": [f"CTranslate2 generation: {n}" for n in self.approximations]}


@register_loader("ctranslate2")
def open_ctranslate2(artifact, device: str, options: RuntimeOptions) -> Runner:
    """Open a CTranslate2 artifact (``convert: {format: ctranslate2}``) on the CPU or a CUDA GPU."""
    if options.cuda_graphs:
        log.warning("CUDA graphs are an ONNX Runtime setting; CTranslate2 runs without them")
    return Ct2Seq2SeqRunner(artifact, device, threads=options.threads)
