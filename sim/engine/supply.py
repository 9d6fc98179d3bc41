"""The sell side at epoch boundaries: nodes joining and leaving, and the asks they post.

Entry and exit follow ``ProviderDynamics`` (a node leaves after K epochs of negative cash margin; an
entrant joins when its expected return beats a hurdle rate, after a lead time); every active node posts
its ask policy's price given the rewards the token economy leads it to expect.
"""

from __future__ import annotations

import numpy as np

from ..book import PostedPriceBook
from ..dynamics import ProviderDynamics
from ..economy import TokenEconomy
from ..fleet import Fleet
from ..units import MICRO
from .phases import Epoch, EpochPhase
from .reliability import Reliability


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
            self.reliability.schedule_failure(p)
        self.economy.buy_stakes(arriving)
        epoch.arriving = arriving

    def close_epoch(self, epoch: Epoch) -> None:
        """Cash margin: USD and rewards received, less power while busy and other opex while offered (sunk
        capex does not count)."""
        flows, fleet = epoch.flows, self.fleet
        assert flows is not None
        price = flows.network["token_price_usd"]
        cash = (flows.usd_received + flows.reward_tokens * price - flows.self_dealing_paid_usd
                - epoch.gpu_hours * fleet.marginal_usd_per_gpu_hour
                - epoch.offered_gpu_hours * fleet.other_opex_usd_per_gpu_hour)
        leaving = self.dynamics.leaving(cash)
        for q in leaving.tolist():
            self.book.deactivate(q)
        if leaving.size:
            self.economy.release_stakes(leaving)
        epoch.leaving = leaving


class Pricing(EpochPhase):
    """Every active node posts its ask for the epoch, given the rewards it expects."""

    def __init__(self, fleet: Fleet, book: PostedPriceBook, dynamics: ProviderDynamics,
                 economy: TokenEconomy) -> None:
        self.fleet, self.book, self.dynamics, self.economy = fleet, book, dynamics, economy

    def open_epoch(self, epoch: Epoch) -> None:
        active = self.dynamics.active
        work, capacity = self.economy.open_epoch(epoch.k, float(self.fleet.gpus[active].sum()))
        asks = self.fleet.asks_micro_usd(work, capacity)
        self.book.post(asks)
        epoch.work_reward_usd, epoch.capacity_reward_usd, epoch.asks_micro_usd = work, capacity, asks
        epoch.dealers = self.economy.self_dealers(work, asks, active)
        epoch.median_asks_usd = [self.book.median_ask(c) / MICRO for c in range(len(self.fleet.classes))]


class Entries(EpochPhase):
    """After an epoch is recorded, entrants decide on its economics (they join after their lead time)."""

    def __init__(self, dynamics: ProviderDynamics, economy: TokenEconomy, stake_tokens_per_gpu: float) -> None:
        self.dynamics, self.economy, self._stake = dynamics, economy, stake_tokens_per_gpu

    def close_epoch(self, epoch: Epoch) -> None:
        if epoch.final:
            return
        expected_price = self.economy.expected_price_usd
        e = epoch.economics
        with np.errstate(over="ignore"):  # rewards on a class with no hours offered: unbounded, inf
            reward_usd = e["reward_tokens_per_offered_hour"] * expected_price
        self.dynamics.plan_entries(epoch.k, e["utilisation"], e["net_price_usd"], reward_usd,
                                   self._stake * expected_price)
