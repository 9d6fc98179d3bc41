"""Per-job escrow leases for a sampled share of jobs (``chain.escrow_sample_share``).

Under a market with escrow (reverse_auction) a lease deposits its price when it starts and pays its
provider from the pooled escrow every epoch. A sampled job's leases instead each lock their price on
their own, as the Marketplace contract's ``open_lease`` does, and are paid when they end
(``close_lease``): in full, or, cut short by a failure or the horizon, in whole parts per million of the
price for the share of the planned hours run (the contract's granularity), the rest refunded to the
buyer; the protocol fee and the burn share are rounded down per lease, as the contract rounds them. The
ledger books exactly what the contract does, so a chain reconciles to the micro-dollar and a run's
results do not depend on whether a chain is on. What differs from pooled leases is when providers are
paid (at the end, not every epoch) and the rounding; the revenue a provider accrues, which entry and
exit read, is the same.

A lease opens when the epoch it started in settles (a job cut short within that epoch locks what it ran,
and closes at once). A lease at a zero price locks nothing (the contract refuses an empty lease) and
stays pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import rng as rngs

PPM = 1_000_000  # the contract's shares: parts per million
LESSEES, LEASES = "lessees", "leases"
"""Ledger accounts: the sampled buyers' wallet (money passes through it into a lease and back as a
refund), and the deposits locked in leases (held by the marketplace)."""


class Lease(NamedTuple):
    id: int
    job: int
    provider: int
    locked: int
    """The price deposited, micro-USD."""
    planned_hours: float


class Closed(NamedTuple):
    lease: Lease
    done_ppm: int
    """Share of the lease's planned hours it ran, in ppm (all of them: PPM)."""

    @property
    def paid(self) -> int:
        """What the provider's side gets (before fee and burn): the contract's ``locked * done // PPM``."""
        return self.lease.locked * self.done_ppm // PPM

    @property
    def refund(self) -> int:
        return self.lease.locked - self.paid


@dataclass
class LeaseFlows:
    """An epoch's leases opened and closed, in the order the chain performs them."""

    opened: list[Lease] = field(default_factory=list)
    closed: list[Closed] = field(default_factory=list)


class LeaseBook:
    """The sampled jobs and their open leases."""

    def __init__(self, share: float, seed: int, n_jobs: int) -> None:
        self.sampled = rngs.stream(seed, rngs.ESCROW_SAMPLE).random(n_jobs) < share
        self._open: dict[tuple[int, int, float], Lease] = {}
        self._next_id = 0

    def is_leased(self, job: int, provider: int, start: float) -> bool:
        """Whether the allocation of ``job`` on ``provider`` from ``start`` pays through a lease of its own."""
        return (job, provider, start) in self._open

    def settle(self, job: np.ndarray, provider: np.ndarray, start: np.ndarray, hours: np.ndarray,
               cost_per_hour: np.ndarray, new: np.ndarray, done: np.ndarray, t1: float,
               final: bool) -> tuple[np.ndarray, LeaseFlows]:
        """Open a lease for each new allocation (rows of the arrays: as ``lease_payments`` takes them) of a
        sampled job; close those that ended by t1 (all, at the horizon). Returns which rows settle from the
        pooled escrow, and the epoch's lease flows."""
        pooled = np.ones(job.size, dtype=bool)
        flows = LeaseFlows()
        for i in np.flatnonzero(self.sampled[job]).tolist():
            key = (int(job[i]), int(provider[i]), float(start[i]))
            lease = self._open.get(key)
            if lease is None and new[i]:
                price = int(np.floor(cost_per_hour[i] * hours[i] + 0.5))  # the pooled deposit's rounding
                if price > 0:
                    lease = Lease(self._next_id, key[0], key[1], price, float(hours[i]))
                    self._next_id += 1
                    self._open[key] = lease
                    flows.opened.append(lease)
            if lease is None:
                continue
            pooled[i] = False
            if done[i] or final:
                ran = float(hours[i]) if done[i] else t1 - key[2]
                share = PPM if ran >= lease.planned_hours else round(ran / lease.planned_hours * PPM)
                flows.closed.append(Closed(lease, share))
                del self._open[key]
        return pooled, flows


def payout(closed: Closed, fee_ppm: int, burn_ppm: int) -> tuple[int, int, int]:
    """(net to the provider, fee, burn share) of a closed lease, rounded down per lease as the contract does."""
    paid = closed.paid
    fee, burn = paid * fee_ppm // PPM, paid * burn_ppm // PPM
    return paid - fee - burn, fee, burn
