"""Market mechanisms: how a buyer's order meets providers' asks, and how a lease is paid.

The sell side is the same for every mechanism (providers' asks are their bids); members differ in
timing (how long an order waits before it is matched) and settlement (when and how a lease pays).
"""

from __future__ import annotations

from typing import ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field

from .core import Mechanism, Registry, examples


class LeasePayments(NamedTuple):
    """An epoch's payments for a set of allocations (micro-USD)."""

    amounts: np.ndarray
    """What each allocation pays this epoch (whole micro-dollars, as float64)."""
    deposits: int
    """Paid into escrow this epoch by allocations that started in it."""
    refunds: int
    """Paid back from escrow at the horizon for leases still running."""


class MarketMechanism(Mechanism):
    """What every mechanism tells the model: its fee, its spot discount, how long an order waits before
    it is matched, and how a lease is paid."""

    registry: ClassVar[Registry] = Registry("market mechanism", default="posted_price")
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
    def clears(self) -> bool:
        """Whether each epoch opens with a uniform price per GPU class, cleared from the epoch's orders
        (otherwise every node posts its own ask)."""
        return False

    @property
    def escrow(self) -> bool:
        """Whether buyers deposit a lease's price up front and the lease pays out of it every epoch
        (otherwise a job pays once, when it ends)."""
        return False

    def lease_payments(self, cost_per_hour: np.ndarray, hours: np.ndarray, start: np.ndarray, done: np.ndarray,
                       new: np.ndarray, t0: float, t1: float, final: bool) -> LeasePayments:
        """What allocations pay in the epoch [t0, t1): ``cost_per_hour`` (micro-USD, ask x GPUs), planned
        ``hours`` and ``start`` per allocation; ``done``: it ended by t1; ``new``: it started in this epoch;
        ``final``: the horizon. An allocation pays its price rounded to the micro-dollar once it has ended
        (or, at the horizon, for the hours it delivered). Default: in one payment, at that point."""
        amounts = np.where(done | final, _total(cost_per_hour, hours, start, done, t1), 0.0)
        return LeasePayments(amounts, 0, 0)

    def refund_on_cut(self, cost_per_hour: int, planned_hours: float, ran_hours: float) -> int:
        """Money owed back to the buyer of a lease from an earlier epoch that a failure cut short."""
        return 0


def _total(cost_per_hour: np.ndarray, hours: np.ndarray, start: np.ndarray, done: np.ndarray,
           t1: float) -> np.ndarray:
    """Each allocation's bill by t1 if it settled then: its hours once ended, else the hours run so far."""
    return np.floor(cost_per_hour * np.where(done, hours, t1 - start) + 0.5)


class PostedPriceMarket(MarketMechanism):
    """Providers post asks; a buyer takes the cheapest free capacity whose ask fits its limit at once."""

    model_config = examples({"kind": "posted_price", "protocol_fee_share": 0.05})
    kind: Literal["posted_price"] = "posted_price"


class ReverseAuctionMarket(MarketMechanism):
    """Akash-like: a buyer posts an order with its maximum price, providers with free capacity bid during a
    window, the lowest bid wins and is paid as bid; the lease is paid per epoch from the buyer's escrow,
    the protocol keeps its take rate. Providers bid their ask policy's price (pay-as-bid: the markup of
    the ask policy is the bid shading)."""

    model_config = examples({"kind": "reverse_auction", "bid_window_minutes": 5, "protocol_fee_share": 0.2})
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

    def lease_payments(self, cost_per_hour: np.ndarray, hours: np.ndarray, start: np.ndarray, done: np.ndarray,
                       new: np.ndarray, t0: float, t1: float, final: bool) -> LeasePayments:
        """A new lease deposits its price as known when it starts; before it ends it has paid for its hours
        so far, rounded down so the instalments never pass the rounded total; at the horizon running leases
        get the rest of their deposit back."""
        total = _total(cost_per_hour, hours, start, done, t1)
        paid_by_t1 = np.where(done | final, total, np.floor(cost_per_hour * (t1 - start)))
        amounts = paid_by_t1 - np.floor(cost_per_hour * np.clip(t0 - start, 0.0, None))
        price = np.floor(cost_per_hour * hours + 0.5)
        deposits = int(price[new].sum())
        refunds = int((price - total)[~done].sum()) if final else 0
        return LeasePayments(amounts, deposits, refunds)

    def refund_on_cut(self, cost_per_hour: int, planned_hours: float, ran_hours: float) -> int:
        """The deposit covered the planned hours: the hours not run come back."""
        return int(np.floor(cost_per_hour * planned_hours + 0.5) - np.floor(cost_per_hour * ran_hours + 0.5))


class UniformClearingMarket(MarketMechanism):
    """A day-ahead call market: at each epoch's open, per GPU class, one uniform price where the
    providers' offers (their ask policy's asks, in merit order, up to the GPU-hours they have free in
    the epoch) meet the buyers' demand (the epoch's orders and the jobs still waiting, each with the
    GPU-hours it would use in the epoch and its limit: its budget or its quality-adjusted AWS
    alternative, whichever is lower). Buyers who accept several classes bid where their job costs
    least (``sim.clearing``).

    Every node whose offer is at or below its class's price posts that price; the others post their
    own offers. The balance is struck in every interval of the epoch (``interval_hours``) with each
    order placed where it would run if started on arrival, and the epoch's price is the one that
    clears the busiest interval, so the price rises with peak scarcity, not the daily average. During
    the epoch buyers arrive and take the cheapest free capacity within their limit; the price only
    changes at the next epoch (the granularity: one price per epoch and class, struck ahead on the
    epoch's known orders, not on the queue at each instant). Leases pay as in the posted-price market,
    once, when they end.

    The buyers' orders are known at the epoch's open (a day-ahead market's bids); the waiting jobs'
    loads count from the open.
    """

    model_config = examples({"kind": "uniform_clearing", "protocol_fee_share": 0.05})
    kind: Literal["uniform_clearing"] = "uniform_clearing"
    interval_hours: float = Field(
        default=1.0, gt=0,
        description="Supply and demand are balanced in every interval of this many hours within the epoch, "
        "and the epoch's price is the one that clears the busiest interval: a buyer whose limit exceeds "
        "the price then finds capacity at any hour, not just on the epoch's average (1 h: hourly peaks).")
    max_rounds: int = Field(
        default=20, ge=1,
        description="Most rounds of price adjustment across GPU classes per epoch (each round, buyers that "
        "accept several classes move to the cheapest; prices only rise, so they settle well before).")

    @property
    def clears(self) -> bool:
        return True


Market = MarketMechanism.registry.union()
