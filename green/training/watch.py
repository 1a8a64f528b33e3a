"""Who watches a training step's epochs: ``green search`` stops a hopeless trial early (Optuna's pruners).

The training loop calls :func:`epoch_done` after each epoch's validation; whoever set an
observer with :func:`watching` (a search trial) sees the score and may raise to stop the
step. Without an observer nothing happens: a plain ``green compress`` is not affected.
A context variable, not a parameter threaded through every step: steps train through
:func:`green.training.fit`, and none of them needs to know a search exists.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

#: (label of the training, epoch number, validation primary metric) -> None, or raise to stop.
EpochObserver = Callable[[str, int, float], None]

_observer: ContextVar[EpochObserver | None] = ContextVar("green_epoch_observer", default=None)


@contextmanager
def watching(observer: EpochObserver) -> Iterator[None]:
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


def epoch_done(label: str, epoch: int, score: float) -> None:
    observer = _observer.get()
    if observer is not None:
        observer(label, epoch, score)
