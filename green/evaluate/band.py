"""The CPU energy estimate as a band: the same CPU time priced by more than one published power model.

Without a counter (RAPL, NVML) green's CPU figure is a model, not a measurement:
``(codecarbon TDP + codecarbon RAM power) x this process's share of the CPUs``
(green.evaluate.backends.estimate). Other published models price the same CPU-seconds
differently, and nothing on a VM says which is right. So each estimated CPU record carries a
band, every model in it named:

* ``codecarbon`` (central; what ratios, payback and the frontier use): codecarbon's TDP for
  this CPU from its table plus its RAM power model, both charged by this process's CPU share,
  i.e. ``(tdp_w + ram_w) / cpus`` watts per CPU-second. codecarbon's documentation:
  https://mlco2.github.io/codecarbon/methodology.html
* ``cloud-carbon-footprint``: Cloud Carbon Footprint's per-vCPU coefficients
  (https://www.cloudcarbonfootprint.org/docs/methodology, "Energy Estimate (Watt-Hours)";
  coefficients from its AWS/GCP/Azure microarchitecture tables): a vCPU draws
  ``min + utilization x (max - min)`` watts, 0.47 W idle to 1.69 W at full load for AMD EPYC
  2nd gen (the EPYC rows span about 0.45-0.82 W min and 1.69-2.55 W max); and 0.392 W per GB of
  memory. green charges this process's busy CPU-seconds at the full-load coefficient
  (``CCF_VCPU_MAX_W``: a busy CPU-second is utilization 1; the idle coefficient is the rest of the
  machine's, not this process's) and the machine's memory by the same CPU share as codecarbon:
  ``1.69 + 0.392 x RAM_GB / cpus`` watts per CPU-second.

Both are linear in CPU time, so each model's figure is the central one times the ratio of their
watts per CPU-second, and every energy *ratio* is the same under either model (the CPU-time
ratio): the band moves absolute joules, payback times and CO2e, never a ratio.
``low`` and ``high`` are the smallest and largest model; ``central`` is codecarbon's.

The band's width is the disagreement between models, not measurement spread: a window's
repeatability is the record's ``spread``, a separate figure. A band is "modelled": without RAPL
nothing measured these joules.
"""

from __future__ import annotations

from green.results import BandModel, EnergyBand

CCF_VCPU_MAX_W = 1.69  # Cloud Carbon Footprint, AMD EPYC 2nd gen, full load, W per vCPU
CCF_VCPU_MIN_W = 0.47  # the same row's idle figure (documented above; not charged to busy time)
CCF_MEMORY_W_PER_GB = 0.392
CENTRAL_MODEL = "codecarbon"

__all__ = ["BandModel", "EnergyBand", "band_for_meter", "cpu_energy_band", "machine_ram_gb"]


def cpu_energy_band(central_j: float | None, coefficients: dict | None, ram_gb: float | None) -> EnergyBand | None:
    """The band around codecarbon's process-attributed figure ``central_j``.

    ``coefficients`` are codecarbon's (``tdp_w``, ``ram_w``, ``cpus``; CodecarbonBackend in process
    mode); None, or a machine-attributed figure, gives no band.
    """
    if central_j is None or not coefficients or not ram_gb or ram_gb <= 0:
        return None
    cpus = coefficients.get("cpus") or 0
    cc_w = (coefficients.get("tdp_w", 0.0) + coefficients.get("ram_w", 0.0)) / cpus if cpus else 0.0
    if cc_w <= 0:
        return None
    ccf_w = CCF_VCPU_MAX_W + CCF_MEMORY_W_PER_GB * ram_gb / cpus
    models = [
        BandModel(name=CENTRAL_MODEL, per_inference_j=central_j, w_per_cpu_s=cc_w,
                  basis=f"(TDP {coefficients['tdp_w']:.3g} W + RAM {coefficients['ram_w']:.3g} W) / {cpus} CPUs"),
        BandModel(name="cloud-carbon-footprint", per_inference_j=central_j * ccf_w / cc_w, w_per_cpu_s=ccf_w,
                  basis=f"{CCF_VCPU_MAX_W} W per busy vCPU + {CCF_MEMORY_W_PER_GB} W/GB x {ram_gb:.3g} GB / {cpus} CPUs"),
    ]
    low, high = min(models, key=lambda m: m.per_inference_j), max(models, key=lambda m: m.per_inference_j)
    return EnergyBand(low_j=low.per_inference_j, central_j=central_j, high_j=high.per_inference_j,
                      low_model=low.name, high_model=high.name, models=models)


def machine_ram_gb() -> float | None:
    try:
        import psutil

        return psutil.virtual_memory().total / 1e9
    except Exception:
        return None


def band_for_meter(meter, central_j: float | None) -> EnergyBand | None:
    """The band as a record's energy block carries it, when ``meter`` prices CPU time with codecarbon."""
    coefficients = next((b.coefficients for b in getattr(meter, "primary", [])
                         if getattr(b, "coefficients", None)), None)
    band = cpu_energy_band(central_j, coefficients, machine_ram_gb())
    return band
