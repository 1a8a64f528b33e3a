"""FLOPs of one summary, counted on the real encoder-decoder module (torch's FlopCounterMode).

A summary is the encoder once over the L input tokens, then the decoder once per generated
step for every beam. With the KV cache, step t attends over t cached positions and the L
encoder positions (cross-attention keys and values are projected once, at the first step),
so the cost is exactly:

* encoder: c0 + c1 L + c2 L^2 (projections and FFN grow with L, attention with L^2)
* first decoder step: a0 + a1 L (the cross-attention K/V projections of the L positions)
* decoder step t >= 2: d0 + d1 t + d2 L

Each is fitted from counts at a few lengths, so a pruned or distilled model gets its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BASIS = ("torch FlopCounterMode on the module: encoder once + decoder per generated step with its KV cache, "
         "x beams, at the benchmark's padded lengths and generated steps")


def fit_seq2seq_flops(model, lengths=(16, 32, 64), steps=(2, 4, 8)) -> dict:
    """``{"kind": "seq2seq", "encoder": [c0, c1, c2], "decoder_first": [a0, a1], "decoder_step": [d0, d1, d2]}``."""
    import torch

    from green.flops import count_flops

    model = model.eval()
    device = next(model.parameters()).device
    start = model.config.decoder_start_token_id
    start = start if start is not None else 0
    token = 100 if model.config.vocab_size > 100 else 1

    def ids(n: int):
        return torch.full((1, n), token, dtype=torch.long, device=device)

    def encoded(L: int):
        with torch.inference_mode():
            return model.get_encoder()(input_ids=ids(L), attention_mask=torch.ones(1, L, dtype=torch.long, device=device))

    enc_counts = [count_flops(lambda: model.get_encoder()(input_ids=ids(L), attention_mask=torch.ones_like(ids(L))))
                  for L in lengths]
    first_counts, step_rows, step_counts = [], [], []
    for L in lengths[:2]:
        out, mask = encoded(L), torch.ones(1, L, dtype=torch.long, device=device)
        dec = torch.full((1, 1), start, dtype=torch.long, device=device)
        first_counts.append(count_flops(lambda: model(encoder_outputs=out, attention_mask=mask, decoder_input_ids=dec,
                                                      use_cache=True)))
        for t in steps:
            with torch.inference_mode():  # the cache of the t - 1 steps before
                past = model(encoder_outputs=out, attention_mask=mask, decoder_input_ids=ids(t - 1),
                             use_cache=True).past_key_values
            step_counts.append(count_flops(lambda: model(encoder_outputs=out, attention_mask=mask,
                                                         decoder_input_ids=ids(1), past_key_values=past,
                                                         use_cache=True)))
            step_rows.append([1.0, t, L])
    enc = np.linalg.solve(np.array([[1.0, L, L * L] for L in lengths]), np.array(enc_counts, dtype=np.float64))
    first = np.linalg.solve(np.array([[1.0, L] for L in lengths[:2]]), np.array(first_counts, dtype=np.float64))
    step, *_ = np.linalg.lstsq(np.array(step_rows), np.array(step_counts, dtype=np.float64), rcond=None)
    return {"kind": "seq2seq", "basis": BASIS,
            "encoder": [float(round(c, 3)) for c in enc],
            "decoder_first": [float(round(c, 3)) for c in first],
            "decoder_step": [float(round(c, 3)) for c in step],
            "counted": {"encoder": dict(zip(map(str, lengths), enc_counts)), "decoder_first": first_counts,
                        "decoder_step": step_counts}}


def decoder_flops(model: dict, length: int, steps: int) -> float:
    """One beam's decoder FLOPs for ``steps`` generated steps over ``length`` encoder positions."""
    if steps <= 0:
        return 0.0
    a0, a1 = model["decoder_first"]
    d0, d1, d2 = model["decoder_step"]
    later = steps - 1  # steps 2..steps: sum of t is the triangular number minus the first step
    return a0 + a1 * length + later * (d0 + d2 * length) + d1 * (steps * (steps + 1) / 2 - 1)


def encoder_flops(model: dict, length: int) -> float:
    c0, c1, c2 = model["encoder"]
    return c0 + c1 * length + c2 * length * length


def summary_flops(model: dict, shapes: Sequence[tuple[int, ...]], beams: int) -> float:
    """Mean FLOPs per summary over ``(rows, padded input length, generated steps)`` batches."""
    total = sum(rows * (encoder_flops(model, L) + beams * decoder_flops(model, L, steps)) for rows, L, steps in shapes)
    return total / max(1, sum(rows for rows, _, _ in shapes))
