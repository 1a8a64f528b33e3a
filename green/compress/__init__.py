"""Compression steps. Importing this package registers every built-in step."""

from green.compress import bnb, convert, distill, distill_seq2seq, export, prune, quantize, sparsify  # noqa: E402,F401  (registration side effect)
from green.compress.registry import STEPS, Step, StepConfig, StepContext, chain_problem, kind_problem, register_step

__all__ = ["STEPS", "Step", "StepConfig", "StepContext", "chain_problem", "kind_problem", "register_step"]
