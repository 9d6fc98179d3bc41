"""Random failures: when nodes fail and are repaired, and when AWS reclaims spot runs.

A node fails after a time drawn from its group's distribution (exponential or Weibull, with mean MTBF)
and comes back after an exponential repair time (mean MTTR); what a failure does to the jobs it stops
is the engine's reliability phase (``sim.engine.reliability``). Draws come from one seeded stream in
event order, which SimPy makes deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .fleet import Fleet


class FailureTimes:
    """Time to each node's next failure and repair, per its group's distribution.

    Draws are standard exponentials taken in order from blocks (one scipy call per block instead of one
    per event): an exponential with mean m is m x E, a Weibull of shape k is its scale x E ** (1 / k).
    """

    BLOCK = 4096

    def __init__(self, fleet: Fleet, rng: np.random.Generator) -> None:
        self._rng = rng
        self._mtbf = fleet.mtbf_hours
        self._mttr = np.empty(fleet.size)
        self._shape = np.ones(fleet.size)
        for sl, group in fleet.group_slices:
            self._mttr[sl] = group.mttr_hours.sample(rng, sl.stop - sl.start)
            self._shape[sl] = group.failure_shape()
        # Weibull with mean MTBF: scale = MTBF / Gamma(1 + 1/k) (k = 1 is the exponential)
        self._scale = self._mtbf / np.array([math.gamma(1.0 + 1.0 / k) for k in self._shape])
        self._block: list[float] = []

    def _standard(self) -> float:
        if not self._block:
            self._block = stats.expon.rvs(size=self.BLOCK, random_state=self._rng)[::-1].tolist()
        return self._block.pop()

    def until_failure(self, p: int) -> float:
        k = self._shape[p]
        e = self._standard()
        return float(self._scale[p] * (e if k == 1.0 else e ** (1.0 / k)))

    def repair(self, p: int) -> float:
        return float(self._mttr[p] * self._standard())


def spot_reclaims(rng: np.random.Generator, rate_per_hour: np.ndarray, hours: np.ndarray,
                  lost_cap_hours: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Reclaims of AWS spot runs, drawn up front (AWS has unlimited capacity, so nothing else depends on
    them): a Poisson count over each run's hours; where the notice is too short to checkpoint
    (``lost_cap_hours`` given), each loses the work since the last checkpoint, uniform up to the interval.
    Returns (reclaims, lost work in wall hours) per run; the caller adds the restart overheads."""
    count = stats.poisson.rvs(rate_per_hour * hours, random_state=rng).astype(np.int64)
    lost = np.zeros(len(hours))
    if lost_cap_hours is not None and count.sum():
        owner = np.repeat(np.arange(len(hours)), count)
        draws = stats.uniform.rvs(size=owner.size, random_state=rng) * lost_cap_hours[owner]
        lost = np.bincount(owner, weights=draws, minlength=len(hours))
    return count, lost
