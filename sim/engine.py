"""The event loop: SimPy orders departures, patience timeouts and epochs; arrivals are merged in.

Speed matters (a year of a large network is a million jobs), so:
- no SimPy process per job: departures and patience timeouts are SimPy timeouts with plain callbacks,
  and the epoch clock is the only process;
- arrivals were all drawn at build time, sorted, so they need no events at all: the driver loop steps
  SimPy through every event due at or before the next arrival, then handles the arrival at its own
  time (ties: departures and epoch boundaries first). Handlers use explicit times, never ``env.now``,
  which may lag the arrival being handled;
- the hot path only records each start (provider, start, end and ask, in flat per-job arrays);
  GPU-hours, revenue, payments and rewards per provider are computed per epoch from those records,
  vectorised.
Everything random was drawn at build time from seeded streams, so the loop itself is deterministic.
"""

from __future__ import annotations

import gc
from array import array
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np
import simpy

from .catalog import gpu_catalog
from .cloud import build_cloud
from .conservation import check_run
from .dynamics import ProviderDynamics
from .economy import TokenEconomy
from .ledger import MICRO
from .market import MARKETS
from .metrics import EpochRecorder, build_jobs_table, build_summary
from .providers import build_fleet
from .results import RunResult
from .scenario import Scenario
from .workload import build_jobs

CHUNK = 65_536


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
        return NetworkStarts(*(getattr(self, f.name)[index] for f in fields(self)))

    def __add__(self, other: NetworkStarts) -> NetworkStarts:
        return NetworkStarts(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)))

Progress = Callable[[float], None]


class World:
    """One run's model: built from a scenario, run once."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.fleet = fleet = build_fleet(scenario)
        self.cloud = build_cloud(scenario.cloud)
        self.jobs = jobs = build_jobs(scenario, fleet.classes, self.cloud)
        self.env = simpy.Environment()
        horizon = scenario.horizon_hours
        n_epochs = int(np.ceil(horizon / scenario.epoch_hours - 1e-9))
        self.grid = np.minimum(np.arange(n_epochs + 1) * scenario.epoch_hours, horizon)
        self.economy = TokenEconomy(scenario, fleet, self.grid)
        self.dynamics = ProviderDynamics(fleet, scenario.epoch_hours, n_epochs)

        sizes = [np.flatnonzero(np.bincount(row)).tolist() for row in jobs.net_gpus]
        self.market = MARKETS[scenario.market.kind](fleet.gpu_class.tolist(), fleet.gpus.tolist(), sizes,
                                                    tiebreak=fleet.asks_micro_usd(0.0, 0.0),
                                                    active=fleet.initially_active.tolist())
        # bound once: the hot path calls these for every job
        self._timeout, self._take, self._give_back = self.env.timeout, self.market.take, self.market.give_back
        self._asks = self.market.ask  # updated in place by the market
        self._on_depart = self._depart
        self.recorder = EpochRecorder(fleet, self.cloud)

        self.n_jobs = n = jobs.submit_hours.size
        self.cloud_ok = jobs.cloud_cost_usd <= jobs.budget_usd
        models = gpu_catalog().models
        self._throughput = np.array([[models[m].training_throughput_rel.value for m in fleet.classes],
                                     [models[m].inference_throughput_rel.value for m in fleet.classes]])
        self._stream_kind = [0 if kind == "training" else 1 for kind in jobs.stream_kinds]
        self._class_order: list[tuple[int, ...]] = []  # per stream, updated in place every epoch
        self.waiting: dict[int, tuple[int, ...]] = {}  # job -> classes it waits on
        self.departed = 0
        # per-job start records: stdlib arrays take scalar writes fast; NumPy views read them in bulk
        self._rec_provider = array("q", bytes(8 * n))
        self._rec_start = array("d", bytes(8 * n))
        self._rec_end = array("d", bytes(8 * n))
        self._rec_ask = array("q", bytes(8 * n))
        self._started: list[int] = []                   # jobs started since the last epoch close
        self._running = self._starts_of(np.empty(0, dtype=np.int64))  # jobs running at the last close
        self._started_by_epoch: list[np.ndarray] = []
        self.cloud_starts: list[tuple[int, float]] = []  # (job, start) of jobs sent to AWS
        self.paid_micro = np.zeros(n, dtype=np.int64)  # what each network job paid (settled)
        self.gh_total = np.zeros(fleet.size)           # GPU-hours delivered per provider, to last close
        self.rev_total = np.zeros(fleet.size)          # revenue accrued per provider (micro-USD)

    # --- arrivals ---------------------------------------------------------------------------------

    def _load_chunk(self, base: int) -> None:
        """Job attributes for jobs [base, base + CHUNK) as Python lists (fast scalar access)."""
        sl = slice(base, base + CHUNK)
        j = self.jobs
        self._c_submit = j.submit_hours[sl].tolist()
        self._c_stream = j.stream[sl].tolist()
        # per class, flat lists (a 2-D tolist() costs a list object per row)
        self._c_gpus = [row.tolist() for row in j.net_gpus[:, sl]]
        self._c_hours = [row.tolist() for row in j.net_hours[:, sl]]
        self._c_limit = [row.tolist() for row in j.net_limit_usd_per_gpu_hour[:, sl] * MICRO]
        self._c_patience = j.patience_hours[sl].tolist()
        self._c_cloud_ok = self.cloud_ok[sl].tolist()

    def _wait(self, j: int, li: int, classes: tuple[int, ...], now: float) -> None:
        """The network is cheaper than AWS but full: queue on every class the job fits, until patience ends."""
        self.waiting[j] = classes
        for c in classes:
            g = self._c_gpus[c][li]
            if g <= self.market.max_gpus[c]:
                self.market.wait(c, g, self._c_limit[c][li], j, self._c_hours[c][li])
        delay = now + self._c_patience[li] - self.env.now
        self.env.timeout(delay, j).callbacks.append(self._expire)

    # --- network service --------------------------------------------------------------------------

    def _start(self, j: int, p: int, g: int, hours: float, now: float) -> None:
        """Start job j on provider p (the driver loop inlines this for arriving jobs: keep them alike)."""
        env_now = self.env.now
        delay = now + hours - env_now
        self._take(p, g)
        self._started.append(j)
        self._rec_provider[j] = p
        self._rec_start[j] = now
        self._rec_end[j] = env_now + delay  # the departure event's own time
        self._rec_ask[j] = self._asks[p]
        self._timeout(delay, (p, g)).callbacks.append(self._on_depart)

    def _depart(self, event: simpy.Event) -> None:
        p, g = event.value
        self.departed += 1
        self._give_back(p, g)
        if self.waiting:
            self._serve_waiting(p, self.env.now)

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
        self.economy.buy_stakes(arriving)
        active = self.dynamics.active
        work, capacity = self.economy.open_epoch(k, float(self.fleet.gpus[active].sum()))
        self._asks_epoch = self.fleet.asks_micro_usd(work, capacity)
        self.market.post(self._asks_epoch)
        self._dealers = self.economy.self_dealers(work, self._asks_epoch, active)
        self._order_classes()
        medians = [self.market.median_ask(c) / MICRO for c in range(len(self.fleet.classes))]
        self.recorder.open(k, medians, work, capacity, arriving)
        self._rematch_waiting(float(self.grid[k]))

    def _order_classes(self) -> None:
        """Per stream, eligible classes from the cheapest posted ask per unit of work: the first class
        tried usually wins, and the others are skipped on a bound without searching their books."""
        per_work = np.asarray(self.market.min_ask, dtype=float) / self._throughput
        self._class_order[:] = [tuple(sorted(cs, key=lambda c: (per_work[kind, c], c)))
                                for kind, cs in zip(self._stream_kind, self.jobs.stream_classes, strict=True)]

    def _rematch_waiting(self, now: float) -> None:
        """New asks may let waiting jobs in: try each, in arrival order."""
        market, jobs = self.market, self.jobs
        for j in sorted(self.waiting):
            best_p, best_c, best_cost = -1, -1, float("inf")
            for c in self.waiting[j]:
                g = int(jobs.net_gpus[c, j])
                p = market.cheapest(c, g, float(jobs.net_limit_usd_per_gpu_hour[c, j]) * MICRO)
                if p >= 0 and market.ask[p] * g * float(jobs.net_hours[c, j]) < best_cost:
                    best_p, best_c, best_cost = p, c, market.ask[p] * g * float(jobs.net_hours[c, j])
            if best_p >= 0:
                del self.waiting[j]
                self._start(j, best_p, int(jobs.net_gpus[best_c, j]), float(jobs.net_hours[best_c, j]), now)

    def _close_epoch(self, k: int) -> None:
        t0, t1 = float(self.grid[k]), float(self.grid[k + 1])
        final = k == len(self.grid) - 2
        new = np.array(self._started, dtype=np.int64)
        self._started.clear()
        self._started_by_epoch.append(new)
        active = self._running + self._starts_of(new)
        p, g, ask, start, end = active.provider, active.gpus, active.ask_micro_usd, active.start, active.end
        overlap = np.clip(np.minimum(end, t1) - np.maximum(start, t0), 0.0, None)
        gh = np.bincount(p, weights=g * overlap, minlength=self.fleet.size)
        revenue_micro = np.bincount(p, weights=ask * g * overlap, minlength=self.fleet.size)
        self.gh_total += gh
        self.rev_total += revenue_micro

        # settle jobs that ended in this epoch; at the horizon, running jobs pay for hours delivered
        done = end <= t1
        billed = np.where(done, active.hours, t1 - start)
        settle = done | final
        amounts = np.floor(ask * g * billed + 0.5)[settle]
        self.paid_micro[active.job[settle]] = amounts
        # integer sums below 2**53 are exact in float64 (and bincount is far faster than np.add.at)
        due = np.bincount(p[settle], weights=amounts, minlength=self.fleet.size)
        if due.sum() >= 2**53:
            raise OverflowError("an epoch's payments exceed exact float64 integer range")
        self._running = active[~done]

        was_active = self.dynamics.active.copy()
        offered = self.fleet.gpus * was_active * (t1 - t0)
        flows = self.economy.close_epoch(k, gh, offered, due.astype(np.int64), self._asks_epoch, self._dealers,
                                         was_active)
        price = flows.network["token_price_usd"]
        cash = (flows.usd_received + flows.reward_tokens * price - flows.self_dealing_paid_usd
                - gh * self.fleet.marginal_usd_per_gpu_hour - offered * self.fleet.other_opex_usd_per_gpu_hour)
        leaving = self.dynamics.leaving(cash)
        for q in leaving.tolist():
            self.market.deactivate(q)
        if leaving.size:
            self.economy.release_stakes(leaving)
        summary = self.recorder.close(k, t0, t1, gh, revenue_micro / MICRO, flows, offered, was_active, leaving)
        if not final:
            expected_price = self.economy.expected_price_usd
            stake_usd = self.scenario.tokenomics.staking.tokens_per_gpu * expected_price
            self.dynamics.plan_entries(k, summary["utilisation"], summary["net_price_usd"],
                                       summary["reward_usd_per_offered_hour"] * expected_price / max(price, 1e-300),
                                       stake_usd)

    def _starts_of(self, jobs: np.ndarray) -> NetworkStarts:
        provider = np.frombuffer(self._rec_provider, dtype=np.int64)[jobs]
        cls = self.fleet.gpu_class[provider]
        return NetworkStarts(
            job=jobs, provider=provider,
            start=np.frombuffer(self._rec_start)[jobs], end=np.frombuffer(self._rec_end)[jobs],
            gpus=self.jobs.net_gpus[cls, jobs], hours=self.jobs.net_hours[cls, jobs],
            ask_micro_usd=np.frombuffer(self._rec_ask, dtype=np.int64)[jobs],
        )

    def network_starts(self) -> NetworkStarts:
        """Every job the network started, up to the last closed epoch."""
        return self._starts_of(np.concatenate([np.empty(0, dtype=np.int64), *self._started_by_epoch]))

    # --- run ---------------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> RunResult:
        """Simulate the horizon, check conservation, and return the tables (no file I/O)."""
        with _gc_paused():
            self._simulate(progress)
        horizon = float(self.grid[-1])
        jobs_table = build_jobs_table(self, horizon)
        conservation = check_run(self, jobs_table, horizon)
        epochs_table = self.recorder.table()
        summary = build_summary(self.scenario, jobs_table, epochs_table, self.economy, conservation)
        return RunResult(scenario=self.scenario, jobs=jobs_table, epochs=epochs_table,
                         providers=self.fleet.table(), summary=summary)

    def _simulate(self, progress: Progress | None) -> None:
        """The driver loop. Arrival handling is inlined here, with everything it reads bound to locals:
        it runs once per job, and method calls and attribute lookups are most of its cost."""
        env, market = self.env, self.market
        horizon = float(self.grid[-1])
        self.economy.buy_stakes(np.flatnonzero(self.fleet.initially_active))
        self._open_epoch(0)
        env.process(self._epochs(progress))
        peek, step = env.peek, env.step
        cheapest, ask, min_ask, max_gpus = market.cheapest, market.ask, market.min_ask, market.max_gpus
        class_order, cloud_starts = self._class_order, self.cloud_starts
        take, started, timeout, on_depart = self._take, self._started.append, self._timeout, self._on_depart
        rec_provider, rec_start, rec_end, rec_ask = self._rec_provider, self._rec_start, self._rec_end, self._rec_ask
        inf = float("inf")
        nxt = peek()  # time of the next SimPy event; lowered locally when this loop schedules an earlier one
        for base in range(0, self.n_jobs, CHUNK):
            self._load_chunk(base)
            stream, c_gpus, c_hours, c_limit = self._c_stream, self._c_gpus, self._c_hours, self._c_limit
            patience, cloud_ok = self._c_patience, self._c_cloud_ok
            for li, t in enumerate(self._c_submit):
                if nxt <= t:
                    while peek() <= t:
                        step()
                    nxt = peek()
                classes = class_order[stream[li]]
                best_p, best_c, best_cost, could_wait = -1, -1, inf, False
                for c in classes:
                    g, h = c_gpus[c][li], c_hours[c][li]
                    if g > max_gpus[c] or min_ask[c] * g * h >= best_cost:  # no node fits, or cannot win
                        continue
                    limit = c_limit[c][li]
                    p = cheapest(c, g, limit)
                    if p >= 0:
                        best_p, best_c, best_cost = p, c, ask[p] * g * h
                    elif min_ask[c] <= limit:
                        could_wait = True
                if best_p >= 0:  # self._start, inlined: the path nearly every job takes
                    j, g = base + li, c_gpus[best_c][li]
                    env_now = env.now
                    delay = t + c_hours[best_c][li] - env_now
                    take(best_p, g)
                    started(j)
                    rec_provider[j] = best_p
                    rec_start[j] = t
                    rec_end[j] = end = env_now + delay
                    rec_ask[j] = ask[best_p]
                    timeout(delay, (best_p, g)).callbacks.append(on_depart)
                    if end < nxt:
                        nxt = end
                elif could_wait and patience[li] > 0:
                    self._wait(base + li, li, classes, t)
                    nxt = peek()
                elif cloud_ok[li]:
                    cloud_starts.append((base + li, t))
        env.run(until=horizon)
        while peek() <= horizon:  # events exactly at the horizon belong to this run
            step()
        self._close_epoch(len(self.grid) - 2)
        if progress is not None:
            progress(1.0)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during the event loop.

    The loop allocates millions of short-lived tuples and events that reference counting frees; the
    collector's generation-0 passes over them cost about a quarter of the loop's time and find nothing
    (the loop creates no reference cycles). The previous state is restored on exit, errors included.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run(scenario: Scenario, progress: Progress | None = None) -> RunResult:
    """Build the model from a scenario and run it: the library's entry point (no file I/O)."""
    return World(scenario).run(progress)
