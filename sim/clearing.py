"""Uniform-price clearing of a call market: one price per GPU class where offered capacity meets the
demand of the buyers whose limits exceed it.

Pure functions on arrays, so the market mechanism (``sim.schema.market.UniformClearingMarket``) and the
tests that check it against theory use the same code. Quantities are GPU-hours within one epoch;
prices are USD micro-dollars per GPU-hour of the class.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .scratch import Scratch
from .sorting import insertion_rank, lex_argsort


class SupplyCurves(NamedTuple):
    """Several classes' offers, each class in merit order, laid end to end (so the engine's clearing
    hands one set of arrays to compiled code, not a list of them): class c's asks, ascending, are
    ``asks[at[c]:at[c + 1]]``, and its capacity at or below each is the rows
    ``cumulative[at[c] + c:at[c + 1] + c + 1]`` (one row more than offers: row i is the capacity of
    the i cheapest, per interval)."""

    asks: np.ndarray
    cumulative: np.ndarray
    at: np.ndarray

    def of(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Class c's (asks, cumulative)."""
        lo, hi = int(self.at[c]), int(self.at[c + 1])
        return self.asks[lo:hi], self.cumulative[lo + c:hi + c + 1]


def supply_curve(asks: np.ndarray, capacity: np.ndarray) -> SupplyCurves:
    """The merit order of one class's offers with ``capacity`` (offers,) or (offers, intervals)."""
    asks, capacity = np.asarray(asks, dtype=float), np.asarray(capacity, dtype=float)
    capacity = capacity.reshape(asks.size, capacity.shape[1] if capacity.ndim == 2 else 1)
    return merit_orders(asks, capacity, [np.arange(asks.size)])


def merit_orders(asks: np.ndarray, capacity: np.ndarray, classes: list[np.ndarray],
                 scratch: Scratch | None = None, name: str = "cumulative") -> SupplyCurves:
    """Each class's offers (``classes[c]``: row indices into ``asks`` and ``capacity`` (offers,
    intervals)) in merit order: sorted once, so the clearing rounds that re-price a class against new
    bids do not sort its offers again. With ``scratch`` the cumulative capacity is its array ``name``."""
    members = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in classes]) if classes else \
        np.zeros(0, dtype=np.int64)
    at = np.concatenate([[0], np.cumsum([len(ids) for ids in classes])]).astype(np.int64)
    capacity = np.ascontiguousarray(capacity, dtype=float)
    shape = (members.size + len(classes), capacity.shape[1])
    cumulative = np.empty(shape) if scratch is None else scratch.get(name, shape)
    return SupplyCurves(_merit_orders(np.asarray(asks, dtype=float), capacity, members, at, cumulative), cumulative, at)


@njit(cache=True, nogil=True)
def _merit_orders(asks: np.ndarray, capacity: np.ndarray, members: np.ndarray, at: np.ndarray,
                  cumulative: np.ndarray) -> np.ndarray:
    """Per class, its members' asks in stable ascending order (returned) and, row by row in
    ``cumulative``, their capacity added up in that order (sequentially, as ``np.cumsum`` does, so the
    sums are the same to the bit)."""
    b = capacity.shape[1]
    sorted_asks = np.empty(members.size)
    for c in range(at.size - 1):
        ids = members[at[c]:at[c + 1]]
        order = np.arange(ids.size) if _ascending(asks, ids) else np.argsort(asks[ids], kind="mergesort")  # stable
        base = at[c] + c  # the class's zero row
        cumulative[base, :] = 0.0
        for i in range(ids.size):
            row = ids[order[i]]
            sorted_asks[at[c] + i] = asks[row]
            for k in range(b):
                cumulative[base + i + 1, k] = cumulative[base + i, k] + capacity[row, k]
    return sorted_asks


def merit_rank(asks: np.ndarray, ids: np.ndarray, previous: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``ids`` (ascending) by ascending ask, ties by id, re-sorted from ``previous`` (last epoch's such
    order): ``previous`` itself when it still is one, as it usually is from one epoch to the next (the
    expected reward moves a class's asks together), so the merit order is not sorted afresh; a subset
    of it, in its order, is then the merit order of the subset, with ``merit_orders`` recognising it
    without sorting. ``position``: each id's index in ``ids``, indexed by id."""
    asks = np.asarray(asks, dtype=float)
    if previous.size != ids.size:  # nodes joined or left
        return ids[lex_argsort((asks[ids],))]
    order, same = previous.copy(), np.zeros(asks.size, dtype=np.int64)  # one class, no tie-break: ask, then id
    moved = insertion_rank(same, asks, same, order, 8 * order.size)
    if moved == 0:
        return previous
    if moved > 0:
        return order
    return ids[lex_argsort((asks[ids],), position[previous])]  # many moved: a sort from last epoch's order


@njit(cache=True, nogil=True)
def _ascending(asks: np.ndarray, ids: np.ndarray) -> bool:
    for i in range(ids.size - 1):
        if asks[ids[i]] > asks[ids[i + 1]]:
            return False
    return True


def uniform_price(asks: np.ndarray, capacity: np.ndarray, limits: np.ndarray, loads: np.ndarray) -> float:
    """The lowest price p, among the offers' asks and the buyers' limits (and never below the lowest
    ask), at which, in every interval, the capacity offered at or below p covers the load of every
    buyer whose limit is strictly above p: the price that clears the busiest interval. Buyers whose
    limit equals the price are the marginal ones, served as far as capacity lasts; if even the highest
    bidders outbid all capacity the price is the highest limit. With no offers the price is +inf.

    ``capacity`` is (offers,) or (offers, intervals), ``loads`` (buyers,) or (buyers, intervals)."""
    sorted_asks, cumulative = supply_curve(asks, capacity).of(0)
    limits = np.ascontiguousarray(limits, dtype=float)
    loads = np.ascontiguousarray(loads, dtype=float).reshape(limits.size, 1, cumulative.shape[1])
    return _price_on(sorted_asks, cumulative, limits, loads, np.arange(limits.size), 0)


@njit(cache=True, nogil=True)
def _price_on(sorted_asks: np.ndarray, supply: np.ndarray, limits: np.ndarray, loads: np.ndarray,
              rows: np.ndarray, c: int) -> float:
    """``uniform_price`` for the buyers ``rows`` of ``loads`` (orders, classes, intervals) on class c, whose
    limits there are ``limits``. Whether a candidate price clears is monotone in it (supply at or below
    it only grows, demand above it only shrinks), so the lowest that does is found by bisection over
    the sorted candidates. Sums run in the order ``np.cumsum`` would take, so results match it."""
    if sorted_asks.size == 0:
        return np.inf
    floor = sorted_asks[0]
    m = limits.size
    if m == 0:
        return floor
    by_limit = np.argsort(limits, kind="mergesort")  # stable
    sorted_limits = limits[by_limit]
    b = loads.shape[2]
    above = np.zeros((m + 1, b))  # row i: load of the limits from i on
    for i in range(m - 1, -1, -1):
        r = rows[by_limit[i]]
        for k in range(b):
            above[i, k] = above[i + 1, k] + loads[r, c, k]
    # the candidates: every ask and every limit at or above the lowest ask, ascending, once each
    candidates = np.empty(sorted_asks.size + m)
    n, i, j = 0, 0, np.searchsorted(sorted_limits, floor, side="left")
    while i < sorted_asks.size or j < m:
        if j >= m or (i < sorted_asks.size and sorted_asks[i] <= sorted_limits[j]):
            v = sorted_asks[i]
            i += 1
        else:
            v = sorted_limits[j]
            j += 1
        if n == 0 or v != candidates[n - 1]:
            candidates[n] = v
            n += 1
    lo, hi = 0, n  # the answer is in [lo, hi); hi: none clears
    while lo < hi:
        mid = (lo + hi) // 2
        p = candidates[mid]
        offered = supply[np.searchsorted(sorted_asks, p, side="right")]
        demanded = above[np.searchsorted(sorted_limits, p, side="right")]  # limits strictly above
        clears = True
        for k in range(b):
            if offered[k] < demanded[k] - 1e-9:
                clears = False
                break
        if clears:
            hi = mid
        else:
            lo = mid + 1
    return candidates[lo] if lo < n else sorted_limits[m - 1]


def clear_classes(curves: SupplyCurves, limits: np.ndarray, loads: np.ndarray, work: np.ndarray,
                  max_rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Prices for several GPU classes whose buyers may take any class they accept.

    ``limits`` and ``work`` are (orders, classes): each order's highest price on the class (-inf where
    it does not accept it) and the GPU-hours its whole job takes there (to compare costs: price x
    GPU-hours); ``loads`` (orders, classes, intervals) the GPU-hours it would use there in each interval
    of the epoch, and ``curves`` the merit order of each class's offers (``merit_orders``).
    Each order bids on the class where its job costs least at the current prices (ties go to a class
    chosen by the order's position, so no class is favoured), with its limit there capped at the price
    at which another class would become cheaper. Prices start at each class's lowest offer and only
    rise, round by round, so they reach a fixed point (or stop after ``max_rounds``). Returns (prices
    per class, class each order bids on or -1)."""
    n, k = limits.shape
    if k == 0:
        return np.zeros(0), np.full(n, -1, dtype=np.int64)
    loads = np.ascontiguousarray(loads, dtype=float).reshape(n, k, curves.cumulative.shape[1])
    return _clear_classes(curves.asks, curves.cumulative, curves.at, np.ascontiguousarray(limits, dtype=float), loads,
                          np.ascontiguousarray(work, dtype=float), max_rounds)


@njit(cache=True, nogil=True)
def _clear_classes(asks: np.ndarray, cumulative: np.ndarray, ask_at: np.ndarray, limits: np.ndarray,
                   loads: np.ndarray, work: np.ndarray, max_rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """``clear_classes`` on the arrays of ``SupplyCurves`` (``ask_at``: its ``at``)."""
    n, k = limits.shape
    prices = np.full(k, np.inf)
    for c in range(k):
        if ask_at[c + 1] > ask_at[c]:
            prices[c] = asks[ask_at[c]]
    choice = np.full(n, -1, dtype=np.int64)
    cost = np.empty((n, k))
    seen = np.full(k, -1, dtype=np.int64)  # how many bids a class had when its price was last set (-1: never)
    seen_rows = np.empty((k, n), dtype=np.int64)
    seen_limits = np.empty((k, n))
    for _ in range(max_rounds):
        for i in range(n):
            best = np.inf
            for c in range(k):
                cost[i, c] = prices[c] * work[i, c] if limits[i, c] >= prices[c] else np.inf
                best = min(best, cost[i, c])
            choice[i] = -1
            if np.isfinite(best):  # of the cheapest classes, the first from the order's position on
                turn = k
                for c in range(k):
                    if np.isfinite(cost[i, c]) and cost[i, c] == best and (c - i) % k < turn:
                        turn, choice[i] = (c - i) % k, c
        new = prices.copy()
        for c in range(k):
            mine = np.flatnonzero(choice == c)
            m = mine.size
            if m == 0:
                continue
            limit = np.empty(m)
            for a in range(m):
                i = mine[a]
                other = np.inf
                for d in range(k):
                    if d != c:
                        other = min(other, cost[i, d])
                limit[a] = min(limits[i, c], other / work[i, c])  # capped at the price where the next class wins
            if seen[c] == m and (seen_rows[c, :m] == mine).all() and (seen_limits[c, :m] == limit).all():
                continue  # the same bids clear at the same price, which prices[c] already is or exceeds
            seen[c] = m
            seen_rows[c, :m], seen_limits[c, :m] = mine, limit
            lo, hi = ask_at[c], ask_at[c + 1]
            new[c] = max(prices[c], _price_on(asks[lo:hi], cumulative[lo + c:hi + c + 1], limit, loads, mine, c))
        if (new == prices).all():
            break
        prices = new
    return prices, choice
