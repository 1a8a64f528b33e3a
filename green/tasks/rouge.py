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
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences_per_line(text: str) -> str:
    return "\n".join(s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip())


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L/Lsum F-measures of ``predictions`` against ``references`` (0..1)."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    sums = dict.fromkeys(ROUGE_TYPES, 0.0)
    for pred, ref in zip(predictions, references):
        scores = scorer.score(sentences_per_line(ref), sentences_per_line(pred))
        for k in ROUGE_TYPES:
            sums[k] += scores[k].fmeasure
    n = max(1, len(predictions))
    return {k: sums[k] / n for k in ROUGE_TYPES}


def median_words(texts: list[str]) -> int:
    """The median length of ``texts`` in words (at least 1): lead-N's N."""
    return max(1, round(statistics.median(len(t.split()) for t in texts))) if texts else 1


def lead(text: str, n: int) -> str:
    """The first ``n`` words of ``text``: the summarization baseline every model must beat."""
    return " ".join(text.split()[:n])
