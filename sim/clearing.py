"""Uniform-price clearing of a call market: one price per GPU class where offered capacity meets the
demand of the buyers whose limits exceed it.

Pure functions on arrays, so the market mechanism (``sim.schema.market.UniformClearingMarket``) and the
tests that check it against theory use the same code. Quantities are GPU-hours within one epoch;
prices are USD micro-dollars per GPU-hour of the class.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SupplyCurve(NamedTuple):
    """Offers in merit order: their asks ascending and, per interval, the capacity at or below each."""

    asks: np.ndarray
    cumulative: np.ndarray
    """(offers + 1, intervals): row i is the capacity of the i cheapest offers."""


def supply_curve(asks: np.ndarray, capacity: np.ndarray) -> SupplyCurve:
    """The merit order of offers with ``capacity`` (offers,) or (offers, intervals): sorted once, so the
    clearing rounds that re-price a class against new bids do not sort its offers again."""
    capacity = capacity.reshape(asks.size, -1) if asks.size else capacity.reshape(0, max(capacity.shape[-1:] or [1]))
    by_ask = np.argsort(asks, kind="stable")
    cumulative = np.vstack([np.zeros((1, capacity.shape[1])), np.cumsum(capacity[by_ask], axis=0)])
    return SupplyCurve(asks[by_ask], cumulative)


def uniform_price(asks: np.ndarray, capacity: np.ndarray, limits: np.ndarray, loads: np.ndarray) -> float:
    """The lowest price p, among the offers' asks and the buyers' limits (and never below the lowest
    ask), at which, in every interval, the capacity offered at or below p covers the load of every
    buyer whose limit is strictly above p: the price that clears the busiest interval. Buyers whose
    limit equals the price are the marginal ones, served as far as capacity lasts; if even the highest
    bidders outbid all capacity the price is the highest limit. With no offers the price is +inf.

    ``capacity`` is (offers,) or (offers, intervals), ``loads`` (buyers,) or (buyers, intervals)."""
    if asks.size == 0:
        return float("inf")
    return price_on(supply_curve(asks, capacity), limits, loads)


def price_on(curve: SupplyCurve, limits: np.ndarray, loads: np.ndarray) -> float:
    """``uniform_price`` on a supply curve already in merit order. Whether a candidate price clears is
    monotone in it (supply at or below it only grows, demand above it only shrinks), so the lowest that
    does is found by bisection over the sorted candidates."""
    sorted_asks, supply = curve
    if sorted_asks.size == 0:
        return float("inf")
    floor = float(sorted_asks[0])
    if limits.size == 0:
        return floor
    loads = loads.reshape(limits.size, -1)
    by_limit = np.argsort(limits, kind="stable")
    sorted_limits = limits[by_limit]
    tail = np.cumsum(loads[by_limit][::-1], axis=0)[::-1]
    above = np.vstack([tail, np.zeros((1, loads.shape[1]))])  # row i: load of the limits from i on
    candidates = np.unique(np.concatenate([sorted_asks, sorted_limits[sorted_limits >= floor]]))

    def clears(i: int) -> bool:
        p = candidates[i]
        offered = supply[np.searchsorted(sorted_asks, p, side="right")]
        demanded = above[np.searchsorted(sorted_limits, p, side="right")]  # limits strictly above
        return bool((offered >= demanded - 1e-9).all())

    lo, hi = 0, candidates.size  # the answer is in [lo, hi); hi: none clears
    while lo < hi:
        mid = (lo + hi) // 2
        if clears(mid):
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo]) if lo < candidates.size else float(sorted_limits[-1])


def clear_classes(offer_asks: list[np.ndarray], offer_capacity: list[np.ndarray], limits: np.ndarray,
                  loads: np.ndarray, work: np.ndarray, max_rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Prices for several GPU classes whose buyers may take any class they accept.

    ``limits`` and ``work`` are (orders, classes): each order's highest price on the class (-inf where
    it does not accept it) and the GPU-hours its whole job takes there (to compare costs: price x
    GPU-hours); ``loads`` (orders, classes, intervals) the GPU-hours it would use there in each interval
    of the epoch, and ``offer_capacity[c]`` (offers, intervals) what each offer has free in each.
    Each order bids on the class where its job costs least at the current prices (ties go to a class
    chosen by the order's position, so no class is favoured), with its limit there capped at the price
    at which another class would become cheaper. Prices start at each class's lowest offer and only
    rise, round by round, so they reach a fixed point (or stop after ``max_rounds``). Returns (prices
    per class, class each order bids on or -1)."""
    n, k = limits.shape
    curves = [supply_curve(a, c) for a, c in zip(offer_asks, offer_capacity, strict=True)]
    prices = np.array([float(c.asks[0]) if c.asks.size else np.inf for c in curves])
    rotation = (np.arange(k)[None, :] - np.arange(n)[:, None]) % max(k, 1)
    choice = np.full(n, -1, dtype=np.int64)
    last: list[tuple[np.ndarray, np.ndarray] | None] = [None] * k  # a class's bids when its price was last set
    for _ in range(max_rounds):
        open_ = limits >= prices[None, :]
        cost = np.multiply(prices[None, :], work, out=np.full((n, k), np.inf), where=open_)
        best = cost.min(axis=1, initial=np.inf)
        tied = np.isfinite(cost) & (cost == best[:, None])
        choice = np.where(np.isfinite(best), np.argmin(np.where(tied, rotation, k), axis=1), -1)
        new = prices.copy()
        for c in range(k):
            mine = np.flatnonzero(choice == c)
            if not mine.size:
                continue
            others = np.where(np.arange(k)[None, :] == c, np.inf, cost[mine])
            switch = others.min(axis=1) / work[mine, c]  # the price at which the next class wins
            limit = np.minimum(limits[mine, c], switch)
            seen = last[c]
            if seen is not None and np.array_equal(seen[0], mine) and np.array_equal(seen[1], limit):
                continue  # the same bids clear at the same price, which prices[c] already is or exceeds
            last[c] = (mine, limit)
            new[c] = max(prices[c], price_on(curves[c], limit, loads[mine, c, :]))
        if np.array_equal(new, prices):
            break
        prices = new
    return prices, choice
