"""Compression steps. Importing this package registers every built-in step."""

from green.compress import bnb, export, quantize  # noqa: F401  (registration side effect)
from green.compress.registry import STEPS, Step, StepConfig, StepContext, register_step

__all__ = ["STEPS", "Step", "StepConfig", "StepContext", "register_step"]
