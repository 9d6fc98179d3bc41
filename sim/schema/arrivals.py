"""Arrival processes: when a stream's jobs arrive. Each draws every arrival time of a run up front."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..units import HOURS_PER_DAY
from .core import Mechanism, Registry, examples


class ArrivalProcess(Mechanism):
    """When jobs arrive."""

    registry: ClassVar[Registry] = Registry("arrival process")

    def times(self, rng: np.random.Generator, horizon_hours: float) -> np.ndarray:
        """Sorted arrival times in [0, horizon), hours."""
        raise NotImplementedError


class PoissonArrivals(ArrivalProcess):
    """Homogeneous Poisson arrivals."""

    model_config = examples({"kind": "poisson", "rate_per_hour": 0.5})
    kind: Literal["poisson"] = "poisson"
    rate_per_hour: float = Field(gt=0, description="Mean arrivals per hour.")

    def times(self, rng: np.random.Generator, horizon_hours: float) -> np.ndarray:
        """A Poisson count, then uniform order statistics."""
        from scipy import stats

        n = int(stats.poisson(self.rate_per_hour * horizon_hours).rvs(random_state=rng))
        return np.sort(stats.uniform(0.0, horizon_hours).rvs(size=n, random_state=rng))


class DiurnalArrivals(ArrivalProcess):
    """Poisson arrivals whose rate follows a daily cosine: rate(t) = mean x (1 + a cos(2 pi (t - peak)/24))."""

    model_config = examples({"kind": "diurnal", "mean_rate_per_hour": 0.5, "peak_to_mean": 1.8})
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
        """Thinning a Poisson process at the peak rate (exact for any rate(t))."""
        from scipy import stats

        peak = self.mean_rate_per_hour * self.peak_to_mean
        n = int(stats.poisson(peak * horizon_hours).rvs(random_state=rng))
        t = np.sort(stats.uniform(0.0, horizon_hours).rvs(size=n, random_state=rng))
        keep = stats.uniform.rvs(size=n, random_state=rng) * peak < self.rate(t)
        return t[keep]


class ScheduledArrivals(ArrivalProcess):
    """Jobs arriving at given times: for hand-built cases and known schedules (times past the horizon are dropped)."""

    model_config = examples({"kind": "scheduled", "times_hours": [1.0, 2.0, 30.0]})
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


Arrivals = ArrivalProcess.registry.union()
