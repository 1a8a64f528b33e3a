"""Energy, throughput and latency of generation: one inference is one generated output (a summary).

The same windows, repeats, idle subtraction and sources as :mod:`green.evaluate.bench`
(its ``run_window``), with what generation adds:

* energy per output at the real input lengths and the real generated lengths (the
  model stops where it stops; settings from the task: beams, lengths);
* energy per generated token;
* the split between encoder and decoder: after each generation window, the encoder alone
  runs in its own window over the very batches that generation window ran, so both see
  the same inputs; decoder = generation - encoder, per output;
* latency per output at batch 1 (a whole generation, not one forward pass).

Each repeat's generation window starts where the previous one stopped in the shuffled
cycle of batches, so the repeats together cover more of the test rows than the first few.
"""

from __future__ import annotations

import random
import statistics
import time

import numpy as np

from green.batching import Encoded, sorted_batches
from green.evaluate.bench import BenchSettings, run_window
from green.evaluate.energy import EnergyMeter, Measurement
from green.runtime.base import Runner

#: Batch-1 latency samples: one generation costs tens of forward passes, so fewer than bench's.
LATENCY_SAMPLES = 24


class _Tally:
    """Counts what a window's generate calls did: batches, outputs, generated tokens, shapes."""

    def __init__(self, runner: Runner, settings: dict) -> None:
        self.runner, self.settings = runner, settings
        self.calls, self.tokens = 0, 0
        self.shapes: list[tuple[int, int, int]] = []

    def __call__(self, batch) -> None:
        ids = self.runner.generate(batch, self.settings)
        self.calls += 1
        pad = self.runner.pad_token_id
        # Column 0 is the decoder's start token; what follows the end token is padding.
        self.tokens += int((ids[:, 1:] != pad).sum()) if pad is not None else int(ids[:, 1:].size)
        width = int(np.asarray(batch["input_ids"]).shape[1])
        self.shapes.append((int(ids.shape[0]), width, max(0, int(ids.shape[1]) - 1)))


def measure_generation(
    runner: Runner,
    encoded: Encoded,
    meter: EnergyMeter,
    settings: BenchSettings,
    generation: dict,
    idle: Measurement | None = None,
) -> dict:
    """Energy per output, per generated token, and its encoder/decoder split, at ``settings.batch_size``."""
    order = sorted_batches(encoded.lengths, settings.batch_size)
    random.Random(0).shuffle(order)
    host = [encoded.batch(idx, multiple_of=settings.pad_multiple) for idx in order]
    sizes = [len(idx) for idx in order]
    batches = [runner.prepare(b) for b in host]
    warm = _Tally(runner, generation)
    for batch in batches[: max(1, min(settings.warmup_batches, 2))]:
        warm(batch)
        runner(batch)
    min_s = max(settings.min_window_s, meter.min_window_s)
    idle_w = idle.watts if idle is not None else None

    per_out, per_tok, dyn, enc_per, enc_dyn, thr, cross, flags, windows, enc_windows = ([] for _ in range(10))
    shapes: list[tuple[int, int, int]] = []
    tokens_total, outputs_total, pos = 0, 0, 0
    for r in range(settings.repeats):
        rot = list(range(pos, len(batches))) + list(range(pos))
        tally = _Tally(runner, generation)
        w, n = run_window(meter, f"generate-b{settings.batch_size}-{r}", tally, [batches[i] for i in rot],
                          [sizes[i] for i in rot], min_s)
        ran = [rot[k % len(rot)] for k in range(tally.calls)]
        pos = (pos + tally.calls) % len(batches)
        # The encoder alone, over the batches this generation window ran (cycled to last min_s).
        we, ne = run_window(meter, f"encoder-b{settings.batch_size}-{r}", runner, [batches[i] for i in ran],
                            [sizes[i] for i in ran], min_s)
        windows.append({**w.to_dict(), "sequences": n, "generated_tokens": tally.tokens})
        enc_windows.append({**we.to_dict(), "sequences": ne})
        shapes += tally.shapes
        tokens_total += tally.tokens
        outputs_total += n
        thr.append(n / w.seconds)
        flags += [f for f in (*w.flags, *we.flags) if f not in flags]
        if w.joules is None or we.joules is None:
            continue
        per_out.append(w.joules / n)
        per_tok.append(w.joules / max(1, tally.tokens))
        enc_per.append(we.joules / ne)
        if idle_w is not None:
            dyn.append(max(0.0, w.joules - idle_w * w.seconds) / n)
            enc_dyn.append(max(0.0, we.joules - idle_w * we.seconds) / ne)
        if w.crosscheck_j is not None:
            cross.append(w.crosscheck_j / n)

    complete = len(per_out) == settings.repeats
    median = statistics.median(per_out) if complete else None
    encoder = statistics.median(enc_per) if complete else None
    tokens_per_output = tokens_total / max(1, outputs_total)
    all_windows = windows + enc_windows
    return {
        "batch_size": settings.batch_size,
        "repeats": settings.repeats,
        "min_window_s": min_s,
        "per_inference_j": median,
        "per_inference_j_repeats": per_out,
        "spread": (max(per_out) - min(per_out)) / median if complete and median else None,
        "dynamic_per_inference_j": statistics.median(dyn) if complete and dyn else None,
        "idle_power_w": idle_w,
        "throughput_per_s": statistics.median(thr),
        "source": "+".join(sorted({win["source"] for win in all_windows})),
        "estimate": any(win["estimate"] for win in all_windows),
        "crosscheck_per_inference_j": statistics.median(cross) if cross else None,
        "crosscheck_source": meter.crosscheck.source if meter.crosscheck else None,
        "flags": flags,
        "windows": windows,
        "batch_shapes": [(len(b["input_ids"]), int(b["input_ids"].shape[1])) for b in host],
        "generation_shapes": shapes,
        "generation": dict(generation),
        "split": {
            "encoder_per_inference_j": encoder,
            "decoder_per_inference_j": (median - encoder) if complete else None,
            "encoder_share": encoder / median if complete and median else None,
            "per_generated_token_j": statistics.median(per_tok) if complete else None,
            "decoder_per_generated_token_j": (median - encoder) / tokens_per_output
            if complete and tokens_per_output else None,
            "dynamic_encoder_per_inference_j": statistics.median(enc_dyn) if complete and enc_dyn else None,
            "generated_tokens_per_inference": tokens_per_output,
            "input_tokens_per_inference": sum(r * L for r, L, _ in shapes) / max(1, sum(r for r, _, _ in shapes)),
            "encoder_windows": enc_windows,
            "method": "encoder measured alone in its own windows over the same batches; decoder = generation - encoder",
        },
    }


def measure_generation_latency(runner: Runner, encoded: Encoded, generation: dict, samples: int,
                               warmup: int = 2, multiple_of: int = 1) -> dict:
    """Latency of one whole generation at batch 1, over the first rows (a random sample of real lengths)."""
    n = min(samples, LATENCY_SAMPLES, len(encoded))
    rows = [runner.prepare(encoded.batch([i], multiple_of=multiple_of)) for i in range(n)]
    for batch in rows[:warmup]:
        runner.generate(batch, generation)
    times = []
    for batch in rows:
        t0 = time.perf_counter()
        runner.generate(batch, generation)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
            "mean": float(np.mean(times)), "batch_size": 1, "samples": n}
