"""The sell side at epoch boundaries: nodes joining and leaving, and the asks they post.

Entry and exit follow ``ProviderDynamics`` (a node leaves after K epochs of negative cash margin; an
entrant joins when its expected return beats a hurdle rate, after a lead time); every active node posts
its ask policy's price given the rewards the token economy leads it to expect.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
from numba import njit

from ..book import PostedPriceBook
from ..clearing import clear_classes, merit_orders, merit_rank
from ..dynamics import ProviderDynamics
from ..economy import TokenEconomy
from ..fleet import Fleet
from ..jobs import EpochOrders, JobBatch
from ..schema.market import MarketMechanism
from ..scratch import Scratch
from ..units import MICRO
from .demand import Demand
from .phases import Epoch, EpochPhase
from .reliability import Reliability
from .state import RunState


class Supply(EpochPhase):
    """Nodes that start working open the epoch; nodes whose cash margin stayed negative leave at its close."""

    def __init__(self, fleet: Fleet, book: PostedPriceBook, dynamics: ProviderDynamics, economy: TokenEconomy,
                 reliability: Reliability) -> None:
        self.fleet, self.book, self.dynamics, self.economy = fleet, book, dynamics, economy
        self.reliability = reliability

    def open_epoch(self, epoch: Epoch) -> None:
        arriving = self.dynamics.arriving(epoch.k)
        for p in arriving.tolist():
            self.book.activate(p)
            self.reliability.schedule_failure(p, epoch.t0)
        self.economy.buy_stakes(arriving)
        epoch.arriving = arriving

    def close_epoch(self, epoch: Epoch) -> None:
        """Cash margin: revenue earned in the epoch (booked as the hours are sold, net of fee and burn, not
        when a long job pays at its end) and rewards, less power while busy (self-dealt hours too), the
        fee and burn self-dealers pay on their own payments, and other opex while offered (sunk capex
        does not count)."""
        flows, fleet = epoch.flows, self.fleet
        assert flows is not None
        price = flows.network["realisable_token_price_usd"]  # what the node's rewards can fetch, its sales included
        kept = self.economy.kept_share
        cash = (epoch.revenue_micro_usd / MICRO * kept + flows.reward_tokens * price
                - flows.self_dealing_paid_usd * (1.0 - kept)
                - (epoch.gpu_hours + flows.self_dealt_gpu_hours) * fleet.marginal_usd_per_gpu_hour
                - epoch.offered_gpu_hours * fleet.other_opex_usd_per_gpu_hour)
        leaving = self.dynamics.leaving(epoch.k, epoch.t1, cash)
        for q in leaving.tolist():
            self.book.deactivate(q)
        if leaving.size:
            self.economy.release_stakes(leaving)
        epoch.leaving = leaving


class Pricing(EpochPhase):
    """Every active node sets its offer for the epoch from its ask policy; under a clearing market the
    epoch's uniform price per class is then cleared from the epoch's orders, and nodes at or below it
    post it. The same is done with no token reward at all, for the epoch table's price without subsidy
    (same orders, same nodes: the static counterfactual; ``Scenario.counterfactual`` runs the dynamic one)."""

    def __init__(self, fleet: Fleet, book: PostedPriceBook, dynamics: ProviderDynamics, economy: TokenEconomy,
                 market: MarketMechanism, jobs: JobBatch, demand: Demand, state: RunState,
                 ceiling_usd: np.ndarray, helper: Executor) -> None:
        """``ceiling_usd``: per epoch and GPU class, the buyers' outside option (USD per GPU-hour); ``helper``:
        where the epoch's second, independent share of the clearing's work runs."""
        self.fleet, self.book, self.dynamics, self.economy = fleet, book, dynamics, economy
        self.market, self.jobs, self.demand, self.state = market, jobs, demand, state
        self._ceilings = np.asarray(ceiling_usd)
        self._previous = np.full(fleet.size, -1, dtype=np.int64)
        self._previous_bare = self._previous.copy()
        self._utilisation = np.full(fleet.size, np.nan)
        self._class_nodes = [np.flatnonzero(fleet.gpu_class == c) for c in range(len(fleet.classes))]
        self._position = np.zeros(fleet.size, dtype=np.int64)  # each node's index among its class's
        for ids in self._class_nodes:
            self._position[ids] = np.arange(ids.size)
        self._rank = [ids[:0] for ids in self._class_nodes]  # per class, its nodes' merit order last epoch
        self._rank_bare = list(self._rank)
        self._scratch = Scratch()
        self._helper = helper

    def open_epoch(self, epoch: Epoch) -> None:
        fleet, economy, active = self.fleet, self.economy, self.dynamics.active
        if self.market.clears:
            # the buy side, the asks and free capacity, and the two clearings are independent: the second
            # thread takes one of each pair (compiled kernels release the GIL); results are as if run alone
            edges = np.append(np.arange(epoch.t0, epoch.t1, self.market.interval_hours), epoch.t1)
            buy_side = self._helper.submit(self.jobs.epoch_orders, edges, self.demand.routing.keep,
                                           list(self.state.waiting), self._scratch)
        hours = epoch.t1 - epoch.t0
        ceiling = self._ceilings[epoch.k][fleet.gpu_class]
        per_work, capacity = economy.open_epoch(epoch.k, float(fleet.gpus[active].sum()))
        work = per_work * economy.node_work_rate
        epoch.dealers, dealing = economy.self_dealing(work, np.maximum(self._previous, 0), self._utilisation,
                                                      active, hours)
        kept, none = economy.kept_share, np.zeros(fleet.size)
        offers = fleet.asks_micro_usd(work, capacity, dealing, kept, ceiling, self._previous, self._utilisation)
        bare = fleet.asks_micro_usd(none, 0.0, none, kept, ceiling, self._previous_bare, self._utilisation)
        if self.market.clears:
            d, shape = self.state.departures.arrays, (fleet.size, edges.size - 1)
            free, selling = self._scratch.get("free", shape), np.empty(fleet.size, dtype=np.bool_)
            _free_gpu_hours(d.end, d.provider, d.gpus, int(d.size[0]), fleet.gpus, self.state.down, active, edges,
                            free, selling)
            orders = buy_side.result()
            unsubsidised = self._helper.submit(self._clear, bare, free, selling, orders, self._rank_bare,
                                               "cumulative_bare")
            prices, offers = self._clear(offers, free, selling, orders, self._rank, "cumulative")
            bare = unsubsidised.result()[1]
            epoch.clearing_prices_usd = prices / MICRO
        self.book.post(offers)
        self._previous, self._previous_bare = offers, bare
        epoch.work_reward_usd, epoch.capacity_reward_usd = per_work, capacity
        epoch.asks_micro_usd, epoch.unsubsidised_asks_micro_usd = offers, bare
        epoch.median_asks_usd = [self.book.median_ask(c) / MICRO for c in range(len(fleet.classes))]

    def close_epoch(self, epoch: Epoch) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            self._utilisation = np.where(epoch.offered_gpu_hours > 0, epoch.gpu_hours / epoch.offered_gpu_hours,
                                         np.nan)

    def _clear(self, offers: np.ndarray, free: np.ndarray, selling: np.ndarray, orders: EpochOrders,
               rank: list[np.ndarray], scratch_name: str) -> tuple[np.ndarray, np.ndarray]:
        """Uniform prices per class (micro-USD) and the asks nodes post: the price where their offer is at
        or below it (rounded down to the micro-dollar, so the marginal buyers, whose limit the price may
        be, can buy at it), their own offer otherwise. ``free``: (nodes, intervals) GPU-hours; ``selling``:
        the nodes with any; ``rank``: per class, the merit order of these offers' last epoch, updated."""
        cls, asks = self.fleet.gpu_class, offers.astype(float)
        for c, ids in enumerate(self._class_nodes):
            rank[c] = merit_rank(asks, ids, rank[c], self._position)
        nodes = [order[selling[order]] for order in rank]
        prices, _ = clear_classes(merit_orders(asks, free, nodes, self._scratch, scratch_name),
                                  orders.limit_usd_per_gpu_hour * MICRO,
                                  orders.interval_gpu_hours, orders.run_gpu_hours, self.market.max_rounds)
        price = prices[cls]
        posted = np.where(np.isfinite(price) & (offers <= price), np.floor(np.where(np.isfinite(price), price, 0)),
                          offers).astype(np.int64)
        return prices, posted


class Entries(EpochPhase):
    """After an epoch is recorded, entrants decide on its economics (they join after their lead time): the
    demand they see is the GPU-hours sold plus those of the buyers the full network turned away."""

    def __init__(self, dynamics: ProviderDynamics, economy: TokenEconomy, state: RunState,
                 stake_tokens_per_gpu: float) -> None:
        self.dynamics, self.economy, self.state, self._stake = dynamics, economy, state, stake_tokens_per_gpu

    def close_epoch(self, epoch: Epoch) -> None:
        lost = np.zeros(len(self.dynamics.fleet.classes))
        for c, hours in self.state.turned_away:
            lost[c] += hours
        self.state.turned_away.clear()
        if epoch.final:
            return
        expected_price = self.economy.expected_price_usd
        e = epoch.economics
        self.dynamics.plan_entries(epoch.k, epoch.t1, e["gpu_hours_sold"] + lost, e["net_price_usd"],
                                   e["reward_tokens"] * expected_price, self._stake * expected_price)


@njit(cache=True, nogil=True)
def _free_gpu_hours(end: np.ndarray, provider: np.ndarray, gpus: np.ndarray, n: int, node_gpus: np.ndarray,
                    down: np.ndarray, active: np.ndarray, edges: np.ndarray, free: np.ndarray,
                    selling: np.ndarray) -> None:
    """``free`` (nodes, intervals): GPU-hours each active node has in each interval between ``edges``
    beyond those its running allocations (the departure heap's first ``n``) hold; a failed node has
    none. ``selling``: the nodes with any. Most allocations outlast the epoch and hold their GPUs in
    every interval: those are counted once per node (``through``), and only the allocations ending
    within the epoch are spread over its intervals, allocation by allocation in heap order."""
    nodes, b = node_gpus.size, edges.size - 1
    last = edges[b]
    through = np.zeros(nodes)  # GPUs held past the epoch's end
    free[:] = 0.0  # the hours held by allocations ending within the epoch, until each row is turned into free hours
    for i in range(n):
        e, p, g = end[i], provider[i], gpus[i]
        if e >= last:
            through[p] += g
            continue
        for k in range(b):
            lo, hi = edges[k], edges[k + 1]
            if e <= lo:
                break  # edges ascend: no later interval overlaps either
            free[p, k] += g * (min(e, hi) - lo)  # > 0, as e > lo
    for p in range(nodes):
        selling[p] = False
        if down[p] or not active[p]:
            free[p, :] = 0.0
            continue
        for k in range(b):
            width = edges[k + 1] - edges[k]
            free[p, k] = max((node_gpus[p] - through[p]) * width - free[p, k], 0.0)
        for k in range(b):
            if free[p, k] > 0:
                selling[p] = True
                break
