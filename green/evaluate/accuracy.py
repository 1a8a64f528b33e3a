"""Task accuracy on a split: predictions in length-sorted batches, then accuracy and macro-F1."""

from __future__ import annotations

from typing import Callable

import numpy as np

from green.batching import Encoded, sorted_batches


def predict(
    runner: Callable[[dict[str, np.ndarray]], np.ndarray],
    encoded: Encoded,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    multiple_of: int = 1,
) -> np.ndarray:
    """Class ids for every row of ``encoded``, in the original row order."""
    preds = np.empty(len(encoded), dtype=np.int64)
    for idx in sorted_batches(encoded.lengths, batch_size):
        logits = runner(encoded.batch(idx, multiple_of=multiple_of))
        preds[idx] = logits.argmax(axis=-1)
        if progress:
            progress(len(idx))
    return preds


def classification_metrics(preds: np.ndarray, labels: list[int], num_labels: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    y = np.asarray(labels)
    return {
        "accuracy": float(accuracy_score(y, preds)),
        "macro_f1": float(f1_score(y, preds, average="macro", labels=list(range(num_labels)), zero_division=0)),
    }
