"""Running allocations by end time: the departure queue the compiled loop and the engine's Python share.

A binary heap over four arrays (end, provider, GPUs, job), ordered by all four, so every order of equal
ends is fixed and a run's results do not depend on the order allocations were pushed in. Compiled
functions take it as ``DepartureArrays``; Python goes through ``DepartureQueue``.

A node failure must find the allocations on its node, and cancel each: a scan of the whole heap did that,
which at 100,000 providers (~60,000 running allocations) cost 72 us a cancellation and 38 us a node's
jobs, 5.3 s of a 62 s 10M-job run. Each allocation therefore also holds one of its node's slots (a node
of g GPUs has g: an allocation holds a GPU at least), and each slot knows where in the heap its
allocation is (``where``), kept up to date as entries move; a node's allocations are then its few slots.
The slots are payload: the heap's order and layout, and so every result, are as without them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class DepartureArrays(NamedTuple):
    """A binary heap of running allocations by (end, provider, GPUs, job); ``size``: its length. ``slot``: each
    entry's slot; ``where``: each slot's entry (-1: free); node p's slots are ``first_slot[p]`` up to
    ``first_slot[p + 1]``."""

    end: np.ndarray
    provider: np.ndarray
    gpus: np.ndarray
    job: np.ndarray
    slot: np.ndarray
    where: np.ndarray
    first_slot: np.ndarray
    size: np.ndarray


class DepartureQueue:
    """Running allocations by end time: a binary heap over four arrays, ordered by (end, provider, GPUs,
    job), so every order of equal ends is fixed. An allocation a failure cuts short is removed at once."""

    def __init__(self, node_gpus: np.ndarray) -> None:
        """``node_gpus``: each node's GPUs, the most allocations it can run at once (each holds a GPU)."""
        node_gpus = np.asarray(node_gpus, dtype=np.int64)
        slots = int(node_gpus.sum())
        capacity = slots + 1
        self.arrays = DepartureArrays(np.zeros(capacity), np.zeros(capacity, dtype=np.int64),
                                      np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.int64),
                                      np.zeros(capacity, dtype=np.int64), np.full(slots, -1, dtype=np.int64),
                                      np.concatenate([[0], np.cumsum(node_gpus)]).astype(np.int64),
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
    end, prov, gpus, job, slot, where = q.end, q.provider, q.gpus, q.job, q.slot, q.where
    e, p, g, j, s = end[i], prov[i], gpus[i], job[i], slot[i]
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(e, p, g, j, end[parent], prov[parent], gpus[parent], job[parent]):
            break
        end[i], prov[i], gpus[i], job[i], slot[i] = end[parent], prov[parent], gpus[parent], job[parent], slot[parent]
        where[slot[i]] = i
        i = parent
    end[i], prov[i], gpus[i], job[i], slot[i] = e, p, g, j, s
    where[s] = i


@njit(cache=True)
def _sift_down(i: int, n: int, q: DepartureArrays) -> None:
    end, prov, gpus, job, slot, where = q.end, q.provider, q.gpus, q.job, q.slot, q.where
    e, p, g, j, s = end[i], prov[i], gpus[i], job[i], slot[i]
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
        end[i], prov[i], gpus[i], job[i], slot[i] = end[child], prov[child], gpus[child], job[child], slot[child]
        where[slot[i]] = i
        i = child
    end[i], prov[i], gpus[i], job[i], slot[i] = e, p, g, j, s
    where[s] = i


@njit(cache=True)
def push(e: float, p: int, g: int, j: int, q: DepartureArrays) -> None:
    s = q.first_slot[p]
    while s < q.first_slot[p + 1] and q.where[s] >= 0:
        s += 1
    if s == q.first_slot[p + 1]:
        raise OverflowError("more running allocations on a node than its GPUs")
    i = q.size[0]
    q.size[0] = i + 1
    q.end[i], q.provider[i], q.gpus[i], q.job[i], q.slot[i] = e, p, g, j, s
    _sift_up(i, q)


@njit(cache=True)
def remove(i: int, q: DepartureArrays) -> None:
    n = q.size[0] - 1
    q.size[0] = n
    q.where[q.slot[i]] = -1
    if i == n:
        return
    q.end[i], q.provider[i], q.gpus[i], q.job[i], q.slot[i] = q.end[n], q.provider[n], q.gpus[n], q.job[n], q.slot[n]
    _sift_down(i, n, q)
    _sift_up(i, q)


@njit(cache=True)
def _cancel(j: int, p: int, e: float, q: DepartureArrays) -> bool:
    """Remove job j's allocation on node p ending at e (of several alike, the first in the heap, as a scan
    of the heap would find)."""
    found = -1
    for s in range(q.first_slot[p], q.first_slot[p + 1]):
        i = q.where[s]
        if i >= 0 and q.job[i] == j and q.end[i] == e and (found < 0 or i < found):
            found = i
    if found < 0:
        return False
    remove(found, q)
    return True


@njit(cache=True)
def _jobs_on(p: int, q: DepartureArrays) -> np.ndarray:
    found = np.empty(q.first_slot[p + 1] - q.first_slot[p], dtype=np.int64)
    n = 0
    for s in range(q.first_slot[p], q.first_slot[p + 1]):
        if q.where[s] >= 0:
            found[n] = q.job[q.where[s]]
            n += 1
    return np.unique(found[:n])


# The queue's entry points from Python: its arrays flat, regrouped here (see the module's docstring).


@njit(cache=True)
def _push_flat(e: float, p: int, g: int, j: int, *queue: np.ndarray) -> None:
    push(e, p, g, j, DepartureArrays(*queue))


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
    remove(i, DepartureArrays(*queue))
