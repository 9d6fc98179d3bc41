"""Placement: where a job that the compiled loop could not place goes, and where waiting jobs start.

A job finds no free node within its limit, nor a gang of nodes where it is larger than any node (the
compiled loop tries both; ``gangs``): it may wait for the network up to its patience if some class asks
within its limit, or go to AWS if that is within its budget (else it is abandoned). A released node
serves the best waiting job it fits; new asks at an epoch's start may let waiting jobs in. An
interrupted job's remainder is placed again (``restart``).

Handlers use explicit times, never ``env.now``, which may lag the event being handled.
"""

from __future__ import annotations

import numpy as np
import simpy

from ..book import Parts, PostedPriceBook
from ..fleet import Fleet
from ..jobs import JobBatch
from ..units import MICRO
from .demand import Demand
from .gangs import Gangs, place_flat
from .phases import Epoch, EpochPhase
from .state import RunState


class Placement(EpochPhase):
    """Starts, waits, multi-node placements and restarts, on the shared book and run state."""

    def __init__(self, state: RunState, book: PostedPriceBook, jobs: JobBatch, fleet: Fleet, demand: Demand,
                 env: simpy.Environment, order_delay_hours: float) -> None:
        self.state, self.book, self.jobs, self.env = state, book, jobs, env
        self._demand = demand
        self._delay = order_delay_hours
        self.gangs = Gangs(fleet, jobs, state.spot_job, state.spot_share, state.link, state.slowdown)
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
        state = self.state
        end = now + hours
        self.book.take(p, g)
        k = state.start_row()
        log = state.log
        log.started[k] = j
        log.n_started[0] = k + 1
        log.provider[k], log.start[k], log.end[k], log.ask[k] = p, now, end, self.book.ask[p]
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

    # --- several nodes (arrivals: ``gangs.start_gang``, in the compiled loop) ----------------------------

    def place_parts(self, j: int, parts: Parts, hours: float, now: float) -> None:
        """Run job j on ``parts`` (distinct providers) for ``hours`` from ``now``: one allocation per part,
        all booked at once (a 16-GPU job may take 16 one-GPU parts)."""
        spread = self.state.spread
        spread.reserve(parts.providers.size)
        place_flat(j, parts.providers, parts.gpus, self.state.share_paid(j), now, hours, *self.book.arrays,
                   *self.state.departures.arrays, *spread.arrays)

    # --- after an interruption ----------------------------------------------------------------------

    def restart(self, j: int, now: float, work: float, overhead: float) -> None:
        """Put the rest of job j back on the network (the cheapest fitting node, or several), or on AWS."""
        jobs, book, state = self.jobs, self.book, self.state
        state.restarts[j] = state.restarts.get(j, 0) + 1
        share = work / float(jobs.work_ref_gpu_hours[j])
        si = int(jobs.stream[j])
        best: tuple[float, Parts, float, tuple[int, float] | None] | None = None
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
                link = self.gangs.link(si, c, parts.providers)
                if link[1] != 1.0:
                    hours = (hours - overhead) * link[1] + overhead
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
            state.link[j], state.slowdown[j] = link
        state.attempt[j] = (now, overhead, hours, work)
        self.place_parts(j, parts, hours, now)
