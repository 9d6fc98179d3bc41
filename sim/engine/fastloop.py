"""The compiled part of the event loop: arrivals that find capacity at once, and departures.

Nearly every job arrives, takes the cheapest fitting node and leaves; in Python those two steps cost
about as much as an idiomatic SimPy process per job. Here they run as machine code (numba), over the
book's arrays (``BookArrays``) and a departure queue of arrays, and hand control back to the engine for
everything else: a SimPy event due (epochs, failures, repairs, patience), a job that found no capacity
(waiting, several nodes, preemption, AWS), and a release while jobs wait (the buy side is Python). The
engine's Python methods and this loop change the same arrays, so either may act next. Its inputs come
grouped as named tuples of arrays: the jobs (``JobArrays``), the buyers' routing (``Routing``), the book
(``BookArrays``), the start log (``StartLog``) and the departures (``DepartureArrays``). From Python they
cross into machine code flat (``advance(..., *groups)``) and are regrouped inside: numba unboxes a named
tuple about twice as slowly as the same arrays passed one by one, and the driver crosses some 60,000
times in a million-job run (measured: 0.35 s of 5.3 s).

Results are identical to a pure-Python loop: only comparisons, additions and products of values below
2**53 happen here (no fast-math), and every queue orders by a total order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..book import BookArrays, cheapest, give_back
from ..jobs import JobArrays

EVENT, RELEASED, UNMATCHED, ARRIVALS_DONE, DONE, FAILED = range(6)  # why advance returned
FAIL, REPAIR = 0, 1  # node events


class DepartureArrays(NamedTuple):
    """A binary heap of running allocations by (end, provider, GPUs, job); ``size``: its length."""

    end: np.ndarray
    provider: np.ndarray
    gpus: np.ndarray
    job: np.ndarray
    size: np.ndarray


class StartLog(NamedTuple):
    """What the loop records: per job, the provider, start, end and ask of its (single-node) start; the
    jobs started this epoch, in order, and their count; arrivals the price did not draw (latent), and
    their count; allocations that ran to their end."""

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
    def empty(n_jobs: int) -> StartLog:
        return StartLog(np.zeros(n_jobs, dtype=np.int64), np.zeros(n_jobs), np.zeros(n_jobs),
                        np.zeros(n_jobs, dtype=np.int64), np.zeros(n_jobs, dtype=np.int64),
                        np.zeros(1, dtype=np.int64), np.zeros(n_jobs, dtype=np.int64), np.zeros(1, dtype=np.int64),
                        np.zeros(1, dtype=np.int64))


class Routing(NamedTuple):
    """How buyers look for capacity: per stream, the share of its capped arrivals the price draws
    (``keep``) and its classes from the cheapest per unit of work (``class_order``, -1 pads)."""

    keep: np.ndarray
    class_order: np.ndarray


class DepartureQueue:
    """Running allocations by end time: a binary heap over four arrays, ordered by (end, provider, GPUs,
    job), so every order of equal ends is fixed. An allocation a failure cuts short is removed at once."""

    def __init__(self, capacity: int) -> None:
        """``capacity``: most allocations running at once (each holds a GPU, so the fleet's GPU count)."""
        self.arrays = DepartureArrays(np.zeros(capacity), np.zeros(capacity, dtype=np.int64),
                                      np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.int64),
                                      np.zeros(1, dtype=np.int64))

    def push(self, end: float, provider: int, gpus: int, job: int) -> None:
        _push_flat(end, provider, gpus, job, *self.arrays)

    def cancel_all(self, job: int, providers: np.ndarray, ends: np.ndarray) -> None:
        """Remove each of ``job``'s allocations on ``providers`` ending at ``ends``, in their order (each must
        be queued)."""
        missing = _cancel_all_flat(job, providers, ends, *self.arrays)
        if missing >= 0:
            raise RuntimeError(f"job {job} has no allocation on provider {providers[missing]} ending at "
                               f"{ends[missing]}")

    def jobs_on(self, provider: int) -> list[int]:
        """Jobs running on ``provider``, ascending."""
        return _jobs_on_flat(provider, *self.arrays).tolist()

    def pop(self) -> tuple[float, int, int, int]:
        """Remove and return the first allocation to end: (end, provider, GPUs, job)."""
        a = self.arrays
        top = (float(a.end[0]), int(a.provider[0]), int(a.gpus[0]), int(a.job[0]))
        _remove_flat(0, *a)
        return top

    def __len__(self) -> int:
        return int(self.arrays.size[0])


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


@njit(cache=True)
def _before(e1: float, p1: int, g1: int, j1: int, e2: float, p2: int, g2: int, j2: int) -> bool:
    if e1 != e2:
        return e1 < e2
    if p1 != p2:
        return p1 < p2
    if g1 != g2:
        return g1 < g2
    return j1 < j2


@njit(cache=True)
def _sift_up(i: int, q: DepartureArrays) -> None:
    end, prov, gpus, job = q.end, q.provider, q.gpus, q.job
    e, p, g, j = end[i], prov[i], gpus[i], job[i]
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(e, p, g, j, end[parent], prov[parent], gpus[parent], job[parent]):
            break
        end[i], prov[i], gpus[i], job[i] = end[parent], prov[parent], gpus[parent], job[parent]
        i = parent
    end[i], prov[i], gpus[i], job[i] = e, p, g, j


@njit(cache=True)
def _sift_down(i: int, n: int, q: DepartureArrays) -> None:
    end, prov, gpus, job = q.end, q.provider, q.gpus, q.job
    e, p, g, j = end[i], prov[i], gpus[i], job[i]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        right = child + 1
        if right < n and _before(end[right], prov[right], gpus[right], job[right],
                                 end[child], prov[child], gpus[child], job[child]):
            child = right
        if not _before(end[child], prov[child], gpus[child], job[child], e, p, g, j):
            break
        end[i], prov[i], gpus[i], job[i] = end[child], prov[child], gpus[child], job[child]
        i = child
    end[i], prov[i], gpus[i], job[i] = e, p, g, j


@njit(cache=True)
def _push(e: float, p: int, g: int, j: int, q: DepartureArrays) -> None:
    i = q.size[0]
    if i >= q.end.size:
        raise OverflowError("more running allocations than GPUs in the fleet")
    q.size[0] = i + 1
    q.end[i], q.provider[i], q.gpus[i], q.job[i] = e, p, g, j
    _sift_up(i, q)


@njit(cache=True)
def _remove(i: int, q: DepartureArrays) -> None:
    n = q.size[0] - 1
    q.size[0] = n
    if i == n:
        return
    q.end[i], q.provider[i], q.gpus[i], q.job[i] = q.end[n], q.provider[n], q.gpus[n], q.job[n]
    _sift_down(i, n, q)
    _sift_up(i, q)


@njit(cache=True)
def _cancel(j: int, p: int, e: float, q: DepartureArrays) -> bool:
    for i in range(q.size[0]):
        if q.job[i] == j and q.provider[i] == p and q.end[i] == e:
            _remove(i, q)
            return True
    return False


@njit(cache=True)
def _jobs_on(p: int, q: DepartureArrays) -> np.ndarray:
    found = np.empty(q.size[0], dtype=np.int64)
    n = 0
    for i in range(q.size[0]):
        if q.provider[i] == p:
            found[n] = q.job[i]
            n += 1
    return np.unique(found[:n])


# The queue's entry points from Python: its arrays flat, regrouped here (see the module's docstring).


@njit(cache=True)
def _push_flat(e: float, p: int, g: int, j: int, *queue: np.ndarray) -> None:
    _push(e, p, g, j, DepartureArrays(*queue))


@njit(cache=True)
def _cancel_all_flat(j: int, providers: np.ndarray, ends: np.ndarray, *queue: np.ndarray) -> int:
    """Cancel each; the position of the first not queued, or -1."""
    q = DepartureArrays(*queue)
    for i in range(providers.size):
        if not _cancel(j, providers[i], ends[i], q):
            return i
    return -1


@njit(cache=True)
def _jobs_on_flat(p: int, *queue: np.ndarray) -> np.ndarray:
    return _jobs_on(p, DepartureArrays(*queue))


@njit(cache=True)
def _remove_flat(i: int, *queue: np.ndarray) -> None:
    _remove(i, DepartureArrays(*queue))


class NodeState(NamedTuple):
    """Per node: whether it is in the network (``ProviderDynamics.active``) and failed (``RunState.down``)."""

    active: np.ndarray
    down: np.ndarray


GROUPS = (JobArrays, Routing, BookArrays, StartLog, DepartureArrays, NodeEventArrays, NodeState)
"""The groups ``advance`` takes, in order; their arrays are passed flat, at the offsets below."""
if [len(g._fields) for g in GROUPS] != [7, 2, 16, 9, 5, 7, 2]:
    raise ImportError("advance regroups its arrays at fixed offsets: update them to the groups' fields")


@njit(cache=True)
def advance(i: int, final: bool, n_matched: int, horizon: float, t_event: float, n_waiting: int,
            delay: float, elastic: bool, *groups: np.ndarray) -> tuple[int, int, int, float, bool, bool]:
    """``_advance`` from Python: ``groups`` are the arrays of GROUPS, flat (``*jobs, *routing, ...``)."""
    return _advance(i, final, n_matched, horizon, t_event, n_waiting, delay, elastic, JobArrays(*groups[0:7]),
                    Routing(*groups[7:9]), BookArrays(*groups[9:25]), StartLog(*groups[25:34]),
                    DepartureArrays(*groups[34:39]), NodeEventArrays(*groups[39:46]), NodeState(*groups[46:48]))


@njit(cache=True)
def _advance(i: int, final: bool, n_matched: int, horizon: float, t_event: float, n_waiting: int,
             delay: float, elastic: bool, jobs: JobArrays, routing: Routing, book: BookArrays, log: StartLog,
             dep: DepartureArrays, events: NodeEventArrays,
             nodes: NodeState) -> tuple[int, int, int, float, bool, bool]:
    """Run arrivals from job i on (orders matched ``delay`` after submission), departures and node
    repairs, in time order (departures first on ties, then node events and SimPy events, then the
    arrival), until the engine must act.

    Returns (why, next arrival, job or provider, time, spread, could_wait): EVENT, a SimPy event is due
    at ``t_event`` before anything else; FAILED, the provider failed at the time; RELEASED, the provider
    freed GPUs at the time while jobs wait; UNMATCHED, the job arriving at the time found no node
    (``spread``: some class needs several nodes; ``could_wait``: a class asks within its limit but is
    full); ARRIVALS_DONE, every arrival before the horizon is handled (call again with ``final`` to run
    the departures up to the horizon); DONE.
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
            return ARRIVALS_DONE, i, -1, horizon, False, False
        else:
            t = horizon
        due = dep.end[0] if dep.size[0] > 0 else inf
        node_due = events.time[0] if events.size[0] > 0 else inf
        t_next = min(t_event, node_due)  # the next event: a node's (first on ties) or SimPy's
        if due <= t_next:
            if due <= t:
                now, p, g = dep.end[0], dep.provider[0], dep.gpus[0]
                _remove(0, dep)
                log.departed[0] += 1
                give_back(p, g, book)
                if n_waiting > 0:
                    return RELEASED, i, p, now, False, False
                continue
        elif t_next <= t:
            if node_due > t_event:
                return EVENT, i, -1, t_event, False, False
            p, kind, after = events.node[0], events.kind[0], events.delay[0]
            _pop_event(events)
            if kind == FAIL:
                return FAILED, i, p, node_due, False, False
            _repair(p, node_due, after, book, events, nodes)
            continue
        if i >= n_matched:
            return DONE, i, -1, horizon, False, False
        j = i
        i += 1
        s = stream[j]
        if elastic and jobs.demand_u[j] >= keep[s]:  # the price did not draw this buyer
            log.latent[log.n_latent[0]] = j
            log.n_latent[0] += 1
            continue
        best_p, best_row, best_cost, could_wait, spread = -1, -1, inf, False, False
        for k in range(class_order.shape[1]):
            c = class_order[s, k]
            if c < 0:
                break
            row = net_slot[s, c]
            g, h = net_gpus[row, j], net_hours[row, j]
            if g > max_gpus[c]:  # no node is large enough: several nodes, if it comes to that
                spread = True
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
            return UNMATCHED, i, j, t, spread, could_wait
        g = net_gpus[best_row, j]
        end = t + net_hours[best_row, j]
        free[best_p] -= g
        if n_started[0] >= started.size:
            raise OverflowError("more starts in an epoch than jobs")
        started[n_started[0]] = j
        n_started[0] += 1
        log.provider[j], log.start[j], log.end[j], log.ask[j] = best_p, t, end, ask[best_p]
        _push(end, best_p, g, j, dep)


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
