"""Rewards: how an epoch's emission is split, vested and staked, and how providers forecast it.

Reward rules weigh providers by work (delivered GPU-hours, proof of work), by capacity (GPU-hours offered,
idle or not: proof of capacity), or a mix. Under work-proportional rewards a provider earns by selling
to itself when the reward per GPU-hour beats its cost: the self-dealing option models that choice,
with a detection probability and a slash.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .core import Mechanism, Registry, StrictModel, examples


class RewardRule(Mechanism):
    """How an epoch's emission is split among providers."""

    registry: ClassVar[Registry] = Registry("reward rule", default="work_proportional")

    def parts(self) -> tuple[tuple[str, float], ...]:
        """(weight basis, share of the emission) pairs; a basis is "work" (delivered to buyers, see
        ``work_by_throughput``) or "capacity" (GPU-hours offered)."""
        raise NotImplementedError

    def work_by_throughput(self) -> bool:
        """Whether work counts delivered work (GPU-hours x the GPU's throughput for the job, relative to
        the reference GPU) rather than plain GPU-hours."""
        return False

    def power_multiplier(self) -> float:
        """How many times a unit-hour of verified data counts in quality-adjusted power (1: no such power)."""
        return 1.0


WORK_MEASURE_DESCRIPTION = (
    "What a unit of work is: delivered_work (GPU-hours x the GPU's throughput for the job, relative to the "
    "reference GPU, so the same work earns the same reward on any class) or gpu_hours (every GPU-hour "
    "alike, so a slow GPU earns as much per hour as a fast one).")


class WorkProportionalRewards(RewardRule):
    """Emission split pro rata to work delivered to buyers (proof of work)."""

    kind: Literal["work_proportional"] = "work_proportional"
    work_measure: Literal["delivered_work", "gpu_hours"] = Field(default="delivered_work",
                                                                 description=WORK_MEASURE_DESCRIPTION)

    def work_by_throughput(self) -> bool:
        return self.work_measure == "delivered_work"

    def parts(self) -> tuple[tuple[str, float], ...]:
        return (("work", 1.0),)


class CapacityProportionalRewards(RewardRule):
    """Emission split pro rata to GPU-hours offered, busy or idle (proof of capacity)."""

    kind: Literal["capacity_proportional"] = "capacity_proportional"

    def parts(self) -> tuple[tuple[str, float], ...]:
        return (("capacity", 1.0),)


class QualityAdjustedPowerRewards(RewardRule):
    """Filecoin's block rewards: the emission split pro rata to quality-adjusted power, where committed
    capacity counts once and verified (FIL+) client data ``verified_multiplier`` times (docs.filecoin.io:
    10x). Power is capacity offered, so an idle sealed TiB earns as a busy one; a verified deal adds
    (multiplier - 1) x the reward of a TiB-hour, which is what providers compete for with their prices.
    Providers price a sale at the reward it adds on average: (multiplier - 1) x the verified share of the
    work the network delivered (smoothed, 1 before the first epoch if any stream is verified). With
    self-dealing enabled, a self-dealer's idle hours count as verified data it stores for itself (the FIL+
    abuse notaries police; their audits are the detection probability)."""

    model_config = examples({"kind": "quality_adjusted_power", "verified_multiplier": 10})
    kind: Literal["quality_adjusted_power"] = "quality_adjusted_power"
    verified_multiplier: float = Field(
        default=10.0, ge=1, description="Weight of a verified TiB in power against committed capacity (Filecoin "
        "Plus: 10, docs.filecoin.io); at least 1.")

    def parts(self) -> tuple[tuple[str, float], ...]:
        return (("qa_power", 1.0),)

    def power_multiplier(self) -> float:
        return self.verified_multiplier


class MixedRewards(RewardRule):
    """A share of the emission by work, the rest by capacity (Render: work and availability rewards)."""

    model_config = examples({"kind": "mixed", "work_share": 0.3, "capacity_share": 0.7})
    kind: Literal["mixed"] = "mixed"
    work_share: float = Field(ge=0, le=1, description="Share of each epoch's emission split by delivered work.")
    capacity_share: float = Field(ge=0, le=1, description="Share split by GPU-hours offered (availability).")
    work_measure: Literal["delivered_work", "gpu_hours"] = Field(default="delivered_work",
                                                                 description=WORK_MEASURE_DESCRIPTION)

    def work_by_throughput(self) -> bool:
        return self.work_measure == "delivered_work"

    @model_validator(mode="after")
    def _sums_to_one(self) -> MixedRewards:
        if abs(self.work_share + self.capacity_share - 1.0) > 1e-9:
            raise ValueError(f"work_share + capacity_share must be 1, got {self.work_share + self.capacity_share:g}")
        return self

    def parts(self) -> tuple[tuple[str, float], ...]:
        return (("work", self.work_share), ("capacity", self.capacity_share))


RewardRuleUnion = RewardRule.registry.union()


class Vesting(StrictModel):
    """A share of every reward is locked and released linearly (Filecoin: 75% over 180 days)."""

    locked_share: float = Field(default=0.0, ge=0, le=1,
        description="Share of each reward locked at payout (0 = none).")
    linear_days: float = Field(default=180.0, gt=0,
        description="Days over which a locked reward is released, linearly.")


class Staking(StrictModel):
    """Providers post a stake when they join; a failure slashes part of it (burned)."""

    tokens_per_gpu: float = Field(default=0.0, ge=0,
        description="Stake per GPU, tokens, bought when a node joins (0 = none).")
    slash_share_on_failure: float = Field(
        default=0.0, ge=0, le=1, description="Share of a node's stake burned when it fails (failures at its MTBF).")


class SelfDealing(StrictModel):
    """Providers may buy their own idle capacity to earn work rewards on it.

    A node self-deals in an epoch only if it expects it to pay: the reward on its idle GPU-hours, less
    their power and the fee and burn on its own payment, less the detection probability times what a
    caught dealer loses (the whole epoch's reward, real sales included, and the slashed share of its
    stake). Self-dealt hours burn power like any other (charged in its cash margin and energy).
    """

    enabled: bool = Field(default=False, description="Whether providers consider self-dealing.")
    detection_probability: float = Field(
        default=0.1, ge=0, le=1,
        description="Chance, per epoch, that a self-dealing provider is caught (it then forfeits the epoch's reward).")
    slash_share: float = Field(default=0.5, ge=0, le=1, description="Share of a caught provider's stake burned.")


class RewardExpectation(StrictModel):
    """How providers forecast the reward per GPU-hour they fold into their asks and entry decisions."""

    smoothing: float = Field(
        default=0.5, gt=0, le=1,
        description="Weight of the last epoch in the moving average of network GPU-hours served per "
        "hour (1 = last epoch only).",
    )
    initial_utilisation: float = Field(
        default=0.5, gt=0, le=1,
        description="Network utilisation providers assume before the first epoch has been observed.",
    )
    price: Literal["myopic", "adaptive"] = Field(
        default="myopic", description="Token price expectation: the current price, or a moving average of it.")
    price_smoothing: float = Field(
        default=0.2, gt=0, le=1, description="Weight of the latest price in the adaptive expectation.")


