"""Provider groups: who supplies GPUs, at what cost, how they set asks, and when they join or leave.

A provider is one node of identical GPUs. Its cost per GPU-hour has a marginal part (power while busy)
and a fixed part (capex written off over the amortisation period, plus other opex per installed hour);
the fixed part is spread over the hours the provider expects to sell. The ask policy turns cost and the
expected token reward into a posted price.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..topology import check_regions
from ..units import MICRO
from .core import Mechanism, Registry, StrictModel, check_gpu_models, examples
from .distributions import AtLeastOne, Categorical, CountChoice, NonNegative, Positive


class AskPolicy(Mechanism):
    """How a node turns its costs and the token rewards it expects into the ask it posts each epoch."""

    registry: ClassVar[Registry] = Registry("ask policy", default="cost_plus")

    def asks_micro_usd(self, marginal: np.ndarray, fixed: np.ndarray, work_reward_usd: float,
                       capacity_reward_usd: float) -> np.ndarray:
        """Asks in USD micro-dollars per GPU-hour for a group's nodes, given their marginal and fixed cost
        per GPU-hour and the rewards they expect per GPU-hour sold (work) and offered (capacity)."""
        raise NotImplementedError


class CostPlusAsk(AskPolicy):
    """Ask = fully loaded cost x (1 + markup) - pass_through x expected token reward per GPU-hour.

    This is the subsidy channel: a provider that expects token rewards for each GPU-hour it sells can
    accept less cash, as Filecoin storage providers did with block rewards. The pass-through is an
    assumption of this policy, not an outcome.
    """

    model_config = examples({"kind": "cost_plus", "markup": 0.3, "target_utilisation": 0.6,
                             "subsidy_pass_through": 0.5})
    kind: Literal["cost_plus"] = "cost_plus"
    markup: float = Field(default=0.2, ge=0, description="Margin over fully loaded cost, as a fraction (0.2 = 20%).")
    target_utilisation: float = Field(
        default=0.7, gt=0, le=1,
        description="Share of hours the provider expects to sell; fixed costs (capex, other opex) are "
        "spread over this many busy hours. Fraction in (0, 1].",
    )
    subsidy_pass_through: float = Field(
        default=1.0, ge=0, le=1,
        description="Share of the expected token reward per GPU-hour (USD) that the provider deducts "
        "from its ask. 0 = ignores rewards, 1 = passes all of it to buyers.",
    )
    floor_usd_per_gpu_hour: float = Field(
        default=0.0, ge=0, description="Lowest ask the provider ever posts, USD per GPU-hour."
    )

    def asks_micro_usd(self, marginal: np.ndarray, fixed: np.ndarray, work_reward_usd: float,
                       capacity_reward_usd: float) -> np.ndarray:
        """A work reward comes with every GPU-hour sold; a capacity reward with every GPU-hour offered, so
        per hour sold it is spread over the target utilisation, like the fixed costs it offsets. The
        subsidy is one integer shift for the whole group, so asks move together and keep their order
        from epoch to epoch (the market then need not re-rank them).
        """
        loaded = marginal + fixed / self.target_utilisation
        unsubsidised = np.rint(loaded * (1.0 + self.markup) * MICRO).astype(np.int64)
        reward = work_reward_usd + capacity_reward_usd / self.target_utilisation
        subsidy = self.subsidy_pass_through * reward * MICRO
        top = int(unsubsidised.max(initial=0))
        shift = int(round(subsidy)) if subsidy < top else top  # a larger subsidy only hits the floor
        return np.maximum(unsubsidised - shift, int(round(self.floor_usd_per_gpu_hour * MICRO)))


AskPolicyUnion = AskPolicy.registry.union()


class Entry(StrictModel):
    """When new nodes of a group join: their expected return over the horizon must beat a hurdle rate."""

    hurdle_rate_per_year: float = Field(default=0.15, ge=0, description="Required return on the capex, per year.")
    horizon_years: float | None = Field(
        default=None, gt=0, description="Years over which an entrant expects to earn (default: amortisation_years).")
    lead_time_days: float = Field(default=30.0, ge=0,
        description="Days from the decision to a working node (hardware lead time).")
    max_entries_per_epoch: int = Field(default=5, ge=0, description="Most nodes of this group that may join per epoch.")


class ProviderGroup(StrictModel):
    """A population of provider nodes; each node draws its attributes from these distributions."""

    name: str = Field(min_length=1, description="Label for this group (unique in the scenario).")
    count: int = Field(gt=0, description="Number of nodes active at the start.")
    max_count: int | None = Field(
        default=None, gt=0,
        description="Most nodes the group can grow to by entry (default: count, i.e. no entry).")
    entry: Entry = Field(default_factory=Entry, description="How new nodes decide to join (when max_count > count).")
    exit_after_negative_epochs: int | None = Field(
        default=None, gt=0,
        description="A node leaves after this many consecutive epochs of negative cash margin (USD revenue + "
        "rewards - power - other opex; sunk capex does not count). Default: never.")
    gpu_model: Categorical = Field(
        description="GPU model of each node: a model name from the GPU catalog, or a mapping "
        "model -> probability (summing to 1, e.g. {H100_SXM: 0.7, A100_80GB: 0.3})."
    )
    gpus_per_node: CountChoice = Field(
        default={8: 1.0}, description="GPUs per node: an integer, or a mapping count -> probability (summing to 1)."
    )
    region: Categorical = Field(
        default={"us-east": 1.0},
        description="Region label of each node, or a mapping region -> probability (summing to 1)."
    )
    capex_usd_per_gpu: NonNegative | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Purchase cost per GPU, USD. Default: the catalog purchase price of the model. "
        "0 for paid-off hardware (sunk cost).",
    )
    amortisation_years: float = Field(default=3.0, gt=0, description="Years over which capex is written off.")
    electricity_usd_per_kwh: NonNegative = Field(  # type: ignore[valid-type]
        default=0.0779,
        description="Electricity price, USD per kWh. Default 0.0779: US industrial, Pennsylvania, 2024 "
        "YTD (EIA Electric Power Monthly table 5.6.B).",
    )
    pue: AtLeastOne = Field(  # type: ignore[valid-type]
        default=1.3,
        description="Power usage effectiveness (facility power / IT power), >= 1. Default 1.3 is an "
        "assumption for a modern colocation facility; use 1.0 for a home rig.",
    )
    other_opex_usd_per_gpu_hour: NonNegative = Field(  # type: ignore[valid-type]
        default=0.05,
        description="Hosting, bandwidth and staff per installed GPU-hour, USD (assumption).",
    )
    mtbf_hours: Positive = Field(  # type: ignore[valid-type]
        default=8760.0,
        description="Mean time between node failures, hours (assumption). A failure stops the node's jobs "
        "(training restarts from its last checkpoint, inference fails over) and may slash its stake.",
    )
    mttr_hours: Positive = Field(  # type: ignore[valid-type]
        default=4.0, description="Mean time to repair a failed node, hours (exponential; assumption).")
    failure_distribution: Literal["exponential", "weibull"] = Field(
        default="exponential", description="Distribution of the time between failures, with mean mtbf_hours.")
    weibull_shape: float = Field(
        default=1.5, gt=0, description="Shape k of the Weibull distribution (k > 1: failures rise with age).")
    ask_policy: AskPolicyUnion = Field(  # type: ignore[valid-type]
        default_factory=CostPlusAsk, description=f"How the node sets its ask ({AskPolicy.registry.describe()}).")
    fabric: Literal["none", "infiniband"] = Field(
        default="none",
        description="Network between the group's nodes in one region: infiniband for a datacentre fabric "
        "(multi-node training runs at InfiniBand speed), none for nodes that reach each other over the internet.")

    @model_validator(mode="after")
    def _known_models(self) -> ProviderGroup:
        check_gpu_models(list(self.gpu_model), f"provider group {self.name!r}")
        check_regions(list(self.region), f"provider group {self.name!r}")
        if self.max_count is not None and self.max_count < self.count:
            raise ValueError(f"max_count ({self.max_count}) must be >= count ({self.count})")
        return self

    @property
    def capacity_nodes(self) -> int:
        """Nodes drawn for the group: the initial ones plus every possible entrant."""
        return self.max_count or self.count

    def failure_shape(self) -> float:
        """Weibull shape of the time between failures (1: exponential)."""
        return self.weibull_shape if self.failure_distribution == "weibull" else 1.0

    def offered_models(self) -> list[str]:
        """GPU models this group's nodes can have (weight above zero)."""
        return [m for m, w in self.gpu_model.items() if w > 0]
