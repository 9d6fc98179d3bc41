"""Token side: emission schedules, token price models, reward rules and providers' reward forecast.

Emission schedules are closed-form cumulative functions M(t) of time, vectorised over a grid of times:
an epoch's emission is M(t_end) - M(t_start) converted to integer base units, so the emitted total over
any horizon equals the schedule's M(T) exactly, whatever the epoch length.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

import numpy as np
from pydantic import Field
from scipy import stats

from .base import StrictModel

HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 8760.0


class ConstantEmission(StrictModel):
    """The same number of new tokens every day: cumulative minted M(t) = rate x t."""

    kind: Literal["constant"] = "constant"
    tokens_per_day: float = Field(ge=0, description="Tokens minted per day for rewards.")

    def cumulative_tokens(self, t_hours: np.ndarray) -> np.ndarray:
        """Tokens minted by time t (hours since start)."""
        return self.tokens_per_day * np.asarray(t_hours, dtype=float) / HOURS_PER_DAY


Emission = Annotated[ConstantEmission, Field(discriminator="kind")]


class ConstantTokenPrice(StrictModel):
    """A fixed token price: isolates the market from token volatility."""

    kind: Literal["constant"] = "constant"
    usd: float = Field(gt=0, description="Token price, USD.")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Price at each time of the grid, USD."""
        return np.full(len(t_hours), self.usd)


class GbmTokenPrice(StrictModel):
    """Geometric Brownian motion sampled at epoch boundaries from its own seeded stream."""

    kind: Literal["gbm"] = "gbm"
    initial_usd: float = Field(gt=0, description="Price at t = 0, USD.")
    drift_per_year: float = Field(default=0.0, description="Drift mu of the price per year (expected growth rate).")
    volatility_per_year: float = Field(default=0.8, ge=0, description="Volatility sigma per sqrt(year).")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exact GBM on the grid (t_hours[0] must be 0): log-increments are normal with the GBM moments."""
        dt = np.diff(np.asarray(t_hours, dtype=float)) / HOURS_PER_YEAR
        z = stats.norm.rvs(size=len(dt), random_state=rng)
        sigma = self.volatility_per_year
        steps = (self.drift_per_year - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * z
        return self.initial_usd * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


TokenPrice = Annotated[ConstantTokenPrice | GbmTokenPrice, Field(discriminator="kind")]


class WorkProportionalRewards(StrictModel):
    """Each epoch's emission is split pro rata to the GPU-hours each provider delivered."""

    kind: Literal["work_proportional"] = "work_proportional"

    def weights(self, delivered_gpu_hours: np.ndarray) -> np.ndarray:
        """Reward weight of each provider for the epoch."""
        return delivered_gpu_hours


RewardRule = Annotated[WorkProportionalRewards, Field(discriminator="kind")]


class RewardExpectation(StrictModel):
    """How providers forecast the reward per GPU-hour they fold into their asks."""

    smoothing: float = Field(
        default=0.5, gt=0, le=1,
        description="Weight of the last epoch in the moving average of network GPU-hours served per "
        "hour (1 = last epoch only).",
    )
    initial_utilisation: float = Field(
        default=0.5, gt=0, le=1,
        description="Network utilisation providers assume before the first epoch has been observed.",
    )


class Tokenomics(StrictModel):
    token_symbol: str = Field(default="GPU", min_length=1, description="Ticker used in outputs.")
    decimals: int = Field(default=18, ge=0, le=18, description="Base units per token = 10**decimals.")
    initial_supply_tokens: float = Field(default=0.0, ge=0, description="Tokens held by the treasury at t = 0.")
    emission: Emission = Field(default_factory=lambda: ConstantEmission(tokens_per_day=0.0),
                               description="Emission schedule (kind: constant).")
    token_price: TokenPrice = Field(default_factory=lambda: ConstantTokenPrice(usd=1.0),
                                    description="Token price model (kind: constant or gbm).")
    reward_rule: RewardRule = Field(default_factory=WorkProportionalRewards,
                                    description="How emissions are split among providers.")
    reward_expectation: RewardExpectation = Field(default_factory=RewardExpectation,
                                                  description="Providers' forecast of rewards.")


def to_base_units(amount: float, decimals: int) -> int:
    """Convert a token amount to integer base units, rounding half to even.

    The float's shortest decimal form is used (``repr``), so 0.1 tokens is exactly 10**17 base units at
    18 decimals, as a reader of the scenario expects, not the binary float's 100000000000000005.55...
    """
    scaled = Decimal(repr(float(amount))) * (Decimal(10) ** decimals)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


WEIGHT_QUANTUM = 1e3  # weights are counted in thousandths (e.g. milli-GPU-hours)


def allocate(total: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split an integer amount pro rata to weights, exactly (largest remainder, ties to lower index).

    Returns (indices, shares) for the entries with a non-zero share of weight, or None when every
    weight is zero. Weights are quantised to thousandths so the split is integer arithmetic, identical
    on every machine, and the shares always sum to ``total``. With W the quantised total and
    total = Q*W + R, a share is Q*w + floor(R*w/W) plus at most one unit of the remainder: only Q*w
    needs Python integers (18-decimal token amounts overflow int64); the rest stays in int64.
    """
    w = np.rint(np.asarray(weights, dtype=float) * WEIGHT_QUANTUM).astype(np.int64)
    idx = np.flatnonzero(w)
    w = w[idx]
    denominator = int(w.sum())
    if denominator <= 0:
        return None
    if denominator * int(w.max()) >= 2**63:
        raise OverflowError("reward weights too large to split exactly in int64")
    q, r = divmod(total, denominator)
    scaled = w * r  # < denominator * max(w): fits, checked above
    extra = scaled // denominator
    left = r - int(extra.sum())
    if left:
        extra[np.argsort(-(scaled % denominator), kind="stable")[:left]] += 1
    if total < 2**62:  # every share and their sum fit int64
        return idx, w * q + extra
    return idx, w.astype(object) * q + extra


class RewardForecast:
    """Providers' adaptive estimate of network GPU-hours per hour, for the reward they expect per GPU-hour.

    Work-proportional rewards per GPU-hour fall as the network sells more hours; providers only see the
    past, so they use a moving average of what the network delivered.
    """

    def __init__(self, expectation: RewardExpectation, capacity_gpus: float) -> None:
        self._smoothing = expectation.smoothing
        self._gpu_hours_per_hour = capacity_gpus * expectation.initial_utilisation

    def observe(self, delivered_gpu_hours: float, epoch_hours: float) -> None:
        rate = delivered_gpu_hours / epoch_hours
        self._gpu_hours_per_hour += self._smoothing * (rate - self._gpu_hours_per_hour)

    def reward_usd_per_gpu_hour(self, tokens_per_hour: float, token_price_usd: float) -> float:
        if tokens_per_hour <= 0:
            return 0.0
        return tokens_per_hour * token_price_usd / max(self._gpu_hours_per_hour, 1e-9)
