"""The typed results of measuring: windows, energy summaries, paired blocks, latency, cells.

The benchmark (:mod:`green.evaluate.bench`, ``paired``, ``cell``) produces these, the
:class:`~green.records.Record` nests them as they are, and the report reads them by
attribute: one schema from the window to the chart, not three dicts. A leaf module
(pydantic only), so records, evaluation and report all import it without a cycle.

Every model allows extra keys: a record written by a newer green, or a window a backend
annotated further, still loads; what this green knows is typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class Reading(_Result):
    """What the meter read over one named window, in SI units (joules, seconds).

    ``source`` names the counter (``rapl``, ``nvml``...) or the estimate
    (``codecarbon-estimate``) the joules came from; ``estimate`` is True for the latter.
    :class:`green.evaluate.energy.Measurement` is the meter's live form of it.
    """

    name: str | None = None
    seconds: float | None = None
    joules: float | None = None
    source: str = "none"
    estimate: bool = False
    per_domain_j: dict[str, float] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)
    crosscheck_j: float | None = None
    crosscheck_source: str | None = None
    emissions_kg: float | None = None
    #: What the joules are charged to: ``process-cpu-time``, ``machine`` or ``device``.
    attribution: str | None = None
    #: CPU time of this process (all threads) during the window.
    cpu_s: float | None = None
    #: CPU time every other process used during the window; None where /proc/stat is absent.
    other_cpu_s: float | None = None
    #: CPUs this process may run on: the capacity ``other_cpu_s`` is a share of.
    cpus: int | None = None


class Window(Reading):
    """One energy window as a record keeps it: the reading, its mean power, and what the benchmark learned of it."""

    watts: float | None = None
    # Benchmark windows (green.evaluate.bench.Window) add these:
    workload: str | None = None
    sequences: int | None = None
    batches: int | None = None
    per_inference_j: float | None = None
    cpu_s_per_inference: float | None = None
    other_cpu_share: float | None = None
    tail_ratio: float | None = None
    #: Other processes used the CPU during the window (None: not judged).
    contended: bool | None = None
    contention: list[str] = Field(default_factory=list)
    retried: bool = False
    #: The window's figure went into the summary (False: retried or discarded).
    used: bool = True


class StepWindow(Window):
    """The window of one step that made an artifact (``train``, ``export``, ...), as a record lists it."""

    step: str | None = None
    #: Reused from an earlier run (its joules are the lineage's, not spent this time).
    reused: bool = False
    reused_from: str | None = None


class BandModel(BaseModel):
    """One published power model's price of the same CPU time (:mod:`green.evaluate.band`)."""

    name: str
    per_inference_j: float
    w_per_cpu_s: float
    basis: str


class EnergyBand(BaseModel):
    """Energy per inference under each named model: ``low`` <= ``central`` <= ``high``."""

    low_j: float
    central_j: float
    high_j: float
    central_model: str = "codecarbon"
    low_model: str
    high_model: str
    models: list[BandModel] = Field(default_factory=list)
    #: "modelled": no counter measured these joules (the record's source stays codecarbon-estimate).
    label: str = "modelled"
    meaning: str = "the same CPU time priced by different published power models; not measurement spread"


class Energy(_Result):
    """Energy per inference at one batch size, from repeated windows (``green.evaluate.bench.energy_summary``).

    The record's energy: the figure (``per_inference_j``), what measured it (``source``,
    ``estimate``, ``attribution``), how the windows agreed (``spread``, ``converged``,
    contention), every window run, and, once in a record, the idle power and the scaled
    figures (Wh and gCO2e per million inferences).
    """

    batch_size: int | None = None
    #: Windows the figure comes from, and every window run (retried and discarded ones too).
    repeats: int = 0
    windows_run: int = 0
    min_window_s: float | None = None
    per_inference_j: float | None = None
    #: Estimated CPU figures: the same CPU time under each named power model; not spread.
    band: EnergyBand | None = None
    per_inference_j_repeats: list[float] = Field(default_factory=list)
    #: (max - min) / median of energy per inference over the windows used; None below two.
    spread: float | None = None
    spread_target: float | None = None
    #: True: the last windows (paired: rounds) agreed within the target; False: stopped at the maximum.
    converged: bool | None = None
    converged_on: str | None = None
    max_repeats: int | None = None
    cpu_s_per_inference: float | None = None
    cpu_s_per_inference_repeats: list[float | None] = Field(default_factory=list)
    cpu_spread: float | None = None
    dynamic_per_inference_j: float | None = None
    idle_power_w: float | None = None
    throughput_per_s: float | None = None
    source: str = "none"
    estimate: bool = False
    attribution: str | None = None
    crosscheck_per_inference_j: float | None = None
    crosscheck_source: str | None = None
    contended: bool = False
    contended_windows: int = 0
    retries: int = 0
    contention_limits: dict[str, float] = Field(default_factory=dict)
    thread_wait: dict[str, Any] | None = None
    flags: list[str] = Field(default_factory=list)
    windows: list[Window] = Field(default_factory=list)
    #: The idle window measured before the benchmark (its watts), once in a record.
    idle: Window | None = None
    #: ``gpu``, ``cpu`` or ``cpu+ram`` (an estimate prices memory too); set in a record.
    scope: str | None = None
    wh_per_million: float | None = None
    gco2e_per_million: float | None = None
    country: str | None = None
    region: str | None = None
    #: The padded (rows, length) shapes a pass ran, and for generation (rows, length, new tokens):
    #: what FLOPs per inference are counted from. Not stored in records.
    batch_shapes: Sequence[tuple[int, ...]] = Field(default_factory=list, exclude=True)
    generation_shapes: Sequence[tuple[int, ...]] = Field(default_factory=list, exclude=True)
    #: Generative tasks: the settings the outputs were made with, and the encoder/decoder split
    #: (the record keeps them as ``generation`` and ``energy_split``). Not stored here.
    generation: dict[str, Any] | None = Field(default=None, exclude=True)
    split: "EnergySplit | None" = Field(default=None, exclude=True)


class EnergySplit(_Result):
    """Generative tasks: one output's energy between the encoder (measured alone, same batches) and the decoder."""

    encoder_per_inference_j: float | None = None
    decoder_per_inference_j: float | None = None
    encoder_share: float | None = None
    per_generated_token_j: float | None = None
    decoder_per_generated_token_j: float | None = None
    dynamic_encoder_per_inference_j: float | None = None
    generated_tokens_per_inference: float | None = None
    input_tokens_per_inference: float | None = None
    encoder_spread: float | None = None
    encoder_contended: bool | None = None
    encoder_windows: list[Window] = Field(default_factory=list)
    method: str | None = None


class Paired(_Result):
    """This artifact and a reference measured in alternating windows of one session (``green.evaluate.paired``).

    Ratios are this artifact over the reference; each is the median of per-round ratios.
    The report's "vs baseline" and payback use these when present.
    """

    #: The reference's recipe name (``baseline``, or what ``green measure --pair`` named) and folder.
    reference: str
    reference_artifact: str | None = None
    order: str | None = None
    #: Rounds the figures come from, and every round run.
    rounds: int
    rounds_run: int | None = None
    per_inference_j: float | None = None
    reference_per_inference_j: float | None = None
    energy_ratio: float | None = None
    #: [min, max] of the per-round energy ratios used.
    energy_ratio_range: list[float] | None = None
    energy_ratio_spread: float | None = None
    round_ratios: list[float | None] = Field(default_factory=list)
    #: Median over rounds of (reference - this) joules per inference: what payback divides by.
    saved_per_inference_j: float | None = None
    throughput_per_s: float | None = None
    reference_throughput_per_s: float | None = None
    throughput_ratio: float | None = None
    cpu_s_per_inference: float | None = None
    reference_cpu_s_per_inference: float | None = None
    cpu_seconds_ratio: float | None = None
    cpu_seconds_ratio_spread: float | None = None
    converged: bool | None = None
    spread_target: float | None = None
    retries: int = 0
    #: Rounds kept although one of their windows was still contended after retries.
    contended_rounds: int = 0
    contended: bool = False
    source: str | None = None
    estimate: bool = False
    attribution: str | None = None
    reference_windows: list[Window] = Field(default_factory=list)


class Latency(_Result):
    """Milliseconds per call at batch 1 over real rows (one forward pass, or one whole generation)."""

    p50: float
    p95: float
    mean: float | None = None
    batch_size: int = 1
    samples: int | None = None
    p95_over_p50: float | None = None
    other_cpu_share: float | None = None
    contended: bool = False
    contention: list[str] = Field(default_factory=list)


class Cell(_Result):
    """One cell of ``green measure``: a batch size at one set of lengths, its energy and paired blocks."""

    batch_size: int
    #: A fixed length on the grid, or ``real`` (the test rows' own lengths).
    seq_len: int | str = "real"
    energy: Energy = Field(default_factory=Energy)
    paired: Paired | None = None
    wh_per_million: float | None = None
    gco2e_per_million: float | None = None
    efficiency: dict[str, Any] | None = None


Energy.model_rebuild()
