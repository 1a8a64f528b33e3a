"""Energy, throughput and latency of generation: one inference is one generated output (a summary).

Generation runs through the same workloads, windows, repeats, retries, contention checks
and pairing as classification (:mod:`green.evaluate.bench`, :mod:`green.evaluate.paired`):
a :class:`Generating` runner makes one call a whole ``generate`` (beams, lengths from the
task's settings), so a window's "sequences" are outputs. What generation adds:

* energy per output at the real input lengths and the real generated lengths (the
  model stops where it stops);
* energy per generated token;
* the split between encoder and decoder: the encoder alone runs in its own windows over
  the very batches the generation windows ran (the same pass), so both see the same
  inputs; decoder = generation - encoder, per output;
* latency per output at batch 1 (a whole generation, not one forward pass).

A runtime that cannot run the encoder alone (CTranslate2's Translator: ``Runner.encoder_alone``
False) gets whole generations measured as usual and its split recorded as not measured.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from green.batching import Encoded
from green.evaluate.bench import BenchSettings, Workload, measure_latency, measure_workload, prepare_workload
from green.evaluate.energy import EnergyMeter, Measurement
from green.results import Energy, EnergySplit, Latency
from green.runtime.base import Runner

#: Batch-1 latency samples: one generation costs tens of forward passes, so fewer than bench's.
LATENCY_SAMPLES = 24

SPLIT_METHOD = "encoder measured alone in its own windows over the same batches; decoder = generation - encoder"


def generated_tokens(ids: np.ndarray, eos: tuple[int, ...], pad: int | None) -> int:
    """Tokens generated in ``ids``: per row, from after the start token up to and including the first end token.

    What follows the end is filler, and not always the pad id: transformers' beam search fills
    with ``pad or eos``, so a model whose pad id is 0 gets end tokens there.
    """
    body = ids[:, 1:]
    rest = (body != pad).sum(1) if pad is not None else np.full(len(body), body.shape[1])
    if not eos:
        return int(rest.sum())
    ends = np.isin(body, eos)
    return int(np.where(ends.any(1), ends.argmax(1) + 1, rest).sum())


class Generating(Runner):
    """A runner whose call is one whole ``generate``; counts outputs and generated tokens.

    Generation is deterministic for given inputs and settings, so tokens per output from
    every call so far (warm-up included) is the figure of any window over the same batches.
    """

    def __init__(self, runner: Runner, settings: dict) -> None:
        self.runner, self.settings = runner, dict(settings)
        self.input_names, self.runtime, self.device = runner.input_names, runner.runtime, runner.device
        self.outputs, self.tokens = 0, 0
        self.shapes: list[tuple[int, int, int]] = []

    def describe(self) -> dict:
        """The wrapped runner's description: generating changes what a call is, not what runs it."""
        return self.runner.describe()

    def prepare(self, batch: dict):
        return self.runner.prepare(batch)

    def __call__(self, batch) -> np.ndarray:
        ids = self.runner.generate(batch, self.settings)
        self.tokens += generated_tokens(ids, self.runner.eos_token_ids, self.runner.pad_token_id)
        self.outputs += int(ids.shape[0])
        width = int(np.asarray(batch["input_ids"]).shape[1])
        if len(self.shapes) < 4096:  # records carry these shapes: bounded, whatever the windows ran
            self.shapes.append((int(ids.shape[0]), width, max(0, int(ids.shape[1]) - 1)))
        return ids

    @property
    def tokens_per_output(self) -> float | None:
        return self.tokens / self.outputs if self.outputs else None


def generation_workload(name: str, runner: Runner, encoded: Encoded, settings: BenchSettings,
                        generation: dict) -> Workload:
    """Batches whose every call is a whole generation with ``generation`` settings."""
    return prepare_workload(name, Generating(runner, generation), encoded, settings)


def encoder_workload(generating: Workload) -> Workload:
    """The same prepared batches and pass as a :func:`generation_workload`, run through the encoder alone."""
    gen = generating.runner
    if not isinstance(gen, Generating):
        raise TypeError("encoder_workload takes a generation_workload")
    return replace(generating, name=f"{generating.name}-encoder", runner=gen.runner)


def add_split(energy: Energy, generating: Workload, meter: EnergyMeter, settings: BenchSettings,
              idle: Measurement | None) -> Energy:
    """Measure the encoder alone over ``generating``'s pass and put the split into ``energy``."""
    gen = generating.runner
    if not isinstance(gen, Generating):
        raise TypeError("add_split takes a generation_workload")
    if not gen.runner.encoder_alone:
        return _without_split(energy, gen)
    enc = measure_workload(encoder_workload(generating), meter, settings,
                           idle, window_prefix="encoder", plan=False)
    total, encoder = energy.per_inference_j, enc.per_inference_j
    per_out_tokens = gen.tokens_per_output
    decoder = total - encoder if total is not None and encoder is not None else None
    shapes = gen.shapes
    energy.generation = dict(gen.settings)
    energy.generation_shapes = list(shapes)
    energy.split = EnergySplit(
        encoder_per_inference_j=encoder,
        decoder_per_inference_j=decoder,
        encoder_share=encoder / total if encoder is not None and total else None,
        per_generated_token_j=total / per_out_tokens if total is not None and per_out_tokens else None,
        decoder_per_generated_token_j=decoder / per_out_tokens if decoder is not None and per_out_tokens else None,
        dynamic_encoder_per_inference_j=enc.dynamic_per_inference_j,
        generated_tokens_per_inference=per_out_tokens,
        input_tokens_per_inference=sum(r * L for r, L, _ in shapes) / max(1, sum(r for r, _, _ in shapes)),
        encoder_spread=enc.spread,
        encoder_contended=enc.contended,
        encoder_windows=enc.windows,
        method=SPLIT_METHOD,
    )
    return energy


def _without_split(energy: Energy, gen: Generating) -> Energy:
    """The split of a runtime that cannot run the encoder alone: per-token figures only, the split not measured."""
    total, per_out_tokens, shapes = energy.per_inference_j, gen.tokens_per_output, gen.shapes
    energy.generation = dict(gen.settings)
    energy.generation_shapes = list(shapes)
    energy.split = EnergySplit(
        per_generated_token_j=total / per_out_tokens if total is not None and per_out_tokens else None,
        generated_tokens_per_inference=per_out_tokens,
        input_tokens_per_inference=sum(r * L for r, L, _ in shapes) / max(1, sum(r for r, _, _ in shapes)),
        method=f"not split: the {gen.runner.runtime} runtime cannot run the encoder alone")
    return energy


def measure_generation_latency(runner: Runner, encoded: Encoded, generation: dict, samples: int,
                               warmup: int = 2, multiple_of: int = 1) -> Latency:
    """Latency of one whole generation at batch 1, over the first rows (a random sample of real lengths)."""
    return measure_latency(Generating(runner, generation), encoded, min(samples, LATENCY_SAMPLES), warmup=warmup,
                           multiple_of=multiple_of)
