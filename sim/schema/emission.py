"""Emission schedules: how many new tokens exist by time t, in closed form.

Each schedule is a cumulative function M(t) (tokens minted for rewards since t = 0), vectorised over a
grid of times, so an epoch's emission is M(t_end) - M(t_start) and the total over any horizon is M(T)
exactly, whatever the epoch length (the mechaFIL approach). Filecoin's baseline minting also depends on
the network's capacity; its state (the capped capacity integral) advances epoch by epoch, and M stays
closed-form given that state. Time is in hours; a year is 365 days, as in Filecoin's specification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..units import HOURS_PER_DAY, HOURS_PER_YEAR
from .core import Mechanism, Registry, StrictModel, examples


@dataclass(frozen=True)
class EmissionState:
    """What a state-dependent schedule has seen of the network (Filecoin: integral of min(b, R), GPU-years)."""

    capped_capacity_gpu_years: float = 0.0


class EmissionSchedule(Mechanism):
    """How many new tokens exist by time t, and who they are for."""

    registry: ClassVar[Registry] = Registry("emission schedule")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        """Tokens minted by each time t (hours since start)."""
        raise NotImplementedError

    def advance(self, state: EmissionState, t0_hours: float, t1_hours: float, capacity_gpus: float) -> EmissionState:
        """The state after an epoch in which the network offered ``capacity_gpus``; most schedules ignore it."""
        return state

    def payment_burn_share(self) -> float:
        """Share of every buyer payment (USD) that buys tokens and burns them (burn-and-mint); default none."""
        return 0.0

    def provider_reward_share(self) -> float:
        """Share of the emission paid to providers; the rest goes to stakers. Default: all of it."""
        return 1.0

    def check_supply(self, initial_supply_tokens: float) -> None:
        """Raise ValueError if the schedule cannot work with this initial supply."""


class ConstantEmission(EmissionSchedule):
    """The same number of new tokens every day: M(t) = rate x t."""

    model_config = examples({"kind": "constant", "tokens_per_day": 5000})
    kind: Literal["constant"] = "constant"
    tokens_per_day: float = Field(ge=0, description="Tokens minted per day for rewards.")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        return self.tokens_per_day * np.asarray(t_hours, dtype=float) / HOURS_PER_DAY


class ExponentialDecayEmission(EmissionSchedule):
    """A fixed total released with a half-life: M(t) = total x (1 - exp(-ln2 t / half_life))."""

    model_config = examples({"kind": "exponential_decay", "total_tokens": 1000000, "half_life_years": 0.5})
    kind: Literal["exponential_decay"] = "exponential_decay"
    total_tokens: float = Field(gt=0, description="Tokens released as t -> infinity.")
    half_life_years: float = Field(gt=0, description="Years for half of what remains to be released.")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        years = np.asarray(t_hours, dtype=float) / HOURS_PER_YEAR
        return self.total_tokens * -np.expm1(-math.log(2) / self.half_life_years * years)


def _stepped(years: np.ndarray, first_period_tokens: float, period_years: float, factor: float,
             cap: float | None) -> np.ndarray:
    """Cumulative emission when each period emits ``factor`` times the previous one, evenly within it."""
    k = np.floor(years / period_years)
    done = first_period_tokens * (1 - factor**k) / (1 - factor) if factor != 1 else first_period_tokens * k
    partial = first_period_tokens * factor**k * (years - k * period_years) / period_years
    total = done + partial
    return total if cap is None else np.minimum(total, cap)


class HalvingEmission(EmissionSchedule):
    """The rate halves every period (Bitcoin: 4 years; Helium HIP-20: 2 years), up to a cap."""

    model_config = examples({"kind": "halving", "initial_tokens_per_day": 5000, "period_years": 0.05})
    kind: Literal["halving"] = "halving"
    initial_tokens_per_day: float = Field(gt=0, description="Tokens per day in the first period.")
    period_years: float = Field(gt=0, description="Years between halvings.")
    max_tokens: float | None = Field(default=None, gt=0,
        description="Cap on tokens ever emitted (none: the geometric limit).")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        years = np.asarray(t_hours, dtype=float) / HOURS_PER_YEAR
        first = self.initial_tokens_per_day * 365.0 * self.period_years
        return _stepped(years, first, self.period_years, 0.5, self.max_tokens)


class IoNetEmission(EmissionSchedule):
    """io.net: hourly emission; each year's emission is a falling inflation rate on the launch supply.

    Year k emits launch_supply x initial_inflation x (1 - yearly_disinflation)**k, spread evenly over its
    hours, until max_emission_tokens are out (docs.io.net io-tokenomics: 500M at launch, 8%/yr falling
    ~12% a year, 300M over 20 years, first hour 4,566.21 IO).
    """

    model_config = examples({"kind": "ionet", "launch_supply_tokens": 10000000})
    kind: Literal["ionet"] = "ionet"
    launch_supply_tokens: float = Field(default=500e6, gt=0,
        description="Supply the first year's inflation applies to.")
    initial_inflation: float = Field(default=0.08, gt=0, le=1, description="First year's emission / launch supply.")
    yearly_disinflation: float = Field(default=0.12, ge=0, lt=1,
        description="Fall in the emission from one year to the next.")
    max_emission_tokens: float = Field(default=300e6, gt=0, description="Cap on tokens ever emitted.")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        years = np.asarray(t_hours, dtype=float) / HOURS_PER_YEAR
        first = self.launch_supply_tokens * self.initial_inflation
        return _stepped(years, first, 1.0, 1.0 - self.yearly_disinflation, self.max_emission_tokens)


class FilecoinEmission(EmissionSchedule):
    """Filecoin: simple minting on a half-life plus baseline minting on effective network time.

    Simple: M_S(t) = S (1 - exp(-lambda t)), lambda = ln2 / half_life. Baseline: b(t) = b0 exp(g t) is the
    capacity the protocol expects; R-bar-sum(t) = integral of min(b, R); effective time
    theta = ln(g R-bar-sum / b0 + 1) / g; M_B = B (1 - exp(-lambda theta)). A network that keeps up with
    the baseline has theta = t; one that lags releases its baseline tokens later (filecoin-project/specs
    block_reward_minting.md). Capacity R is the network's active raw capacity in its own unit: GPUs for a
    compute network, TiB for a storage network (Filecoin's baseline is on raw-byte power); b0 is given in
    the same unit, as baseline_initial_gpus or baseline_initial_tib.
    """

    model_config = examples({"kind": "filecoin", "simple_tokens": 1000000, "baseline_tokens": 2000000,
                             "baseline_initial_gpus": 50})
    kind: Literal["filecoin"] = "filecoin"
    simple_tokens: float = Field(default=330e6, ge=0, description="Tokens released by simple minting (Filecoin: 330M).")
    baseline_tokens: float = Field(default=770e6, ge=0,
        description="Tokens released by baseline minting (Filecoin: 770M).")
    half_life_years: float = Field(default=6.0, gt=0,
        description="Half-life of both minting curves, years (Filecoin: 6).")
    baseline_initial_gpus: float | None = Field(
        default=None, gt=0, description="b0: the capacity the baseline expects at t = 0, GPUs (compute networks).")
    baseline_initial_tib: float | None = Field(
        default=None, gt=0, description="b0 for a storage network, TiB of raw-byte power (Filecoin: 2.5 EiB = "
        "2,621,440 TiB at launch).")
    baseline_growth_per_year: float = Field(
        default=math.log(2), ge=0, description="g: baseline growth rate per year (Filecoin: ln 2, doubling yearly).")

    @model_validator(mode="after")
    def _one_baseline(self) -> FilecoinEmission:
        if (self.baseline_initial_gpus is None) == (self.baseline_initial_tib is None):
            raise ValueError("give exactly one of baseline_initial_gpus (a compute network) and baseline_initial_tib "
                             "(a storage network)")
        return self

    @property
    def baseline_initial(self) -> float:
        """b0 in the network's capacity unit."""
        return self.baseline_initial_gpus if self.baseline_initial_gpus is not None else self.baseline_initial_tib

    def baseline_at(self, t_hours: np.ndarray) -> np.ndarray:
        """b(t), in the network's capacity unit."""
        return self.baseline_initial * np.exp(self.baseline_growth_per_year * np.asarray(t_hours) / HOURS_PER_YEAR)

    def _decay(self) -> float:
        return math.log(2) / self.half_life_years

    def simple_cumulative(self, t_hours: np.ndarray) -> np.ndarray:
        years = np.asarray(t_hours, dtype=float) / HOURS_PER_YEAR
        return self.simple_tokens * -np.expm1(-self._decay() * years)

    def effective_years(self, state: EmissionState) -> float:
        g, b0 = self.baseline_growth_per_year, self.baseline_initial
        if g == 0:
            return state.capped_capacity_gpu_years / b0
        return math.log1p(g * state.capped_capacity_gpu_years / b0) / g

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        theta = self.effective_years(state or EmissionState())
        return self.simple_cumulative(t_hours) + self.baseline_tokens * -math.expm1(-self._decay() * theta)

    def advance(self, state: EmissionState, t0_hours: float, t1_hours: float, capacity_gpus: float) -> EmissionState:
        """Add the integral of min(b(s), R) over the epoch, R held constant (exact, piecewise)."""
        lo, hi = t0_hours / HOURS_PER_YEAR, t1_hours / HOURS_PER_YEAR
        g, b0, r = self.baseline_growth_per_year, self.baseline_initial, capacity_gpus
        if r <= 0 or hi <= lo:
            return state
        if g == 0:
            added = min(b0, r) * (hi - lo)
        else:
            cross = math.log(r / b0) / g  # b(s) < R before, b(s) > R after
            under_end = min(hi, max(lo, cross))
            added = b0 / g * (math.exp(g * under_end) - math.exp(g * lo)) + r * (hi - max(lo, under_end))
        return EmissionState(state.capped_capacity_gpu_years + added)


class BurnAndMintEmission(EmissionSchedule):
    """Render-style burn-and-mint equilibrium: a fixed mint per day; buyers burn tokens worth their payment.

    The mint is split between availability and work rewards by the reward rule (kind: mixed). A share of
    every network payment buys tokens at the market price and burns them (RNP-001: all of it), so the
    supply settles where burns match the mint.
    """

    model_config = examples({"kind": "burn_and_mint", "tokens_per_day": 5000, "burn_share": 0.8})
    kind: Literal["burn_and_mint"] = "burn_and_mint"
    tokens_per_day: float = Field(ge=0,
        description="Tokens minted per day (Render year 1: ~43,758 per 7-day epoch = 6,251).")
    burn_share: float = Field(default=1.0, ge=0, le=1,
        description="Share of buyer payments (USD) used to buy and burn tokens.")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        return self.tokens_per_day * np.asarray(t_hours, dtype=float) / HOURS_PER_DAY

    def payment_burn_share(self) -> float:
        return self.burn_share


class InflationStep(StrictModel):
    from_year: float = Field(ge=0, description="Year from which this rate applies.")
    rate_per_year: float = Field(ge=0, le=2, description="Continuous inflation rate on the supply, per year.")


class AkashEmission(EmissionSchedule):
    """Akash-style: supply inflates at a governance-set rate (steps down over time), paid to stakers.

    With a piecewise-constant continuous rate i(t), supply S(t) = S0 exp(integral of i) and the emission is
    M(t) = S0 (exp(I(t)) - 1). A share goes to providers (by the reward rule), the rest to stakers; the
    market's take rate (market.protocol_fee_share, Akash default 20%) is the other revenue of the chain.
    """

    model_config = examples({"kind": "akash", "provider_share": 0.5})
    kind: Literal["akash"] = "akash"
    inflation_steps: tuple[InflationStep, ...] = Field(
        default=(InflationStep(from_year=0, rate_per_year=0.53), InflationStep(from_year=1, rate_per_year=0.40),
                 InflationStep(from_year=2, rate_per_year=0.30), InflationStep(from_year=3, rate_per_year=0.15)),
        min_length=1, description="Inflation rate from each year on (Akash: max 53% -> 40% -> 30% -> 15%).")
    provider_share: float = Field(default=0.0, ge=0, le=1,
        description="Share of inflation paid to providers; the rest to stakers.")

    @model_validator(mode="after")
    def _ordered(self) -> AkashEmission:
        starts = [s.from_year for s in self.inflation_steps]
        if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError("inflation_steps must start at from_year 0 and increase")
        return self

    def provider_reward_share(self) -> float:
        return self.provider_share

    def check_supply(self, initial_supply_tokens: float) -> None:
        if initial_supply_tokens <= 0:
            raise ValueError("akash emission inflates the supply: initial_supply_tokens must be > 0")

    def cumulative_tokens(self, t_hours: np.ndarray, state: EmissionState | None = None,
                          initial_supply_tokens: float = 0.0) -> np.ndarray:
        years = np.asarray(t_hours, dtype=float) / HOURS_PER_YEAR
        integral = np.zeros_like(years)
        bounds = [s.from_year for s in self.inflation_steps[1:]] + [math.inf]
        for step, end in zip(self.inflation_steps, bounds, strict=True):
            integral += step.rate_per_year * np.clip(np.minimum(years, end) - step.from_year, 0.0, None)
        return initial_supply_tokens * np.expm1(integral)


Emission = EmissionSchedule.registry.union()
