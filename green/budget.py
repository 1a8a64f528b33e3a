"""How much training a run may spend: epochs, rows, steps, learning rate. One budget per use."""

from __future__ import annotations

from dataclasses import dataclass

from green.batching import DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class TrainBudget:
    """How much fine-tuning to do. ``None`` limits mean the whole split.

    ``max_steps`` caps optimizer steps across epochs (useful for recovery fine-tuning);
    ``max_test_rows`` limits evaluation of the result, not training.
    """

    name: str
    epochs: int
    max_train_rows: int | None
    max_validation_rows: int | None
    max_test_rows: int | None
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_fraction: float = 0.06
    max_length: int = DEFAULT_MAX_LENGTH
    max_steps: int | None = None
    weight_decay: float = 0.01
    #: Stop after this many epochs without a better validation score (None: run every epoch).
    patience: int | None = None
    #: Parameter-name prefixes kept fixed (a CPU budget that trains a summarizer's decoder only).
    freeze: tuple[str, ...] = ()


#: On a GPU: 3 epochs over everything (0.809 test accuracy on the H100 reference run).
GPU_DEFAULT = TrainBudget("gpu-default", epochs=3, max_train_rows=None, max_validation_rows=None,
                          max_test_rows=None, learning_rate=5e-5)
#: On a 2-core CPU: one epoch over 12,000 tweets (about 6 minutes of training on 2 cores).
CPU_DEFAULT = TrainBudget("cpu-default", epochs=1, max_train_rows=12000, max_validation_rows=1000,
                          max_test_rows=None)
#: ``--quick``: a smoke run, about a minute of training on a 2-core CPU.
QUICK = TrainBudget("quick", epochs=1, max_train_rows=1200, max_validation_rows=300, max_test_rows=1000)

BUDGETS = {b.name: b for b in (GPU_DEFAULT, CPU_DEFAULT, QUICK)}


def choose_budget(device: str, quick: bool) -> TrainBudget:
    if quick:
        return QUICK
    return GPU_DEFAULT if device.startswith("cuda") else CPU_DEFAULT
