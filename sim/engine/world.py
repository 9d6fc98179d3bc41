"""The driver: SimPy orders epochs and patience timeouts; arrivals, departures and node repairs run in a
compiled loop (``fastloop``) between them, which hands node failures back.

Speed matters (a year of a large network is a million jobs), so:
- no SimPy process per job: patience timeouts are SimPy timeouts with plain callbacks, and the epoch
  clock is the only process; node failures and repairs wait in an array heap of their own
  (``NodeEvents``): a repair needs no Python, a failure (its jobs stop) returns to ``Reliability``;
- arrivals were all drawn at build time, sorted, so they need no events; departures, one or more per
  job, sit in an array heap. ``fastloop.advance`` takes them in time order (departures first on ties,
  then node events, then SimPy events, then the arrival) and matches each arriving job to the cheapest
  fitting node, or the cheapest gang of nodes for a job larger than any node, in machine code; it hands
  back when a SimPy event is due, when a node fails, when a job finds neither (preemption, waiting,
  AWS: the placement and reliability phases, in Python) and when a release may serve a waiting job;
- at every epoch boundary the phases (``self.phases``) are called in one listed order.
Everything random was drawn at build time from seeded streams, so the loop itself is deterministic.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import simpy

from ..book import PostedPriceBook
from ..chain.hook import ChainHook
from ..cloud import CloudBaseline, build_cloud
from ..dynamics import ProviderDynamics
from ..economy import TokenEconomy
from ..failures import FailureTimes
from ..fleet import Fleet, build_fleet
from ..heap import fix_mmap_threshold, trim_heap
from ..jobs import JobBatch, build_jobs
from ..leases import LeaseBook
from ..schema import Scenario
from .demand import Demand
from .fastloop import ARRIVALS_DONE, EVENT, FAILED, GROW, RELEASED, UNMATCHED, NodeState, advance
from .phases import Epoch, EpochPhase
from .placement import Placement
from .recorder import EpochRecorder
from .reliability import Reliability
from .settlement import ChainReplay, Settlement
from .state import RunState
from .supply import Entries, Pricing, Supply

Progress = Callable[[float], None]


class World:
    """One run's model, built from a scenario and simulated once (``simulate``)."""

    def __init__(self, scenario: Scenario, chain: ChainHook | None = None, spill: Path | None = None) -> None:
        """``chain``: settle every epoch on a chain too (its ledger operations are then journaled);
        ``spill``: a directory to file the settled allocations in (``SettledLog``; None: in memory)."""
        fix_mmap_threshold()
        self.scenario, self.chain = scenario, chain
        seed, market = scenario.seed, scenario.market
        self.fleet = fleet = build_fleet(scenario.providers, seed)
        self.cloud = build_cloud(scenario.cloud, scenario.shocks)
        self.jobs = jobs = build_jobs(scenario.workload, seed, scenario.horizon_hours, fleet, self.cloud,
                                      market.spot_discount, scenario.shocks)
        trim_heap()  # what the build freed
        self.env = simpy.Environment()
        n_epochs = scenario.n_epochs
        self.grid = np.minimum(np.arange(n_epochs + 1) * scenario.epoch_hours, scenario.horizon_hours)
        by_throughput = scenario.tokenomics.reward_rule.work_by_throughput()
        work_rate = jobs.class_work_rate() if by_throughput else np.ones(len(fleet.classes))
        # before any is sold, providers expect the verified share of demand to be its largest stream's share
        verified = max((s.job.verified_share() for s in scenario.workload.streams), default=0.0)
        self.economy = TokenEconomy(scenario.tokenomics, market, seed, fleet, self.grid, scenario.epoch_hours,
                                    work_rate, journal=chain is not None, verified_share=verified,
                                    shocks=scenario.shocks)
        self.dynamics = ProviderDynamics(fleet, scenario.epoch_hours, n_epochs, scenario.shocks)
        self.book = PostedPriceBook(fleet.gpu_class.tolist(), fleet.gpus.tolist(), _job_sizes(jobs, fleet),
                                    tiebreak=fleet.loaded_cost_micro_usd(), active=fleet.initially_active.tolist())
        self.state = state = RunState(jobs, fleet.gpu_class, 1.0 - market.spot_discount, fleet.size,
                                      fleet.gpus, float(self.grid[-1]), spill)
        if scenario.chain.escrow_sample_share > 0:
            state.leases = LeaseBook(scenario.chain.escrow_sample_share, seed, state.n_jobs)
        self.demand = Demand(scenario.workload.streams, jobs, self.cloud, self.book, self.grid[:-1])
        self.placement = Placement(state, self.book, jobs, fleet, self.demand, self.env, market.order_delay_hours)
        self.reliability = Reliability(state, self.book, jobs, self.placement, self.dynamics, market,
                                       FailureTimes(fleet, seed))
        self.recorder = EpochRecorder(state, fleet, self.cloud, work_rate)
        # a second thread for the epoch's independent compiled work (the clearing's buy side and its
        # counterfactual clearing): a machine has two cores or more; results do not depend on it
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="depinsim-epoch")
        chain_phase = [ChainReplay(chain, self.economy)] if chain is not None else []
        # one order for both hooks: an epoch's open runs supply, asks, demand and waiting jobs; its close
        # settles payments, lets nodes leave, records the epoch, replays it on a chain, plans entries
        self.phases: tuple[EpochPhase, ...] = (
            Settlement(state, fleet, market, self.economy, self.dynamics, jobs, by_throughput),
            Supply(fleet, self.book, self.dynamics, self.economy, self.reliability),
            Pricing(fleet, self.book, self.dynamics, self.economy, market, jobs, self.demand, state,
                    outside_option(self.cloud, jobs, self.grid[:-1]), self._helper),
            self.demand,
            self.placement,
            self.recorder,
            *chain_phase,
            Entries(self.dynamics, self.economy, state, scenario.tokenomics.staking.tokens_per_gpu),
        )
        self._epoch: Epoch | None = None

    def simulate(self, progress: Progress | None = None) -> None:
        """Run the horizon (with a chain, started by the caller, settling every epoch on it too); the
        results are in the state, the economy and the recorder (the jobs' per-class needs, read only here,
        are then released: ``JobBatch.release_net``). A chain that fails mid-run raises
        ChainError after the epochs closed off-chain before it."""
        try:
            with _gc_paused():
                self._drive(progress)
        finally:
            self._helper.shutdown()
            self.jobs.release_net()  # the tables never read them

    def _drive(self, progress: Progress | None) -> None:
        """``fastloop.advance`` runs arrivals and departures until a SimPy event is due or a job needs more
        than the cheapest free node; this loop hands that to the phase it belongs to, and back."""
        env, state, jobs = self.env, self.state, self.jobs
        horizon = float(self.grid[-1])
        initial = np.flatnonzero(self.fleet.initially_active)
        self.economy.buy_stakes(initial)
        for p in initial.tolist():
            self.reliability.schedule_failure(p, 0.0)
        self._open(0)
        env.process(self._epochs(progress))
        delay = self.scenario.market.order_delay_hours
        # orders whose match would fall after the horizon are still open at its end
        n_matched = int(np.searchsorted(jobs.submit_hours + delay, horizon, side="right"))
        elastic, may_preempt = self.demand.elastic, bool(state.spot_job.any())
        before, after = (*jobs.loop, *self.demand.routing, *self.book.arrays), (
            *state.departures.arrays, *self.reliability.events.arrays, *NodeState(self.dynamics.active, state.down),
            *self.placement.gangs.arrays)

        def arrays() -> tuple[np.ndarray, ...]:  # the loop's arrays, with the logs' current columns
            return (*before, *state.log, *after, *state.spread.arrays)

        loop, log, gang_rows = arrays(), state.log, state.spread.arrays.job
        i, final = 0, False
        while True:
            if state.log is not log:  # Python grew the start log (a start from Python when it was full)
                loop, log = arrays(), state.log
            why, i, x, now, could_wait = advance(i, final, n_matched, horizon, env.peek(), len(state.waiting), delay,
                                                 elastic, *loop)
            if why == EVENT:
                env.step()
            elif why == FAILED:
                self.reliability.fail(x, now)
            elif why == RELEASED:
                self.placement.serve_waiting(x, now)
            elif why == UNMATCHED:
                self._unmatched(x, now, may_preempt, could_wait)
            elif why == GROW:  # the gang log or the start log is full: grow it and hand the loop its new columns
                # (a restart's gang, placed from Python, may have grown the gang log already: the loop's old
                # columns then have no room for rows the log has, so the loop returns here before writing)
                grown = state.log.with_room()
                if grown is state.log and state.spread.arrays.job is gang_rows:  # no room for a gang's nodes
                    state.spread.reserve(gang_rows.size - state.spread.size + 1)  # doubles it
                state.log = grown
                loop, log, gang_rows = arrays(), state.log, state.spread.arrays.job
            elif why == ARRIVALS_DONE:
                for j in range(n_matched, state.n_jobs):
                    state.waiting[j] = ()
                final = True  # events exactly at the horizon belong to this run
            else:
                break
        self._close(len(self.grid) - 2)
        if progress is not None:
            progress(1.0)

    def _unmatched(self, j: int, now: float, may_preempt: bool, could_wait: bool) -> None:
        """Job j found no free node, nor several nodes where some class needs them: preempt spot jobs, else
        wait if a class it fits asks within its limit, else AWS if that is within its budget."""
        classes = self.placement.classes_of(j)
        if may_preempt and self.reliability.preempt(j, classes, now):
            return
        self.placement.wait_or_leave(j, classes, now, could_wait)

    def _epochs(self, progress: Progress | None) -> Generator[simpy.Event, None, None]:
        """The one SimPy process: closes epoch k-1 and opens epoch k at every inner boundary."""
        for k in range(1, len(self.grid) - 1):
            yield self.env.timeout(self.grid[k] - self.env.now)
            self._close(k - 1)
            self._open(k)
            if progress is not None:
                progress(k / (len(self.grid) - 1))

    def _open(self, k: int) -> None:
        self._epoch = Epoch(k, float(self.grid[k]), float(self.grid[k + 1]), k == len(self.grid) - 2)
        for phase in self.phases:
            phase.open_epoch(self._epoch)

    def _close(self, k: int) -> None:
        epoch = self._epoch
        assert epoch is not None and epoch.k == k, (k, epoch)
        for phase in self.phases:
            phase.close_epoch(epoch)


def outside_option(cloud: CloudBaseline, jobs: JobBatch, t_hours: np.ndarray) -> np.ndarray:
    """Per epoch (starting at ``t_hours``) and network class, what its buyers' cheapest alternative costs per
    GPU-hour of that class: the cheapest price per unit of work over all alternatives, at that time, times
    the class's throughput, averaged over the streams that accept the class, weighted by the reference
    GPU-hours each asks for (inf for a class no stream with an alternative accepts). Adaptive asks and
    clearing prices stop there: above it buyers leave the network."""
    per_work = np.array([cloud.cheapest_per_work(job, t_hours) for job in jobs.stream_jobs]).reshape(
        len(jobs.stream_jobs), len(t_hours))
    return jobs.class_mean(per_work.T[:, :, None] * jobs.stream_speed[None], np.inf)


def _job_sizes(jobs: JobBatch, fleet: Fleet) -> list[list[int]]:
    """Per GPU class, the GPU counts its jobs ask for (the book keeps a fit heap for each)."""
    sizes = []
    for c in range(len(fleet.classes)):
        rows = jobs.class_rows(c, slice(None))
        uses = np.flatnonzero(rows >= 0)
        sizes.append(np.flatnonzero(np.bincount(jobs.net_gpus[rows[uses], uses], minlength=1)).tolist())
    return sizes


@contextmanager
def small_pages() -> Iterator[None]:
    """Let the kernel back new arrays with normal (4 KB) pages while a run is built, simulated and tabled.

    numpy asks Linux for transparent huge pages (``madvise``) for every array of 4 MB or more. Where the
    kernel's policy is ``madvise`` (common on cloud VMs), a huge-page fault may compact memory first, and
    a run allocates and frees hundreds of such arrays: on this project's 2-core VM the million-job
    benchmark spent 1.0-1.15 s in the kernel with them and 0.45-0.55 s without, and ran in 5.06-5.22 s
    instead of 5.60-5.85 (four runs each, 2026-12-07). numpy's own switch (what its documented
    ``NUMPY_MADVISE_HUGEPAGE=0`` sets at import) is turned off for the run only and restored after;
    a no-op where numpy has no such switch. Results do not depend on it.
    """
    toggle = getattr(np._core.multiarray, "_set_madvise_hugepage", None)
    if toggle is None:
        yield
        return
    previous = toggle(False)
    try:
        yield
    finally:
        toggle(previous)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during the event loop.

    The loop's Python side allocates many short-lived objects (SimPy events, tuples, per-epoch arrays)
    that reference counting frees; the collector's generation-0 passes over them find nothing (the loop
    creates no reference cycles). The previous state is restored on exit, errors included.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
