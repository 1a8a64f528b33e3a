"""Tokenize once, then batch by real length: dynamic padding, never a fixed 128.

Tweets in the embedded corpus have a median of 32 tokens; padding every batch to 128
would spend most of the compute on padding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_LENGTH = 128
SEQUENCE_POLICY = "dynamic padding to the longest in each length-sorted batch, truncation at {max_length}"


@dataclass
class Encoded:
    """Token ids without padding, one list per text."""

    input_ids: list[list[int]]
    pad_id: int
    max_length: int

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def __len__(self) -> int:
        return len(self.input_ids)

    def policy(self) -> str:
        return SEQUENCE_POLICY.format(max_length=self.max_length)

    def batch(self, indices: list[int], pad_to: int | None = None, multiple_of: int = 1) -> dict[str, np.ndarray]:
        """int64 arrays padded to the longest row (or ``pad_to``), rounded up to ``multiple_of``.

        On GPUs a multiple of 8 keeps tensor-core shapes and bounds the number of
        distinct shapes a session sees (length buckets).
        """
        width = pad_to or max(len(self.input_ids[i]) for i in indices)
        width = -(-width // multiple_of) * multiple_of
        ids = np.full((len(indices), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(indices), width), dtype=np.int64)
        for row, i in enumerate(indices):
            seq = self.input_ids[i][:width]
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def encode(tokenizer, texts: list[str], max_length: int = DEFAULT_MAX_LENGTH) -> Encoded:
    out = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Encoded([list(x) for x in out["input_ids"]], pad, max_length)


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Batches of indices in length order: the least padding for evaluation."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def bucketed_batches(lengths: list[int], batch_size: int, seed: int, bucket: int = 50) -> list[list[int]]:
    """Shuffled training batches with little padding.

    Shuffle, sort within chunks of ``bucket`` batches, then shuffle the batches: rows in
    a batch have similar lengths while the epoch order stays random.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * bucket
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches
