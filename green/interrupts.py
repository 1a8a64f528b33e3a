"""Ctrl-C and SIGTERM that stop green every time, cleanly.

Python turns a signal into an exception raised wherever the main thread happens to be. When
that is a finalizer (a weakref callback or a ``__del__``; an ONNX export frees thousands of
objects) Python only prints "Exception ignored in ..." and carries on: an interrupted
``green compress`` then ran to the end and exited 0, about once in fifteen tries on a 2-core
machine like CI's. So the handlers here remember the signal, and :func:`check` raises it again at the
next checkpoint (a recipe step, a measured window, a training batch). From the first signal
on, further SIGINT and SIGTERM are ignored, so pressing Ctrl-C twice cannot cut the cleanup
short, and a finalizer's swallowed interrupt is not printed as a traceback.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from typing import NoReturn

_received: int | None = None  # the first signal this process got, once one has come


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every cleanup written for an interrupt runs for it too."""


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum, frame) -> None:
    global _received
    if _received is None:
        _received = signum
    for s in (signal.SIGINT, signal.SIGTERM):  # one is enough: the cleanup must not be cut short
        signal.signal(s, signal.SIG_IGN)
    raise _interrupt(_received)


def _unraisable(hook):
    def quiet(unraisable) -> None:
        # The interrupt a finalizer swallowed is raised again at the next checkpoint; printing
        # its traceback would only alarm the user.
        if _received is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        hook(unraisable)
    return quiet


def install() -> None:
    """Handle SIGINT and SIGTERM this way; call once, from the main thread, before any work."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if not getattr(sys.unraisablehook, "green", False):  # once, however often main() runs (tests)
        sys.unraisablehook = _unraisable(sys.unraisablehook)
        sys.unraisablehook.green = True  # type: ignore[attr-defined]


def received() -> int | None:
    """The signal that interrupted this process, or None."""
    return _received


def exit_code() -> int:
    """128 + the signal's number, as a shell reports it: 143 for SIGTERM, 130 for Ctrl-C (or none)."""
    return 128 + (_received or signal.SIGINT)


def check() -> None:
    """Raise the interrupt again if a signal came and something swallowed it; else nothing."""
    if _received is not None:
        raise _interrupt(_received)


def exit_interrupted(code: int) -> NoReturn:
    """Leave with ``code`` (130 for Ctrl-C, 143 for SIGTERM) once the cleanup is done.

    ``sys.exit`` would go on through the interpreter's teardown, and there an interrupted
    compress was once in about thirty tries ended by SIGINT itself (exit -2, in CI and here)
    after green had cleaned up and printed its message; the path was not found. Exit handlers
    still run; the teardown, with nothing of green's left to do, is skipped.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)
