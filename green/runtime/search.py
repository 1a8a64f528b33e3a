"""Beam search and greedy search in NumPy over each hypothesis's best candidates.

transformers' search loop (``GenerationMixin._beam_search`` and ``_sample``, 4.57) costs
ONNX Runtime generation a third or more of its time on a CPU (benchmarks/bart_cpu.py measured
36-42%): every step it copies the whole ``[hypotheses, vocabulary]`` logits, takes their
log-softmax, runs the logits processors over them and a top-k across ``beams x vocabulary``,
all in framework ops. This module runs the same algorithm on a few candidates per hypothesis
instead, in the style of FastSeq: the decoder graph itself ends in ``LogSoftmax`` and ``TopK``
(see :mod:`green.runtime.seq2seq`), so a step hands back ``k`` log-probabilities per row.

Why ``k`` candidates are enough, and the result is exact: a step keeps the best
``beams_to_keep`` continuations of each input across all its beams, so no more than
``beams_to_keep`` come from one row; the processors supported here only *ban* tokens (set them
to ``-inf``) or *force* one; and a row has at most ``max_length`` banned tokens (each repeated
n-gram bans one token, one per earlier position, plus the end tokens before ``min_length``). So
``k = beams_to_keep + max_length + len(eos)`` holds every row's best unbanned continuations.
The bookkeeping (running and finished beams, length penalty, the early-stopping heuristic, the
fill value) follows transformers' so the tokens are the same; tests compare them with PyTorch
``generate`` on tiny random models.

Two things it adds, neither changing any output: the first step runs once per input, not once
per beam (all beams start from the same token and beams 2.. start at -1e9), and an input whose
beams are all finished and can no longer change leaves the batch, so later steps are smaller.

Settings it does not implement (sampling, repetition penalties, bad words, more than one
returned sequence, ...) are reported by :func:`plan`, and the caller uses transformers instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: transformers' stand-in for minus infinity in beam scores.
NEG = np.float32(-1.0e9)

#: Generation settings whose effect this module implements; any other difference from the
#: defaults of ``GenerationConfig`` sends the call to transformers.
SUPPORTED = frozenset({
    "num_beams", "max_length", "max_new_tokens", "min_length", "no_repeat_ngram_size", "length_penalty",
    "early_stopping", "eos_token_id", "pad_token_id", "bos_token_id", "decoder_start_token_id",
    "forced_bos_token_id", "forced_eos_token_id", "use_cache", "transformers_version", "_from_model_config",
})
#: Sampling knobs that mean nothing without ``do_sample`` (transformers warns and ignores them).
SAMPLING_ONLY = frozenset({"temperature", "top_k", "top_p", "typical_p", "min_p", "epsilon_cutoff", "eta_cutoff"})


@dataclass(frozen=True)
class SearchPlan:
    """What to generate: transformers' resolved settings for one call."""

    num_beams: int
    max_length: int
    min_length: int
    no_repeat_ngram_size: int
    length_penalty: float
    early_stopping: bool | str
    eos: tuple[int, ...]
    pad: int
    start: int
    forced_bos: int | None = None
    forced_eos: tuple[int, ...] = ()

    @property
    def beams_to_keep(self) -> int:
        """Continuations kept per input each step (transformers: twice the beams with one end token)."""
        return max(2, 1 + len(self.eos)) * self.num_beams if self.num_beams > 1 else 1

    @property
    def k(self) -> int:
        """Candidates per hypothesis that bans can never exhaust (see the module's docstring)."""
        return self.beams_to_keep + self.max_length + len(self.eos)

    @property
    def fill(self) -> int:
        """What follows a finished sequence. Beam search: transformers' ``pad or eos`` (a pad id of 0 gives eos)."""
        if self.num_beams == 1:
            return self.pad
        return (self.pad or self.eos[0]) if self.eos else -1


def token_ids(value) -> tuple[int, ...]:
    """A token id or a list of them (transformers allows both), as a tuple."""
    if value is None:
        return ()
    return tuple(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))


def plan(generation_config, settings: dict) -> SearchPlan | str:
    """The search for ``generation_config`` overridden by ``settings``, or why this module cannot run it."""
    import copy

    config = copy.deepcopy(generation_config)
    unknown = config.update(**settings)
    if unknown:
        return f"unknown generation settings {sorted(unknown)}"
    diff = config.to_diff_dict()
    if config.do_sample:
        return "sampling (do_sample)"
    odd = sorted(k for k in diff if k not in SUPPORTED | SAMPLING_ONLY | {"do_sample"})
    if odd:
        return f"settings {odd}"
    eos = token_ids(config.eos_token_id)
    start = config.decoder_start_token_id if config.decoder_start_token_id is not None else config.bos_token_id
    if start is None or not eos:
        return "no decoder start or end token"
    max_length = config.max_length if config.max_new_tokens is None else 1 + int(config.max_new_tokens)
    pad = config.pad_token_id if config.pad_token_id is not None else eos[0]
    early = config.early_stopping
    return SearchPlan(num_beams=int(config.num_beams or 1), max_length=int(max_length),
                      min_length=int(config.min_length or 0), no_repeat_ngram_size=int(config.no_repeat_ngram_size or 0),
                      length_penalty=float(config.length_penalty), early_stopping=early if early == "never" else bool(early),
                      eos=eos, pad=int(pad), start=int(start),
                      forced_bos=None if config.forced_bos_token_id is None else int(config.forced_bos_token_id),
                      forced_eos=token_ids(config.forced_eos_token_id))


class Decoder(Protocol):
    """A model that scores next tokens: ``k`` best log-probabilities per row, best first."""

    def start(self, batch: dict, start_token: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Encode ``batch`` and score the first step from ``start_token``: values and token ids, ``[inputs, k]``."""

    def expand(self, beams: int) -> None:
        """Repeat every input's state ``beams`` times (row ``i * beams + j`` is beam ``j`` of input ``i``)."""

    def step(self, tokens: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Reorder the cached state to ``rows`` (rows of the last step), append ``tokens``, score the next step."""


def _process(values: np.ndarray, ids: np.ndarray, seqs: np.ndarray, cur_len: int,
             p: SearchPlan) -> tuple[np.ndarray, np.ndarray]:
    """transformers' processors on candidates: no-repeat n-grams, minimum length, forced first and last tokens.

    ``seqs`` holds each row's tokens so far (``cur_len`` of them). Returns values and ids with banned
    candidates at ``-inf``; a forced step leaves the forced tokens at 0 and every other candidate at ``-inf``.
    """
    values, ids = values.copy(), ids.copy()
    n = p.no_repeat_ngram_size
    if n and cur_len >= n:  # transformers starts at cur_len + 1 >= n, but no earlier n-gram exists before n
        windows = np.lib.stride_tricks.sliding_window_view(seqs[:, :cur_len], n, axis=1)  # [rows, W, n]
        tail = seqs[:, cur_len - n + 1:cur_len]
        match = (windows[:, :, :n - 1] == tail[:, None, :]).all(-1)  # an earlier n-gram starts like the tail
        banned = ((ids[:, :, None] == windows[:, None, :, n - 1]) & match[:, None, :]).any(-1)
        values[banned] = -np.inf
    if cur_len < p.min_length:
        values[np.isin(ids, p.eos)] = -np.inf
    forced: tuple[int, ...] = (p.forced_bos,) if p.forced_bos is not None and cur_len == 1 else ()
    if p.forced_eos and cur_len == p.max_length - 1:
        forced = p.forced_eos
    if forced:
        # Every other token is -inf; the forced ones score 0 (transformers' Forced*LogitsProcessor).
        values[:] = -np.inf
        ids[:, :len(forced)] = forced
        values[:, :len(forced)] = 0.0
    return values, ids


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest per row, largest first (ties: lower index first)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def greedy(decoder: Decoder, batch: dict, p: SearchPlan) -> np.ndarray:
    """transformers' greedy search (``_sample`` without sampling); finished rows leave the batch."""
    n = int(np.asarray(batch["input_ids"]).shape[0])
    seqs = np.full((n, p.max_length), p.fill, dtype=np.int64)
    seqs[:, 0] = p.start
    live = np.arange(n)
    values, ids = decoder.start(batch, p.start, p.k)
    cur_len = 1
    while True:
        values, ids = _process(values, ids, seqs[live], cur_len, p)
        tokens = ids[np.arange(len(live)), np.argmax(values, axis=1)]
        seqs[live, cur_len] = tokens
        cur_len += 1
        keep = ~np.isin(tokens, p.eos)
        if cur_len >= p.max_length or not keep.any():
            break
        live, rows = live[keep], np.flatnonzero(keep)
        values, ids = decoder.step(tokens[rows], rows, p.k)
    return seqs[:, :cur_len]


def beam_search(decoder: Decoder, batch: dict, p: SearchPlan) -> np.ndarray:
    """transformers' beam search (4.57 ``_beam_search``), on candidates; the best sequence per input."""
    n, beams, keep = int(np.asarray(batch["input_ids"]).shape[0]), p.num_beams, p.beams_to_keep
    L = p.max_length
    running = np.full((n, beams, L), p.fill, dtype=np.int64)
    running[:, :, 0] = p.start
    finished_seqs = running.copy()
    running_scores = np.zeros((n, beams), np.float32)
    running_scores[:, 1:] = NEG
    finished_scores = np.full((n, beams), NEG, np.float32)
    finished_len = np.zeros((n, beams), np.int64)
    finished = np.zeros((n, beams), bool)
    heuristic = np.ones(n, bool)  # transformers' is_early_stop_heuristic_unsatisfied
    top_slots = np.arange(keep) < beams
    live = np.arange(n)

    values, ids = decoder.start(batch, p.start, p.k)
    values, ids = np.repeat(values, beams, axis=0), np.repeat(ids, beams, axis=0)
    decoder.expand(beams)
    cur_len = 1
    while True:
        m = len(live)
        seqs = running[live].reshape(m * beams, L)
        values, ids = _process(values, ids, seqs, cur_len, p)
        scores = (values.reshape(m, beams, -1) + running_scores[live][:, :, None]).reshape(m, -1)
        pick = _top(scores, keep)                                   # [m, keep] into beams * k
        top_scores = np.take_along_axis(scores, pick, 1)
        top_beam = pick // values.shape[1]
        top_tokens = np.take_along_axis(ids.reshape(m, -1), pick, 1)
        top_seqs = np.take_along_axis(running[live], top_beam[:, :, None], 1)
        top_seqs[:, :, cur_len] = top_tokens
        hits = np.isin(top_tokens, p.eos) | (cur_len + 1 >= L)

        # The best unfinished continuations run on.
        run_scores = top_scores + hits.astype(np.float32) * NEG
        nxt = _top(run_scores, beams)
        running[live] = np.take_along_axis(top_seqs, nxt[:, :, None], 1)
        running_scores[live] = np.take_along_axis(run_scores, nxt, 1)
        parent = np.take_along_axis(top_beam, nxt, 1)

        # Finished ones join the finished beams if they beat them.
        just = hits & top_slots[None, :]
        normed = top_scores / np.float32(cur_len ** p.length_penalty)
        full = finished[live].all(1, keepdims=True) & (p.early_stopping is True)
        normed = normed + full.astype(np.float32) * NEG
        normed = normed + (~heuristic[live])[:, None].astype(np.float32) * NEG
        normed = normed + (~just).astype(np.float32) * NEG
        merged_scores = np.concatenate([finished_scores[live], normed], 1)
        best = _top(merged_scores, beams)
        finished_seqs[live] = np.take_along_axis(np.concatenate([finished_seqs[live], top_seqs], 1), best[:, :, None], 1)
        finished_scores[live] = np.take_along_axis(merged_scores, best, 1)
        finished[live] = np.take_along_axis(np.concatenate([finished[live], just], 1), best, 1)
        finished_len[live] = np.take_along_axis(
            np.concatenate([finished_len[live], np.full((m, keep), cur_len)], 1), best, 1)

        cur_len += 1
        if p.early_stopping == "never" and p.length_penalty > 0.0:
            best_len = L - 1
        else:
            best_len = cur_len - 1
        best_possible = running_scores[live][:, :1] / np.float32(best_len ** p.length_penalty)
        worst = np.where(finished[live], finished_scores[live].min(1, keepdims=True), NEG)
        heuristic[live] &= (best_possible > worst).any(1)

        if hits.all() or cur_len >= L:
            break
        # An input is done when all its beams are finished and nothing can replace them.
        done = finished[live].all(1) & ((p.early_stopping is True) | ~heuristic[live])
        if done.all() or not heuristic[live].any():
            break
        rows = (np.flatnonzero(~done)[:, None] * beams + parent[~done]).reshape(-1)
        live = live[~done]
        values, ids = decoder.step(running[live][:, :, cur_len - 1].reshape(-1), rows, p.k)

    length = 1 + int(finished_len[:, 0].max())
    return finished_seqs[:, 0, :length]


def search(decoder: Decoder, batch: dict, p: SearchPlan) -> np.ndarray:
    """Token ids for ``batch`` (one row per input, the start token first), as transformers' ``generate`` gives."""
    return greedy(decoder, batch, p) if p.num_beams == 1 else beam_search(decoder, batch, p)
