"""The compiled part of the event loop: arrivals that find capacity at once, departures and repairs.

Nearly every job arrives, takes the cheapest fitting node (or, if larger than any node, a gang of nodes:
``gangs.start_gang``) and leaves; in Python those steps cost about as much as an idiomatic SimPy process
per job. Here they run as machine code (numba), over the book's arrays (``BookArrays``) and a departure
queue of arrays (``departures``), and hand control back to the engine for everything else: a SimPy event
due (epochs, patience), a node failure, a job that found no capacity (waiting, preemption, AWS), and a
release while jobs wait (the buy side is Python). The engine's Python methods and this loop change the
same arrays, so either may act next. Its inputs come grouped as named tuples of arrays (``GROUPS``).
From Python they cross into machine code flat (``advance(..., *groups)``) and are regrouped inside:
numba unboxes a named tuple about twice as slowly as the same arrays passed one by one, and the driver
crosses some 17,000 times in a million-job run.

Results are identical to a pure-Python loop: only comparisons, additions and products of values below
2**53 happen here (no fast-math), and every queue orders by a total order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..book import BookArrays, cheapest, give_back
from ..jobs import JobArrays
from .departures import DepartureArrays, push, remove
from .gangs import FULL, NO_GANG, PLACED, AllocationArrays, GangArrays, start_gang

EVENT, RELEASED, UNMATCHED, ARRIVALS_DONE, DONE, FAILED, GROW = range(7)  # why advance returned
FAIL, REPAIR = 0, 1  # node events


class StartLog(NamedTuple):
    """What the loop records: the single-node starts of this epoch, in order (their job, provider, start,
    end and ask; ``n_started`` of them); arrivals the price did not draw (latent), and their count;
    allocations that ran to their end.

    The start columns are rows of this epoch, emptied at every close (``Settlement``), not columns indexed
    by job: nothing the loop records is kept by job id past the epoch's close (issue P11). They start small
    and double when full (``with_room``), as does ``latent``: with the run's job count as their capacity
    they held 48 bytes a job resident (calloc clears recycled memory), 456 MB of a 10M-job run's peak.
    The loop returns GROW rather than write past either; the counters are shared by every copy.
    """

    provider: np.ndarray
    start: np.ndarray
    end: np.ndarray
    ask: np.ndarray
    started: np.ndarray
    n_started: np.ndarray
    latent: np.ndarray
    n_latent: np.ndarray
    departed: np.ndarray

    @staticmethod
    def empty(rows: int = 4096) -> StartLog:
        return StartLog(np.zeros(rows, dtype=np.int64), np.zeros(rows), np.zeros(rows),
                        np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64),
                        np.zeros(1, dtype=np.int64), np.zeros(rows, dtype=np.int64), np.zeros(1, dtype=np.int64),
                        np.zeros(1, dtype=np.int64))

    def with_room(self) -> StartLog:
        """This log, with the start columns and ``latent`` doubled where they are full (the rows held copied,
        the counters shared); itself if neither is."""
        def doubled(column: np.ndarray, used: int) -> np.ndarray:
            grown = np.zeros(grown_rows(column.size), dtype=column.dtype)
            grown[:used] = column[:used]
            return grown

        log = self
        n = int(self.n_started[0])
        if n >= self.started.size:
            log = log._replace(**{name: doubled(getattr(self, name), n)
                                  for name in ("provider", "start", "end", "ask", "started")})
        if int(self.n_latent[0]) >= self.latent.size:
            log = log._replace(latent=doubled(self.latent, int(self.n_latent[0])))
        return log


def grown_rows(rows: int) -> int:
    """The rows a full start log grows to: twice as many (amortised O(1) a start)."""
    return max(2 * rows, 16)


class Routing(NamedTuple):
    """How buyers look for capacity: per stream, the share of its capped arrivals the price draws
    (``keep``) and its classes from the cheapest per unit of work (``class_order``, -1 pads)."""

    keep: np.ndarray
    class_order: np.ndarray


class NodeEventArrays(NamedTuple):
    """A binary heap of node failures and repairs by (time, sequence), as SimPy orders its events (the
    sequence: the order they were scheduled in). ``kind``: FAIL or REPAIR; a repair's ``delay``: the time
    from it to the node's next failure (drawn with the repair: each node draws from its own stream, so the
    values are those drawn at the repair); ``size``: the heap's length; ``pushed``: events scheduled so far."""

    time: np.ndarray
    seq: np.ndarray
    node: np.ndarray
    kind: np.ndarray
    delay: np.ndarray
    size: np.ndarray
    pushed: np.ndarray


class NodeEvents:
    """Node failures and repairs due, for the compiled loop: a repair (the node back in the book, its next
    failure scheduled) runs there in full; a failure returns to the engine (``FAILED``), which stops the
    node's jobs. A node has one event pending at most."""

    def __init__(self, capacity: int) -> None:
        """``capacity``: the fleet's node count."""
        self.arrays = NodeEventArrays(np.zeros(capacity), np.zeros(capacity, dtype=np.int64),
                                      np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.int64),
                                      np.zeros(capacity), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))

    def push(self, time: float, kind: int, node: int, delay: float = 0.0) -> None:
        _push_event_flat(time, kind, node, delay, *self.arrays)

    def __len__(self) -> int:
        return int(self.arrays.size[0])


@njit(cache=True)
def _push_event(time: float, kind: int, node: int, delay: float, q: NodeEventArrays) -> None:
    i, seq = q.size[0], q.pushed[0]
    if i >= q.time.size:
        raise OverflowError("more node events pending than nodes")
    q.size[0], q.pushed[0] = i + 1, seq + 1
    while i > 0:  # sift up by (time, sequence); the new event's sequence is the largest
        parent = (i - 1) >> 1
        if q.time[parent] <= time:
            break
        _move_event(parent, i, q)
        i = parent
    q.time[i], q.seq[i], q.node[i], q.kind[i], q.delay[i] = time, seq, node, kind, delay


@njit(cache=True)
def _move_event(src: int, dst: int, q: NodeEventArrays) -> None:
    q.time[dst], q.seq[dst], q.node[dst], q.kind[dst], q.delay[dst] = (q.time[src], q.seq[src], q.node[src],
                                                                        q.kind[src], q.delay[src])


@njit(cache=True)
def _pop_event(q: NodeEventArrays) -> None:
    n = q.size[0] - 1
    q.size[0] = n
    time, seq, node, kind, delay = q.time[n], q.seq[n], q.node[n], q.kind[n], q.delay[n]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        right = child + 1
        if right < n and (q.time[right] < q.time[child] or (q.time[right] == q.time[child]
                                                             and q.seq[right] < q.seq[child])):
            child = right
        if q.time[child] > time or (q.time[child] == time and q.seq[child] > seq):
            break
        _move_event(child, i, q)
        i = child
    q.time[i], q.seq[i], q.node[i], q.kind[i], q.delay[i] = time, seq, node, kind, delay


@njit(cache=True)
def _push_event_flat(time: float, kind: int, node: int, delay: float, *queue: np.ndarray) -> None:
    _push_event(time, kind, node, delay, NodeEventArrays(*queue))


class NodeState(NamedTuple):
    """Per node: whether it is in the network (``ProviderDynamics.active``) and failed (``RunState.down``)."""

    active: np.ndarray
    down: np.ndarray


GROUPS = (JobArrays, Routing, BookArrays, StartLog, DepartureArrays, NodeEventArrays, NodeState, GangArrays,
          AllocationArrays)
"""The groups ``advance`` takes, in order; their arrays are passed flat, at the offsets below."""
if [len(g._fields) for g in GROUPS] != [7, 2, 16, 9, 8, 7, 2, 13, 8]:
    raise ImportError("advance regroups its arrays at fixed offsets: update them to the groups' fields")


@njit(cache=True)
def advance(i: int, final: bool, n_matched: int, horizon: float, t_event: float, n_waiting: int,
            delay: float, elastic: bool, *groups: np.ndarray) -> tuple[int, int, int, float, bool]:
    """``_advance`` from Python: ``groups`` are the arrays of GROUPS, flat (``*jobs, *routing, ...``)."""
    return _advance(i, final, n_matched, horizon, t_event, n_waiting, delay, elastic, JobArrays(*groups[0:7]),
                    Routing(*groups[7:9]), BookArrays(*groups[9:25]), StartLog(*groups[25:34]),
                    DepartureArrays(*groups[34:42]), NodeEventArrays(*groups[42:49]), NodeState(*groups[49:51]),
                    GangArrays(*groups[51:64]), AllocationArrays(*groups[64:72]))


@njit(cache=True)
def _advance(i: int, final: bool, n_matched: int, horizon: float, t_event: float, n_waiting: int,
             delay: float, elastic: bool, jobs: JobArrays, routing: Routing, book: BookArrays, log: StartLog,
             dep: DepartureArrays, events: NodeEventArrays, nodes: NodeState, gangs: GangArrays,
             spread: AllocationArrays) -> tuple[int, int, int, float, bool]:
    """Run arrivals from job i on (orders matched ``delay`` after submission), departures and node
    repairs, in time order (departures first on ties, then node events and SimPy events, then the
    arrival), until the engine must act.

    Returns (why, next arrival, job or provider, time, could_wait): EVENT, a SimPy event is due
    at ``t_event`` before anything else; FAILED, the provider failed at the time; RELEASED, the provider
    freed GPUs at the time while jobs wait; UNMATCHED, the job arriving at the time found no node and no
    gang of nodes (``could_wait``: a class asks within its limit but is full); GROW, the job needs more
    room in the log of gangs or in the start log (grow ``spread`` or ``log``: ``StartLog.with_room``, and
    call again from it); ARRIVALS_DONE, every arrival
    before the horizon is handled (call again with ``final`` to run the departures up to the horizon);
    DONE.
    """
    inf = np.inf
    submit, stream, net_slot = jobs.submit, jobs.stream, jobs.net_slot
    net_gpus, net_hours = jobs.net_gpus, jobs.net_hours
    free, ask, max_gpus, min_ask = book.free, book.ask, book.max_gpus, book.min_ask
    keep, class_order = routing.keep, routing.class_order
    started, n_started = log.started, log.n_started
    while True:
        if i < n_matched:
            t = submit[i] + delay
        elif not final:
            return ARRIVALS_DONE, i, -1, horizon, False
        else:
            t = horizon
        due = dep.end[0] if dep.size[0] > 0 else inf
        node_due = events.time[0] if events.size[0] > 0 else inf
        t_next = min(t_event, node_due)  # the next event: a node's (first on ties) or SimPy's
        if due <= t_next:
            if due <= t:
                now, p, g = dep.end[0], dep.provider[0], dep.gpus[0]
                remove(0, dep)
                log.departed[0] += 1
                give_back(p, g, book)
                if n_waiting > 0:
                    return RELEASED, i, p, now, False
                continue
        elif t_next <= t:
            if node_due > t_event:
                return EVENT, i, -1, t_event, False
            p, kind, after = events.node[0], events.kind[0], events.delay[0]
            _pop_event(events)
            if kind == FAIL:
                return FAILED, i, p, node_due, False
            _repair(p, node_due, after, book, events, nodes)
            continue
        if i >= n_matched:
            return DONE, i, -1, horizon, False
        j = i
        i += 1
        s = stream[j]
        if elastic and jobs.demand_u[j] >= keep[s]:  # the price did not draw this buyer
            if log.n_latent[0] >= log.latent.size:
                return GROW, j, j, t, False
            log.latent[log.n_latent[0]] = j
            log.n_latent[0] += 1
            continue
        best_p, best_row, best_cost, could_wait, gang = -1, -1, inf, False, False
        for k in range(class_order.shape[1]):
            c = class_order[s, k]
            if c < 0:
                break
            row = net_slot[s, c]
            g, h = net_gpus[row, j], net_hours[row, j]
            if g > max_gpus[c]:  # no node is large enough: several nodes, if it comes to that
                gang = True
                continue
            if min_ask[c] * g * h >= best_cost:  # even the cheapest ask of c cannot win
                continue
            limit = jobs.net_limit[row, j] * 1e6
            p = cheapest(c, g, limit, book)
            if p >= 0:
                best_p, best_row, best_cost = p, row, ask[p] * g * h
            elif min_ask[c] <= limit:
                could_wait = True
        if best_p < 0:
            placed = start_gang(j, t, jobs, class_order, book, dep, gangs, spread) if gang else NO_GANG
            if placed == PLACED:
                continue
            if placed == FULL:
                return GROW, j, j, t, False
            return UNMATCHED, i, j, t, could_wait
        k = n_started[0]
        if k >= started.size:
            return GROW, j, j, t, False
        g = net_gpus[best_row, j]
        end = t + net_hours[best_row, j]
        free[best_p] -= g
        started[k] = j
        n_started[0] = k + 1
        log.provider[k], log.start[k], log.end[k], log.ask[k] = best_p, t, end, ask[best_p]
        push(end, best_p, g, j, dep)


@njit(cache=True)
def _repair(p: int, now: float, until_failure: float, book: BookArrays, events: NodeEventArrays,
            nodes: NodeState) -> None:
    """Node p is repaired at ``now``: if still in the network it offers its GPUs again and fails next
    ``until_failure`` hours later (``Reliability`` in Python does the rest of a failure)."""
    nodes.down[p] = False
    if nodes.active[p]:
        if not book.offered[p]:
            book.offered[p] = True
            give_back(p, book.gpus[p], book)
        _push_event(now + until_failure, FAIL, p, 0.0, events)
