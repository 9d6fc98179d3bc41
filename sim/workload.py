"""Demand: job streams (an arrival process plus a job distribution) and the jobs they generate.

All jobs of a run are drawn up front, vectorised, each stream from its own seeded generator, and merged
in time order. For every job the builder also works out what it would need on each network GPU class
(GPUs, hours, the highest ask it accepts) and what the cheapest AWS alternative costs, so the event loop
only compares numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator
from scipy import stats

from . import rng as rngs
from .base import NonNegative, Positive, StrictModel, check_gpu_models, default_kind
from .catalog import GpuModel, gpu_catalog
from .distributions import Categorical, CountChoice, sample_choice
from .reliability import spot_reclaims
from .topology import check_regions
from .traces import BUNDLED, Trace, TraceFormat, bundled_trace, file_trace

if TYPE_CHECKING:
    from .cloud import CloudBaseline
    from .providers import Fleet
    from .scenario import Scenario

HOURS_PER_DAY = 24.0


class PoissonArrivals(StrictModel):
    """Homogeneous Poisson arrivals."""

    kind: Literal["poisson"] = "poisson"
    rate_per_hour: float = Field(gt=0, description="Mean arrivals per hour.")

    def times(self, rng: np.random.Generator, horizon_hours: float) -> np.ndarray:
        """Sorted arrival times in [0, horizon): a Poisson count, then uniform order statistics."""
        n = int(stats.poisson(self.rate_per_hour * horizon_hours).rvs(random_state=rng))
        return np.sort(stats.uniform(0.0, horizon_hours).rvs(size=n, random_state=rng))


class DiurnalArrivals(StrictModel):
    """Poisson arrivals whose rate follows a daily cosine: rate(t) = mean x (1 + a cos(2 pi (t - peak)/24))."""

    kind: Literal["diurnal"] = "diurnal"
    mean_rate_per_hour: float = Field(gt=0, description="Mean arrivals per hour over a day.")
    peak_to_mean: float = Field(
        default=1.5, ge=1, le=2, description="Peak rate divided by mean rate, in [1, 2] (a = peak_to_mean - 1)."
    )
    peak_hour_utc: float = Field(default=15.0, ge=0, lt=24, description="Hour of day (UTC) of the peak rate.")

    def rate(self, t_hours: np.ndarray) -> np.ndarray:
        a = self.peak_to_mean - 1.0
        phase = 2.0 * np.pi * (np.asarray(t_hours) - self.peak_hour_utc) / HOURS_PER_DAY
        return self.mean_rate_per_hour * (1.0 + a * np.cos(phase))

    def times(self, rng: np.random.Generator, horizon_hours: float) -> np.ndarray:
        """Sorted arrival times by thinning a Poisson process at the peak rate (exact for any rate(t))."""
        peak = self.mean_rate_per_hour * self.peak_to_mean
        n = int(stats.poisson(peak * horizon_hours).rvs(random_state=rng))
        t = np.sort(stats.uniform(0.0, horizon_hours).rvs(size=n, random_state=rng))
        keep = stats.uniform.rvs(size=n, random_state=rng) * peak < self.rate(t)
        return t[keep]


class ScheduledArrivals(StrictModel):
    """Jobs arriving at given times: for hand-built cases and known schedules (times past the horizon are dropped)."""

    kind: Literal["scheduled"] = "scheduled"
    times_hours: tuple[float, ...] = Field(min_length=1, description="Arrival times, hours since the start (>= 0).")

    @model_validator(mode="after")
    def _non_negative(self) -> ScheduledArrivals:
        if min(self.times_hours) < 0:
            raise ValueError("times_hours must be >= 0")
        return self

    def times(self, rng: np.random.Generator, horizon_hours: float) -> np.ndarray:
        t = np.sort(np.asarray(self.times_hours, dtype=float))
        return t[t < horizon_hours]


Arrivals = Annotated[PoissonArrivals | DiurnalArrivals | ScheduledArrivals, Field(discriminator="kind")]


class _JobBase(StrictModel):
    gpu_models: tuple[str, ...] | None = Field(
        default=None,
        description="GPU models the job accepts. Give this, min_gpu_memory_gb, or both.",
    )
    min_gpu_memory_gb: float | None = Field(
        default=None, gt=0, description="Smallest GPU memory the job accepts, GB."
    )
    patience_hours: NonNegative = Field(  # type: ignore[valid-type]
        default={"kind": "exponential", "mean": 6.0},
        description="How long the buyer waits for network capacity cheaper than the cloud before "
        "going to the cloud, hours.",
    )
    reservation_usd_per_gpu_hour: Positive = Field(  # type: ignore[valid-type]
        description="Most the buyer pays per reference GPU-hour (H100 SXM equivalent) of work, USD. "
        "Above this on every venue, the job is abandoned."
    )
    interruptible: bool = Field(
        default=False,
        description="Buy interruptible (spot) network capacity: pay the market's spot discount off the ask, "
        "and be preempted when a buyer paying the full ask finds no free GPUs (the job then restarts "
        "from its last checkpoint, like after a failure).")

    @model_validator(mode="after")
    def _eligibility(self) -> _JobBase:
        if self.gpu_models is None and self.min_gpu_memory_gb is None:
            raise ValueError("give gpu_models, min_gpu_memory_gb, or both")
        if self.gpu_models is not None:
            if not self.gpu_models:
                raise ValueError("gpu_models must list at least one model")
            check_gpu_models(self.gpu_models, "gpu_models")
        return self

    def accepts(self, model: str) -> bool:
        """Whether the job can run on this GPU model."""
        if self.gpu_models is not None and model not in self.gpu_models:
            return False
        memory = gpu_catalog().models[model].memory_gb.value
        return self.min_gpu_memory_gb is None or memory >= self.min_gpu_memory_gb

    def cloud_memory_gb(self) -> float:
        """Memory an AWS GPU must have to stand in for this job's GPUs."""
        if self.min_gpu_memory_gb is not None:
            return self.min_gpu_memory_gb
        models = gpu_catalog().models
        return min(models[m].memory_gb.value for m in self.gpu_models or ())


class _Restartable(StrictModel):
    checkpoint_interval_hours: float = Field(
        default=1.0, gt=0, description="Hours of work between checkpoints; a failure loses the work since the last.")
    restart_overhead_hours: float = Field(
        default=0.25, ge=0, description="Hours to restart after a failure (reload, rewarm), paid for and not useful.")
    checkpoint_save_minutes: float = Field(
        default=5.0, ge=0,
        description="Minutes to write a checkpoint (assumption: tens of GB of model and optimizer state). An "
        "AWS spot reclaim's notice saves the work since the last checkpoint only if it is at least this long.")

    @property
    def interruption_overhead_hours(self) -> float:
        return self.restart_overhead_hours

    def work_lost_cap_hours(self, hours: np.ndarray, notice_hours: float) -> np.ndarray | None:
        """Most work (wall hours) an interruption loses: up to a checkpoint interval, or none when the notice
        leaves time to write a checkpoint."""
        if notice_hours * 60.0 >= self.checkpoint_save_minutes:
            return None
        return np.minimum(self.checkpoint_interval_hours, hours)

    def hours_lost_per_interruption(self, hours: np.ndarray, notice_hours: float) -> np.ndarray:
        """Expected wall hours an interruption costs a run of ``hours``: the restart and on average half of
        the most work it can lose."""
        cap = self.work_lost_cap_hours(hours, notice_hours)
        return self.restart_overhead_hours + (0.0 if cap is None else cap / 2.0) + np.zeros_like(hours)


class _Failover(StrictModel):
    failover_hours: float = Field(
        default=0.05, ge=0, description="Hours to bring a deployment back on other GPUs after a failure.")

    @property
    def interruption_overhead_hours(self) -> float:
        return self.failover_hours

    def work_lost_cap_hours(self, hours: np.ndarray, notice_hours: float) -> np.ndarray | None:
        """A deployment keeps no state worth saving: it only loses time, the failover."""
        return None

    def hours_lost_per_interruption(self, hours: np.ndarray, notice_hours: float) -> np.ndarray:
        """A deployment is down for the failover, whatever the notice."""
        return np.full_like(hours, self.failover_hours, dtype=float)


class _DataParallel(_Restartable):
    gradient_gb: float = Field(
        default=2.0, ge=0,
        description="Gradients exchanged per step across nodes, GB (data parallel; 2 GB = 1B parameters in fp16).")
    step_seconds: float = Field(
        default=1.0, gt=0, description="Compute time of one step on the reference GPU, seconds.")

    def slowdown(self, gpu_speed: float, nodes: int, bandwidth_gbps: float) -> float:
        """Run-time factor when the job spans ``nodes`` nodes linked at ``bandwidth_gbps`` (ring all-reduce,
        no overlap of compute and communication): 1 + exchange time / compute time per step."""
        if nodes < 2:
            return 1.0
        exchange = 2.0 * (nodes - 1) / nodes * self.gradient_gb * 8.0 / bandwidth_gbps
        return 1.0 + exchange / (self.step_seconds / gpu_speed)


class TrainingJob(_JobBase, _DataParallel):
    """A batch job: fixed work on a fixed number of GPUs; duration follows GPU speed. Jobs larger than a
    node span several, and lose time exchanging gradients over the link between them."""

    kind: Literal["training"] = "training"
    gpus: CountChoice = Field(default={8: 1.0}, description="GPUs per job: an integer or count -> weight.")
    work_gpu_hours: Positive = Field(  # type: ignore[valid-type]
        description="Work per job in reference GPU-hours (H100 SXM training throughput = 1)."
    )

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        gpus = sample_choice(self.gpus, rng, n).astype(np.int64)
        work = self.work_gpu_hours.sample(rng, n)
        return {"size": gpus, "work_ref_gpu_hours": work, "latency_slo_ms": np.full(n, np.nan)}

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """GPUs and hours on one GPU of this model: same GPU count, time scales with throughput."""
        gpus = draws["size"]
        return gpus, draws["work_ref_gpu_hours"] / (gpus * model.training_throughput_rel.value)


class InferenceJob(_JobBase, _Failover):
    """A deployment: serves for a fixed duration; slower GPUs need more replicas for the same load."""

    kind: Literal["inference"] = "inference"
    replicas: CountChoice = Field(
        default={1: 1.0},
        description="Replicas needed on the reference GPU; on a GPU with inference throughput r "
        "the deployment takes ceil(replicas / r) GPUs.",
    )
    duration_hours: Positive = Field(description="How long the deployment runs, hours.")  # type: ignore[valid-type]
    latency_slo_ms: float = Field(default=2000.0, gt=0, description="Latency objective per request, ms.")

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        replicas = sample_choice(self.replicas, rng, n).astype(np.int64)
        hours = self.duration_hours.sample(rng, n)
        return {"size": replicas, "work_ref_gpu_hours": replicas * hours, "duration_hours": hours,
                "latency_slo_ms": np.full(n, self.latency_slo_ms)}

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """GPUs and hours on this model: enough GPUs to match the reference replicas' throughput."""
        gpus = np.ceil(draws["size"] / model.inference_throughput_rel.value - 1e-9).astype(np.int64)
        return gpus, draws["duration_hours"]


Job = Annotated[TrainingJob | InferenceJob, Field(discriminator="kind")]


class Demand(StrictModel):
    """A demand curve: the stream's arrival rate is what buyers bring when the network costs as much as AWS
    for the same work; at a price ratio r (network / AWS) they bring r ** -elasticity times as much, capped.
    Arrivals are drawn at the cap and thinned by the ratio posted when each arrives (Lewis-Shedler)."""

    elasticity: float = Field(
        ge=0, description="Price elasticity of demand (0 = inelastic; 1 = half the price, twice the jobs).")
    max_rate_multiplier: int = Field(
        default=4, ge=1, le=64, description="Most demand can grow, as a multiple of the arrival rate.")


class SyntheticStream(StrictModel):
    """One source of jobs: an arrival process and the distribution of the jobs it brings."""

    kind: Literal["synthetic"] = "synthetic"
    name: str = Field(min_length=1, description="Label for this stream (unique in the scenario).")
    region: Categorical = Field(default={"us-east": 1.0}, description="Region of the buyers, or region -> weight.")
    arrivals: Arrivals = Field(description="Arrival process (kind: poisson, diurnal or scheduled).")
    job: Job = Field(description="What each arriving job is (kind: training or inference).")
    demand: Demand | None = Field(
        default=None, description="Price-elastic demand (default: the arrivals come whatever the price).")

    @model_validator(mode="after")
    def _regions(self) -> SyntheticStream:
        check_regions(list(self.region), f"stream {self.name!r}")
        return self

    def draw(self, rng: np.random.Generator, horizon_hours: float) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                             RequestLog | None]:
        """The arrivals and their jobs; with elastic demand, ``max_rate_multiplier`` independent copies
        merged (the process at the capped rate) and a uniform per job to thin them by."""
        copies = self.demand.max_rate_multiplier if self.demand is not None else 1
        times = [self.arrivals.times(rng, horizon_hours) for _ in range(copies)]
        t = np.concatenate(times)
        order = np.argsort(t, kind="stable")
        d = {key: value[order] for key, value in self.job.draw(rng, len(t)).items()}
        if self.demand is not None:
            d["demand_u"] = stats.uniform.rvs(size=len(t), random_state=rng)
        return t[order], d, None


class TraceTrainingJob(_JobBase, _DataParallel):
    """Training jobs replayed from a cluster trace (openb pods): GPUs and run time come from the trace."""

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

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        gpus = draws["size"]
        return gpus, draws["work_ref_gpu_hours"] / (gpus * model.training_throughput_rel.value)


class TraceInferenceJob(_JobBase, _Failover):
    """Inference deployments sized to serve a request trace (Azure LLM), one per window of time.

    A window's requests, turned into reference-GPU seconds (prefill + decode), give its load; on a GPU
    model with inference throughput r a deployment takes ceil(load / (r x target_utilisation)) GPUs.
    """

    kind: Literal["inference"] = "inference"
    window_hours: float = Field(default=24.0, gt=0, description="How long each deployment runs before the next one.")
    target_utilisation: float = Field(
        default=0.6, gt=0, lt=1, description="Busy share the deployment is sized for (headroom for bursts).")
    latency_slo_ms: float = Field(default=2000.0, gt=0, description="Latency objective per request, ms.")

    def placement(self, model: GpuModel, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        gpus = np.ceil(draws["size"] / (model.inference_throughput_rel.value * self.target_utilisation) - 1e-9)
        return np.maximum(gpus, 1).astype(np.int64), draws["duration_hours"]


TraceJob = Annotated[TraceTrainingJob | TraceInferenceJob, Field(discriminator="kind")]


class TraceStream(StrictModel):
    """Jobs replayed from a public trace, scaled in time and rate, looped over the horizon.

    openb pods become training jobs arriving at their creation times; Azure LLM requests become the load
    of inference deployments (one per window) whose requests also drive their latency.
    """

    kind: Literal["trace"] = "trace"
    name: str = Field(min_length=1, description="Label for this stream (unique in the scenario).")
    region: Categorical = Field(default={"us-east": 1.0}, description="Region of the buyers, or region -> weight.")
    trace: Literal["azure_llm_code", "azure_llm_conv", "openb_pods"] | None = Field(
        default=None, description="A bundled trace (sim/data/traces): azure_llm_code, azure_llm_conv or openb_pods.")
    file: str | None = Field(default=None, description="Or a trace file of the same layout, relative to the scenario.")
    format: TraceFormat | None = Field(default=None, description="The file's layout: azure_llm or openb_pods.")
    sha256: str | None = Field(default=None, description="The file's SHA-256 (filled in when the scenario is loaded).")
    time_scale: float = Field(
        default=1.0, gt=0, description="Simulated seconds per trace second (0.5 = twice as fast).")
    rate_multiplier: float = Field(
        default=1.0, gt=0,
        description="Arrivals per trace arrival: whole copies shifted at random within the trace, plus a random "
        "share for the fraction.")
    loop: bool = Field(default=True, description="Repeat the trace to cover the horizon.")
    job: TraceJob = Field(
        description="Job settings the trace does not give (kind: training for openb, inference for azure).")

    @model_validator(mode="before")
    @classmethod
    def _check_file(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not data.get("file") or data.get("sha256"):
            return data
        base = Path((info.context or {}).get("base_dir", "."))
        path = base / str(data["file"])
        if data.get("format") not in ("azure_llm", "openb_pods"):
            raise ValueError("a trace file needs format: azure_llm or openb_pods")
        _, digest = file_trace(path, data["format"])  # TraceError (a ValueError) names the line
        return {**data, "file": str(path), "sha256": digest}

    @model_validator(mode="after")
    def _one_source(self) -> TraceStream:
        check_regions(list(self.region), f"stream {self.name!r}")
        if (self.trace is None) == (self.file is None):
            raise ValueError("give exactly one of trace (a bundled trace) or file")
        expected = "inference" if self.trace_format == "azure_llm" else "training"
        if self.job.kind != expected:
            raise ValueError(f"a {self.trace_format} trace makes {expected} jobs: use job.kind {expected}")
        return self

    @property
    def trace_format(self) -> TraceFormat:
        return BUNDLED[self.trace][1] if self.trace is not None else self.format  # type: ignore[return-value]

    def load(self) -> Trace:
        if self.trace is not None:
            return bundled_trace(self.trace)
        trace, digest = file_trace(self.file, self.trace_format)  # type: ignore[arg-type]
        if digest != self.sha256:
            raise ValueError(f"trace file {self.file} changed since the scenario was loaded (SHA-256 differs)")
        return trace

    def one_pass(self, trace: Trace, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """One pass of the scaled, multiplied trace: arrival times (hours from the pass start, sorted), each
        arrival's trace row, and the pass length (hours)."""
        span = trace.span_s * self.time_scale
        base = trace.time_s * self.time_scale
        copies = int(self.rate_multiplier)
        shifts = [0.0] + (stats.uniform.rvs(size=copies - 1, random_state=rng) * span).tolist()
        times = [(base + shift) % span for shift in shifts]
        rows = [np.arange(len(trace))] * copies
        frac = self.rate_multiplier - copies
        if frac > 0:
            keep = stats.uniform.rvs(size=len(trace), random_state=rng) < frac
            shift = float(stats.uniform.rvs(random_state=rng)) * span
            times.append(((base + shift) % span)[keep])
            rows.append(np.flatnonzero(keep))
        t, r = np.concatenate(times) / 3600.0, np.concatenate(rows)
        order = np.lexsort((r, t))
        return t[order], r[order], span / 3600.0

    def draw(self, rng: np.random.Generator, horizon_hours: float) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                             RequestLog | None]:
        trace = self.load()
        t, rows, span = self.one_pass(trace, rng)
        job = self.job
        passes = int(np.ceil(horizon_hours / span)) if self.loop else 1
        if isinstance(job, TraceTrainingJob):
            times = np.concatenate([t + i * span for i in range(passes)])
            index = np.tile(rows, passes)
            inside = times < horizon_hours
            return times[inside], job.from_trace(trace, index[inside]), None
        # One deployment per window, sized by the trace's load. The pass repeats, so the load is the pass's
        # average; a window's requests start at its phase in the pass (kept for the latency sample).
        window = job.window_hours
        starts = np.arange(0.0, horizon_hours, window)
        service_ref = gpu_catalog().service_seconds(gpu_catalog().reference_model, trace.context_tokens[rows],
                                                    trace.generated_tokens[rows])
        hours = np.minimum(window, horizon_hours - starts)
        if not self.loop:  # no requests after the single pass
            hours = np.clip(np.minimum(hours, span - starts), 0.0, None)
            starts, hours = starts[hours > 0], hours[hours > 0]
        load = np.full(len(starts), service_ref.sum() / (span * 3600.0))
        log = RequestLog(t, trace.context_tokens[rows], trace.generated_tokens[rows], span)
        phase = np.searchsorted(t, starts % span)
        requests = np.rint(hours / span * len(t)).astype(np.int64)
        return starts, {"size": load, "work_ref_gpu_hours": load * hours, "duration_hours": hours,
                        "latency_slo_ms": np.full(len(starts), job.latency_slo_ms),
                        "request_start": phase, "request_end": phase + requests}, log


Stream = Annotated[SyntheticStream | TraceStream, Field(discriminator="kind"), default_kind("synthetic")]


class Workload(StrictModel):
    streams: tuple[Stream, ...] = Field(min_length=1, description="Job streams, merged in time.")

    @model_validator(mode="after")
    def _unique(self) -> Workload:
        names = [s.name for s in self.streams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stream names must be unique; repeated: {', '.join(dupes)}")
        return self


@dataclass(frozen=True)
class RequestLog:
    """One pass of a trace-driven inference stream's requests (arrival hours from the pass start, token
    counts); passes repeat every ``span_hours``, so request i of the run is row i mod len."""

    time_hours: np.ndarray
    context_tokens: np.ndarray
    generated_tokens: np.ndarray
    span_hours: float

    def window(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` requests from row ``start`` on, wrapping into the next pass: (seconds from the first,
        context tokens, generated tokens)."""
        idx = np.arange(start, start + count)
        hours = self.time_hours[idx % len(self.time_hours)] + (idx // len(self.time_hours)) * self.span_hours
        return ((hours - hours[0]) * 3600.0, self.context_tokens[idx % len(self.time_hours)],
                self.generated_tokens[idx % len(self.time_hours)])


@dataclass(frozen=True)
class JobBatch:
    """Every job of a run, in submission order (index = job id). ``K`` = number of network classes.

    ``net_*`` arrays are (S, n), one row per slot: slot i of a job holds the i-th class its stream accepts
    (``net_slot``), where it needs ``net_gpus`` GPUs for ``net_hours`` and accepts asks up to
    ``net_limit_usd_per_gpu_hour`` (its budget or the cloud cost, whichever is lower, per GPU-hour of that
    class). S is the most classes any stream accepts, often one or two of the K (a million jobs on four
    classes, two per stream at most: 48 MB less); ``net_gpus`` is 0 in slots a stream does not use.
    """

    stream_names: tuple[str, ...]
    stream_kinds: tuple[str, ...]
    stream_interruptible: tuple[bool, ...]
    stream_classes: tuple[tuple[int, ...], ...]
    request_logs: tuple[RequestLog | None, ...]
    """Per stream; a job's requests are rows request_start:request_end of its stream's log."""
    submit_hours: np.ndarray
    region: np.ndarray
    """Buyer region of each job (name)."""
    request_start: np.ndarray
    request_end: np.ndarray
    stream: np.ndarray
    size: np.ndarray
    work_ref_gpu_hours: np.ndarray
    patience_hours: np.ndarray
    budget_usd: np.ndarray
    latency_slo_ms: np.ndarray
    demand_u: np.ndarray
    """Elastic streams: a job is submitted only if this is below the share of the capped demand the
    price at its arrival draws; 0 for the rest."""
    net_slot: np.ndarray
    """(streams, K): the row of the ``net_*`` arrays holding class k for a stream's jobs; -1 if none."""
    net_gpus: np.ndarray
    net_hours: np.ndarray
    net_limit_usd_per_gpu_hour: np.ndarray
    cloud_offer: np.ndarray
    cloud_gpus: np.ndarray
    cloud_hours: np.ndarray
    """Hours on AWS without interruptions; ``cloud_extra_hours`` more with the spot reclaims drawn."""
    cloud_cost_usd: np.ndarray
    """Expected cost on AWS, what buyers compare with (list price x hours, times the expected extra hours
    of spot reclaims)."""
    cloud_reclaims: np.ndarray
    cloud_extra_hours: np.ndarray
    cloud_lost_hours: np.ndarray
    """Wall hours of work lost to reclaims (a share of cloud_extra_hours)."""

    def on_class(self, c: int, j: int) -> tuple[int, float, float]:
        """What job j needs on class c: GPUs, hours, and the highest ask it takes (USD per GPU-hour)."""
        row = int(self.net_slot[self.stream[j], c])
        if row < 0:
            raise ValueError(f"job {j} cannot run on GPU class {c}")
        return (int(self.net_gpus[row, j]), float(self.net_hours[row, j]),
                float(self.net_limit_usd_per_gpu_hour[row, j]))

    def class_rows(self, c: np.ndarray | int, jobs: np.ndarray | slice) -> np.ndarray:
        """The ``net_*`` row of each job in ``jobs`` for class c (one class, or one per job)."""
        return self.net_slot[self.stream[jobs], c]


def build_jobs(scenario: Scenario, fleet: Fleet, cloud: CloudBaseline) -> JobBatch:
    """Draw every stream's jobs and price each one on every network class and on AWS.

    Prices are what the buyer expects to pay for the work done: on AWS spot, and on network nodes that
    fail, a run is interrupted at some rate and each interruption costs the restart and the work since the
    last checkpoint, so the expected price is the list price times the expected extra hours. A job accepts
    a network ask up to its budget or the expected AWS cost, divided by the network's expected hours.

    Streams are drawn one by one (each from its own generator), then scattered straight into the
    time-ordered arrays (ties: stream order, then draw order), so no per-stream copy of the (n, K)
    arrays is ever made.
    """
    models = gpu_catalog().models
    classes = fleet.classes
    horizon = scenario.horizon_hours
    streams = scenario.workload.streams
    # per network class: node failures per node-hour (mean over its nodes) and the largest node
    failure_rate = np.bincount(fleet.gpu_class, weights=1.0 / fleet.mtbf_hours, minlength=len(classes)) / \
        np.maximum(np.bincount(fleet.gpu_class, minlength=len(classes)), 1)
    node_gpus = np.zeros(len(classes), dtype=np.int64)
    np.maximum.at(node_gpus, fleet.gpu_class, fleet.gpus)
    drawn = []
    logs: list[RequestLog | None] = []
    for si, s in enumerate(streams):
        rng = rngs.stream(scenario.seed, rngs.WORKLOAD, si)
        t, d, log = s.draw(rng, horizon)
        d["patience_hours"] = s.job.patience_hours.sample(rng, len(t))
        d["budget_usd"] = s.job.reservation_usd_per_gpu_hour.sample(rng, len(t)) * d["work_ref_gpu_hours"]
        d["region"] = sample_choice(s.region, rng, len(t))
        d.setdefault("request_start", np.full(len(t), -1, dtype=np.int64))
        d.setdefault("request_end", np.full(len(t), -1, dtype=np.int64))
        d.setdefault("demand_u", np.zeros(len(t)))  # 0: never thinned
        logs.append(log)
        drawn.append((t, d))
    times = np.concatenate([t for t, _ in drawn])
    stream_of = np.concatenate([np.full(len(t), si, dtype=np.int64) for si, (t, _) in enumerate(drawn)])
    order = np.lexsort((np.arange(times.size), stream_of, times))  # within a stream, draw order = time order
    position = np.empty_like(order)
    position[order] = np.arange(order.size)

    n, k = times.size, len(classes)
    eligible_classes = [tuple(ci for ci, name in enumerate(classes) if s.job.accepts(name)) for s in streams]
    slots = max((len(e) for e in eligible_classes), default=0) or 1
    out = {
        "submit_hours": times[order], "stream": stream_of[order],
        "size": np.zeros(n, dtype=np.int64), "work_ref_gpu_hours": np.zeros(n), "patience_hours": np.zeros(n),
        "budget_usd": np.zeros(n), "latency_slo_ms": np.zeros(n), "region": np.empty(n, dtype=object),
        "request_start": np.zeros(n, dtype=np.int64), "request_end": np.zeros(n, dtype=np.int64),
        "demand_u": np.zeros(n),
        "net_gpus": np.zeros((slots, n), dtype=np.int64), "net_hours": np.zeros((slots, n)),
        "net_limit_usd_per_gpu_hour": np.full((slots, n), -np.inf),
        "net_slot": np.full((len(streams), k), -1, dtype=np.int64),
        "cloud_offer": np.full(n, -1, dtype=np.int64), "cloud_gpus": np.zeros(n, dtype=np.int64),
        "cloud_hours": np.zeros(n), "cloud_cost_usd": np.full(n, np.inf),
        "cloud_reclaims": np.zeros(n, dtype=np.int64), "cloud_extra_hours": np.zeros(n),
        "cloud_lost_hours": np.zeros(n),
    }
    offset = 0
    for si, (s, (t, d)) in enumerate(zip(streams, drawn, strict=True)):
        at = position[offset:offset + len(t)]
        offset += len(t)
        job = s.job
        for key in ("size", "work_ref_gpu_hours", "patience_hours", "budget_usd", "latency_slo_ms", "region",
                    "request_start", "request_end", "demand_u"):
            out[key][at] = d[key]
        # the cheapest AWS offer for the same job, in expected cost
        c_cost, c_rate = np.full(len(t), np.inf), np.zeros(len(t))
        for o in cloud.eligible(job.cloud_memory_gb()):
            g, h = job.placement(models[cloud.offer_gpu[o]], d)
            rate = cloud.interruptions_per_hour[o] * np.ceil(g / cloud.instance_gpus[o])
            cost = cloud.buyer_prices[o] * g * h * (1.0 + rate * job.hours_lost_per_interruption(h, cloud.notice_hours))
            better = cost < c_cost
            c_cost[better], c_rate[better] = cost[better], rate[better]
            out["cloud_offer"][at[better]] = o
            out["cloud_gpus"][at[better]] = g[better]
            out["cloud_hours"][at[better]] = h[better]
        out["cloud_cost_usd"][at] = c_cost
        if c_rate.any():  # spot: the reclaims each run will meet, from the stream's own generator
            hours = out["cloud_hours"][at]
            count, lost = spot_reclaims(rngs.stream(scenario.seed, rngs.CLOUD_SPOT, si), c_rate, hours,
                                        job.work_lost_cap_hours(hours, cloud.notice_hours))
            out["cloud_reclaims"][at] = count
            out["cloud_lost_hours"][at] = lost
            out["cloud_extra_hours"][at] = count * job.interruption_overhead_hours + lost
        # what the job needs on each network class it accepts, and the highest ask it takes there (a spot
        # buyer pays a share of the ask, so takes higher asks)
        spot_price_share = 1.0 - scenario.market.spot_discount if job.interruptible else 1.0
        for slot, ci in enumerate(eligible_classes[si]):
            g, h = job.placement(models[classes[ci]], d)
            nodes = np.ceil(g / max(int(node_gpus[ci]), 1))
            expected_hours = h * (1.0 + nodes * failure_rate[ci] * job.hours_lost_per_interruption(h, 0.0))
            out["net_slot"][si, ci] = slot
            out["net_gpus"][slot, at] = g
            out["net_hours"][slot, at] = h
            out["net_limit_usd_per_gpu_hour"][slot, at] = np.minimum(d["budget_usd"], c_cost) / (
                g * expected_hours * spot_price_share)
    return JobBatch(
        stream_names=tuple(s.name for s in streams),
        stream_kinds=tuple(s.job.kind for s in streams),
        stream_interruptible=tuple(s.job.interruptible for s in streams),
        stream_classes=tuple(eligible_classes),
        request_logs=tuple(logs),
        **out,
    )
