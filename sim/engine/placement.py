"""Placement: where a job that the compiled loop could not place goes, and where waiting jobs start.

A job finds no single free node within its limit: it may span several nodes of one class (data-parallel
training slows down by the gradient exchange over the link between them), wait for the network up to
its patience if some class asks within its limit, or go to AWS if that is within its budget (else it
is abandoned). A released node serves the best waiting job it fits; new asks at an epoch's start may
let waiting jobs in. An interrupted job's remainder is placed again (``restart``).

Handlers use explicit times, never ``env.now``, which may lag the event being handled.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import simpy
from numba import njit

from ..book import Parts, PostedPriceBook
from ..fleet import Fleet
from ..jobs import JobBatch
from ..topology import topology
from ..units import MICRO
from .demand import Demand
from .fastloop import DepartureArrays, _push
from .phases import Epoch, EpochPhase
from .state import RunState


class Links:
    """The link between a spread job's nodes and its bandwidth (Gbps): a datacentre fabric when every node
    is in one InfiniBand group and region, else the internet path between their regions (slowest pair).
    Region-pair bandwidths are looked up once per run (placement asks for every candidate gang, ~23,000
    times in bench_engine, so the lookup is compiled)."""

    def __init__(self, fleet: Fleet) -> None:
        topo = topology()
        regions = sorted(set(fleet.region.tolist()))
        index = {r: i for i, r in enumerate(regions)}
        self._region = np.array([index[r] for r in fleet.region.tolist()], dtype=np.int64)
        self._group = fleet.group_index.astype(np.int64)
        self._fabric = np.array([g.fabric == "infiniband" for sl, g in fleet.group_slices
                                 for _ in range(sl.start, sl.stop)], dtype=np.bool_).reshape(-1)
        self._bandwidth = np.array([[topo.bandwidth_gbps(a, b) for b in regions] for a in regions]).reshape(
            len(regions), len(regions))
        self._infiniband = topo.data.interconnect.infiniband_gbps_per_gpu.value

    def __call__(self, providers: np.ndarray) -> tuple[str, float]:
        bandwidth = _internet_gbps(providers, self._region, self._group, self._fabric, self._bandwidth)
        return ("infiniband", self._infiniband) if bandwidth < 0 else ("internet", float(bandwidth))


@njit(cache=True)
def _book_parts(providers: np.ndarray, gpus: np.ndarray, share: float, end: float, j: int, free: np.ndarray,
                ask: np.ndarray, *queue: np.ndarray) -> np.ndarray:
    """Job j's allocations on ``providers``, all ending at ``end``: take their ``gpus`` from the book's
    ``free``, queue their departures (``queue``: the DepartureArrays, flat) and return what a buyer
    paying ``share`` of each ask pays per GPU-hour there, rounded down to the micro-dollar (exact for
    one paying all of it: asks are far below 2**53). One call for all of a gang's parts."""
    q = DepartureArrays(*queue)
    paid = np.empty(providers.size, dtype=np.int64)
    for i in range(providers.size):
        p = providers[i]
        free[p] -= gpus[i]
        paid[i] = np.int64(ask[p] * share)
    for i in range(providers.size):
        _push(end, providers[i], gpus[i], j, q)
    return paid


@njit(cache=True)
def _internet_gbps(providers: np.ndarray, region: np.ndarray, group: np.ndarray, fabric: np.ndarray,
                   bandwidth: np.ndarray) -> float:
    """The slowest internet path between the providers' regions, or -1 when they share one InfiniBand
    group and region."""
    first = providers[0]
    seen = np.zeros(bandwidth.shape[0], dtype=np.bool_)
    fabric_only = fabric[first]
    for p in providers:
        seen[region[p]] = True
        fabric_only = fabric_only and group[p] == group[first] and region[p] == region[first]
    if fabric_only:
        return -1.0
    slowest = np.inf
    for a in range(seen.size):
        for b in range(a, seen.size):
            if seen[a] and seen[b]:
                slowest = min(slowest, bandwidth[a, b])
    return slowest


class Placement(EpochPhase):
    """Starts, waits, multi-node placements and restarts, on the shared book and run state."""

    def __init__(self, state: RunState, book: PostedPriceBook, jobs: JobBatch, fleet: Fleet, demand: Demand,
                 env: simpy.Environment, order_delay_hours: float) -> None:
        self.state, self.book, self.jobs, self.env = state, book, jobs, env
        self._demand = demand
        self._delay = order_delay_hours
        self._links = Links(fleet)
        self.cloud_ok = jobs.cloud_cost_usd <= jobs.budget_usd

    def open_epoch(self, epoch: Epoch) -> None:
        self.rematch_waiting(epoch.t0)

    # --- single nodes -----------------------------------------------------------------------------

    def classes_of(self, j: int) -> tuple[int, ...]:
        """Job j's classes, cheapest per unit of work first."""
        return self._demand.classes[int(self.jobs.stream[j])]

    def need(self, j: int, c: int) -> tuple[int, float, float]:
        """GPUs, hours and the highest ask (micro-USD per GPU-hour) job j takes on class c."""
        g, hours, limit = self.jobs.on_class(c, j)
        return g, hours, limit * MICRO

    def start(self, j: int, p: int, g: int, hours: float, now: float) -> None:
        """Start job j on provider p (``fastloop.advance`` does this for arriving jobs: keep them alike)."""
        state, log = self.state, self.state.log
        end = now + hours
        self.book.take(p, g)
        log.started[log.n_started[0]] = j
        log.n_started[0] += 1
        log.provider[j], log.start[j], log.end[j], log.ask[j] = p, now, end, self.book.ask[p]
        state.departures.push(end, p, g, j)

    def patience(self, j: int) -> float:
        """How long job j waits for the network once its order is matchable."""
        return max(float(self.jobs.patience_hours[j]) - self._delay, 0.0)

    def wait_or_leave(self, j: int, classes: tuple[int, ...], now: float, could_wait: bool) -> None:
        """Wait if a class it fits asks within its limit (and it has patience), else AWS if that is within
        its budget, else nothing: the job is abandoned."""
        if could_wait and self.patience(j) > 0:
            self._wait(j, classes, now)
            return
        if could_wait:
            self._turned_away(j, classes)
        if self.cloud_ok[j]:
            self.state.cloud_starts.append((j, now))

    def _turned_away(self, j: int, classes: tuple[int, ...]) -> None:
        """Book job j's GPU-hours on the class it would have bought first as demand the network lost."""
        if classes:
            g, hours, _ = self.need(j, classes[0])
            self.state.turned_away.append((classes[0], g * hours))

    def _wait(self, j: int, classes: tuple[int, ...], now: float) -> None:
        """The network is cheaper than AWS but full: queue on every class the job fits, until patience ends."""
        self.state.waiting[j] = classes
        for c in classes:
            g, hours, limit = self.need(j, c)
            if g <= self.book.max_gpus[c]:
                self.book.wait(c, g, limit, j, hours)
        delay = now + self.patience(j) - self.env.now
        self.env.timeout(delay, j).callbacks.append(self._expire)

    def _expire(self, event: simpy.Event) -> None:
        j = event.value
        waiting = self.state.waiting
        if j in waiting:
            self._turned_away(j, waiting.pop(j))
            if self.cloud_ok[j]:
                self.state.cloud_starts.append((j, self.env.now))

    def serve_waiting(self, p: int, now: float) -> None:
        """Provider p freed GPUs: start the best waiting jobs it can serve."""
        waiting = self.state.waiting
        while waiting:
            match = self.book.waiting_job_for(p, waiting)
            if match is None:
                return
            j, g, hours = match
            del waiting[j]
            self.start(j, p, g, hours, now)

    def rematch_waiting(self, now: float) -> None:
        """New asks may let waiting jobs in: try each, in arrival order."""
        book, waiting = self.book, self.state.waiting
        for j in sorted(waiting):
            best_p, best_c, best_cost = -1, -1, float("inf")
            for c in waiting[j]:
                g, hours, limit = self.need(j, c)
                p = book.cheapest(c, g, limit)
                if p >= 0 and book.ask[p] * g * hours < best_cost:
                    best_p, best_c, best_cost = p, c, book.ask[p] * g * hours
            if best_p >= 0:
                del waiting[j]
                g, hours, _ = self.need(j, best_c)
                self.start(j, best_p, g, hours, now)

    # --- several nodes ----------------------------------------------------------------------------

    def start_spread(self, j: int, classes: tuple[int, ...], now: float) -> bool:
        """Place a job too large for any node on several nodes of one class, if that beats its budget and
        AWS; its work may run slower by what it exchanges over the link between the nodes."""
        jobs, book, state = self.jobs, self.book, self.state
        si = int(jobs.stream[j])
        job = jobs.stream_jobs[si]
        ceiling = min(float(jobs.budget_usd[j]), float(jobs.cloud_cost_usd[j])) * MICRO
        share = state.share_paid(j)
        best: tuple[float, Parts, float, str, float] | None = None
        for c in classes:
            g, hours, limit = self.need(j, c)
            if g <= book.max_gpus[c]:
                continue
            found = book.gang(c, g, limit, share)
            if found is None:
                continue
            parts, per_hour = found
            if per_hour * hours > ceiling:  # too dear before any slowdown (which only adds hours)
                continue
            link, bandwidth = self._links(parts.providers)
            factor = job.slowdown(float(jobs.stream_speed[si, c]), parts.providers.size, bandwidth)
            hours *= factor
            cost = per_hour * hours
            if cost <= ceiling and (best is None or cost < best[0]):
                best = (cost, parts, hours, link, factor)
        if best is None:
            return False
        _, parts, hours, link, factor = best
        state.interconnect[j] = (link, factor)
        self.place_parts(j, parts, hours, now)
        return True

    def place_parts(self, j: int, parts: Parts, hours: float, now: float) -> None:
        """Run job j on ``parts`` (distinct providers) for ``hours`` from ``now``: one allocation per part,
        all booked at once (a 16-GPU job may take 16 one-GPU parts)."""
        state, end = self.state, now + hours
        providers, gpus = parts
        paid = _book_parts(providers, gpus, state.share_paid(j), end, j, self.book.free, self.book.ask,
                           *state.departures.arrays)
        first = len(state.spread)
        state.spread_of.setdefault(j, []).extend(range(first, first + providers.size))
        state.spread.extend(zip(repeat(j), providers.tolist(), repeat(now), repeat(end), gpus.tolist(), repeat(hours),
                                paid.tolist()))

    # --- after an interruption ----------------------------------------------------------------------

    def restart(self, j: int, now: float, work: float, overhead: float) -> None:
        """Put the rest of job j back on the network (the cheapest fitting node, or several), or on AWS."""
        jobs, book, state = self.jobs, self.book, self.state
        state.attempts[j] += 1
        share = work / float(jobs.work_ref_gpu_hours[j])
        si = int(jobs.stream[j])
        job = jobs.stream_jobs[si]
        best: tuple[float, Parts, float, tuple[str, float] | None] | None = None
        for c in jobs.stream_classes[si]:
            g, hours, limit = self.need(j, c)
            hours = hours * share + overhead
            link = None
            if g <= book.max_gpus[c]:
                p = book.cheapest(c, g, limit)
                if p < 0:
                    continue
                parts, per_hour = Parts(np.array([p]), np.array([g])), int(book.ask[p]) * g
            else:
                found = book.gang(c, g, limit)
                if found is None:
                    continue
                parts, per_hour = found
                name, bandwidth = self._links(parts.providers)
                factor = job.slowdown(float(jobs.stream_speed[si, c]), parts.providers.size, bandwidth)
                if factor != 1.0:
                    hours = (hours - overhead) * factor + overhead
                link = (name, factor)
            cost = per_hour * hours
            if best is None or cost < best[0]:
                best = (cost, parts, hours, link)
        if best is None:  # finish on AWS, if it still pays
            cost = float(jobs.cloud_cost_usd[j]) * share
            if self.cloud_ok[j]:
                state.cloud_remainder[j] = (now, cost)
            else:
                state.unfinished[j] = work
            return
        _, parts, hours, link = best
        if link is not None:
            state.interconnect[j] = link
        state.attempt[j] = (now, overhead, hours, work)
        self.place_parts(j, parts, hours, now)
