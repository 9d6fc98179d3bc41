"""Token economics: the token's supply, how it is emitted and split, and how its price moves."""

from __future__ import annotations

from pydantic import Field, model_validator

from .core import StrictModel
from .emission import ConstantEmission, Emission, EmissionSchedule
from .price import ConstantTokenPrice, TokenPrice, TokenPriceModel
from .rewards import (
    RewardExpectation,
    RewardRule,
    RewardRuleUnion,
    SelfDealing,
    Staking,
    Vesting,
    WorkProportionalRewards,
)


class Tokenomics(StrictModel):
    """The token: its supply, how it is emitted and split, and how its price moves."""

    token_symbol: str = Field(default="GPU", min_length=1, description="Ticker used in outputs.")
    decimals: int = Field(default=18, ge=0, le=18, description="Base units per token = 10**decimals.")
    initial_supply_tokens: float = Field(
        default=0.0, ge=0, description="Tokens in circulation at t = 0, held outside the network (and the AMM pool).")
    emission: Emission = Field(  # type: ignore[valid-type]
        default_factory=lambda: ConstantEmission(tokens_per_day=0.0),
        description=f"Emission schedule ({EmissionSchedule.registry.describe()}).")
    token_price: TokenPrice = Field(  # type: ignore[valid-type]
        default_factory=lambda: ConstantTokenPrice(usd=1.0),
        description=f"Token price model ({TokenPriceModel.registry.describe()}; amm is an endogenous pool).")
    reward_rule: RewardRuleUnion = Field(  # type: ignore[valid-type]
        default_factory=WorkProportionalRewards,
        description=f"How emissions are split among providers ({RewardRule.registry.describe()}).")
    reward_expectation: RewardExpectation = Field(
        default_factory=RewardExpectation, description="Providers' forecast of rewards and the token price.")
    provider_sell_share: float = Field(
        default=0.0, ge=0, le=1, description="Share of the tokens providers receive each epoch that they sell at once.")
    vesting: Vesting = Field(default_factory=Vesting, description="Locking of rewards.")
    staking: Staking = Field(default_factory=Staking, description="Provider stake and slashing.")
    self_dealing: SelfDealing = Field(default_factory=SelfDealing, description="Wash trading for rewards.")

    @model_validator(mode="after")
    def _consistent(self) -> Tokenomics:
        self.emission.check_supply(self.initial_supply_tokens)
        self.token_price.check_supply(self.initial_supply_tokens)
        return self
