"""Job kinds: what a buyer needs, and how the kind of work behaves on GPUs, across nodes and when cut short.

Two families share these behaviours: synthetic job kinds (drawn from distributions) and trace job kinds
(replayed from a public trace). Training is fixed work on a fixed number of GPUs that restarts from its
last checkpoint after an interruption and loses time exchanging gradients across nodes; serving
(inference) runs for a fixed time, scales out on slower GPUs and fails over after an interruption.
The model asks a job for these answers (``speed``, ``slowdown``, ``interruption``...) and never tests
its kind.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from ..catalog import GpuModel, StorageMedia, gpu_catalog, hardware_models
from ..traces import RequestLog, Trace, TraceFormat
from .core import Mechanism, Registry, check_gpu_models, examples
from .distributions import CountChoice, NonNegative, Positive, sample_choice


class Interruption(NamedTuple):
    """What an interruption (a failure, a preemption) leaves of a job's attempt."""

    left_work: float
    """Reference GPU-hours still to do."""
    lost_work: float
    """Reference GPU-hours done but lost (since the last checkpoint)."""
    downtime_hours: float
    """Hours the job serves nothing."""
    restart_overhead_hours: float
    """Hours the next attempt spends before it does useful work."""


class JobKind(Mechanism):
    """What every job needs from a venue, whatever its kind and resource."""

    resource: ClassVar[str] = "gpu"
    """The resource the job rents (a capacity class of another resource never fits it)."""
    patience_hours: NonNegative = Field(  # type: ignore[valid-type]
        default={"kind": "exponential", "mean": 6.0},
        description="How long the buyer waits for network capacity cheaper than the cloud before "
        "going to the cloud, hours.",
    )
    interruptible: bool = Field(
        default=False,
        description="Buy interruptible (spot) network capacity: pay the market's spot discount off the ask, "
        "and be preempted when a buyer paying the full ask finds no free GPUs (the job then restarts "
        "from its last checkpoint, like after a failure).")

    def accepts(self, model: str) -> bool:
        """Whether the job can run on this capacity class (a GPU model or a storage medium)."""
        raise NotImplementedError

    def requirement(self) -> str:
        """What the job asks of a venue, in words (for messages)."""
        raise NotImplementedError

    def budgets_usd(self, rng: np.random.Generator, work: np.ndarray) -> np.ndarray:
        """The most each drawn job pays for its ``work`` (reference unit-hours), one draw per job."""
        raise NotImplementedError

    def verified_share(self) -> float:
        """Share of the job's capacity that counts as verified (FIL+) data in quality-adjusted power."""
        return 0.0

    def beyond_horizon(self, horizon_hours: float) -> str | None:
        """Why the job's own terms forbid it in a run of this length (None: they do not)."""
        return None

    # --- how the kind of work behaves (TrainingWork, OutageWork and its kinds) ----------------------

    def speed(self, model: GpuModel | StorageMedia) -> float:
        """Throughput of one unit of ``model`` for this kind of work, relative to the reference GPU."""
        raise NotImplementedError

    def placement(self, model: GpuModel | StorageMedia, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Units (GPUs, TiB) and hours each drawn job needs on ``model``."""
        raise NotImplementedError

    def slowdown(self, gpu_speed: float, nodes: int, bandwidth_gbps: float) -> float:
        """Run-time factor when the job spans ``nodes`` nodes linked at ``bandwidth_gbps``: none unless the
        work exchanges state between nodes."""
        return 1.0

    @property
    def interruption_overhead_hours(self) -> float:
        """Hours an interrupted job spends before it does useful work again."""
        raise NotImplementedError

    @property
    def downtime_per_interruption_hours(self) -> float:
        """Hours an interruption leaves the job serving nothing."""
        raise NotImplementedError

    def work_lost_cap_hours(self, hours: np.ndarray, notice_hours: float) -> np.ndarray | None:
        """Most work (wall hours) an interruption with this much notice loses; None if none."""
        raise NotImplementedError

    def hours_lost_per_interruption(self, hours: np.ndarray, notice_hours: float) -> np.ndarray:
        """Expected wall hours an interruption costs a run of ``hours``."""
        raise NotImplementedError

    def interruption(self, elapsed: float, overhead: float, planned: float, work: float) -> Interruption:
        """What is left of an attempt cut short ``elapsed`` hours after it began, having spent ``overhead``
        of them restarting, planned to run ``planned`` hours for ``work`` reference GPU-hours."""
        raise NotImplementedError


class GpuJob(JobKind):
    """A job that rents GPUs."""

    gpu_models: tuple[str, ...] | None = Field(
        default=None,
        description="GPU models the job accepts. Give this, min_gpu_memory_gb, or both.",
    )
    min_gpu_memory_gb: float | None = Field(
        default=None, gt=0, description="Smallest GPU memory the job accepts, GB."
    )
    reservation_usd_per_gpu_hour: Positive = Field(  # type: ignore[valid-type]
        description="Most the buyer pays per reference GPU-hour (H100 SXM equivalent) of work, USD. "
        "Above this on every venue, the job is abandoned."
    )

    @model_validator(mode="after")
    def _eligibility(self) -> GpuJob:
        if self.gpu_models is None and self.min_gpu_memory_gb is None:
            raise ValueError("give gpu_models, min_gpu_memory_gb, or both")
        if self.gpu_models is not None:
            if not self.gpu_models:
                raise ValueError("gpu_models must list at least one model")
            check_gpu_models(self.gpu_models, "gpu_models")
        return self

    def accepts(self, model: str) -> bool:
        """Whether the job can run on this GPU model."""
        spec = hardware_models()[model]
        if spec.resource != self.resource:
            return False
        if self.gpu_models is not None and model not in self.gpu_models:
            return False
        return self.min_gpu_memory_gb is None or spec.memory_gb.value >= self.min_gpu_memory_gb

    def requirement(self) -> str:
        parts = [f"GPU models {', '.join(self.gpu_models)}"] if self.gpu_models is not None else []
        if self.min_gpu_memory_gb is not None:
            parts.append(f"at least {self.min_gpu_memory_gb:g} GB of GPU memory")
        return " with ".join(parts)

    def budgets_usd(self, rng: np.random.Generator, work: np.ndarray) -> np.ndarray:
        return self.reservation_usd_per_gpu_hour.sample(rng, len(work)) * work

def speed_on(job: JobKind, model: GpuModel | StorageMedia) -> float:
    """The job's speed on a capacity class; NaN on another resource's (a GPU job on a storage medium)."""
    return job.speed(model) if model.resource == job.resource else math.nan


def useful_hours(elapsed: float, overhead: float, checkpoint_interval: float) -> float:
    """Hours of an interrupted attempt that count: the work up to its last checkpoint (the attempt first
    spends ``overhead`` restarting, then checkpoints every ``checkpoint_interval`` hours)."""
    running = elapsed - overhead
    if running <= 0:
        return 0.0
    return math.floor(running / checkpoint_interval) * checkpoint_interval


class TrainingWork(GpuJob):
    """Training: checkpoints and restarts after an interruption; data-parallel across nodes."""

    checkpoint_interval_hours: float = Field(
        default=1.0, gt=0, description="Hours of work between checkpoints; a failure loses the work since the last.")
    restart_overhead_hours: float = Field(
        default=0.25, ge=0, description="Hours to restart after a failure (reload, rewarm), paid for and not useful.")
    checkpoint_save_minutes: float = Field(
        default=5.0, ge=0,
        description="Minutes to write a checkpoint (assumption: tens of GB of model and optimizer state). An "
        "AWS spot reclaim's notice saves the work since the last checkpoint only if it is at least this long.")
    gradient_gb: float = Field(
        default=2.0, ge=0,
        description="Gradients exchanged per step across nodes, GB (data parallel; 2 GB = 1B parameters in fp16).")
    step_seconds: float = Field(
        default=1.0, gt=0, description="Compute time of one step on the reference GPU, seconds.")

    def speed(self, model: GpuModel) -> float:
        return model.training_throughput_rel.value

    def slowdown(self, gpu_speed: float, nodes: int, bandwidth_gbps: float) -> float:
        """Ring all-reduce, no overlap of compute and communication: 1 + exchange time / compute time per step."""
        if nodes < 2:
            return 1.0
        exchange = 2.0 * (nodes - 1) / nodes * self.gradient_gb * 8.0 / bandwidth_gbps
        return 1.0 + exchange / (self.step_seconds / gpu_speed)

    @property
    def interruption_overhead_hours(self) -> float:
        return self.restart_overhead_hours

    @property
    def downtime_per_interruption_hours(self) -> float:
        return 0.0  # a batch job serves no one: it loses work, not service

    def work_lost_cap_hours(self, hours: np.ndarray, notice_hours: float) -> np.ndarray | None:
        """Up to a checkpoint interval, or none when the notice leaves time to write a checkpoint."""
        if notice_hours * 60.0 >= self.checkpoint_save_minutes:
            return None
        return np.minimum(self.checkpoint_interval_hours, hours)

    def hours_lost_per_interruption(self, hours: np.ndarray, notice_hours: float) -> np.ndarray:
        """The restart and on average half of the most work it can lose."""
        cap = self.work_lost_cap_hours(hours, notice_hours)
        return self.restart_overhead_hours + (0.0 if cap is None else cap / 2.0) + np.zeros_like(hours)

    def interruption(self, elapsed: float, overhead: float, planned: float, work: float) -> Interruption:
        """The work up to the last checkpoint is kept; what ran after it is lost."""
        kept = useful_hours(elapsed, overhead, self.checkpoint_interval_hours)
        done = min(1.0, kept / max(planned - overhead, 1e-12))
        lost = work * max(0.0, min(elapsed - overhead, planned - overhead) - kept) / max(planned - overhead, 1e-12)
        return Interruption(work * (1.0 - done), lost, 0.0, self.restart_overhead_hours)


class OutageWork(JobKind):
    """Work an interruption costs only time: what ran counts, nothing is lost, and the job is down (and
    restarting) for ``outage_hours`` (a deployment's failover, stored data's repair)."""

    @property
    def outage_hours(self) -> float:
        raise NotImplementedError

    @property
    def interruption_overhead_hours(self) -> float:
        return self.outage_hours

    @property
    def downtime_per_interruption_hours(self) -> float:
        return self.outage_hours

    def work_lost_cap_hours(self, hours: np.ndarray, notice_hours: float) -> np.ndarray | None:
        """Only time is lost, the outage."""
        return None

    def hours_lost_per_interruption(self, hours: np.ndarray, notice_hours: float) -> np.ndarray:
        """The outage, whatever the notice."""
        return np.full_like(hours, self.outage_hours, dtype=float)

    def interruption(self, elapsed: float, overhead: float, planned: float, work: float) -> Interruption:
        """The hours run count; the job is down for the outage."""
        done = min(1.0, max(0.0, elapsed - overhead) / max(planned - overhead, 1e-12))
        return Interruption(work * (1.0 - done), 0.0, self.outage_hours, self.outage_hours)


class ServingWork(GpuJob, OutageWork):
    """Serving (inference): keeps no state worth saving, fails over to other GPUs after an interruption."""

    failover_hours: float = Field(
        default=0.05, ge=0, description="Hours to bring a deployment back on other GPUs after a failure.")

    def speed(self, model: GpuModel) -> float:
        return model.inference_throughput_rel.value

    @property
    def outage_hours(self) -> float:
        return self.failover_hours


# --- synthetic job kinds ------------------------------------------------------------------------------


class SyntheticJob(JobKind):
    """A job kind whose jobs are drawn from distributions."""

    registry: ClassVar[Registry] = Registry("job kind")

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` jobs: their size (GPUs or replicas), reference work and latency objective, and what
        ``placement`` needs."""
        raise NotImplementedError


class TrainingJob(SyntheticJob, TrainingWork):
    """A batch job: fixed work on a fixed number of GPUs; duration follows GPU speed. Jobs larger than a
    node span several, and lose time exchanging gradients over the link between them."""

    model_config = examples({"kind": "training", "gpu_models": ["H100_SXM"], "gpus": {4: 0.5, 8: 0.5},
                             "work_gpu_hours": 32, "reservation_usd_per_gpu_hour": 8})
    kind: Literal["training"] = "training"
    gpus: CountChoice = Field(
        default={8: 1.0}, description="GPUs per job: an integer, or a mapping count -> probability (summing to 1).")
    work_gpu_hours: Positive = Field(  # type: ignore[valid-type]
        description="Work per job in reference GPU-hours (H100 SXM training throughput = 1)."
    )

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        gpus = sample_choice(self.gpus, rng, n).astype(np.int64)
        work = self.work_gpu_hours.sample(rng, n)
        return {"size": gpus, "work_ref_gpu_hours": work, "latency_slo_ms": np.full(n, np.nan)}

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Same GPU count; time scales with throughput."""
        gpus = draws["size"]
        return gpus, draws["work_ref_gpu_hours"] / (gpus * model.training_throughput_rel.value)


class InferenceJob(SyntheticJob, ServingWork):
    """A deployment: serves for a fixed duration; slower GPUs need more replicas for the same load."""

    model_config = examples({"kind": "inference", "min_gpu_memory_gb": 24, "replicas": {1: 0.5, 2: 0.5},
                             "duration_hours": 6, "reservation_usd_per_gpu_hour": 6})
    kind: Literal["inference"] = "inference"
    replicas: CountChoice = Field(
        default={1: 1.0},
        description="Replicas needed on the reference GPU (an integer, or a mapping count -> probability "
        "summing to 1); on a GPU with inference throughput r the deployment takes ceil(replicas / r) GPUs.",
    )
    duration_hours: Positive = Field(description="How long the deployment runs, hours.")  # type: ignore[valid-type]
    latency_slo_ms: float = Field(default=2000.0, gt=0, description="Latency objective per request, ms.")

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        replicas = sample_choice(self.replicas, rng, n).astype(np.int64)
        hours = self.duration_hours.sample(rng, n)
        return {"size": replicas, "work_ref_gpu_hours": replicas * hours, "duration_hours": hours,
                "latency_slo_ms": np.full(n, self.latency_slo_ms)}

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Enough GPUs to match the reference replicas' throughput."""
        gpus = np.ceil(draws["size"] / model.inference_throughput_rel.value - 1e-9).astype(np.int64)
        return gpus, draws["duration_hours"]




# --- trace job kinds ----------------------------------------------------------------------------------


class TraceJob(JobKind):
    """A job kind whose jobs come from a public trace of one format."""

    registry: ClassVar[Registry] = Registry("trace job kind")
    trace_format: ClassVar[TraceFormat]
    """The trace format this kind's jobs are replayed from."""

    def expand(self, trace: Trace, t: np.ndarray, rows: np.ndarray, span_hours: float, horizon_hours: float,
               loop: bool) -> tuple[np.ndarray, dict[str, np.ndarray], RequestLog | None]:
        """The run's jobs from one pass of the trace (arrival hours ``t`` from the pass start and the trace
        row of each, the pass length): their submission hours, draws and, for request traces, the log."""
        raise NotImplementedError


class TraceTrainingJob(TraceJob, TrainingWork):
    """Training jobs replayed from a cluster trace (openb pods): GPUs and run time come from the trace."""

    model_config = examples({"kind": "training", "min_gpu_memory_gb": 24, "reservation_usd_per_gpu_hour": 6})
    trace_format: ClassVar[TraceFormat] = "openb_pods"
    kind: Literal["training"] = "training"
    trace_gpu_throughput_rel: float = Field(
        default=0.3, gt=0,
        description="Training speed of the trace cluster's GPUs against the reference H100 (assumption: "
        "openb's V100/T4-class mix), to turn pod GPU-hours into reference work.")
    gpu_multiplier: int = Field(default=1, ge=1, description="Scale every pod's GPU count (larger jobs, same shape).")

    def from_trace(self, trace: Trace, index: np.ndarray) -> dict[str, np.ndarray]:
        gpus = trace.gpus[index].astype(np.int64) * self.gpu_multiplier
        work = gpus * trace.gpu_share[index] * trace.duration_s[index] / 3600.0 * self.trace_gpu_throughput_rel
        return {"size": gpus, "work_ref_gpu_hours": work, "latency_slo_ms": np.full(len(index), np.nan)}

    def expand(self, trace: Trace, t: np.ndarray, rows: np.ndarray, span_hours: float, horizon_hours: float,
               loop: bool) -> tuple[np.ndarray, dict[str, np.ndarray], RequestLog | None]:
        """One job a pod, at its creation time in each pass."""
        passes = int(np.ceil(horizon_hours / span_hours)) if loop else 1
        times = np.concatenate([t + i * span_hours for i in range(passes)])
        index = np.tile(rows, passes)
        inside = times < horizon_hours
        return times[inside], self.from_trace(trace, index[inside]), None

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        gpus = draws["size"]
        return gpus, draws["work_ref_gpu_hours"] / (gpus * model.training_throughput_rel.value)


class TraceInferenceJob(TraceJob, ServingWork):
    """Inference deployments sized to serve a request trace (Azure LLM), one per window of time.

    A window's requests, turned into reference-GPU seconds (prefill + decode), give its load; on a GPU
    model with inference throughput r a deployment takes ceil(load / (r x target_utilisation)) GPUs.
    """

    model_config = examples({"kind": "inference", "min_gpu_memory_gb": 24, "window_hours": 12,
                             "reservation_usd_per_gpu_hour": 6})
    trace_format: ClassVar[TraceFormat] = "azure_llm"
    kind: Literal["inference"] = "inference"
    window_hours: float = Field(default=24.0, gt=0, description="How long each deployment runs before the next one.")
    target_utilisation: float = Field(
        default=0.6, gt=0, lt=1, description="Busy share the deployment is sized for (headroom for bursts).")
    latency_slo_ms: float = Field(default=2000.0, gt=0, description="Latency objective per request, ms.")

    def expand(self, trace: Trace, t: np.ndarray, rows: np.ndarray, span_hours: float, horizon_hours: float,
               loop: bool) -> tuple[np.ndarray, dict[str, np.ndarray], RequestLog | None]:
        """One deployment per window, sized by the trace's load. The pass repeats, so the load is the pass's
        average; a window's requests start at its phase in the pass (kept for the latency sample)."""
        span = span_hours
        window = self.window_hours
        starts = np.arange(0.0, horizon_hours, window)
        catalog = gpu_catalog()
        service_ref = catalog.service_seconds(catalog.reference_model, trace.context_tokens[rows],
                                              trace.generated_tokens[rows])
        hours = np.minimum(window, horizon_hours - starts)
        if not loop:  # no requests after the single pass
            hours = np.clip(np.minimum(hours, span - starts), 0.0, None)
            starts, hours = starts[hours > 0], hours[hours > 0]
        load = np.full(len(starts), service_ref.sum() / (span * 3600.0))
        log = RequestLog(t, trace.context_tokens[rows], trace.generated_tokens[rows], span)
        phase = np.searchsorted(t, starts % span)
        requests = np.rint(hours / span * len(t)).astype(np.int64)
        return starts, {"size": load, "work_ref_gpu_hours": load * hours, "duration_hours": hours,
                        "latency_slo_ms": np.full(len(starts), self.latency_slo_ms),
                        "request_start": phase, "request_end": phase + requests}, log

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        gpus = np.ceil(draws["size"] / (model.inference_throughput_rel.value * self.target_utilisation) - 1e-9)
        return np.maximum(gpus, 1).astype(np.int64), draws["duration_hours"]


TraceJobUnion = TraceJob.registry.union()


def job_types() -> tuple[str, ...]:
    """Every job kind, synthetic or traced, in definition order: the categories of ``job_type``."""
    return tuple(dict.fromkeys([*SyntheticJob.registry.kinds, *TraceJob.registry.kinds]))
