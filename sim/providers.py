"""Provider nodes: attributes drawn from their groups, costs, and asks.

A provider is one node of identical GPUs. Its cost per GPU-hour has a marginal part (power while busy)
and a fixed part (capex written off over the amortisation period, plus other opex per installed hour);
the fixed part is spread over the hours the provider expects to sell. The ask policy turns cost and the
expected token reward into a posted price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from . import rng as rngs
from .base import AtLeastOne, NonNegative, Positive, StrictModel, check_gpu_models, default_kind
from .catalog import gpu_catalog
from .distributions import Categorical, CountChoice, sample_choice
from .topology import check_regions

if TYPE_CHECKING:
    from .scenario import Scenario

HOURS_PER_YEAR = 8760.0
MICRO = 1_000_000  # asks are integer USD micro-dollars per GPU-hour


class CostPlusAsk(StrictModel):
    """Ask = fully loaded cost x (1 + markup) - pass_through x expected token reward per GPU-hour.

    This is the subsidy channel: a provider that expects token rewards for each GPU-hour it sells can
    accept less cash, as Filecoin storage providers did with block rewards.
    """

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
        """Asks in USD micro-dollars per GPU-hour, from cost per GPU-hour and the expected rewards.

        A work reward comes with every GPU-hour sold; a capacity reward with every GPU-hour offered, so
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


AskPolicy = Annotated[CostPlusAsk, Field(discriminator="kind"), default_kind("cost_plus")]


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
        "model -> weight (e.g. {H100_SXM: 0.7, A100_80GB: 0.3})."
    )
    gpus_per_node: CountChoice = Field(
        default={8: 1.0}, description="GPUs per node: an integer, or a mapping count -> weight."
    )
    region: Categorical = Field(
        default={"us-east": 1.0}, description="Region label of each node, or a mapping region -> weight."
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
    ask_policy: AskPolicy = Field(default_factory=CostPlusAsk, description="How the node sets its ask.")
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


@dataclass(frozen=True)
class Fleet:
    """Every provider node as columns (index = provider id), built once per run."""

    classes: tuple[str, ...]
    group: np.ndarray
    gpu_class: np.ndarray
    gpus: np.ndarray
    region: np.ndarray
    capex_usd_per_gpu: np.ndarray
    amortisation_years: np.ndarray
    electricity_usd_per_kwh: np.ndarray
    pue: np.ndarray
    other_opex_usd_per_gpu_hour: np.ndarray
    mtbf_hours: np.ndarray
    marginal_usd_per_gpu_hour: np.ndarray
    fixed_usd_per_gpu_hour: np.ndarray
    initially_active: np.ndarray
    group_index: np.ndarray
    group_slices: tuple[tuple[slice, ProviderGroup], ...]
    """Each group's nodes: the first ``count`` start active, the rest are its possible entrants."""

    @property
    def size(self) -> int:
        return len(self.gpus)

    def unsubsidised_asks(self) -> np.ndarray:
        """The asks (USD per GPU-hour) every provider would post with no token reward: the counterfactual."""
        return self.asks_micro_usd(0.0, 0.0) / MICRO

    def asks_micro_usd(self, work_reward_usd: float, capacity_reward_usd: float) -> np.ndarray:
        """Posted asks, USD micro-dollars per GPU-hour, given the rewards providers expect (USD per GPU-hour
        sold and per GPU-hour offered)."""
        out = np.empty(self.size, dtype=np.int64)
        for sl, group in self.group_slices:
            out[sl] = group.ask_policy.asks_micro_usd(self.marginal_usd_per_gpu_hour[sl],
                                                      self.fixed_usd_per_gpu_hour[sl], work_reward_usd,
                                                      capacity_reward_usd)
        return out

    def table(self) -> pd.DataFrame:
        """One row per provider, for results and analysis."""
        names = np.asarray(self.classes, dtype=object)
        return pd.DataFrame({
            "provider_id": np.arange(self.size),
            "group": self.group,
            "gpu_class": names[self.gpu_class],
            "gpus": self.gpus,
            "region": self.region,
            "capex_usd_per_gpu": self.capex_usd_per_gpu,
            "amortisation_years": self.amortisation_years,
            "electricity_usd_per_kwh": self.electricity_usd_per_kwh,
            "pue": self.pue,
            "other_opex_usd_per_gpu_hour": self.other_opex_usd_per_gpu_hour,
            "mtbf_hours": self.mtbf_hours,
            "marginal_usd_per_gpu_hour": self.marginal_usd_per_gpu_hour,
            "fixed_usd_per_gpu_hour": self.fixed_usd_per_gpu_hour,
            "unsubsidised_ask_usd_per_gpu_hour": self.unsubsidised_asks(),
            "initially_active": self.initially_active,
        })


def build_fleet(scenario: Scenario) -> Fleet:
    """Draw every node of every group from the group's own seeded stream."""
    catalog = gpu_catalog().models
    present = {m for g in scenario.providers for m, w in g.gpu_model.items() if w > 0}
    classes = tuple(m for m in catalog if m in present)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "group", "gpu_class", "gpus", "region", "capex", "years", "elec", "pue", "opex", "mtbf", "tdp", "active")}
    slices = []
    start = 0
    for gi, group in enumerate(scenario.providers):
        rng = rngs.stream(scenario.seed, rngs.PROVIDERS, gi)
        n = group.capacity_nodes
        models = sample_choice(group.gpu_model, rng, n)
        gpus = sample_choice(group.gpus_per_node, rng, n).astype(np.int64)
        region = sample_choice(group.region, rng, n)
        if group.capex_usd_per_gpu is None:
            capex = np.array([catalog[m].purchase_usd.value for m in models])
        else:
            capex = group.capex_usd_per_gpu.sample(rng, n)
        cols["group"].append(np.full(n, group.name, dtype=object))
        cols["gpu_class"].append(np.array([classes.index(m) for m in models], dtype=np.int64))
        cols["gpus"].append(gpus)
        cols["region"].append(region)
        cols["capex"].append(capex)
        cols["years"].append(np.full(n, group.amortisation_years))
        cols["elec"].append(group.electricity_usd_per_kwh.sample(rng, n))
        cols["pue"].append(group.pue.sample(rng, n))
        cols["opex"].append(group.other_opex_usd_per_gpu_hour.sample(rng, n))
        cols["mtbf"].append(group.mtbf_hours.sample(rng, n))
        cols["tdp"].append(np.array([catalog[m].tdp_watts.value for m in models]))
        cols["active"].append(np.arange(n) < group.count)
        slices.append((slice(start, start + n), group))
        start += n
    c = {k: np.concatenate(v) for k, v in cols.items()}
    marginal = c["tdp"] / 1000.0 * c["pue"] * c["elec"]
    fixed = c["capex"] / (c["years"] * HOURS_PER_YEAR) + c["opex"]
    return Fleet(
        classes=classes, group=c["group"], gpu_class=c["gpu_class"], gpus=c["gpus"], region=c["region"],
        capex_usd_per_gpu=c["capex"], amortisation_years=c["years"], electricity_usd_per_kwh=c["elec"],
        pue=c["pue"], other_opex_usd_per_gpu_hour=c["opex"], mtbf_hours=c["mtbf"],
        marginal_usd_per_gpu_hour=marginal, fixed_usd_per_gpu_hour=fixed, initially_active=c["active"],
        group_index=np.repeat(np.arange(len(slices)), [sl.stop - sl.start for sl, _ in slices]),
        group_slices=tuple(slices),
    )
