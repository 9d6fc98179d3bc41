"""What of a run's settlement goes through per-job contracts (the ``chain`` section of a scenario)."""

from __future__ import annotations

from pydantic import Field

from .core import StrictModel


class ChainSettings(StrictModel):
    """Settlement choices that exist for the smart-contract hooks, booked off-chain the same way, so a
    run's results never depend on whether a chain is on."""

    escrow_sample_share: float = Field(
        default=0.0, ge=0, le=1,
        description="Share of jobs (each drawn at random, from the scenario's seed) whose leases each lock their "
        "price in the Marketplace contract when they start (open_lease) and are paid from it when they end "
        "(close_lease): in full, or, when a failure or the horizon cuts the lease short, pro rata to the hours "
        "run in whole parts per million of its price, the rest refunded; the protocol fee and burn share are "
        "rounded down per lease. The other leases settle from the pooled escrow every epoch. An audit sample "
        "of the escrow logic: on a chain each sampled lease costs two transactions. Needs a market whose "
        "leases are paid from escrow (reverse_auction); leases at a zero price lock nothing and stay pooled.")
