"""The compiled part of the event loop: arrivals that find capacity at once, and departures.

Nearly every job arrives, takes the cheapest fitting node and leaves; in Python those two steps cost
about as much as an idiomatic SimPy process per job. Here they run as machine code (numba), over the
book's arrays (``market.BookArrays``) and a departure queue of arrays, and hand control back to the
engine for everything else: a SimPy event due (epochs, failures, repairs, patience), a job that found
no capacity (waiting, several nodes, preemption, AWS), and a release while jobs wait (the buy side is
Python). The engine's Python methods and this loop change the same arrays, so either may act next.

Results are identical to a pure-Python loop: only comparisons, additions and products of values below
2**53 happen here (no fast-math), and every queue orders by a total order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .market import cheapest, give_back

EVENT, RELEASED, UNMATCHED, ARRIVALS_DONE, DONE = range(5)  # why _advance returned


class DepartureQueue:
    """Running allocations by end time: a binary heap over four arrays, ordered by (end, provider, GPUs,
    job), so every order of equal ends is fixed. An allocation a failure cuts short is removed at once."""

    def __init__(self, capacity: int) -> None:
        """``capacity``: most allocations running at once (each holds a GPU, so the fleet's GPU count)."""
        self.end = np.zeros(capacity)
        self.provider = np.zeros(capacity, dtype=np.int64)
        self.gpus = np.zeros(capacity, dtype=np.int64)
        self.job = np.zeros(capacity, dtype=np.int64)
        self.size = np.zeros(1, dtype=np.int64)

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.end, self.provider, self.gpus, self.job, self.size

    def push(self, end: float, provider: int, gpus: int, job: int) -> None:
        _push(end, provider, gpus, job, *self.arrays)

    def cancel(self, job: int, provider: int, end: float) -> None:
        """Remove the allocation of ``job`` on ``provider`` ending at ``end`` (it must be queued)."""
        if not _cancel(job, provider, end, *self.arrays):
            raise RuntimeError(f"job {job} has no allocation on provider {provider} ending at {end}")

    def jobs_on(self, provider: int) -> list[int]:
        """Jobs running on ``provider``, ascending."""
        return _jobs_on(provider, self.provider, self.job, self.size).tolist()


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
def _sift_up(i: int, end: np.ndarray, prov: np.ndarray, gpus: np.ndarray, job: np.ndarray) -> None:
    e, p, g, j = end[i], prov[i], gpus[i], job[i]
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(e, p, g, j, end[parent], prov[parent], gpus[parent], job[parent]):
            break
        end[i], prov[i], gpus[i], job[i] = end[parent], prov[parent], gpus[parent], job[parent]
        i = parent
    end[i], prov[i], gpus[i], job[i] = e, p, g, j


@njit(cache=True)
def _sift_down(i: int, n: int, end: np.ndarray, prov: np.ndarray, gpus: np.ndarray, job: np.ndarray) -> None:
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
def _push(e: float, p: int, g: int, j: int, end: np.ndarray, prov: np.ndarray, gpus: np.ndarray,
          job: np.ndarray, size: np.ndarray) -> None:
    i = size[0]
    if i >= end.size:
        raise OverflowError("more running allocations than GPUs in the fleet")
    size[0] = i + 1
    end[i], prov[i], gpus[i], job[i] = e, p, g, j
    _sift_up(i, end, prov, gpus, job)


@njit(cache=True)
def _remove(i: int, end: np.ndarray, prov: np.ndarray, gpus: np.ndarray, job: np.ndarray,
            size: np.ndarray) -> None:
    n = size[0] - 1
    size[0] = n
    if i == n:
        return
    end[i], prov[i], gpus[i], job[i] = end[n], prov[n], gpus[n], job[n]
    _sift_down(i, n, end, prov, gpus, job)
    _sift_up(i, end, prov, gpus, job)


@njit(cache=True)
def _cancel(j: int, p: int, e: float, end: np.ndarray, prov: np.ndarray, gpus: np.ndarray, job: np.ndarray,
            size: np.ndarray) -> bool:
    for i in range(size[0]):
        if job[i] == j and prov[i] == p and end[i] == e:
            _remove(i, end, prov, gpus, job, size)
            return True
    return False


@njit(cache=True)
def _jobs_on(p: int, prov: np.ndarray, job: np.ndarray, size: np.ndarray) -> np.ndarray:
    found = np.empty(size[0], dtype=np.int64)
    n = 0
    for i in range(size[0]):
        if prov[i] == p:
            found[n] = job[i]
            n += 1
    return np.unique(found[:n])


@njit(cache=True)
def advance(i: int, final: bool, n_matched: int, horizon: float, t_event: float, n_waiting: int,
            delay: float, elastic: bool,
            submit: np.ndarray, stream: np.ndarray, net_slot: np.ndarray, net_gpus: np.ndarray, net_hours: np.ndarray,
            net_limit: np.ndarray, demand_u: np.ndarray, keep: np.ndarray, class_order: np.ndarray,
            max_gpus: np.ndarray, min_ask: np.ndarray,
            free: np.ndarray, ask: np.ndarray, cls: np.ndarray, rank: np.ndarray, sizes: np.ndarray,
            n_sizes: np.ndarray, heap_of: np.ndarray, heap: np.ndarray, heap_len: np.ndarray,
            in_heap: np.ndarray, ranked: np.ndarray,
            rec_provider: np.ndarray, rec_start: np.ndarray, rec_end: np.ndarray, rec_ask: np.ndarray,
            started: np.ndarray, n_started: np.ndarray, latent: np.ndarray, n_latent: np.ndarray,
            departed: np.ndarray,
            dep_end: np.ndarray, dep_p: np.ndarray, dep_g: np.ndarray, dep_j: np.ndarray,
            dep_n: np.ndarray) -> tuple[int, int, int, float, bool, bool]:
    """Run arrivals from job i on (orders matched ``delay`` after submission) and departures, in time
    order (departures first on ties, then SimPy events, then the arrival), until the engine must act.

    Returns (why, next arrival, job or provider, time, spread, could_wait): EVENT, a SimPy event is due
    at ``t_event`` before anything else; RELEASED, the provider freed GPUs at the time while jobs wait;
    UNMATCHED, the job arriving at the time found no node (``spread``: some class needs several nodes;
    ``could_wait``: a class asks within its limit but is full); ARRIVALS_DONE, every arrival before the
    horizon is handled (call again with ``final`` to run the departures up to the horizon); DONE.
    """
    inf = np.inf
    while True:
        if i < n_matched:
            t = submit[i] + delay
        elif not final:
            return ARRIVALS_DONE, i, -1, horizon, False, False
        else:
            t = horizon
        due = dep_end[0] if dep_n[0] > 0 else inf
        if due <= t_event:
            if due <= t:
                now, p, g = dep_end[0], dep_p[0], dep_g[0]
                _remove(0, dep_end, dep_p, dep_g, dep_j, dep_n)
                departed[0] += 1
                give_back(p, g, free, cls, rank, sizes, n_sizes, heap_of, heap, heap_len, in_heap)
                if n_waiting > 0:
                    return RELEASED, i, p, now, False, False
                continue
        elif t_event <= t:
            return EVENT, i, -1, t_event, False, False
        if i >= n_matched:
            return DONE, i, -1, horizon, False, False
        j = i
        i += 1
        s = stream[j]
        if elastic and demand_u[j] >= keep[s]:  # the price did not draw this buyer
            latent[n_latent[0]] = j
            n_latent[0] += 1
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
            limit = net_limit[row, j] * 1e6
            p = cheapest(c, g, limit, free, ask, heap_of, heap, heap_len, in_heap, ranked)
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
        rec_provider[j], rec_start[j], rec_end[j], rec_ask[j] = best_p, t, end, ask[best_p]
        _push(end, best_p, g, j, dep_end, dep_p, dep_g, dep_j, dep_n)
