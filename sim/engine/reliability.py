"""Reliability: node failures and repairs, and what an interruption (a failure, a preemption) does to a job.

A failed node's jobs stop: every allocation is cut short and its GPUs come back; the job keeps what its
kind keeps (training: the work up to its last checkpoint; serving: the hours served) and the rest is
placed again after the kind's restart overhead (``Placement.restart``), or finished on AWS. A
full-price buyer who finds no free GPUs may preempt interruptible (spot) jobs on a node within its
limit. Failure and repair times come from ``FailureTimes``, each node's in its own order; they wait in
``NodeEvents``, where the compiled loop repairs a node itself and hands a failure back to ``fail``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numba import njit

from ..book import PostedPriceBook
from ..dynamics import ProviderDynamics
from ..jobs import JobBatch
from ..schema.market import MarketMechanism
from .fastloop import FAIL, REPAIR, NodeEvents
from .placement import Placement
from .state import RunState


class FailureClock(Protocol):
    """Time to a node's next failure and its repair (``sim.failures.FailureTimes``; tests script one)."""

    def until_failure(self, p: int) -> float: ...

    def repair(self, p: int) -> float: ...


class Reliability:
    """Failures, repairs, interruptions and preemption, on the shared book and run state."""

    def __init__(self, state: RunState, book: PostedPriceBook, jobs: JobBatch, placement: Placement,
                 dynamics: ProviderDynamics, mechanism: MarketMechanism, clock: FailureClock) -> None:
        self.state, self.book, self.jobs, self.placement = state, book, jobs, placement
        self._dynamics, self._mechanism, self.clock = dynamics, mechanism, clock
        self.events = NodeEvents(state.n_providers)

    # --- failures -----------------------------------------------------------------------------------

    def schedule_failure(self, p: int, now: float) -> None:
        """Node p, working from ``now``, fails after a time drawn from its clock."""
        self.events.push(now + self.clock.until_failure(p), FAIL, p)

    def fail(self, p: int, now: float) -> None:
        """A node fails: its jobs stop (and restart elsewhere), it offers nothing until repaired. The repair
        and the time from it to the next failure are drawn now (the node's own draws, in its order); the
        compiled loop does the repair (``fastloop._repair``)."""
        if not self._dynamics.active[p]:
            return  # it left the network meanwhile
        state = self.state
        state.failures[p] += 1
        state.down[p] = True
        if not self.book.idle(p):
            for j in state.departures.jobs_on(p):
                self.interrupt(j, now)
        self.book.deactivate(p)
        repair = self.clock.repair(p)
        self.events.push(now + repair, REPAIR, p, self.clock.until_failure(p))

    # --- preemption ---------------------------------------------------------------------------------

    def preempt(self, j: int, classes: tuple[int, ...], now: float) -> bool:
        """A full-price buyer found no free GPUs: take the cheapest node within its limit where preempting
        spot jobs frees enough, preempt them (they restart elsewhere from their last checkpoint, or finish
        on AWS) and start job j there. False if no node would do."""
        state, book = self.state, self.book
        if state.spot_job[j]:
            return False
        live = state.live(now)
        on_spot = state.spot_job[live.job]
        if not on_spot.any():
            return False
        held = np.bincount(live.provider[on_spot], weights=live.gpus[on_spot], minlength=state.n_providers)
        best: tuple[float, int, int, float] | None = None
        for c in classes:
            g, hours, limit = self.placement.need(j, c)
            for p in np.flatnonzero(held > 0).tolist():
                if (book.cls[p] == c and book.ask[p] <= limit and book.free[p] + held[p] >= g
                        and (best is None or book.ask[p] * g * hours < best[0])):
                    best = (book.ask[p] * g * hours, p, g, hours)
        if best is None:
            return False
        _, p, g, hours = best
        book.deactivate(p)  # the preempted jobs must not restart on the node they are leaving
        for victim in sorted(set(live.job[on_spot & (live.provider == p)].tolist())):
            state.preempted[victim] = state.preempted.get(victim, 0) + 1
            self.interrupt(victim, now)
        book.activate(p)
        self.placement.start(j, p, g, hours, now)
        return True

    # --- interruptions ------------------------------------------------------------------------------

    def interrupt(self, j: int, now: float) -> None:
        """End every allocation of job j now; keep what its kind keeps; restart the rest."""
        state = self.state
        # cut the allocations short: their departures are cancelled, their GPUs come back now
        start, wall_hours, cuts_before = now, 0.0, state.truncated
        spread = state.spread.view()
        cut = _rows_of(j, spread.job, spread.end, now)
        if cut.size:
            self._cut(j, spread.provider[cut], spread.end[cut], spread.gpus[cut])
            start = min(start, float(spread.start[cut].min()))
            wall_hours = max(wall_hours, float(spread.hours[cut].max()))
            spread.hours[cut] = now - spread.start[cut]
            spread.end[cut] = now
        rows = state.running
        running = _rows_of(j, rows.job, rows.end, now)
        if running.size:
            self._cut(j, rows.provider[running], rows.end[running], rows.gpus[running])
            for i in running.tolist():
                # a pooled lease from an earlier epoch may have paid for its planned hours up front (a lease
                # of its own settles when it closes)
                if state.leases is not None and state.leases.is_leased(j, int(rows.provider[i]), float(rows.start[i])):
                    continue
                state.refunds += self._mechanism.refund_on_cut(int(rows.ask_micro_usd[i] * rows.gpus[i]),
                                                               float(rows.hours[i]), float(now - rows.start[i]))
            start = min(start, float(rows.start[running].min()))
            wall_hours = max(wall_hours, float(rows.hours[running].max()))
            rows.hours[running] = now - rows.start[running]
            rows.end[running] = now
        log = state.log
        # a start of this epoch on one node (a job runs one attempt at a time: not if it had allocations above)
        here = _rows_of(j, state.started_this_epoch(), None, now) if not (running.size or cut.size) else None
        if here is not None and here.size and log.end[here[0]] > now:
            k = int(here[0])
            p = int(log.provider[k])
            g, wall_hours, _ = self.jobs.on_class(int(state.provider_class[p]), j)
            self._cut(j, np.array([p]), np.array([float(log.end[k])]), np.array([g]))
            start = float(log.start[k])
            state.billed_hours[j] = now - start
            log.end[k] = now
        if state.truncated == cuts_before:
            return  # its allocations end at this very time: the departures finish it
        began, overhead, planned, work = state.attempt.get(
            j, (start, 0.0, wall_hours, float(self.jobs.work_ref_gpu_hours[j])))
        cut = self.jobs.job_of(j).interruption(now - began, overhead, planned, work)
        state.lost_work[j] = state.lost_work.get(j, 0.0) + cut.lost_work
        state.downtime_hours[j] = state.downtime_hours.get(j, 0.0) + cut.downtime_hours
        if cut.left_work > 1e-12:
            self.placement.restart(j, now, cut.left_work, cut.restart_overhead_hours)

    def _cut(self, j: int, providers: np.ndarray, ends: np.ndarray, gpus: np.ndarray) -> None:
        """End job j's allocations on ``providers`` (those ending at ``ends``, holding ``gpus``) now."""
        self.state.departures.cancel_all(j, providers, ends)
        self.state.truncated += providers.size
        self.book.give_back_all(providers, gpus)


@njit(cache=True)
def _rows_of(j: int, jobs: np.ndarray, end: np.ndarray | None, now: float) -> np.ndarray:
    """The rows of ``jobs`` that are job j (and, given ``end``, end after ``now``): a scan of the running
    allocations, compiled, as every interruption makes one."""
    rows = np.empty(jobs.size, dtype=np.int64)
    n = 0
    for i in range(jobs.size):
        if jobs[i] == j and (end is None or end[i] > now):
            rows[n] = i
            n += 1
    return rows[:n]
