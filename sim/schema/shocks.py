"""Shocks: one event that hits a scenario at a month of its run (the stress battery's overlays).

A shock is part of the scenario (``shocks:``), so a stressed run's ``scenario.resolved.yaml`` says what hit
it and re-runs it, and its hash differs from the unshocked run's. Each kind changes one input of the run
from its month on, through one hook the engine asks every shock (a neutral default elsewhere):

- ``token_price_multiplier``: an exogenous token price path (GBM, CSV, constant) times this;
- ``emission_multiplier``: each epoch's mint times this (the schedule's own clock is untouched);
- ``alternative_multiplier``: each alternative's price path times this (it composes with any path);
- ``demand_kept``: the share of each stream's arrivals kept, thinned on a stream of its own so the jobs
  that remain are the same jobs as without the shock (common random numbers);
- ``unlocked_tokens``: tokens the holders outside the network sell into the run's AMM pool;
- ``outside_yield_multiplier``: a competing network's offer to providers, as a multiple of the yield their
  class earned here before it (0: no competitor), which the exit and entry rules compare with.

Everything else (prices, entries, exits, the token market) responds through the model, so what a shock
does to the undercut is an outcome, never an input.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from ..units import HOURS_PER_MONTH
from .core import Mechanism, Registry, examples


class Shock(Mechanism):
    """An event from ``month`` of the run on."""

    registry: ClassVar[Registry] = Registry("shock")
    month: float = Field(ge=0, description="Month of the run (730 hours) in which the shock starts.")

    def _after(self, t_hours: np.ndarray) -> np.ndarray:
        """Months since the shock started at each time (0 before it)."""
        return np.maximum(np.asarray(t_hours, dtype=float) / HOURS_PER_MONTH - self.month, 0.0)

    def _started(self, t_hours: np.ndarray) -> np.ndarray:
        return np.asarray(t_hours, dtype=float) >= self.month * HOURS_PER_MONTH

    def token_price_multiplier(self, t_hours: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(t_hours))

    def emission_multiplier(self, t_hours: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(t_hours))

    def alternative_multiplier(self, t_hours: np.ndarray, alternative: str) -> np.ndarray:
        return np.ones(np.shape(t_hours))

    def demand_kept(self, t_hours: np.ndarray, stream: str) -> np.ndarray:
        return np.ones(np.shape(t_hours))

    def unlocked_tokens(self, t0_hours: float, t1_hours: float) -> float:
        """Tokens the holders outside the network sell into the pool in the epoch [t0, t1)."""
        return 0.0

    def outside_yield_multiplier(self, t_hours: float) -> float:
        """What a competing network offers a provider at ``t_hours``, as a multiple of the cash margin per
        GPU-hour its class earned here before the offer (0: no offer)."""
        return 0.0

    def needs_exit(self) -> bool:
        """Whether the shock acts through providers leaving (a scenario where none can leave feels nothing)."""
        return False

    def needs_exogenous_token_price(self) -> bool:
        """Whether the shock moves a token price path (an AMM's price has none: the run's flows set it)."""
        return False

    def needs_endogenous_token_price(self) -> bool:
        """Whether the shock trades in the run's own market (an exogenous path would ignore the trade)."""
        return False


class TokenPriceDrop(Shock):
    """The token loses ``drop`` of its value over ``over_months`` (linearly in log price), and the path
    goes on from there: an exogenous path (GBM, CSV, constant) times the shock's multiplier."""

    model_config = examples({"kind": "token_price_drop", "month": 6, "drop": 0.8, "over_months": 1})
    kind: Literal["token_price_drop"] = "token_price_drop"
    drop: float = Field(gt=0, lt=1, description="Share of the token's value lost (0.8: -80%).")
    over_months: float = Field(default=1.0, gt=0, description="Months over which it is lost.")

    def token_price_multiplier(self, t_hours: np.ndarray) -> np.ndarray:
        progress = np.minimum(self._after(t_hours) / self.over_months, 1.0)
        return (1.0 - self.drop) ** progress

    def needs_exogenous_token_price(self) -> bool:
        return True


class EmissionCut(Shock):
    """Each epoch's mint times ``factor`` from the shock on (0.5: the emission halved), as a governance vote
    or a halving brought forward would; the schedule's own shape (its decay, its halvings) is kept."""

    model_config = examples({"kind": "emission_cut", "month": 6, "factor": 0.5})
    kind: Literal["emission_cut"] = "emission_cut"
    factor: float = Field(ge=0, lt=1, description="Emission kept (0.5: halved).")

    def emission_multiplier(self, t_hours: np.ndarray) -> np.ndarray:
        return np.where(self._started(t_hours), self.factor, 1.0)


class AlternativePriceCut(Shock):
    """A centralised alternative cuts its prices by ``cut`` at once (AWS cut P5 by ~44% in June 2025), on
    top of whatever path it follows."""

    model_config = examples({"kind": "alternative_price_cut", "month": 6, "alternative": "aws_on_demand",
                             "cut": 0.45})
    kind: Literal["alternative_price_cut"] = "alternative_price_cut"
    alternative: str = Field(description="The alternative, by its name in the tables (venue_price, e.g. "
                                         "aws_on_demand), or 'all'.")
    cut: float = Field(gt=0, lt=1, description="Share of the price cut (0.45: -45%).")

    def alternative_multiplier(self, t_hours: np.ndarray, alternative: str) -> np.ndarray:
        hit = self.alternative in ("all", alternative)
        return np.where(self._started(t_hours) & hit, 1.0 - self.cut, 1.0)


class NewGeneration(Shock):
    """A new GPU generation: the rental prices of every alternative fall to ``to_share`` of their level
    over ``over_months`` (compounded monthly) and stay there. The catalogs price per offer, not per
    generation, so every offer falls (an assumption: the older GPUs are what the network rents)."""

    model_config = examples({"kind": "new_generation", "month": 6, "to_share": 0.5, "over_months": 12})
    kind: Literal["new_generation"] = "new_generation"
    to_share: float = Field(default=0.5, gt=0, lt=1, description="Price level reached (0.5: halved).")
    over_months: float = Field(default=12.0, gt=0, description="Months over which prices fall.")

    def alternative_multiplier(self, t_hours: np.ndarray, alternative: str) -> np.ndarray:
        return self.to_share ** np.minimum(self._after(t_hours) / self.over_months, 1.0)


class DemandDrop(Shock):
    """Demand falls by ``drop``: from the shock on, each arrival of the named streams is kept with
    probability 1 - drop (thinning keeps a Poisson process Poisson, at the lower rate)."""

    model_config = examples({"kind": "demand_drop", "month": 6, "drop": 0.5})
    kind: Literal["demand_drop"] = "demand_drop"
    drop: float = Field(gt=0, le=1, description="Share of arrivals lost (0.5: -50%).")
    streams: tuple[str, ...] | None = Field(default=None, description="Streams hit (default: every stream).")

    def demand_kept(self, t_hours: np.ndarray, stream: str) -> np.ndarray:
        hit = self.streams is None or stream in self.streams
        return np.where(self._started(t_hours) & hit, 1.0 - self.drop, 1.0)


class TokenUnlock(Shock):
    """A large unlock (investors' or the team's tokens) sold into the run's AMM pool by the holders outside
    the network, spread evenly over ``over_months`` (0: all in the shock's epoch)."""

    model_config = examples({"kind": "token_unlock", "month": 6, "tokens": 1_000_000, "over_months": 1})
    kind: Literal["token_unlock"] = "token_unlock"
    tokens: float = Field(gt=0, description="Tokens sold (at most what the holders outside the network have).")
    over_months: float = Field(default=0.0, ge=0, description="Months over which they are sold (0: at once).")

    def unlocked_tokens(self, t0_hours: float, t1_hours: float) -> float:
        start = self.month * HOURS_PER_MONTH
        if self.over_months == 0:
            return self.tokens if t0_hours <= start < t1_hours else 0.0
        end = start + self.over_months * HOURS_PER_MONTH
        overlap = max(min(t1_hours, end) - max(t0_hours, start), 0.0)
        return self.tokens * overlap / (end - start)

    def needs_endogenous_token_price(self) -> bool:
        return True


class CompetingNetwork(Shock):
    """A competing network offers the providers of every GPU class ``yield_multiplier`` times the yield the
    class earned here: its cash margin per GPU-hour offered (revenue kept + rewards - power - other opex,
    as the exit rule counts it), realised up to the shock, and keeps that offer to the end of the run. A
    node's GPUs work on one network at a time, so from the shock on a node leaves (for the competitor)
    when its margin here stays below the offer for its group's ``exit_after_negative_epochs``, and an
    entrant joins only if the margin it expects here is at least the offer. The costliest nodes leave
    first; as supply shrinks the price here rises until those who stay earn the offer, or buyers' outside
    option caps it and the class empties.

    Assumptions, so the shock is one number: the offer is a level fixed at the shock (a rival's launch
    incentive per GPU of a class), not a multiple that tracks this network as it changes; switching costs
    nothing (another network's software on the same machine; the stake here is returned on leaving); the
    competitor takes every node that comes (its demand is not modelled); a class that earned nothing
    here before the shock gets no offer (twice nothing is no offer)."""

    model_config = examples({"kind": "competing_network", "month": 6, "yield_multiplier": 2.0})
    kind: Literal["competing_network"] = "competing_network"
    yield_multiplier: float = Field(
        default=2.0, gt=1, description="The competitor's offer as a multiple of the yield a provider earned "
        "here before it (2: twice; above 1, or it is no offer).")

    def outside_yield_multiplier(self, t_hours: float) -> float:
        return self.yield_multiplier if t_hours >= self.month * HOURS_PER_MONTH else 0.0

    def needs_exit(self) -> bool:
        return True


AnyShock = Shock.registry.union()
