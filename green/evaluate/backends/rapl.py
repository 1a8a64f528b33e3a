"""CPU package and DRAM energy from RAPL counters under /sys/class/powercap (Intel and AMD)."""

from __future__ import annotations

from pathlib import Path

from green.evaluate.backends.base import BackendUnavailable, CounterBackend, MeasurementError

POWERCAP = Path("/sys/class/powercap")


class RaplBackend(CounterBackend):
    """Sums the package (and DRAM, where exposed) RAPL domains of every socket.

    Sub-domains ``core`` and ``uncore`` sit inside the package, so they are not added
    again. Counters wrap at ``max_energy_range_uj``; one wrap per window is corrected,
    which holds while windows are shorter than the wrap period (minutes at full load).
    """

    source = "rapl"
    update_period_s = 0.001

    def __init__(self, root: Path = POWERCAP) -> None:
        self._zones: dict[str, tuple[Path, float]] = {}
        root = Path(root)
        if not root.exists():
            raise BackendUnavailable(f"{root} does not exist (no RAPL driver, or not Linux)")
        for zone in sorted(root.glob("*-rapl:*")):
            name_file = zone / "name"
            if not name_file.exists():
                continue
            name = name_file.read_text().strip()
            if not (name.startswith("package") or name == "dram"):
                continue
            label = name if name.startswith("package") else f"dram-{zone.name.split(':')[1]}"
            try:
                max_uj = float((zone / "max_energy_range_uj").read_text())
                (zone / "energy_uj").read_text()
            except PermissionError:
                raise BackendUnavailable(
                    f"permission denied reading {zone / 'energy_uj'} "
                    "(run as root, or chmod o+r the energy_uj files)"
                ) from None
            except OSError as exc:
                raise BackendUnavailable(f"cannot read {zone}: {exc}") from None
            self._zones[label] = (zone / "energy_uj", max_uj)
        if not self._zones:
            raise BackendUnavailable(f"no package RAPL zones under {root}")

    def domains(self) -> list[str]:
        return list(self._zones)

    def read(self) -> dict[str, float]:
        out = {}
        for label, (path, _) in self._zones.items():
            try:
                out[label] = float(path.read_text()) / 1e6
            except (OSError, ValueError) as exc:
                raise MeasurementError(f"cannot read {path}: {exc}") from None
        return out

    def difference(self, domain: str, start: float, end: float, seconds: float) -> float:
        if end >= start:
            return end - start
        max_j = self._zones[domain][1] / 1e6
        return end + max_j - start  # the counter wrapped once
