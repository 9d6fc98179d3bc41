"""Settlement: at every epoch's close, what each allocation delivered and paid, and the epoch's flows.

The loop only recorded starts; here the epoch's allocations (those still running from earlier epochs,
this epoch's single-node starts and its other allocations) are clipped to the epoch, vectorised:
GPU-hours and revenue accrued per provider, and what buyers pay by the market's rule
(``MarketMechanism.lease_payments``). The token economy then settles the payments, the emission, the
stakes and the trades in the integer ledger; with a chain on, the epoch's journal is replayed on it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..chain.hook import ChainHook, replay
from ..dynamics import ProviderDynamics
from ..economy import TokenEconomy
from ..fleet import Fleet
from ..jobs import JobBatch
from ..schema.market import MarketMechanism
from .phases import Epoch, EpochPhase
from .state import RunState


class Settlement(EpochPhase):
    """Closes each epoch's books: payments per allocation, then the token economy's flows."""

    def __init__(self, state: RunState, fleet: Fleet, mechanism: MarketMechanism, economy: TokenEconomy,
                 dynamics: ProviderDynamics, jobs: JobBatch, by_throughput: bool) -> None:
        """``by_throughput``: work is GPU-hours times the GPU's throughput for the job (else GPU-hours)."""
        self.state, self.fleet, self.mechanism, self.economy, self.dynamics = state, fleet, mechanism, economy, dynamics
        self.jobs, self.by_throughput = jobs, by_throughput
        # per stream, the share of its jobs' capacity that is verified data (quality-adjusted power only)
        self._verified = np.array([job.verified_share() for job in jobs.stream_jobs]) \
            if economy.tok.reward_rule.power_multiplier() != 1.0 else None

    def close_epoch(self, epoch: Epoch) -> None:
        state, fleet = self.state, self.fleet
        t0, t1, final = epoch.t0, epoch.t1, epoch.final
        new = state.epoch_starts()
        state.log.n_started[0] = 0
        previous = state.running_log.size
        state.running_log.append(new)  # after those still running: the epoch's allocations
        state.running_log.append(state.spread.view())
        state.spread.clear()
        active = state.running
        state.billed_hours.clear()  # read by epoch_starts() just now; these jobs are all in running next
        g, ask, start, end = active.gpus, active.ask_micro_usd, active.start, active.end
        gh, revenue_micro, done = np.zeros(fleet.size), np.zeros(fleet.size), np.empty(start.size, dtype=np.bool_)
        none = np.zeros(0)  # a sum ``_accrue`` skips
        work = np.zeros(fleet.size) if self.by_throughput else none
        verified = none if self._verified is None else np.zeros(fleet.size)
        _accrue(active.job, active.provider, start, end, g, ask, t0, t1, self.jobs.stream, self.jobs.stream_speed,
                fleet.gpu_class, none if self._verified is None else self._verified, gh, work, revenue_micro,
                verified, done)
        work = work if self.by_throughput else gh
        state.gh_total += gh
        state.rev_total += revenue_micro

        opened = np.arange(start.size) >= previous  # the allocations that started this epoch
        if state.leases is None:
            payments = self.mechanism.lease_payments(ask * g, active.hours, start, done, opened, t0, t1, final)
            amounts, leases = payments.amounts, None
        else:  # the sampled jobs' own leases, apart; the others from the pool
            cost = ask * g
            pooled, leases = state.leases.settle(active.job, active.provider, start, active.hours, cost, opened,
                                                 done, t1, final)
            payments = self.mechanism.lease_payments(cost[pooled], active.hours[pooled], start[pooled], done[pooled],
                                                     opened[pooled], t0, t1, final)
            amounts = np.zeros(start.size)
            amounts[pooled] = payments.amounts
            for closed in leases.closed:
                state.paid_micro[closed.lease.job] += closed.paid
        refunds = state.refunds + payments.refunds
        state.refunds = 0
        paying = np.flatnonzero(amounts)
        np.add.at(state.paid_micro, active.job[paying], amounts[paying].astype(np.int64))  # a job may hold several
        # integer sums below 2**53 are exact in float64 (and bincount is far faster than np.add.at)
        due = np.bincount(active.provider, weights=amounts, minlength=fleet.size)
        if due.sum() >= 2**53:
            raise OverflowError("an epoch's payments exceed exact float64 integer range")
        state.settled.settle(state.running_log, done, final)  # the allocations that ended, out of running

        was_active = self.dynamics.active.copy()
        # an active node offers its whole capacity; one that has left, only the leases it still serves
        offered = np.maximum(fleet.gpus * was_active * (t1 - t0), gh)
        epoch.flows = self.economy.close_epoch(epoch.k, gh, work, offered, due.astype(np.int64), epoch.asks_micro_usd,
                                               epoch.dealers, was_active, state.failures, payments.deposits, refunds,
                                               None if self._verified is None else verified, leases)
        state.failures = np.zeros_like(state.failures)
        epoch.gpu_hours, epoch.revenue_micro_usd, epoch.offered_gpu_hours, epoch.was_active = (
            gh, revenue_micro, offered, was_active)


class ChainReplay(EpochPhase):
    """With a chain on, every closed epoch's ledger journal is settled on the chain too; the last epoch waits
    until the chain has confirmed them all (a failure then is still the run's, with a partial result)."""

    def __init__(self, chain: ChainHook, economy: TokenEconomy) -> None:
        self.chain, self.economy = chain, economy

    def close_epoch(self, epoch: Epoch) -> None:
        replay(self.chain, epoch.k, self.economy.ledger.take_journal())
        if epoch.final:
            self.chain.confirm()


@njit(cache=True, nogil=True)
def _accrue(job: np.ndarray, provider: np.ndarray, start: np.ndarray, end: np.ndarray, gpus: np.ndarray,
            ask: np.ndarray, t0: float, t1: float, stream: np.ndarray, stream_speed: np.ndarray,
            node_class: np.ndarray, verified_share: np.ndarray, gpu_hours: np.ndarray, work: np.ndarray,
            revenue: np.ndarray, verified: np.ndarray, done: np.ndarray) -> None:
    """Per provider, what the allocations delivered within [t0, t1): GPU-hours, work (GPU-hours times the
    GPU's throughput for the job; skipped if ``work`` is empty), revenue (micro-USD at the asks) and
    verified data (skipped if ``verified`` is empty); and which allocations ended by t1 (``done``). One
    pass, where NumPy took a dozen over every running allocation each epoch; the sums run in allocation
    order, as ``np.bincount`` adds them, so they are the same to the bit."""
    for i in range(job.size):
        p = provider[i]
        overlap = max(min(end[i], t1) - max(start[i], t0), 0.0)
        held = gpus[i] * overlap
        gpu_hours[p] += held
        if work.size:
            work[p] += held * stream_speed[stream[job[i]], node_class[p]]
        revenue[p] += (ask[i] * gpus[i]) * overlap
        if verified.size:
            verified[p] += held * verified_share[stream[job[i]]]
        done[i] = end[i] <= t1
