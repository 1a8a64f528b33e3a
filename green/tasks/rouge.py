"""ROUGE with Google's ``rouge-score`` (the package the summarization literature reports with), and lead-N.

F-measures in 0..1, Porter stemming on, as ``rouge-score`` and Hugging Face's ``evaluate``
are usually run. ROUGE-Lsum scores sentence by sentence: sentences are split on newlines
and after ``.``, ``!`` or ``?`` followed by a space (the usual recipe uses NLTK's punkt
model, a download this offline tool cannot make; for one-line summaries both give one sentence).
"""

from __future__ import annotations

import re
import statistics

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
#: Texts are scored on their first this many words (and lead-N takes at most this many): ROUGE-L is a
#: pure-Python LCS, quadratic in length, so two 10,000-word texts took minutes a row. A summary longer
#: than this is not what green's models generate (their max_length is a few hundred tokens at most).
MAX_ROUGE_WORDS = 512
#: Above this many rows, scoring shows progress.
_PROGRESS_ROWS = 200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences_per_line(text: str) -> str:
    return "\n".join(s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip())


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L/Lsum F-measures of ``predictions`` against ``references`` (0..1)."""
    rows = rouge_per_row(predictions, references)
    n = max(1, len(rows))
    return {k: sum(r[k] for r in rows) / n for k in ROUGE_TYPES}


def rouge_rows(predictions: list[str], references: list[str], key: str) -> list[float]:
    """One ROUGE F-measure (``key``: rougeL...) per row, in row order: what a paired bootstrap resamples."""
    return [r[key] for r in rouge_per_row(predictions, references)]


def rouge_per_row(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """The ROUGE-1/2/L/Lsum F-measures of each prediction against its reference."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    from green.progress import progress_bar

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    rows = []
    long = any(len(t) > 20 * MAX_ROUGE_WORDS for t in (*predictions, *references))
    with progress_bar() as bar:
        task = bar.add_task("ROUGE", total=len(predictions)) if long or len(predictions) > _PROGRESS_ROWS else None
        for pred, ref in zip(predictions, references):
            scores = scorer.score(sentences_per_line(_cap(ref)), sentences_per_line(_cap(pred)))
            rows.append({k: scores[k].fmeasure for k in ROUGE_TYPES})
            if task is not None:
                bar.update(task, advance=1)
    return rows


def _cap(text: str) -> str:
    """``text`` cut to its first MAX_ROUGE_WORDS words (line breaks kept: ROUGE-Lsum splits on them)."""
    words = 0
    for match in re.finditer(r"\S+", text):
        words += 1
        if words > MAX_ROUGE_WORDS:
            return text[:match.start()]
    return text


def median_words(texts: list[str]) -> int:
    """The median length of ``texts`` in words, between 1 and MAX_ROUGE_WORDS: lead-N's N."""
    n = round(statistics.median(len(t.split()) for t in texts)) if texts else 1
    return min(MAX_ROUGE_WORDS, max(1, n))


def lead(text: str, n: int) -> str:
    """The first ``n`` words of ``text``: the summarization baseline every model must beat."""
    return " ".join(text.split()[:n])
