"""Market mechanisms. A mechanism keeps the order books and answers "who serves this job?".

The posted-price book is indexed by GPU class and price: providers of a class are ranked by ask (asks
only change at epoch boundaries, and are re-ranked only if their order changed), and for each job size
g a heap holds the ranks of providers with at least g GPUs free, so the cheapest fitting provider is
the top of one heap, whatever the fleet size.

Waiting buyers form the buy side: per class and job size, a heap ordered by the highest ask the job
accepts, then by job id (arrival order). Only the provider that just freed GPUs can serve a waiting job
(every other provider was already tried), so a release looks at that provider only.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from heapq import heappop, heappush
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from .base import StrictModel, default_kind


class _Mechanism(StrictModel):
    """What every mechanism tells the engine: how long an order waits before it is matched, and how leases
    are paid. The sell side is the same book for all of them: providers' asks are their bids."""

    protocol_fee_share: float = Field(
        default=0.0, ge=0, lt=1, description="Share of each network payment taken by the protocol (take rate)."
    )
    fee_destination: Literal["treasury", "buy_and_burn"] = Field(
        default="treasury",
        description="What the protocol does with its fee: keep it in the treasury (USD), or buy tokens "
        "and burn them (io.net: revenue buys and burns IO).")
    spot_discount: float = Field(
        default=0.4, ge=0, lt=1,
        description="Share off the ask that interruptible (spot) buyers pay. Marketplaces show 0.3 to 0.45 "
        "(Vast.ai RTX 4090 interruptible $0.31 vs $0.45, 2026-05; RunPod H100 spot $2.69 vs $4.76, 2026-03; "
        "shared/reference/facts.md).")

    @property
    def order_delay_hours(self) -> float:
        """Time from a buyer's arrival to its match."""
        return 0.0

    @property
    def escrow(self) -> bool:
        """Whether buyers deposit a lease's price up front and the lease pays out of it every epoch
        (otherwise a job pays once, when it ends)."""
        return False


class PostedPriceMarket(_Mechanism):
    """Providers post asks; a buyer takes the cheapest free capacity whose ask fits its limit at once."""

    kind: Literal["posted_price"] = "posted_price"


class ReverseAuctionMarket(_Mechanism):
    """Akash-like: a buyer posts an order with its maximum price, providers with free capacity bid during a
    window, the lowest bid wins and is paid as bid; the lease is paid per epoch from the buyer's escrow,
    the protocol keeps its take rate. Providers bid their ask policy's price (pay-as-bid: the markup of
    the ask policy is the bid shading)."""

    kind: Literal["reverse_auction"] = "reverse_auction"
    bid_window_minutes: float = Field(
        default=1.0, ge=0,
        description="How long an order collects bids before the lowest wins (assumption: Akash tenants "
        "usually accept a bid within a minute of creating the deployment). Every auction buyer waits it, "
        "and bids are taken from the capacity free when it closes.")

    @property
    def order_delay_hours(self) -> float:
        return self.bid_window_minutes / 60.0

    @property
    def escrow(self) -> bool:
        return True


Market = Annotated[PostedPriceMarket | ReverseAuctionMarket, Field(discriminator="kind"),
                   default_kind("posted_price")]


class PostedPriceBook:
    """Sell and buy side of a posted-price market. Asks are integers (USD micro-dollars per GPU-hour).

    ``sizes[c]`` lists the GPU counts jobs can ask of class c (known when the jobs are drawn). For each
    size g a heap holds the ranks (by ask) of providers with at least g free GPUs; an entry goes stale
    when its provider's free count drops below g and is dropped when it reaches the top, and a provider
    is pushed again when a release lifts it over g, unless its old entry is still in the heap (a flag per
    rank keeps one entry per provider, so the heaps stay small). A query is then one heap peek.

    ``ask`` and ``min_ask`` are updated in place, so a caller may hold on to the lists.
    """

    def __init__(self, gpu_class: Sequence[int], gpus: Sequence[int], sizes: Sequence[Sequence[int]],
                 tiebreak: Sequence[int] | None = None, active: Sequence[bool] | None = None) -> None:
        """``tiebreak``: per provider, orders equal asks (lower first, then lower id); a static value such
        as the unsubsidised ask keeps the ranking stable when a subsidy pushes many asks to their floor.
        ``active``: which providers offer their GPUs now (default all); see activate/deactivate."""
        n_classes = len(sizes)
        self._cls = np.asarray(gpu_class, dtype=np.int64)
        self._tiebreak = np.zeros(len(self._cls), dtype=np.int64) if tiebreak is None else np.asarray(tiebreak)
        self.cls = self._cls.tolist()
        self._gpus = list(gpus)
        # free = offered - busy: an inactive provider offers nothing, so its free count is <= 0
        self.free = list(gpus) if active is None else [g if a else 0 for g, a in zip(gpus, active, strict=True)]
        self._offered = [True] * len(self._gpus) if active is None else [bool(a) for a in active]
        self.ask = [0] * len(self.cls)
        self._rank = [0] * len(self.cls)
        self.max_gpus = [0] * n_classes
        for c, g in zip(self.cls, self._gpus, strict=True):
            self.max_gpus[c] = max(self.max_gpus[c], g)
        self._sizes = [sorted({int(g) for g in sz if 0 < g <= self.max_gpus[c]}) for c, sz in enumerate(sizes)]
        # _lifted[c][old][new]: the sizes a provider newly fits when its free GPUs go from old to new
        self._lifted = [[[tuple(g for g in self._sizes[c] if old < g <= new) for new in range(m + 1)]
                         for old in range(m + 1)] for c, m in enumerate(self.max_gpus)]
        self.min_ask = [float("inf")] * n_classes
        self._ranked: list[list[int]] = [[] for _ in range(n_classes)]
        self._fit: list[dict[int, tuple[list[int], bytearray]]] = [{} for _ in range(n_classes)]
        # per provider, its class's tables (the dicts are updated in place, so these stay valid)
        self._p_fit = [self._fit[c] for c in self.cls]
        self._p_lifted = [self._lifted[c] for c in self.cls]
        self._order: np.ndarray | None = None  # provider ids by class, then ask, then id
        self._counts = np.bincount(self._cls, minlength=n_classes)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]])
        self._waiting: list[dict[int, list[tuple[float, int, float]]]] = [{} for _ in range(n_classes)]

    def post(self, asks: np.ndarray) -> None:
        """New asks for the epoch: re-rank every class and rebuild the fit heaps.

        Asks usually move together (the expected reward shifts every ask of a group by the same
        amount), so the ranking often survives: then only the ask values are updated and the heaps,
        which hold ranks, stay valid as they are.
        """
        ask = np.asarray(asks, dtype=np.int64)
        self.ask[:] = ask.tolist()
        counts, starts = self._counts, self._starts
        order = self._order
        if order is None or not _still_sorted(ask[order], self._tiebreak[order], order, starts):
            self._rebuild(ask)
        first = iter(ask[self._order[starts[counts > 0]]].tolist())
        self.min_ask[:] = [next(first) if n else float("inf") for n in counts]

    def _rebuild(self, ask: np.ndarray) -> None:
        cls, counts, starts = self._cls, self._counts, self._starts
        order = np.lexsort((np.arange(len(ask)), self._tiebreak, ask, cls))
        rank = np.empty(len(ask), dtype=np.int64)
        rank[order] = np.arange(len(ask)) - starts[cls[order]]
        self._rank = rank.tolist()
        self._order = order
        free = np.asarray(self.free)
        for c in range(len(counts)):
            ids = order[starts[c]:starts[c] + counts[c]]
            self._ranked[c] = ids.tolist()
            by_rank = free[ids]
            # ranks in ascending order: each list is already a valid heap
            self._fit[c].clear()
            self._fit[c].update({g: (np.flatnonzero(by_rank >= g).tolist(), bytearray((by_rank >= g).tobytes()))
                                 for g in self._sizes[c]})

    def median_ask(self, c: int) -> float:
        """Median posted ask of class c (micro-dollars per GPU-hour), read off the ranking."""
        n, first = int(self._counts[c]), int(self._starts[c])
        if n == 0:
            return float("nan")
        mid = self._order[first + (n - 1) // 2: first + n // 2 + 1]
        return sum(self.ask[p] for p in mid.tolist()) / len(mid)

    def cheapest(self, c: int, g: int, limit: float) -> int:
        """Cheapest provider of class c with >= g free GPUs and ask <= limit, or -1."""
        fit = self._fit[c].get(g)
        if fit is None:
            return -1
        h, in_heap = fit
        ranked = self._ranked[c]
        free = self.free
        while h:
            p = ranked[h[0]]
            if free[p] >= g:
                return p if self.ask[p] <= limit else -1
            in_heap[heappop(h)] = 0
        return -1

    def gang(self, c: int, g: int, limit: float) -> list[tuple[int, int]] | None:
        """The cheapest way to gather g GPUs of class c from several providers with ask <= limit:
        (provider, GPUs) parts, cheapest first; None if there are not enough. A scan in ask order, for
        jobs too large for any one node."""
        parts, need, free, ask = [], g, self.free, self.ask
        for p in self._ranked[c]:
            if ask[p] > limit:
                return None
            if free[p] > 0:
                k = min(free[p], need)
                parts.append((p, k))
                need -= k
                if not need:
                    return parts
        return None

    def take(self, p: int, g: int) -> None:
        self.free[p] -= g  # heaps of sizes p no longer fits go stale; dropped lazily

    def activate(self, p: int) -> None:
        """Provider p (back) offering its GPUs; a no-op if it already does."""
        if not self._offered[p]:
            self._offered[p] = True
            self.give_back(p, self._gpus[p])

    def deactivate(self, p: int) -> None:
        """Provider p stops taking jobs (jobs it runs go on to their end); a no-op if it already has."""
        if self._offered[p]:
            self._offered[p] = False
            self.free[p] -= self._gpus[p]

    def give_back(self, p: int, g: int) -> None:
        free = self.free
        old = free[p]
        new = free[p] = old + g
        if old < 0:  # an inactive provider: nothing is offered unless it was just activated
            if new <= 0:
                return
            old = 0
        lifted = self._p_lifted[p][old][new]
        if lifted:
            fit, r = self._p_fit[p], self._rank[p]
            for size in lifted:
                h, in_heap = fit[size]
                if not in_heap[r]:
                    in_heap[r] = 1
                    heappush(h, r)

    def wait(self, c: int, g: int, limit: float, job: int, hours: float) -> None:
        """Put a job on the buy side of class c: it needs g GPUs for ``hours`` at ask <= limit."""
        heappush(self._waiting[c].setdefault(g, []), (-limit, job, hours))

    def waiting_job_for(self, p: int, still_waiting: Container[int]) -> tuple[int, int, float] | None:
        """Pop the best waiting job provider p can serve now: (job, gpus, hours), or None.

        Best = highest accepted ask, then earliest arrival. Entries of jobs that left the queue
        (served elsewhere, or gone to the cloud) are dropped on the way.
        """
        c = self.cls[p]
        free = self.free[p]
        ask = self.ask[p]
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


def _still_sorted(ask: np.ndarray, tiebreak: np.ndarray, order: np.ndarray, starts: np.ndarray) -> bool:
    """Whether providers listed in ``order`` (grouped by class) are still sorted by (ask, tiebreak, id)."""
    if len(order) < 2:
        return True
    d_ask, d_tie = np.diff(ask), np.diff(tiebreak)
    ok = (d_ask > 0) | ((d_ask == 0) & ((d_tie > 0) | ((d_tie == 0) & (np.diff(order) > 0))))
    boundaries = starts[(starts > 0) & (starts < len(order))]  # a class may have no providers
    ok[boundaries - 1] = True  # no order required across classes
    return bool(ok.all())


MARKETS = {"posted_price": PostedPriceBook, "reverse_auction": PostedPriceBook}
"""Order books keyed by the scenario's ``market.kind``: an auction's sealed bids at window close are the
bidders' asks, so both mechanisms rank the sell side alike and differ in timing and settlement."""
