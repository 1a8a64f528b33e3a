"""Energy backends: NVML, RAPL, codecarbon's estimate. Chosen once, in ``discover``."""
