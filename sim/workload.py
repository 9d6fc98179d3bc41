"""Demand: job streams (an arrival process plus a job distribution) and the jobs they generate.

All jobs of a run are drawn up front, vectorised, each stream from its own seeded generator, and merged
in time order. For every job the builder also works out what it would need on each network GPU class
(GPUs, hours, the highest ask it accepts) and what the cheapest AWS alternative costs, so the event loop
only compares numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import stats

from . import rng as rngs
from .base import NonNegative, Positive, StrictModel, check_gpu_models
from .catalog import GpuModel, gpu_catalog
from .distributions import CountChoice, sample_choice

if TYPE_CHECKING:
    from .cloud import CloudBaseline
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


class TrainingJob(_JobBase):
    """A batch job: fixed work on a fixed number of GPUs in one node; duration follows GPU speed."""

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


class InferenceJob(_JobBase):
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


class Stream(StrictModel):
    """One source of jobs: an arrival process and the distribution of the jobs it brings."""

    name: str = Field(min_length=1, description="Label for this stream (unique in the scenario).")
    arrivals: Arrivals = Field(description="Arrival process (kind: poisson, diurnal or scheduled).")
    job: Job = Field(description="What each arriving job is (kind: training or inference).")


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
class JobBatch:
    """Every job of a run, in submission order (index = job id). ``K`` = number of network classes.

    ``net_*`` arrays are (K, n), one row per class: on class k a job needs ``net_gpus`` GPUs for
    ``net_hours`` and accepts asks up to ``net_limit_usd_per_gpu_hour`` (its budget or the cloud cost,
    whichever is lower, per GPU-hour of that class); ``net_gpus`` is 0 where the job cannot use the class.
    """

    stream_names: tuple[str, ...]
    stream_kinds: tuple[str, ...]
    stream_classes: tuple[tuple[int, ...], ...]
    submit_hours: np.ndarray
    stream: np.ndarray
    size: np.ndarray
    work_ref_gpu_hours: np.ndarray
    patience_hours: np.ndarray
    budget_usd: np.ndarray
    latency_slo_ms: np.ndarray
    net_gpus: np.ndarray
    net_hours: np.ndarray
    net_limit_usd_per_gpu_hour: np.ndarray
    cloud_offer: np.ndarray
    cloud_gpus: np.ndarray
    cloud_hours: np.ndarray
    cloud_cost_usd: np.ndarray


def build_jobs(scenario: Scenario, classes: tuple[str, ...], cloud: CloudBaseline) -> JobBatch:
    """Draw every stream's jobs and price each one on every network class and on AWS.

    Streams are drawn one by one (each from its own generator), then scattered straight into the
    time-ordered arrays (ties: stream order, then draw order), so no per-stream copy of the (n, K)
    arrays is ever made.
    """
    models = gpu_catalog().models
    horizon = scenario.horizon_hours
    streams = scenario.workload.streams
    drawn = []
    for si, s in enumerate(streams):
        rng = rngs.stream(scenario.seed, rngs.WORKLOAD, si)
        t = s.arrivals.times(rng, horizon)
        d = s.job.draw(rng, len(t))
        d["patience_hours"] = s.job.patience_hours.sample(rng, len(t))
        d["budget_usd"] = s.job.reservation_usd_per_gpu_hour.sample(rng, len(t)) * d["work_ref_gpu_hours"]
        drawn.append((t, d))
    times = np.concatenate([t for t, _ in drawn])
    stream_of = np.concatenate([np.full(len(t), si, dtype=np.int64) for si, (t, _) in enumerate(drawn)])
    order = np.lexsort((np.arange(times.size), stream_of, times))  # within a stream, draw order = time order
    position = np.empty_like(order)
    position[order] = np.arange(order.size)

    n, k = times.size, len(classes)
    out = {
        "submit_hours": times[order], "stream": stream_of[order],
        "size": np.zeros(n, dtype=np.int64), "work_ref_gpu_hours": np.zeros(n), "patience_hours": np.zeros(n),
        "budget_usd": np.zeros(n), "latency_slo_ms": np.zeros(n),
        "net_gpus": np.zeros((k, n), dtype=np.int64), "net_hours": np.zeros((k, n)),
        "net_limit_usd_per_gpu_hour": np.full((k, n), -np.inf),
        "cloud_offer": np.full(n, -1, dtype=np.int64), "cloud_gpus": np.zeros(n, dtype=np.int64),
        "cloud_hours": np.zeros(n), "cloud_cost_usd": np.full(n, np.inf),
    }
    stream_classes = []
    offset = 0
    for s, (t, d) in zip(streams, drawn, strict=True):
        at = position[offset:offset + len(t)]
        offset += len(t)
        job = s.job
        for key in ("size", "work_ref_gpu_hours", "patience_hours", "budget_usd", "latency_slo_ms"):
            out[key][at] = d[key]
        # the cheapest AWS offer for the same job
        c_cost = np.full(len(t), np.inf)
        for o in cloud.eligible(job.cloud_memory_gb()):
            g, h = job.placement(models[cloud.offer_gpu[o]], d)
            cost = cloud.buyer_prices[o] * g * h
            better = cost < c_cost
            c_cost[better] = cost[better]
            out["cloud_offer"][at[better]] = o
            out["cloud_gpus"][at[better]] = g[better]
            out["cloud_hours"][at[better]] = h[better]
        out["cloud_cost_usd"][at] = c_cost
        # what the job needs on each network class it accepts, and the highest ask it takes there
        eligible = tuple(ci for ci, name in enumerate(classes) if job.accepts(name))
        for ci in eligible:
            g, h = job.placement(models[classes[ci]], d)
            out["net_gpus"][ci, at] = g
            out["net_hours"][ci, at] = h
            out["net_limit_usd_per_gpu_hour"][ci, at] = np.minimum(d["budget_usd"], c_cost) / (g * h)
        stream_classes.append(eligible)
    return JobBatch(
        stream_names=tuple(s.name for s in streams),
        stream_kinds=tuple(s.job.kind for s in streams),
        stream_classes=tuple(stream_classes),
        **out,
    )
