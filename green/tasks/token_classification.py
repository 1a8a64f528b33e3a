"""Token classification: a sentence of words in, one tag per word out (named entities, parts of speech).

Data: a user's JSONL or CSV with a column of words (a JSON list, or one space-separated
string) and a column of tags, one per word (CoNLL-style, ``--tokens-column`` and
``--tags-column``). There is no embedded default. A deterministic 80/10/10 split whose seed
is recorded. The model is any ``AutoModelForTokenClassification``; a word's tag is the
prediction at its first sub-word token (as Hugging Face's token-classification examples
train it). One inference is one tagged sentence. Word accuracy is primary; macro-F1 over
the tags that occur is reported beside it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np

from green.batching import DEFAULT_MAX_LENGTH, Encoded, sorted_batches
from green.errors import GreenError
from green.tasks.base import DataSpec, ModelClass, OutputTask, Split, TaskData, register_task
from green.tasks.rows import is_missing, read_source, require_columns

log = logging.getLogger(__name__)

#: Label of sub-word pieces and special tokens in the training targets: ignored by the loss.
IGNORE = -100


@dataclass
class WordEncoded(Encoded):
    """Token ids plus, per row, the word each token belongs to (None for special tokens)."""

    word_ids: list[list[int | None]] | None = None


def _words(value) -> list[str]:
    if isinstance(value, list):
        return [str(w) for w in value]
    return str(value).split()


class TokenClassification(OutputTask):
    name = "token-classification"
    export_task = "token-classification"
    primary_metric = "accuracy"
    higher_is_better = True
    inference_unit = "sentence"
    column_roles = {"tokens": "tokens", "tags": "tags"}

    # -- data ------------------------------------------------------------------------
    def load_data(self, spec: DataSpec, val_fraction: float = 0.1, test_fraction: float = 0.1) -> TaskData:
        if spec.data in ("embedded", "", None):
            raise GreenError("the token-classification task has no embedded data set",
                             "pass --data with a JSONL/CSV file of words and their tags (--tokens-column, --tags-column)")
        cols = {role: spec.columns.get(role) or default for role, default in self.column_roles.items()}
        rows, columns, source, fingerprint = read_source(spec.data)
        require_columns(columns, cols, source)
        pairs, skipped = [], 0
        for r in rows:
            words, tags = r.get(cols["tokens"]), r.get(cols["tags"])
            if is_missing(words) or is_missing(tags):
                skipped += 1
                continue
            words, tags = _words(words), _words(tags)
            if not words or len(words) != len(tags):
                skipped += 1
                continue
            pairs.append((words, tags))
        if skipped:
            log.warning("%s: skipped %d of %d rows without words, or with a tag count that differs from the word count",
                        source, skipped, len(rows))
        names = sorted({t for _, tags in pairs for t in tags})
        if len(names) < 2:
            raise GreenError(f"dataset {source} has fewer than two tags", "a tagger needs two or more tags")
        index = {n: i for i, n in enumerate(names)}
        order = list(range(len(pairs)))
        random.Random(spec.seed).shuffle(order)
        n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
        if n_test == 0 or len(order) - n_test - n_val <= 0:
            raise GreenError(f"dataset {source} is too small to split ({len(pairs)} rows)", "provide at least 20 rows")

        def split(idx: list[int]) -> Split:
            return Split([" ".join(pairs[i][0]) for i in idx], [[index[t] for t in pairs[i][1]] for i in idx])

        return TaskData(split(order[n_test + n_val:]), split(order[n_test:n_test + n_val]), split(order[:n_test]),
                        source, fingerprint, spec.seed, info={"label_names": names, "columns": cols,
                                                              "rows_skipped": skipped})

    # -- model -----------------------------------------------------------------------
    def model_class(self) -> ModelClass:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def encode(self, tokenizer, inputs: list[str], max_length: int) -> WordEncoded:
        out = tokenizer([s.split(" ") for s in inputs], is_split_into_words=True, truncation=True,
                        max_length=max_length, padding=False)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return WordEncoded([list(x) for x in out["input_ids"]], pad, max_length,
                           word_ids=[out.word_ids(i) for i in range(len(inputs))])

    # -- training --------------------------------------------------------------------
    def training_targets(self, split: Split, tokenizer):
        """One row of token labels per sentence: a word's tag at its first piece, IGNORE elsewhere."""
        import torch

        enc = self.encode(tokenizer, split.inputs, DEFAULT_MAX_LENGTH)
        labels = torch.full((len(split), DEFAULT_MAX_LENGTH), IGNORE, dtype=torch.long)
        for row, (words, tags) in enumerate(zip(enc.word_ids or [], split.targets)):
            previous = None
            for pos, word in enumerate(words):
                if word is not None and word != previous:
                    labels[row, pos] = tags[word]
                previous = word
        return labels

    def loss_from_outputs(self, outputs, targets):
        import torch.nn.functional as F

        width = outputs.shape[1]
        return F.cross_entropy(outputs.float().reshape(-1, outputs.shape[-1]), targets[:, :width].reshape(-1),
                               ignore_index=IGNORE)

    # -- evaluation ------------------------------------------------------------------
    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs).argmax(axis=-1)

    def predict(self, runner: Callable[[dict], np.ndarray], encoded: Encoded, batch_size: int = 64,
                progress: Callable[[int], None] | None = None, multiple_of: int = 1,
                generation: dict | None = None) -> np.ndarray:
        """One tag id per word (the first piece's prediction), per sentence; words cut by truncation get -1."""
        word_ids = getattr(encoded, "word_ids", None)
        if word_ids is None:
            raise GreenError("token classification needs the word of every token", "encode with the task's encode()")
        preds = np.empty(len(encoded), dtype=object)
        for idx in sorted_batches(encoded.lengths, batch_size):
            tokens = self.predictions(runner(encoded.batch(idx, multiple_of=multiple_of)))
            for row, i in enumerate(idx):
                words: dict[int, int] = {}
                for pos, word in enumerate(word_ids[i]):
                    if word is not None and word not in words:
                        words[word] = int(tokens[row, pos])
                preds[i] = [words.get(w, -1) for w in range(max(words, default=-1) + 1)]
            if progress:
                progress(len(idx))
        return preds

    def show(self, value, data: TaskData) -> str:
        names = data.info.get("label_names") or []
        return self._clip(" ".join(str(names[t]) if 0 <= t < len(names) else "?" for t in value))

    def metrics(self, predictions: np.ndarray, split: Split) -> dict[str, float]:
        from sklearn.metrics import f1_score

        truth, guess = [], []
        for pred, tags in zip(predictions, split.targets):
            pred = list(pred) + [-1] * (len(tags) - len(pred))  # words past truncation count as wrong
            truth += tags
            guess += pred[: len(tags)]
        y, p = np.asarray(truth), np.asarray(guess)
        present = sorted(set(y.tolist()))
        return {"accuracy": float((y == p).mean()) if len(y) else 0.0,
                "macro_f1": float(f1_score(y, p, average="macro", labels=present, zero_division=0))}


TOKEN_CLASSIFICATION = register_task(TokenClassification())
