"""Token economics: emission schedules, reward rules, vesting, staking, token price and its market."""

from __future__ import annotations

from pydantic import Field, model_validator

from ..base import StrictModel
from .emission import (
    AkashEmission,
    BurnAndMintEmission,
    ConstantEmission,
    Emission,
    EmissionState,
    ExponentialDecayEmission,
    FilecoinEmission,
    HalvingEmission,
    IoNetEmission,
)
from .price import AmmTokenPrice, ConstantTokenPrice, CsvTokenPrice, GbmTokenPrice, TokenMarket, TokenPrice
from .rewards import (
    CapacityProportionalRewards,
    LinearVesting,
    MixedRewards,
    RewardExpectation,
    RewardForecast,
    RewardRule,
    SelfDealing,
    Staking,
    Vesting,
    WorkProportionalRewards,
    allocate,
    to_base_units,
)


class Tokenomics(StrictModel):
    """The token: its supply, how it is emitted and split, and how its price moves."""

    token_symbol: str = Field(default="GPU", min_length=1, description="Ticker used in outputs.")
    decimals: int = Field(default=18, ge=0, le=18, description="Base units per token = 10**decimals.")
    initial_supply_tokens: float = Field(
        default=0.0, ge=0, description="Tokens in circulation at t = 0, held outside the network (and the AMM pool).")
    emission: Emission = Field(
        default_factory=lambda: ConstantEmission(tokens_per_day=0.0),
        description="Emission schedule (kind: constant, exponential_decay, halving, ionet, filecoin, "
                    "burn_and_mint or akash).")
    token_price: TokenPrice = Field(
        default_factory=lambda: ConstantTokenPrice(usd=1.0),
        description="Token price model (kind: constant, gbm, csv, or amm for an endogenous pool).")
    reward_rule: RewardRule = Field(
        default_factory=WorkProportionalRewards,
        description="How emissions are split among providers (kind: work_proportional, capacity_proportional, mixed).")
    reward_expectation: RewardExpectation = Field(
        default_factory=RewardExpectation, description="Providers' forecast of rewards and the token price.")
    provider_sell_share: float = Field(
        default=0.0, ge=0, le=1, description="Share of the tokens providers receive each epoch that they sell at once.")
    vesting: Vesting = Field(default_factory=Vesting, description="Locking of rewards.")
    staking: Staking = Field(default_factory=Staking, description="Provider stake and slashing.")
    self_dealing: SelfDealing = Field(default_factory=SelfDealing, description="Wash trading for rewards.")

    @model_validator(mode="after")
    def _consistent(self) -> Tokenomics:
        if isinstance(self.emission, AkashEmission) and self.initial_supply_tokens <= 0:
            raise ValueError("akash emission inflates the supply: initial_supply_tokens must be > 0")
        price = self.token_price
        if isinstance(price, AmmTokenPrice):
            pool_tokens = price.pool_usd / price.initial_usd
            if pool_tokens > self.initial_supply_tokens:
                raise ValueError(f"the AMM pool needs {pool_tokens:,.0f} tokens (pool_usd / initial_usd) but "
                                 f"initial_supply_tokens is {self.initial_supply_tokens:,.0f}")
        return self


__all__ = [
    "AkashEmission",
    "AmmTokenPrice",
    "BurnAndMintEmission",
    "CapacityProportionalRewards",
    "ConstantEmission",
    "ConstantTokenPrice",
    "CsvTokenPrice",
    "EmissionState",
    "ExponentialDecayEmission",
    "FilecoinEmission",
    "GbmTokenPrice",
    "HalvingEmission",
    "IoNetEmission",
    "LinearVesting",
    "MixedRewards",
    "RewardExpectation",
    "RewardForecast",
    "SelfDealing",
    "Staking",
    "TokenMarket",
    "Tokenomics",
    "Vesting",
    "WorkProportionalRewards",
    "allocate",
    "to_base_units",
]
