"""How idle worker threads wait for work: green measures with thread pools that sleep, not spin.

PyTorch's OpenMP threads and ONNX Runtime's intra-op pool spin on a core while they wait
for the next parallel region (OpenMP's default, ORT's ``allow_spinning``). On a machine
where another process holds a core, a spinning thread burns CPU time waiting for a peer
that is not scheduled: on the 2-core machine, PyTorch's MiniLM used 23 CPU-ms per
inference with spinning against 10 with sleeping pools, and 37 with spinning once a
second process loaded one core, so energy charged to CPU time measured the machine's
other load, not the model. With pools that sleep (``OMP_WAIT_POLICY=PASSIVE``, which
green's ORT sessions follow with ``allow_spinning=0``) CPU time is the model's work and
stays put under load. The CLI sets this before PyTorch loads unless the user set
``OMP_WAIT_POLICY`` themselves; records say which policy their figures were taken under.
"""

from __future__ import annotations

import os

WAIT_ENV = "OMP_WAIT_POLICY"


def sleep_when_idle_by_default() -> None:
    """Make thread pools sleep when idle, unless the user chose; call before PyTorch is imported."""
    os.environ.setdefault(WAIT_ENV, "PASSIVE")


def pools_sleep() -> bool:
    """True when idle pool threads sleep (and green's ORT sessions turn spinning off)."""
    return os.environ.get(WAIT_ENV, "").strip().upper() == "PASSIVE"


def describe() -> dict:
    """The wait policy in effect, for records."""
    return {"idle_threads": "sleep" if pools_sleep() else "spin", WAIT_ENV: os.environ.get(WAIT_ENV),
            "onnxruntime_allow_spinning": not pools_sleep()}
