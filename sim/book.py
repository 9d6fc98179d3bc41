"""The order book: the sell side (providers' asks and free GPUs) and the buy side (waiting jobs).

The sell side is indexed by GPU class and price: providers of a class are ranked by ask (asks only
change at epoch boundaries, and are re-ranked only if their order changed), and for each job size g a
heap holds the ranks of providers with at least g GPUs free, so the cheapest fitting provider is the top
of one heap, whatever the fleet size.

Waiting buyers form the buy side: per class and job size, a heap ordered by the highest ask the job
accepts, then by job id (arrival order). Only the provider that just freed GPUs can serve a waiting job
(every other provider was already tried), so a release looks at that provider only.

Every market mechanism ranks the sell side alike (an auction's sealed bids at window close are the
bidders' asks); mechanisms differ in timing and settlement (``sim.schema.market``).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from heapq import heappop, heappush
from typing import NamedTuple

import numpy as np
from numba import njit

from .sorting import insertion_rank, lex_argsort


class Parts(NamedTuple):
    """Where a job spanning several nodes runs: distinct providers and the GPUs it takes on each."""

    providers: np.ndarray
    gpus: np.ndarray


class PostedPriceBook:
    """Sell and buy side of a posted-price market. Asks are integers (USD micro-dollars per GPU-hour).

    ``sizes[c]`` lists the GPU counts jobs can ask of class c (known when the jobs are drawn). For each
    size g a heap holds the ranks (by ask) of providers with at least g free GPUs; an entry goes stale
    when its provider's free count drops below g and is dropped when it reaches the top, and a provider
    is pushed again when a release lifts it over g, unless its old entry is still in the heap (a flag per
    rank keeps one entry per provider, so the heaps stay small). A query is then one heap peek.

    The sell side lives in NumPy arrays and its queries are compiled (``BookArrays``), so the engine's
    compiled loop matches and releases without leaving machine code; the methods here are the same
    operations for the rare paths in Python. ``ask``, ``min_ask`` and ``free`` are updated in place, so
    a caller may hold on to them.
    """

    def __init__(self, gpu_class: Sequence[int], gpus: Sequence[int], sizes: Sequence[Sequence[int]],
                 tiebreak: Sequence[int] | None = None, active: Sequence[bool] | None = None) -> None:
        """``tiebreak``: per provider, orders equal asks (lower first, then lower id); a static value such
        as the unsubsidised ask keeps the ranking stable when a subsidy pushes many asks to their floor.
        ``active``: which providers offer their GPUs now (default all); see activate/deactivate."""
        n_classes = len(sizes)
        self.cls = np.asarray(gpu_class, dtype=np.int64)
        n = len(self.cls)
        tiebreak = np.zeros(n, dtype=np.int64) if tiebreak is None else np.asarray(tiebreak)
        self._tie_rank = np.unique(tiebreak, return_inverse=True)[1].reshape(n)  # same order, narrow range
        self._gpus = np.asarray(gpus, dtype=np.int64)
        self._offered = np.ones(n, dtype=bool) if active is None else np.asarray(active, dtype=bool).copy()
        # free = offered - busy: an inactive provider offers nothing, so its free count is <= 0
        self.free = np.where(self._offered, self._gpus, 0)
        self.ask = np.zeros(n, dtype=np.int64)
        self.max_gpus = np.zeros(n_classes, dtype=np.int64)
        np.maximum.at(self.max_gpus, self.cls, self._gpus)
        self._sizes = [sorted({int(g) for g in sz if 0 < g <= self.max_gpus[c]}) for c, sz in enumerate(sizes)]
        self.min_ask = np.full(n_classes, np.inf)
        self._order: np.ndarray | None = None  # provider ids by class, then ask, then id
        self._counts = np.bincount(self.cls, minlength=n_classes)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]]).astype(np.int64)
        width = max(int(self._counts.max(initial=0)), 1)
        n_heaps = sum(len(sz) for sz in self._sizes)
        size_table = np.zeros((n_classes, max((len(sz) for sz in self._sizes), default=0) or 1), dtype=np.int64)
        heap_of = np.full((n_classes, int(self.max_gpus.max(initial=0)) + 1), -1, dtype=np.int64)
        h = 0
        for c, sz in enumerate(self._sizes):
            size_table[c, :len(sz)] = sz
            for g in sz:
                heap_of[c, g], h = h, h + 1
        self.arrays = BookArrays(
            free=self.free, ask=self.ask, cls=self.cls, rank=np.zeros(n, dtype=np.int64),
            sizes=size_table, n_sizes=np.array([len(sz) for sz in self._sizes], dtype=np.int64), heap_of=heap_of,
            heap=np.zeros((n_heaps, width), dtype=np.int64), heap_len=np.zeros(n_heaps, dtype=np.int64),
            in_heap=np.zeros((n_heaps, width), dtype=np.uint8),
            ranked=np.zeros((n_classes, width), dtype=np.int64), counts=self._counts.astype(np.int64),
            max_gpus=self.max_gpus, min_ask=self.min_ask, offered=self._offered, gpus=self._gpus)
        self._parts = np.zeros((2, width), dtype=np.int64)  # gang's output buffer
        self._waiting: list[dict[int, list[tuple[float, int, float]]]] = [{} for _ in range(n_classes)]

    def post(self, asks: np.ndarray) -> None:
        """New asks for the epoch: re-rank every class and rebuild the fit heaps.

        Asks usually move together (the expected reward shifts every ask of a group by the same
        amount), so the ranking often survives: then only the ask values are updated and the heaps,
        which hold ranks, stay valid as they are.
        """
        ask = np.asarray(asks, dtype=np.int64)
        self.ask[:] = ask
        counts, starts = self._counts, self._starts
        if self._order is None:
            self._rebuild(lex_argsort((self._tie_rank, ask, self.cls)))  # np.lexsort's order, ties by id
        else:
            order = self._order.copy()
            moved = insertion_rank(self.cls, ask, self._tie_rank, order, 8 * order.size)
            if moved < 0:  # many moved: a sort from last epoch's order
                order = lex_argsort((self._tie_rank, ask, self.cls), self._order)
            if moved != 0:
                old = self._order
                self._rebuild(order, [c for c, (lo, n) in enumerate(zip(starts, counts, strict=True))
                                      if not np.array_equal(order[lo:lo + n], old[lo:lo + n])])
        self.min_ask[:] = np.inf
        self.min_ask[counts > 0] = ask[self._order[starts[counts > 0]]]

    def _rebuild(self, order: np.ndarray, classes: list[int] | None = None) -> None:
        """Rank the providers in ``order`` (by class, ask, tie-break and id) and rebuild the fit heaps, of
        ``classes`` only (those whose order changed; default all)."""
        a = self.arrays
        counts, starts = self._counts, self._starts
        self._order = order
        for c in range(len(counts)) if classes is None else classes:
            ids = order[starts[c]:starts[c] + counts[c]]
            a.rank[ids] = np.arange(ids.size)
            a.ranked[c, :ids.size] = ids
            by_rank = self.free[ids]
            # ranks in ascending order: each row is already a valid heap
            for g in self._sizes[c]:
                h, fits = a.heap_of[c, g], by_rank >= g
                ranks = np.flatnonzero(fits)
                a.heap[h, :ranks.size] = ranks
                a.heap_len[h] = ranks.size
                a.in_heap[h, :] = 0
                a.in_heap[h, :ids.size] = fits

    def free_share(self) -> np.ndarray:
        """Per class, the share of its offered GPUs that are free now (0 for a class offering none)."""
        k = len(self._counts)
        offered = np.bincount(self.cls, weights=self._gpus * self._offered, minlength=k)
        free = np.bincount(self.cls, weights=np.maximum(self.free, 0), minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(offered > 0, free / offered, 0.0)

    def median_ask(self, c: int) -> float:
        """Median posted ask of class c (micro-dollars per GPU-hour), read off the ranking."""
        n, first = int(self._counts[c]), int(self._starts[c])
        if n == 0:
            return float("nan")
        mid = self._order[first + (n - 1) // 2: first + n // 2 + 1]
        return int(self.ask[mid].sum()) / len(mid)

    def cheapest(self, c: int, g: int, limit: float) -> int:
        """Cheapest provider of class c with >= g free GPUs and ask <= limit, or -1."""
        return int(_cheapest_flat(c, g, float(limit), *self.arrays))

    def gang(self, c: int, g: int, limit: float, share: float = 1.0) -> tuple[Parts, int] | None:
        """The cheapest way to gather g GPUs of class c from several providers with ask <= limit:
        the parts, cheapest first, and what they cost per hour to a buyer paying ``share`` of each ask
        (rounded down per GPU-hour, as a spot buyer pays); None if there are not enough. A scan in ask
        order, for jobs too large for any one node."""
        m, per_hour = _gang_flat(c, g, float(limit), float(share), self._parts, *self.arrays)
        if m < 0:
            return None
        return Parts(self._parts[0, :m].copy(), self._parts[1, :m].copy()), int(per_hour)

    def take(self, p: int, g: int) -> None:
        self.free[p] -= g  # heaps of sizes p no longer fits go stale; dropped lazily

    def idle(self, p: int) -> bool:
        """Whether provider p offers its GPUs and runs nothing on them (then no allocation holds any: a
        failure need not look for jobs to stop)."""
        return bool(self.free[p] == self._gpus[p])

    def activate(self, p: int) -> None:
        """Provider p (back) offering its GPUs; a no-op if it already does."""
        if not self._offered[p]:
            self._offered[p] = True
            self.give_back(p, int(self._gpus[p]))

    def deactivate(self, p: int) -> None:
        """Provider p stops taking jobs (jobs it runs go on to their end); a no-op if it already has."""
        if self._offered[p]:
            self._offered[p] = False
            self.free[p] -= self._gpus[p]

    def give_back(self, p: int, g: int) -> None:
        _give_back_flat(p, g, *self.arrays)

    def give_back_all(self, providers: np.ndarray, gpus: np.ndarray) -> None:
        """``give_back`` each (provider, GPUs), in their order."""
        _give_back_all_flat(providers, gpus, *self.arrays)

    def wait(self, c: int, g: int, limit: float, job: int, hours: float) -> None:
        """Put a job on the buy side of class c: it needs g GPUs for ``hours`` at ask <= limit."""
        heappush(self._waiting[c].setdefault(g, []), (-limit, job, hours))

    def waiting_job_for(self, p: int, still_waiting: Container[int]) -> tuple[int, int, float] | None:
        """Pop the best waiting job provider p can serve now: (job, gpus, hours), or None.

        Best = highest accepted ask, then earliest arrival. Entries of jobs that left the queue
        (served elsewhere, or gone to the cloud) are dropped on the way.
        """
        c = int(self.cls[p])
        free = int(self.free[p])
        ask = int(self.ask[p])
        best: list[tuple[float, int, float]] | None = None
        best_g = 0
        for g, h in self._waiting[c].items():
            if g > free:
                continue
            while h and h[0][1] not in still_waiting:
                heappop(h)
            if h and -h[0][0] >= ask and (best is None or h[0] < best[0]):
                best, best_g = h, g
        if best is None:
            return None
        _, job, hours = heappop(best)
        return job, best_g, hours


class BookArrays(NamedTuple):
    """The sell side as arrays, for compiled code (numba takes a named tuple of arrays whole). Per
    provider: free GPUs, ask, class, rank within its class. Per class: its job sizes (padded), the heap of
    each (class, size) (``heap_of``, -1 where no job asks that size), providers by rank (padded), their
    count, the largest node and the lowest ask. Per heap: ranks, length, and a flag per rank saying
    whether it is in the heap. Per provider again: whether it offers its GPUs, and how many it has."""

    free: np.ndarray
    ask: np.ndarray
    cls: np.ndarray
    rank: np.ndarray
    sizes: np.ndarray
    n_sizes: np.ndarray
    heap_of: np.ndarray
    heap: np.ndarray
    heap_len: np.ndarray
    in_heap: np.ndarray
    ranked: np.ndarray
    counts: np.ndarray
    max_gpus: np.ndarray
    min_ask: np.ndarray
    offered: np.ndarray
    gpus: np.ndarray


@njit(cache=True)
def _heap_push(heap: np.ndarray, length: np.ndarray, h: int, r: int) -> None:
    row, i = heap[h], length[h]
    length[h] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if row[parent] <= r:
            break
        row[i] = row[parent]
        i = parent
    row[i] = r


@njit(cache=True)
def _heap_pop(heap: np.ndarray, length: np.ndarray, h: int) -> int:
    row, n = heap[h], length[h] - 1
    length[h] = n
    top, last, i = row[0], row[n], 0
    if n == 0:
        return top
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and row[child + 1] < row[child]:
            child += 1
        if row[child] >= last:
            break
        row[i] = row[child]
        i = child
    row[i] = last
    return top


@njit(cache=True)
def cheapest(c: int, g: int, limit: float, book: BookArrays) -> int:
    """Compiled ``PostedPriceBook.cheapest``: pop stale tops, peek the cheapest provider that fits."""
    free, ask, heap_of, heap, heap_len, in_heap, ranked = (book.free, book.ask, book.heap_of, book.heap,
                                                           book.heap_len, book.in_heap, book.ranked)
    if g <= 0 or g >= heap_of.shape[1]:
        return -1
    h = heap_of[c, g]
    if h < 0:
        return -1
    while heap_len[h] > 0:
        p = ranked[c, heap[h, 0]]
        if free[p] >= g:
            return p if ask[p] <= limit else -1
        in_heap[h, _heap_pop(heap, heap_len, h)] = 0
    return -1


@njit(cache=True)
def give_back(p: int, g: int, book: BookArrays) -> None:
    """Compiled ``PostedPriceBook.give_back``: p gets g GPUs back; it re-enters the heaps of the sizes it
    fits again."""
    free, cls, rank, sizes, n_sizes, heap_of = book.free, book.cls, book.rank, book.sizes, book.n_sizes, book.heap_of
    heap, heap_len, in_heap = book.heap, book.heap_len, book.in_heap
    old = free[p]
    new = old + g
    free[p] = new
    if old < 0:  # an inactive provider: nothing is offered unless it was just activated
        if new <= 0:
            return
        old = 0
    c, r = cls[p], rank[p]
    for i in range(n_sizes[c]):
        size = sizes[c, i]
        if old < size and size <= new:
            h = heap_of[c, size]
            if in_heap[h, r] == 0:
                in_heap[h, r] = 1
                _heap_push(heap, heap_len, h, r)


@njit(cache=True)
def _gang(c: int, g: int, limit: float, share: float, book: BookArrays, parts: np.ndarray) -> tuple[int, int]:
    free, ask, ranked, counts = book.free, book.ask, book.ranked, book.counts
    need, m, per_hour = g, 0, 0
    for i in range(counts[c]):
        p = ranked[c, i]
        if ask[p] > limit:
            return -1, 0
        if free[p] > 0:
            k = min(free[p], need)
            parts[0, m], parts[1, m] = p, k
            per_hour += np.int64(ask[p] * share) * k
            m += 1
            need -= k
            if need == 0:
                return m, per_hour
    return -1, 0


# Entry points from Python: the book's arrays flat, regrouped here (numba unboxes a named tuple about
# twice as slowly as its arrays one by one, and a run calls these tens of thousands of times).


@njit(cache=True)
def _cheapest_flat(c: int, g: int, limit: float, *book: np.ndarray) -> int:
    return cheapest(c, g, limit, BookArrays(*book))


@njit(cache=True)
def _give_back_flat(p: int, g: int, *book: np.ndarray) -> None:
    give_back(p, g, BookArrays(*book))


@njit(cache=True)
def _give_back_all_flat(providers: np.ndarray, gpus: np.ndarray, *book: np.ndarray) -> None:
    arrays = BookArrays(*book)
    for i in range(providers.size):
        give_back(providers[i], gpus[i], arrays)


@njit(cache=True)
def _gang_flat(c: int, g: int, limit: float, share: float, parts: np.ndarray, *book: np.ndarray) -> tuple[int, int]:
    return _gang(c, g, limit, share, BookArrays(*book), parts)

