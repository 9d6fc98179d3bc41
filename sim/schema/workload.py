"""Demand: job streams (an arrival process plus a job distribution, or a replayed trace).

A stream draws all of a run's jobs up front from its own generator (``draw``); the model then prices
each job on every venue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from ..topology import check_regions
from ..traces import BUNDLED, RequestLog, Trace, TraceFormat, bundled_trace, file_trace
from .arrivals import ArrivalProcess, Arrivals
from .core import Mechanism, Registry, StrictModel, examples
from .distributions import Categorical
from .jobs import SyntheticJob, TraceJob, TraceJobUnion
from .storage_jobs import StorageDeal  # noqa: F401 - registers the storage deal job kind before the union is built

SyntheticJobUnion = SyntheticJob.registry.union()


class Demand(StrictModel):
    """A demand curve: the stream's arrival rate is what buyers bring when the network costs as much as AWS
    for the same work; at a price ratio r (network / AWS) they bring r ** -elasticity times as much, capped.
    Arrivals are drawn at the cap and thinned by the ratio posted when each arrives (Lewis-Shedler)."""

    elasticity: float = Field(
        ge=0, description="Price elasticity of demand (0 = inelastic; 1 = half the price, twice the jobs).")
    max_rate_multiplier: int = Field(
        default=4, ge=1, le=64, description="Most demand can grow, as a multiple of the arrival rate.")


class Stream(Mechanism):
    """One source of jobs."""

    registry: ClassVar[Registry] = Registry("stream", default="synthetic")
    name: str = Field(min_length=1, description="Label for this stream (unique in the scenario).")
    region: Categorical = Field(
        default={"us-east": 1.0},
        description="Region of the buyers, or a mapping region -> probability (summing to 1).")

    @model_validator(mode="after")
    def _regions(self) -> Stream:
        check_regions(list(self.region), f"stream {self.name!r}")
        return self

    def elastic_demand(self) -> Demand | None:
        """The stream's demand curve, if its arrivals respond to the price (default: they do not)."""
        return None

    def draw(self, rng: np.random.Generator, horizon_hours: float) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                             RequestLog | None]:
        """Submission hours (sorted), the jobs' draws (arrays the job kind's ``placement`` reads) and, for
        request traces, the request log."""
        raise NotImplementedError


class SyntheticStream(Stream):
    """An arrival process and the distribution of the jobs it brings."""

    model_config = examples({"kind": "synthetic", "name": "example",
                             "arrivals": {"kind": "poisson", "rate_per_hour": 1},
                             "job": {"kind": "inference", "min_gpu_memory_gb": 24, "duration_hours": 4,
                                     "reservation_usd_per_gpu_hour": 5}})
    kind: Literal["synthetic"] = "synthetic"
    arrivals: Arrivals = Field(  # type: ignore[valid-type]
        description=f"Arrival process ({ArrivalProcess.registry.describe()}).")
    job: SyntheticJobUnion = Field(  # type: ignore[valid-type]
        description=f"What each arriving job is ({SyntheticJob.registry.describe()}).")
    demand: Demand | None = Field(
        default=None, description="Price-elastic demand (default: the arrivals come whatever the price).")

    def elastic_demand(self) -> Demand | None:
        return self.demand

    def draw(self, rng: np.random.Generator, horizon_hours: float) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                             RequestLog | None]:
        """With elastic demand, ``max_rate_multiplier`` independent copies merged (the process at the
        capped rate) and a uniform per job to thin them by."""
        from scipy import stats

        copies = self.demand.max_rate_multiplier if self.demand is not None else 1
        times = [self.arrivals.times(rng, horizon_hours) for _ in range(copies)]
        t = np.concatenate(times)
        d = self.job.draw(rng, len(t))
        if not np.all(t[:-1] <= t[1:]):  # one process's times are in order already: no gather then
            order = np.argsort(t, kind="stable")
            t, d = t[order], {key: value[order] for key, value in d.items()}
        if self.demand is not None:
            d["demand_u"] = stats.uniform.rvs(size=len(t), random_state=rng)
        return t, d, None


class TraceStream(Stream):
    """Jobs replayed from a public trace, scaled in time and rate, looped over the horizon.

    openb pods become training jobs arriving at their creation times; Azure LLM requests become the load
    of inference deployments (one per window) whose requests also drive their latency.
    """

    model_config = examples({"kind": "trace", "name": "example", "trace": "azure_llm_code", "rate_multiplier": 2,
                             "job": {"kind": "inference", "min_gpu_memory_gb": 24, "reservation_usd_per_gpu_hour": 6}})
    kind: Literal["trace"] = "trace"
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
    job: TraceJobUnion = Field(  # type: ignore[valid-type]
        description="Job settings the trace does not give "
        f"({TraceJob.registry.describe()}: training for openb, inference for azure).")

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
        if (self.trace is None) == (self.file is None):
            raise ValueError("give exactly one of trace (a bundled trace) or file")
        if self.job.trace_format != self.trace_format:
            makes = [k for k, c in zip(TraceJob.registry.kinds, TraceJob.registry.classes, strict=True)
                     if c.trace_format == self.trace_format]
            raise ValueError(f"a {self.trace_format} trace makes {' or '.join(makes)} jobs: use job.kind "
                             f"{' or '.join(makes)}")
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
        from scipy import stats

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
        return self.job.expand(trace, t, rows, span, horizon_hours, self.loop)


StreamUnion = Stream.registry.union()


class Workload(StrictModel):
    streams: tuple[StreamUnion, ...] = Field(  # type: ignore[valid-type]
        min_length=1, description=f"Job streams, merged in time ({Stream.registry.describe()}).")

    @model_validator(mode="after")
    def _unique(self) -> Workload:
        names = [s.name for s in self.streams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stream names must be unique; repeated: {', '.join(dupes)}")
        return self
