"""The event loop: SimPy orders epochs, failures, repairs and patience timeouts; arrivals and departures
run in a compiled loop (``fastloop``) between them.

Speed matters (a year of a large network is a million jobs), so:
- no SimPy process per job: patience timeouts, failures and repairs are SimPy timeouts with plain
  callbacks, and the epoch clock is the only process;
- arrivals were all drawn at build time, sorted, so they need no events; departures, one or more per
  job, sit in an array heap. ``fastloop.advance`` takes them in time order (departures first on ties,
  then SimPy events, then the arrival) and matches each arriving job to the cheapest fitting node in
  machine code; it hands back when a SimPy event is due, when a job finds no node (waiting, several
  nodes, preemption, AWS: handled here, in Python) and when a release may serve a waiting job.
  Handlers use explicit times, never ``env.now``, which may lag the event being handled;
- the loop only records each start (provider, start, end and ask, in flat per-job arrays);
  GPU-hours, revenue, payments and rewards per provider are computed per epoch from those records,
  vectorised.
Everything random was drawn at build time from seeded streams, so the loop itself is deterministic.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import platform
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np
import simpy

from . import rng as rngs
from .catalog import gpu_catalog
from .chain.hook import ChainError, ChainHook, ChainUnavailable, replay
from .cloud import build_cloud
from .conservation import check_ledgers, check_run
from .dynamics import ProviderDynamics
from .economy import TokenEconomy
from .fastloop import ARRIVALS_DONE, EVENT, RELEASED, UNMATCHED, DepartureQueue, advance
from .latency import deployment_latency
from .ledger import MICRO
from .market import MARKETS
from .metrics import EpochRecorder, build_jobs_table, build_summary
from .providers import Fleet, build_fleet
from .reliability import FailureTimes, useful_hours
from .results import RunResult
from .scenario import Scenario
from .topology import topology
from .workload import build_jobs


@dataclass(frozen=True)
class NetworkStarts:
    """The jobs the network started (in start order within each epoch), with where, when and at what ask."""

    job: np.ndarray
    provider: np.ndarray
    start: np.ndarray
    end: np.ndarray
    gpus: np.ndarray
    hours: np.ndarray
    ask_micro_usd: np.ndarray

    def __getitem__(self, index: np.ndarray) -> NetworkStarts:
        if index.dtype == bool:  # one scan of the mask, not one per column
            index = np.flatnonzero(index)
        return NetworkStarts(*(getattr(self, f.name)[index] for f in fields(self)))

    def __add__(self, other: NetworkStarts) -> NetworkStarts:
        return NetworkStarts.concat([self, other])

    @staticmethod
    def concat(parts: list[NetworkStarts]) -> NetworkStarts:
        return NetworkStarts(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(NetworkStarts)))


class _AllocationLog:
    """NetworkStarts appended epoch by epoch into columns that double when full, so the run ends with its
    allocations in one piece: joining a year of epoch pieces at the end would hold both copies at once,
    when the tables are built and memory peaks (unused capacity is never touched, so costs no memory)."""

    def __init__(self) -> None:
        self._columns = [np.empty(0, dtype=dtype) for dtype in (np.int64, np.int64, float, float, np.int64, float,
                                                                  np.int64)]
        self._size = 0

    def append(self, starts: NetworkStarts) -> None:
        n, size = starts.job.size, self._size
        if size + n > self._columns[0].size:
            capacity = max(2 * self._columns[0].size, size + n, 4096)
            for i, column in enumerate(self._columns):
                grown = np.empty(capacity, dtype=column.dtype)
                grown[:size] = column[:size]
                self._columns[i] = grown
        for column, f in zip(self._columns, fields(NetworkStarts), strict=True):
            column[size:size + n] = getattr(starts, f.name)
        self._size = size + n

    def view(self) -> NetworkStarts:
        return NetworkStarts(*(column[:self._size] for column in self._columns))


Progress = Callable[[float], None]
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


class World:
    """One run's model: built from a scenario, run once."""

    def __init__(self, scenario: Scenario, chain: ChainHook | None = None) -> None:
        """``chain``: settle every epoch on a chain too (its ledger operations are then journaled)."""
        _fix_mmap_threshold()
        self.scenario = scenario
        self.chain = chain
        self.fleet = fleet = build_fleet(scenario)
        self.cloud = build_cloud(scenario.cloud)
        self.jobs = jobs = build_jobs(scenario, fleet, self.cloud)
        self.env = simpy.Environment()
        horizon = scenario.horizon_hours
        n_epochs = int(np.ceil(horizon / scenario.epoch_hours - 1e-9))
        self.grid = np.minimum(np.arange(n_epochs + 1) * scenario.epoch_hours, horizon)
        self.economy = TokenEconomy(scenario, fleet, self.grid, journal=chain is not None)
        self.dynamics = ProviderDynamics(fleet, scenario.epoch_hours, n_epochs)

        sizes = []  # per class, the GPU counts its jobs ask for
        for c in range(len(fleet.classes)):
            rows = jobs.class_rows(c, slice(None))
            uses = np.flatnonzero(rows >= 0)
            sizes.append(np.flatnonzero(np.bincount(jobs.net_gpus[rows[uses], uses], minlength=1)).tolist())
        self.market = MARKETS[scenario.market.kind](fleet.gpu_class.tolist(), fleet.gpus.tolist(), sizes,
                                                    tiebreak=fleet.asks_micro_usd(0.0, 0.0),
                                                    active=fleet.initially_active.tolist())
        self._departures = DepartureQueue(int(fleet.gpus.sum()) + 1)
        self.recorder = EpochRecorder(fleet, self.cloud)
        self.closed_epochs = 0

        self.n_jobs = n = jobs.submit_hours.size
        self.cloud_ok = jobs.cloud_cost_usd <= jobs.budget_usd
        models = gpu_catalog().models
        self._throughput = np.array([[models[m].training_throughput_rel.value for m in fleet.classes],
                                     [models[m].inference_throughput_rel.value for m in fleet.classes]])
        self._stream_kind = [0 if kind == "training" else 1 for kind in jobs.stream_kinds]
        self._link = _Links(fleet, np.array([g.fabric == "infiniband" for sl, g in fleet.group_slices
                                             for _ in range(sl.start, sl.stop)], dtype=bool))
        # per stream, its classes from the cheapest per unit of work (-1 pads), updated every epoch
        self._class_order = np.full((len(jobs.stream_classes), len(fleet.classes)), -1, dtype=np.int64)
        # elastic demand: per stream, the share of its capped arrivals that the current prices draw
        streams = scenario.workload.streams
        self._demand = [getattr(s, "demand", None) for s in streams]
        self._keep = np.ones(len(streams))
        self.demand_multiplier = np.ones((n_epochs, len(streams)))  # per epoch, of the base arrival rate
        self._cloud_per_work = [min((self.cloud.buyer_prices[o] / self._throughput_of(self.cloud.offer_gpu[o], kind)
                                     for o in self.cloud.eligible(s.job.cloud_memory_gb())), default=np.inf)
                                for s, kind in zip(streams, jobs.stream_kinds, strict=True)]
        self._latent, self._n_latent = np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64)
        # interruptible (spot) buyers: pay a share of the ask, and may be preempted
        self._spot_job = np.asarray(jobs.stream_interruptible, dtype=bool)[jobs.stream]
        self._spot_share = 1.0 - scenario.market.spot_discount
        self.preempted = np.zeros(n, dtype=np.int64)  # times each spot job was preempted
        self.waiting: dict[int, tuple[int, ...]] = {}  # job -> classes it waits on
        self._departed = np.zeros(1, dtype=np.int64)
        # per-job start records (one start a job; restarts and spread jobs are in _spread)
        self._rec_provider = np.zeros(n, dtype=np.int64)
        self._rec_start = np.zeros(n)
        self._rec_end = np.zeros(n)
        self._rec_ask = np.zeros(n, dtype=np.int64)
        self._started, self._n_started = np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64)  # this epoch
        # jobs on several nodes: one allocation per node, (job, provider, start, end, gpus, hours, ask)
        self._spread: list[tuple[int, int, float, float, int, float, int]] = []
        self._settled = _AllocationLog()  # allocations as settled, epoch by epoch
        self.interconnect: dict[int, tuple[str, float]] = {}  # job -> (link, run-time factor), spread jobs
        # reliability: per-job outcomes
        self._billed_hours: dict[int, float] = {}            # single-node jobs cut short: hours billed
        self.attempt: dict[int, tuple[float, float, float, float]] = {}  # restarted jobs: start, overhead,
        #                                                        wall hours, reference work at the start
        self.truncated = 0
        self.attempts = np.ones(n, dtype=np.int64)
        self.lost_work = np.zeros(n)       # reference GPU-hours of work lost since a checkpoint
        self.downtime_hours = np.zeros(n)  # inference hours not served (failover)
        self.cloud_remainder: dict[int, tuple[float, float]] = {}  # job -> (when, USD) finished on AWS
        self.unfinished: dict[int, float] = {}  # job -> reference work left undone (nowhere to restart)
        self._down = np.zeros(fleet.size, dtype=bool)
        self.failures = np.zeros(fleet.size, dtype=np.int64)  # this epoch
        self.failure_count = 0
        self._failure_times = FailureTimes(fleet, rngs.stream(scenario.seed, rngs.FAILURES))
        self._running = self._starts_of(np.empty(0, dtype=np.int64))  # jobs running at the last close
        self.cloud_starts: list[tuple[int, float]] = []  # (job, start) of jobs sent to AWS
        self.paid_micro = np.zeros(n, dtype=np.int64)  # what each network job paid (settled)
        self.gh_total = np.zeros(fleet.size)           # GPU-hours delivered per provider, to last close
        self.rev_total = np.zeros(fleet.size)          # revenue accrued per provider (micro-USD)
        self._delay = scenario.market.order_delay_hours
        self._escrow = scenario.market.escrow
        self._refunds = 0  # escrow owed back to buyers for leases a failure cut short since the last close

    # --- arrivals ---------------------------------------------------------------------------------

    @property
    def latent(self) -> np.ndarray:
        """Arrivals the price did not draw (never submitted), in arrival order."""
        return self._latent[:int(self._n_latent[0])]

    @property
    def departed(self) -> int:
        """Allocations that ran to their end (not cut short by a failure)."""
        return int(self._departed[0])

    def _started_this_epoch(self) -> np.ndarray:
        """Jobs started since the last epoch close (a view of the buffer the compiled loop appends to)."""
        return self._started[:int(self._n_started[0])]

    def _classes_of(self, j: int) -> tuple[int, ...]:
        row = self._class_order[int(self.jobs.stream[j])]
        return tuple(row[row >= 0].tolist())

    def _need(self, j: int, c: int) -> tuple[int, float, float]:
        """GPUs, hours and the highest ask (micro-USD per GPU-hour) job j takes on class c."""
        g, hours, limit = self.jobs.on_class(c, j)
        return g, hours, limit * MICRO

    def _wait(self, j: int, classes: tuple[int, ...], now: float) -> None:
        """The network is cheaper than AWS but full: queue on every class the job fits, until patience ends."""
        self.waiting[j] = classes
        for c in classes:
            g, hours, limit = self._need(j, c)
            if g <= self.market.max_gpus[c]:
                self.market.wait(c, g, limit, j, hours)
        delay = now + self._patience(j) - self.env.now
        self.env.timeout(delay, j).callbacks.append(self._expire)

    def _patience(self, j: int) -> float:
        """How long job j waits for the network once its order is matchable."""
        return max(float(self.jobs.patience_hours[j]) - self._delay, 0.0)

    # --- network service --------------------------------------------------------------------------

    def _start(self, j: int, p: int, g: int, hours: float, now: float) -> None:
        """Start job j on provider p (``fastloop.advance`` does this for arriving jobs: keep them alike)."""
        end = now + hours
        self.market.take(p, g)
        self._started[self._n_started[0]] = j
        self._n_started[0] += 1
        self._rec_provider[j] = p
        self._rec_start[j] = now
        self._rec_end[j] = end
        self._rec_ask[j] = self.market.ask[p]
        self._departures.push(end, p, g, j)

    def _place_unmatched(self, j: int, now: float, spread: bool, spot: bool, could_wait: bool) -> None:
        """Job j found no free node: several nodes if some class needs them, else preempt spot jobs, else
        wait if a class it fits asks within its limit, else AWS if that is within its budget."""
        classes = self._classes_of(j)
        if spread and self._start_spread(j, classes, now):
            return
        if spot and self._preempt(j, classes, now):
            return
        if could_wait and self._patience(j) > 0:
            self._wait(j, classes, now)
        elif self.cloud_ok[j]:
            self.cloud_starts.append((j, now))

    def _serve_waiting(self, p: int, now: float) -> None:
        waiting = self.waiting
        while waiting:
            match = self.market.waiting_job_for(p, waiting)
            if match is None:
                return
            j, g, hours = match
            del waiting[j]
            self._start(j, p, g, hours, now)

    def _expire(self, event: simpy.Event) -> None:
        j = event.value
        if j in self.waiting:
            del self.waiting[j]
            if self.cloud_ok[j]:
                self.cloud_starts.append((j, self.env.now))

    # --- epochs -----------------------------------------------------------------------------------

    def _epochs(self, progress: Progress | None) -> Generator[simpy.Event, None, None]:
        """The one SimPy process: closes epoch k-1 and opens epoch k at every inner boundary."""
        for k in range(1, len(self.grid) - 1):
            yield self.env.timeout(self.grid[k] - self.env.now)
            self._close_epoch(k - 1)
            self._open_epoch(k)
            if progress is not None:
                progress(k / (len(self.grid) - 1))

    def _open_epoch(self, k: int) -> None:
        arriving = self.dynamics.arriving(k)
        for p in arriving.tolist():
            self.market.activate(p)
            self._schedule_failure(p)
        self.economy.buy_stakes(arriving)
        active = self.dynamics.active
        work, capacity = self.economy.open_epoch(k, float(self.fleet.gpus[active].sum()))
        self._asks_epoch = self.fleet.asks_micro_usd(work, capacity)
        self.market.post(self._asks_epoch)
        self._dealers = self.economy.self_dealers(work, self._asks_epoch, active)
        self._order_classes()
        medians = [self.market.median_ask(c) / MICRO for c in range(len(self.fleet.classes))]
        self.recorder.open(k, medians, work, capacity, arriving)
        self._update_demand(k, medians)
        self._rematch_waiting(float(self.grid[k]))

    def _order_classes(self) -> None:
        """Per stream, eligible classes from the cheapest posted ask per unit of work: the first class
        tried usually wins, and the others are skipped on a bound without searching their books."""
        per_work = np.asarray(self.market.min_ask, dtype=float) / self._throughput
        for si, (kind, cs) in enumerate(zip(self._stream_kind, self.jobs.stream_classes, strict=True)):
            self._class_order[si, :len(cs)] = sorted(cs, key=lambda c: (per_work[kind, c], c))

    @staticmethod
    def _throughput_of(model: str, kind: str) -> float:
        m = gpu_catalog().models[model]
        return m.training_throughput_rel.value if kind == "training" else m.inference_throughput_rel.value

    def _update_demand(self, k: int, medians: list[float]) -> None:
        """Elastic streams: the share of the capped demand drawn by the cheapest median ask per unit of work,
        against AWS for the same work (the buyers' best price, so never above AWS)."""
        for si, demand in enumerate(self._demand):
            if demand is None:
                continue
            kind = self._stream_kind[si]
            net = min((medians[c] / self._throughput[kind, c] for c in self.jobs.stream_classes[si]
                       if np.isfinite(medians[c])), default=np.inf)
            ratio = min(1.0, net / self._cloud_per_work[si])
            cap, e = float(demand.max_rate_multiplier), demand.elasticity
            multiplier = min(cap, ratio ** -e) if ratio > 0 else (cap if e > 0 else 1.0)  # free GPUs
            self.demand_multiplier[k, si] = multiplier
            self._keep[si] = multiplier / demand.max_rate_multiplier

    def _rematch_waiting(self, now: float) -> None:
        """New asks may let waiting jobs in: try each, in arrival order."""
        market = self.market
        for j in sorted(self.waiting):
            best_p, best_c, best_cost = -1, -1, float("inf")
            for c in self.waiting[j]:
                g, hours, limit = self._need(j, c)
                p = market.cheapest(c, g, limit)
                if p >= 0 and market.ask[p] * g * hours < best_cost:
                    best_p, best_c, best_cost = p, c, market.ask[p] * g * hours
            if best_p >= 0:
                del self.waiting[j]
                g, hours, _ = self._need(j, best_c)
                self._start(j, best_p, g, hours, now)

    def _close_epoch(self, k: int) -> None:
        t0, t1 = float(self.grid[k]), float(self.grid[k + 1])
        final = k == len(self.grid) - 2
        new = self._started_this_epoch().copy()
        self._n_started[0] = 0
        spread = _as_starts(self._spread)
        self._spread.clear()
        active = NetworkStarts.concat([self._running, self._starts_of(new), spread])
        self._billed_hours.clear()  # read by _starts_of(new) just now; these jobs are all in _running next
        p, g, ask, start, end = active.provider, active.gpus, active.ask_micro_usd, active.start, active.end
        overlap = np.clip(np.minimum(end, t1) - np.maximum(start, t0), 0.0, None)
        gh = np.bincount(p, weights=g * overlap, minlength=self.fleet.size)
        revenue_micro = np.bincount(p, weights=ask * g * overlap, minlength=self.fleet.size)
        self.gh_total += gh
        self.rev_total += revenue_micro

        # What each allocation has paid by t1: once it has ended (or, at the horizon, for the hours it
        # delivered), its price rounded to the micro-dollar; before that, a lease paying from escrow has
        # paid for its hours so far, rounded down so the instalments never pass the rounded total, and a
        # job paying at the end nothing. An epoch's payment is what was paid by t1 less what by t0.
        done = end <= t1
        settle = done | final
        total = np.floor(ask * g * np.where(done, active.hours, t1 - start) + 0.5)
        if self._escrow:
            paid_by_t1 = np.where(settle, total, np.floor(ask * g * (t1 - start)))
            amounts = paid_by_t1 - np.floor(ask * g * np.clip(t0 - start, 0.0, None))
            new_leases = np.arange(start.size) >= self._running.job.size
            # new leases deposit their price as known now; at the horizon, running leases get the rest back
            deposits = int(np.floor(ask * g * active.hours + 0.5)[new_leases].sum())
            refunds = self._refunds + (int((np.floor(ask * g * active.hours + 0.5) - total)[~done].sum())
                                       if final else 0)
            self._refunds = 0
        else:
            amounts = np.where(settle, total, 0.0)
            deposits = refunds = 0
        paying = np.flatnonzero(amounts)
        np.add.at(self.paid_micro, active.job[paying], amounts[paying].astype(np.int64))  # a job may hold several
        # integer sums below 2**53 are exact in float64 (and bincount is far faster than np.add.at)
        due = np.bincount(p, weights=amounts, minlength=self.fleet.size)
        if due.sum() >= 2**53:
            raise OverflowError("an epoch's payments exceed exact float64 integer range")
        self._running = active[~done]
        self._settled.append(active[settle])

        was_active = self.dynamics.active.copy()
        offered = self.fleet.gpus * was_active * (t1 - t0)
        flows = self.economy.close_epoch(k, gh, offered, due.astype(np.int64), self._asks_epoch, self._dealers,
                                         was_active, self.failures, deposits, refunds)
        self.failures = np.zeros_like(self.failures)
        price = flows.network["token_price_usd"]
        cash = (flows.usd_received + flows.reward_tokens * price - flows.self_dealing_paid_usd
                - gh * self.fleet.marginal_usd_per_gpu_hour - offered * self.fleet.other_opex_usd_per_gpu_hour)
        leaving = self.dynamics.leaving(cash)
        for q in leaving.tolist():
            self.market.deactivate(q)
        if leaving.size:
            self.economy.release_stakes(leaving)
        summary = self.recorder.close(k, t0, t1, gh, revenue_micro / MICRO, flows, offered, was_active, leaving)
        self.closed_epochs = k + 1
        if self.chain is not None:
            replay(self.chain, k, self.economy.ledger.take_journal())
        if not final:
            expected_price = self.economy.expected_price_usd
            stake_usd = self.scenario.tokenomics.staking.tokens_per_gpu * expected_price
            with np.errstate(over="ignore"):  # rewards on a class with no hours offered: unbounded, inf
                reward_usd = summary["reward_tokens_per_offered_hour"] * expected_price
            self.dynamics.plan_entries(k, summary["utilisation"], summary["net_price_usd"], reward_usd, stake_usd)

    def _starts_of(self, jobs: np.ndarray) -> NetworkStarts:
        provider = self._rec_provider[jobs]
        cls = self.fleet.gpu_class[provider]
        rows = self.jobs.class_rows(cls, jobs)
        starts = NetworkStarts(
            job=jobs, provider=provider,
            start=self._rec_start[jobs], end=self._rec_end[jobs],
            gpus=self.jobs.net_gpus[rows, jobs], hours=self.jobs.net_hours[rows, jobs],
            ask_micro_usd=self._rec_ask[jobs],
        )
        spot = self._spot_job[jobs]
        if spot.any():  # the recorded ask is the provider's; spot buyers pay their share of it
            starts.ask_micro_usd[spot] = np.floor(starts.ask_micro_usd[spot] * self._spot_share).astype(np.int64)
        if self._billed_hours:  # jobs a failure cut short bill the hours they ran
            for i in np.flatnonzero(np.isin(jobs, list(self._billed_hours))).tolist():
                starts.hours[i] = self._billed_hours[int(jobs[i])]
        return starts

    def network_starts(self) -> NetworkStarts:
        """Every allocation of network GPUs to a job, as settled up to the last closed epoch (a job spread
        over several nodes has one per node; a job restarted after a failure, one per attempt)."""
        return self._settled.view()

    # --- failures --------------------------------------------------------------------------------------

    def _schedule_failure(self, p: int) -> None:
        self.env.timeout(self._failure_times.until_failure(p), p).callbacks.append(self._fail)

    def _fail(self, event: simpy.Event) -> None:
        """A node fails: its jobs stop (and restart elsewhere), it offers nothing until repaired."""
        p, now = event.value, self.env.now
        if not self.dynamics.active[p]:
            return  # it left the network meanwhile
        self.failures[p] += 1
        self.failure_count += 1
        self._down[p] = True
        for j in self._departures.jobs_on(p):
            self._interrupt(j, now)
        self.market.deactivate(p)
        self.env.timeout(self._failure_times.repair(p), p).callbacks.append(self._repair)

    def _repair(self, event: simpy.Event) -> None:
        p = event.value
        self._down[p] = False
        if self.dynamics.active[p]:
            self.market.activate(p)
            self._schedule_failure(p)

    def _live(self, now: float) -> NetworkStarts:
        """Every allocation running at ``now`` (not yet settled)."""
        current = self._starts_of(self._started_this_epoch().copy()) + _as_starts(self._spread)
        live = self._running + current
        return live[live.end > now]


    def _interrupt(self, j: int, now: float) -> None:
        """End every allocation of job j now; keep the work up to its last checkpoint; restart the rest."""
        stream = self.scenario.workload.streams[int(self.jobs.stream[j])].job
        # cut the allocations short: their departures are cancelled, their GPUs come back now
        start, wall_hours, cuts_before = now, 0.0, self.truncated
        for i, row in enumerate(self._spread):
            if row[0] == j and row[3] > now:
                self._cut(j, row[1], row[3], row[4])
                start, wall_hours = min(start, row[2]), max(wall_hours, row[5])
                self._spread[i] = (j, row[1], row[2], now, row[4], now - row[2], row[6])
        running = np.flatnonzero((self._running.job == j) & (self._running.end > now))
        rows = self._running
        for i in running.tolist():
            self._cut(j, int(rows.provider[i]), float(rows.end[i]), int(rows.gpus[i]))
            if self._escrow:  # its deposit covered the planned hours
                cost = rows.ask_micro_usd[i] * rows.gpus[i]
                self._refunds += int(np.floor(cost * rows.hours[i] + 0.5)
                                     - np.floor(cost * (now - rows.start[i]) + 0.5))
            start, wall_hours = min(start, float(rows.start[i])), max(wall_hours, float(rows.hours[i]))
            rows.hours[i] = now - rows.start[i]
            rows.end[i] = now
        if j in self._started_this_epoch() and self._rec_end[j] > now and not running.size:
            p = int(self._rec_provider[j])
            g, wall_hours, _ = self.jobs.on_class(int(self.fleet.gpu_class[p]), j)
            self._cut(j, p, float(self._rec_end[j]), g)
            start = float(self._rec_start[j])
            self._billed_hours[j] = now - start
            self._rec_end[j] = now
        if self.truncated == cuts_before:
            return  # its allocations end at this very time: the departures finish it
        # what is left to do
        began, overhead, planned, work = self.attempt.get(
            j, (start, 0.0, wall_hours, float(self.jobs.work_ref_gpu_hours[j])))
        elapsed = now - began
        if stream.kind == "training":
            kept = useful_hours(elapsed, overhead, stream.checkpoint_interval_hours)
            done = min(1.0, kept / max(planned - overhead, 1e-12))
            self.lost_work[j] += work * max(0.0, min(elapsed - overhead, planned - overhead) - kept) / max(
                planned - overhead, 1e-12)
            left, restart = work * (1.0 - done), stream.restart_overhead_hours
        else:
            done = min(1.0, max(0.0, elapsed - overhead) / max(planned - overhead, 1e-12))
            left, restart = work * (1.0 - done), stream.failover_hours
            self.downtime_hours[j] += restart
        if left > 1e-12:
            self._restart(j, now, left, restart)

    def _cut(self, j: int, p: int, end: float, g: int) -> None:
        self._departures.cancel(j, p, end)
        self.truncated += 1
        self.market.give_back(p, g)

    def _ask_paid(self, j: int, ask: int) -> int:
        """What job j pays per GPU-hour on a node asking ``ask`` (spot buyers: their share, rounded down)."""
        return int(ask * self._spot_share) if self._spot_job[j] else ask

    def _preempt(self, j: int, classes: tuple[int, ...], now: float) -> bool:
        """A full-price buyer found no free GPUs: take the cheapest node within its limit where preempting
        spot jobs frees enough, preempt them (they restart elsewhere from their last checkpoint, or finish
        on AWS) and start job j there. False if no node would do."""
        if self._spot_job[j]:
            return False
        live = self._live(now)
        on_spot = self._spot_job[live.job]
        if not on_spot.any():
            return False
        market = self.market
        held = np.bincount(live.provider[on_spot], weights=live.gpus[on_spot], minlength=self.fleet.size)
        best: tuple[float, int, int, float] | None = None
        for c in classes:
            g, hours, limit = self._need(j, c)
            for p in np.flatnonzero(held > 0).tolist():
                if (market.cls[p] == c and market.ask[p] <= limit and market.free[p] + held[p] >= g
                        and (best is None or market.ask[p] * g * hours < best[0])):
                    best = (market.ask[p] * g * hours, p, g, hours)
        if best is None:
            return False
        _, p, g, hours = best
        market.deactivate(p)  # the preempted jobs must not restart on the node they are leaving
        for victim in sorted(set(live.job[on_spot & (live.provider == p)].tolist())):
            self.preempted[victim] += 1
            self._interrupt(victim, now)
        market.activate(p)
        self._start(j, p, g, hours, now)
        return True

    def _restart(self, j: int, now: float, work: float, overhead: float) -> None:
        """Put the rest of job j back on the network (the cheapest fitting node, or several), or on AWS."""
        jobs, market = self.jobs, self.market
        self.attempts[j] += 1
        share = work / float(jobs.work_ref_gpu_hours[j])
        best: tuple[float, list[tuple[int, int]], float] | None = None
        for c in jobs.stream_classes[int(jobs.stream[j])]:
            g, hours, limit = self._need(j, c)
            hours = hours * share + overhead
            if g <= market.max_gpus[c]:
                p = market.cheapest(c, g, limit)
                parts = [(p, g)] if p >= 0 else None
            else:
                parts = market.gang(c, g, limit)
                if parts is not None and jobs.stream_kinds[int(jobs.stream[j])] == "training":
                    link, bandwidth = self._link([q for q, _ in parts])
                    stream = self.scenario.workload.streams[int(jobs.stream[j])].job
                    factor = stream.slowdown(self._throughput[0, c], len(parts), bandwidth)
                    hours = (hours - overhead) * factor + overhead
                    self.interconnect[j] = (link, factor)
            if parts is None:
                continue
            cost = sum(market.ask[p] * k for p, k in parts) * hours
            if best is None or cost < best[0]:
                best = (cost, parts, hours)
        if best is None:  # finish on AWS, if it still pays
            cost = float(jobs.cloud_cost_usd[j]) * share
            if self.cloud_ok[j]:
                self.cloud_remainder[j] = (now, cost)
            else:
                self.unfinished[j] = work
            return
        _, parts, hours = best
        self.attempt[j] = (now, overhead, hours, work)
        self._place_parts(j, parts, hours, now)

    # --- jobs on several nodes ---------------------------------------------------------------------

    def _start_spread(self, j: int, classes: tuple[int, ...], now: float) -> bool:
        """Place a job too large for any node on several nodes of one class, if that beats its budget and
        AWS; training runs slower by the gradient exchange over the link between the nodes."""
        jobs, market = self.jobs, self.market
        stream = self.scenario.workload.streams[int(jobs.stream[j])]
        ceiling = min(float(jobs.budget_usd[j]), float(jobs.cloud_cost_usd[j])) * MICRO
        best: tuple[float, list[tuple[int, int]], float, str, float] | None = None
        for c in classes:
            g, hours, limit = self._need(j, c)
            if g <= market.max_gpus[c]:
                continue
            parts = market.gang(c, g, limit)
            if parts is None:
                continue
            providers = [p for p, _ in parts]
            per_hour = sum(self._ask_paid(j, a) * k for a, (_, k) in zip(market.ask[providers].tolist(), parts,
                                                                            strict=True))
            if per_hour * hours > ceiling:  # too dear before any slowdown (which only adds hours)
                continue
            link, bandwidth = self._link(providers)
            factor = 1.0
            if stream.job.kind == "training":
                factor = stream.job.slowdown(self._throughput[0, c], len(parts), bandwidth)
            hours *= factor
            cost = per_hour * hours
            if cost <= ceiling and (best is None or cost < best[0]):
                best = (cost, parts, hours, link, factor)
        if best is None:
            return False
        _, parts, hours, link, factor = best
        self.interconnect[j] = (link, factor)
        self._place_parts(j, parts, hours, now)
        return True

    def _place_parts(self, j: int, parts: list[tuple[int, int]], hours: float, now: float) -> None:
        """Run job j on (provider, GPUs) parts for ``hours`` from ``now``: one allocation per part."""
        ask, end = self.market.ask, now + hours
        for p, k in parts:
            self.market.take(p, k)
            self._spread.append((j, p, now, end, k, hours, self._ask_paid(j, ask[p])))
            self._departures.push(end, p, k, j)

    # --- run ---------------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> RunResult:
        """Simulate the horizon, check conservation (and, with a chain, reconcile it with the ledger), and
        return the tables (no file I/O). A chain that fails mid-run raises PartialRun, which carries the
        results up to the last epoch settled off-chain."""
        if self.chain is not None:
            self.chain.start(self.economy)
        try:
            with _gc_paused():
                self._simulate(progress)
        except ChainError as exc:
            if isinstance(exc, ChainUnavailable):
                raise
            raise PartialRun(str(exc), self._partial(str(exc), exc.epoch)) from None
        horizon = float(self.grid[-1])
        jobs_table = build_jobs_table(self, horizon)
        for name, column in deployment_latency(self, jobs_table).items():
            jobs_table[name] = column  # added in place: a concat would copy the whole table
        conservation = check_run(self, jobs_table, horizon)
        epochs_table = self.recorder.table()
        summary = build_summary(self.scenario, jobs_table, epochs_table, self.economy, conservation)
        if self.chain is not None:
            summary["chain"] = self.chain.reconcile(self.economy)  # raises if a single base unit differs
        return RunResult(scenario=self.scenario, jobs=jobs_table, epochs=epochs_table,
                         providers=self.fleet.table(), summary=summary)

    def _partial(self, reason: str, failed_epoch: int | None) -> RunResult:
        """The results of the epochs closed off-chain before a chain failure: jobs submitted by then, with
        what they paid by then; the summary says where and why the run stopped (conservation was checked
        off-chain every epoch and the ledgers are checked again; the job and GPU-hour checks need the whole
        horizon and are not run)."""
        until = float(self.grid[self.closed_epochs])
        self._settled.append(self._running)  # still running: shown as running, paid up to the last settlement
        jobs_table = build_jobs_table(self, until)
        for name, column in deployment_latency(self, jobs_table).items():
            jobs_table[name] = column
        jobs_table = jobs_table[jobs_table["submit_hours"] <= until].reset_index(drop=True)
        epochs_table = self.recorder.table()
        summary = build_summary(self.scenario, jobs_table, epochs_table, self.economy, check_ledgers(self))
        summary["partial"] = {"reason": reason, "failed_epoch": failed_epoch, "epochs_completed": self.closed_epochs,
                              "until_hours": until}
        return RunResult(scenario=self.scenario, jobs=jobs_table, epochs=epochs_table,
                         providers=self.fleet.table(), summary=summary)

    def _simulate(self, progress: Progress | None) -> None:
        """The driver loop: ``fastloop.advance`` runs arrivals and departures until a SimPy event is due or
        a job needs more than the cheapest free node; this loop does that part and hands back."""
        env, market, jobs = self.env, self.market, self.jobs
        horizon = float(self.grid[-1])
        self.economy.buy_stakes(np.flatnonzero(self.fleet.initially_active))
        for p in np.flatnonzero(self.fleet.initially_active).tolist():
            self._schedule_failure(p)
        self._open_epoch(0)
        env.process(self._epochs(progress))
        # orders whose match would fall after the horizon are still open at its end
        n_matched = int(np.searchsorted(jobs.submit_hours + self._delay, horizon, side="right"))
        elastic, spot = any(d is not None for d in self._demand), bool(self._spot_job.any())  # spot: may preempt
        book = market.arrays
        arrays = (jobs.submit_hours, jobs.stream, jobs.net_slot, jobs.net_gpus, jobs.net_hours,
                  jobs.net_limit_usd_per_gpu_hour, jobs.demand_u, self._keep, self._class_order, market.max_gpus,
                  market.min_ask,
                  book.free, book.ask, book.cls, book.rank, book.sizes, book.n_sizes, book.heap_of, book.heap,
                  book.heap_len, book.in_heap, book.ranked,
                  self._rec_provider, self._rec_start, self._rec_end, self._rec_ask, self._started,
                  self._n_started, self._latent, self._n_latent, self._departed, *self._departures.arrays)
        i, final = 0, False
        while True:
            why, i, x, now, spread, could_wait = advance(i, final, n_matched, horizon, env.peek(), len(self.waiting),
                                                         self._delay, elastic, *arrays)
            if why == EVENT:
                env.step()
            elif why == RELEASED:
                self._serve_waiting(x, now)
            elif why == UNMATCHED:
                self._place_unmatched(x, now, spread, spot, could_wait)
            elif why == ARRIVALS_DONE:
                for j in range(n_matched, self.n_jobs):
                    self.waiting[j] = ()
                final = True  # events exactly at the horizon belong to this run
            else:
                break
        self._close_epoch(len(self.grid) - 2)
        if progress is not None:
            progress(1.0)


def _as_starts(rows: list[tuple[int, int, float, float, int, float, int]]) -> NetworkStarts:
    a = np.array(rows, dtype=float).reshape(-1, 7)
    return NetworkStarts(job=a[:, 0].astype(np.int64), provider=a[:, 1].astype(np.int64), start=a[:, 2],
                         end=a[:, 3], gpus=a[:, 4].astype(np.int64), hours=a[:, 5],
                         ask_micro_usd=a[:, 6].astype(np.int64))


class _Links:
    """The link between a spread job's nodes and its bandwidth (Gbps): a datacentre fabric when every node
    is in one InfiniBand group and region, else the internet path between their regions (slowest pair).
    Region-pair bandwidths are looked up once per run (placement asks for every candidate gang)."""

    def __init__(self, fleet: Fleet, fabric: np.ndarray) -> None:
        topo = topology()
        regions = sorted(set(fleet.region.tolist()))
        index = {r: i for i, r in enumerate(regions)}
        self._region = [index[r] for r in fleet.region.tolist()]
        self._group = fleet.group_index.tolist()
        self._fabric = fabric.tolist()
        self._bandwidth = [[topo.bandwidth_gbps(a, b) for b in regions] for a in regions]
        self._infiniband = topo.data.interconnect.infiniband_gbps_per_gpu.value

    def __call__(self, providers: list[int]) -> tuple[str, float]:
        region, group = self._region, self._group
        regions = sorted({region[p] for p in providers})
        first = providers[0]
        if len(regions) == 1 and self._fabric[first] and all(group[p] == group[first] for p in providers):
            return "infiniband", self._infiniband
        bw = self._bandwidth
        return "internet", min(bw[a][b] for a in regions for b in regions if a <= b)


@functools.cache
def _fix_mmap_threshold() -> None:
    """Have glibc return freed large arrays to the system at once (once per process; no-op elsewhere).

    glibc raises its mmap threshold to the size of every mapped block freed (up to 32 MB), so once a
    table-sized array has been freed, later ones come from the heap, and freeing those leaves holes the
    next phase of the run cannot use: about 100 MB of a million-job run's peak memory. Setting the
    threshold (1 MB, far above the engine's per-epoch arrays) also stops the sliding.
    """
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 1 << 20)


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


class PartialRun(ChainError):
    """A chain failed mid-run; ``result`` holds the off-chain results up to the last epoch closed."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, result.summary["partial"]["failed_epoch"])
        self.result = result


def run(scenario: Scenario, progress: Progress | None = None, chain: ChainHook | None = None) -> RunResult:
    """Build the model from a scenario and run it: the library's entry point (no file I/O)."""
    return World(scenario, chain).run(progress)
