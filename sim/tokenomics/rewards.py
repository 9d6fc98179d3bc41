"""Rewards: how an epoch's emission is split, vested, staked and forecast; exact integer splitting.

Reward rules weigh providers by work (delivered GPU-hours, proof of work), by capacity (GPU-hours offered,
idle or not: proof of capacity), or a mix. Under work-proportional rewards a provider earns by selling
to itself when the reward per GPU-hour beats its cost: the self-dealing option models that choice,
with a detection probability and a slash.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from ..base import StrictModel, default_kind


class WorkProportionalRewards(StrictModel):
    """Emission split pro rata to GPU-hours delivered to buyers (proof of work)."""

    kind: Literal["work_proportional"] = "work_proportional"

    def parts(self) -> tuple[tuple[str, float], ...]:
        """(weight basis, share of the emission) pairs."""
        return (("work", 1.0),)


class CapacityProportionalRewards(StrictModel):
    """Emission split pro rata to GPU-hours offered, busy or idle (proof of capacity)."""

    kind: Literal["capacity_proportional"] = "capacity_proportional"

    def parts(self) -> tuple[tuple[str, float], ...]:
        return (("capacity", 1.0),)


class MixedRewards(StrictModel):
    """A share of the emission by work, the rest by capacity (Render: work and availability rewards)."""

    kind: Literal["mixed"] = "mixed"
    work_share: float = Field(ge=0, le=1, description="Share of each epoch's emission split by delivered GPU-hours.")
    capacity_share: float = Field(ge=0, le=1, description="Share split by GPU-hours offered (availability).")

    @model_validator(mode="after")
    def _sums_to_one(self) -> MixedRewards:
        if abs(self.work_share + self.capacity_share - 1.0) > 1e-9:
            raise ValueError(f"work_share + capacity_share must be 1, got {self.work_share + self.capacity_share:g}")
        return self

    def parts(self) -> tuple[tuple[str, float], ...]:
        return (("work", self.work_share), ("capacity", self.capacity_share))


RewardRule = Annotated[WorkProportionalRewards | CapacityProportionalRewards | MixedRewards,
                       Field(discriminator="kind"), default_kind("work_proportional")]


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
    """Providers may buy their own idle capacity when the reward per GPU-hour beats its cost."""

    enabled: bool = Field(default=False, description="Whether providers consider self-dealing.")
    detection_probability: float = Field(
        default=0.1, ge=0, le=1, description="Chance, per epoch, that a self-dealing provider is caught.")
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


def to_base_units(amount: float, decimals: int) -> int:
    """Convert a token amount to integer base units, rounding half to even.

    The float's shortest decimal form is used (``repr``), so 0.1 tokens is exactly 10**17 base units at
    18 decimals, as a reader of the scenario expects, not the binary float's 100000000000000005.55...
    """
    scaled = Decimal(repr(float(amount))) * (Decimal(10) ** decimals)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


WEIGHT_QUANTUM = 1e3  # weights are counted in thousandths (e.g. milli-GPU-hours)


def allocate(total: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split an integer amount pro rata to float weights (e.g. GPU-hours), exactly.

    Weights are quantised to thousandths first, so the split is integer arithmetic, identical on every
    machine; see ``split_exact``.
    """
    return split_exact(total, np.rint(np.asarray(weights, dtype=float) * WEIGHT_QUANTUM).astype(np.int64))


def split_exact(total: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split an integer amount pro rata to integer weights: largest remainder, ties to the lower index.

    Returns (indices, shares) for the non-zero weights, or None when every weight is zero; the shares
    always sum to ``total``. With W the total weight and total = Q*W + R, a share is Q*w + floor(R*w/W)
    plus at most one unit of the remainder. The products stay in int64 when they fit (the common case);
    otherwise Python integers take over (18-decimal token amounts overflow int64).
    """
    idx = np.flatnonzero(weights)
    w = np.asarray(weights, dtype=np.int64)[idx]
    denominator = int(w.sum())
    if denominator <= 0:
        return None
    q, r = divmod(total, denominator)
    if denominator * int(w.max()) < 2**63:
        scaled = w * r
        extra, remainder = np.divmod(scaled, denominator)
    else:
        scaled = w.astype(object) * r
        extra, remainder = (scaled // denominator).astype(np.int64), scaled % denominator
    left = r - int(extra.sum())
    if left:
        extra[_largest(remainder, left)] += 1
    if total < 2**62:  # every share and their sum fit int64
        return idx, w * q + extra
    return idx, w.astype(object) * q + extra


def _largest(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest values, ties to the lower index: the first ``count`` of a stable
    descending sort, found with a partition (linear) instead of the sort."""
    if values.dtype == object:  # Python integers: no partition for them
        return np.argsort(-values, kind="stable")[:count]
    kth = np.partition(values, values.size - count)[values.size - count]  # the count-th largest value
    above = np.flatnonzero(values > kth)
    return np.concatenate([above, np.flatnonzero(values == kth)[:count - above.size]])


class LinearVesting:
    """Per-provider linear release of locked rewards, exact in integers.

    A tranche locked in epoch e is released evenly over the next ``epochs`` epochs. Rather than keep
    each tranche's own schedule, the release is floor((carry + window) / epochs), where window sums the
    tranches still releasing and carry holds the remainder: every tranche is released in full, never
    early, and the per-epoch cost is a few vector operations whatever the vesting length.
    """

    def __init__(self, n_providers: int, epochs: int) -> None:
        self.epochs = epochs
        self._tranches = np.zeros((epochs, n_providers), dtype=np.int64)
        self._window = np.zeros(n_providers, dtype=np.int64)
        self._carry = np.zeros(n_providers, dtype=np.int64)
        self._slot = 0

    def step(self, locked: np.ndarray) -> np.ndarray:
        """Release this epoch's share of earlier tranches, then lock ``locked``; returns the release."""
        released, self._carry = np.divmod(self._carry + self._window, self.epochs)
        self._window += locked - self._tranches[self._slot]
        self._tranches[self._slot] = locked
        self._slot = (self._slot + 1) % self.epochs
        return released


class RewardForecast:
    """Providers' adaptive estimate of the token reward they will earn, per GPU-hour sold and offered.

    Work rewards per GPU-hour fall as the network sells more hours, capacity rewards as it offers more;
    providers only see the past, so they use moving averages of what the network delivered and offered,
    and of the token price (or its latest value, for myopic providers).
    """

    def __init__(self, expectation: RewardExpectation, capacity_gpus: float) -> None:
        self._expectation = expectation
        self._delivered_per_hour = capacity_gpus * expectation.initial_utilisation
        self._offered_per_hour = capacity_gpus
        self._price: float | None = None

    def observe(self, delivered_gpu_hours: float, offered_gpu_hours: float, epoch_hours: float) -> None:
        a = self._expectation.smoothing
        self._delivered_per_hour += a * (delivered_gpu_hours / epoch_hours - self._delivered_per_hour)
        self._offered_per_hour += a * (offered_gpu_hours / epoch_hours - self._offered_per_hour)

    def expected_price(self, price_usd: float) -> float:
        """Update the price expectation with the latest price and return it."""
        if self._price is None or self._expectation.price == "myopic":
            self._price = price_usd
        else:
            self._price += self._expectation.price_smoothing * (price_usd - self._price)
        return self._price

    def rewards_usd(self, tokens_per_hour: float, rule: RewardRule, price_usd: float) -> tuple[float, float]:
        """Expected (work reward per GPU-hour sold, capacity reward per GPU-hour offered), USD."""
        shares = dict(rule.parts())
        usd_per_hour = max(tokens_per_hour, 0.0) * price_usd
        work = usd_per_hour * shares.get("work", 0.0) / max(self._delivered_per_hour, 1e-9)
        capacity = usd_per_hour * shares.get("capacity", 0.0) / max(self._offered_per_hour, 1e-9)
        return work, capacity
