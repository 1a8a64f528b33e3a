"""Which machine made a figure: CPU model, the ISA features that decide kernel speed, threads, kernel path.

The same int8 model read 0.63x its baseline's energy on an AVX2-only EPYC and 0.38x on an
AVX-512 VNNI one (issue 20): int8 kernels with VNNI do about twice the work per cycle, and
bitsandbytes' NF4 takes another code path on AVX-512-BF16. "AMD EPYC" alone cannot tell those
figures apart, so every record carries a :class:`MachineInfo` and every view names it.

Flags come from ``/proc/cpuinfo`` (Linux), else py-cpuinfo (a codecarbon dependency; macOS,
Windows), else nothing: an unknown ISA is recorded as unknown, never guessed.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

#: The flags that decide which int8/bf16 kernels PyTorch, ONNX Runtime and bitsandbytes pick,
#: spelled as Linux's /proc/cpuinfo spells them.
KERNEL_FLAGS = ("avx2", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "amx_tile", "amx_int8", "amx_bf16")
# py-cpuinfo spells a few of them without the underscore.
_ALIASES = {"avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16", "avxvnni": "avx_vnni",
            "amxtile": "amx_tile", "amxint8": "amx_int8", "amxbf16": "amx_bf16"}


class MachineInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer green may add fields; older readers keep working

    cpu: str = "unknown"
    #: Present members of KERNEL_FLAGS; None when the flags could not be read at all.
    isa: list[str] | None = None
    isa_source: str | None = None
    logical_cpus: int | None = None
    physical_cores: int | None = None
    #: CPUs this process may run on (its affinity mask), which can be fewer than the machine's.
    usable_cpus: int | None = None
    torch_threads: int | None = None
    #: ONNX Runtime's intra-op pool for the measured session, when the record ran one.
    ort_intra_op_threads: int | None = None
    #: ``torch.backends.cpu.get_cpu_capability()``: the vector path PyTorch's CPU kernels dispatch to.
    torch_cpu_capability: str | None = None
    onnxruntime: str | None = None
    ort_providers: list[str] = Field(default_factory=list)

    def isa_label(self) -> str:
        """The ISA in a few words: ``AVX-512 VNNI/BF16``, ``AVX2``, ``AMX INT8/BF16``."""
        if self.isa is None:
            return "ISA unknown"
        flags = set(self.isa)
        if "amx_tile" in flags:
            extra = [n for f, n in (("amx_int8", "INT8"), ("amx_bf16", "BF16")) if f in flags]
            return "AMX " + "/".join(extra) if extra else "AMX"
        if "avx512f" in flags:
            extra = [n for f, n in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16")) if f in flags]
            return "AVX-512 " + "/".join(extra) if extra else "AVX-512"
        if "avx2" in flags:
            return "AVX2 VNNI" if "avx_vnni" in flags else "AVX2"
        return "no AVX2"

    def threads(self) -> int | None:
        """The threads the measured kernels ran on: ORT's pool when there was one, else PyTorch's."""
        return self.ort_intra_op_threads or self.torch_threads

    def summary(self) -> str:
        """One short line: ``AMD EPYC 9R14 · AVX-512 VNNI/BF16 · 2 threads``."""
        parts = [self.cpu, self.isa_label()]
        n = self.threads()
        if n:
            parts.append(f"{n} thread{'s' if n != 1 else ''}")
        return " \u00b7 ".join(parts)


def parse_cpuinfo(text: str) -> tuple[str | None, list[str] | None]:
    """The model name and kernel flags of the first processor in a /proc/cpuinfo text."""
    model = flags = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and flags is None:  # "Features" on ARM
            flags = value.split()
    return model, (_kernel_flags(flags) if flags is not None else None)


def _kernel_flags(flags) -> list[str]:
    present = {_ALIASES.get(f.lower(), f.lower()) for f in flags}
    return [f for f in KERNEL_FLAGS if f in present]


@functools.lru_cache(maxsize=1)
def _static() -> dict:
    """What does not change while the process runs; probed once (py-cpuinfo takes about a second)."""
    cpu, isa, source = None, None, None
    try:
        cpu, isa = parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
        source = "/proc/cpuinfo" if isa is not None else None
    except OSError:
        pass
    if cpu is None or isa is None:
        try:
            import cpuinfo  # py-cpuinfo

            info = cpuinfo.get_cpu_info()
            cpu = cpu or info.get("brand_raw")
            if isa is None and info.get("flags") is not None:
                isa, source = _kernel_flags(info["flags"]), "py-cpuinfo"
        except Exception:  # py-cpuinfo absent or failing: leave the ISA unknown
            pass
    if cpu is None:
        import platform

        cpu = platform.processor() or platform.machine() or "unknown"
    physical = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:
        pass
    capability = None
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch, or torch absent
        pass
    ort_version, providers = None, []
    try:
        import onnxruntime as ort

        ort_version, providers = ort.__version__, list(ort.get_available_providers())
    except Exception:
        pass
    return {"cpu": cpu, "isa": isa, "isa_source": source, "logical_cpus": os.cpu_count(),
            "physical_cores": physical, "torch_cpu_capability": capability,
            "onnxruntime": ort_version, "ort_providers": providers}


def machine_info(ort_intra_op_threads: int | None = None) -> MachineInfo:
    """This machine, now. The hardware probe is cached; thread counts are read on every call
    because a run may change them (``torch.set_num_threads``, ``--threads``).

    ``ort_intra_op_threads`` is the measured session's setting; 0 means ONNX Runtime's default,
    one thread per physical core.
    """
    static = _static()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = static["logical_cpus"]
    torch_threads = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
    except Exception:
        pass
    if ort_intra_op_threads == 0:
        ort_intra_op_threads = static["physical_cores"] or usable
    return MachineInfo(**static, usable_cpus=usable, torch_threads=torch_threads,
                       ort_intra_op_threads=ort_intra_op_threads)


def machines_line(machines: list[MachineInfo | None]) -> str:
    """The distinct machines of some records, one line; '' when none of them says."""
    seen = list(dict.fromkeys(m.summary() for m in machines if m is not None))
    return "machine " + "; ".join(seen) if seen else ""
