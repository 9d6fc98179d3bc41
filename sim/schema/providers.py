"""Provider groups: who supplies GPUs, at what cost, how they set asks, and when they join or leave.

A provider is one node of identical GPUs. Its cost per GPU-hour has a marginal part (power while busy)
and a fixed part (capex written off over the amortisation period, plus other opex per installed hour);
the fixed part is spread over the hours the provider expects to sell. The ask policy turns costs, the
token reward a sale adds and (for adaptive hosts) last epoch's utilisation into the ask it offers.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, NamedTuple, Union

import numpy as np
from pydantic import Field, model_validator

from ..catalog import hardware_models, storage_catalog
from ..topology import check_regions
from ..units import HOURS_PER_DAY, HOURS_PER_MONTH, HOURS_PER_YEAR, MICRO
from .cloud import ConstantPath, DeclinePath, StepsPath
from .core import Mechanism, Registry, StrictModel, check_gpu_models, examples
from .distributions import AtLeastOne, Categorical, Constant, CountChoice, Distribution, NonNegative, Positive


class Quote(NamedTuple):
    """What a group's nodes know when they set their asks for an epoch (USD per GPU-hour unless named;
    arrays have one entry per node of the group)."""

    marginal: np.ndarray
    """Power while busy."""
    fixed: np.ndarray
    """Capex written off per installed hour, plus other opex."""
    work_reward: np.ndarray
    """Token reward a GPU-hour sold is expected to earn (its class's work rate x reward per unit of work)."""
    capacity_reward: float
    """Token reward a GPU-hour offered is expected to earn, sold or not."""
    self_dealing: np.ndarray
    """What an idle GPU-hour nets the node by selling it to itself (0 where that does not pay)."""
    kept: float
    """Share of a buyer's payment the provider keeps (1 - protocol fee - payment burn)."""
    ceiling: np.ndarray
    """The buyers' outside option on the node's class: the cheapest AWS price for the same work."""
    previous_micro_usd: np.ndarray
    """The node's ask last epoch (micro-USD; -1 before its first)."""
    utilisation: np.ndarray
    """The node's share of offered GPU-hours sold last epoch (NaN before its first)."""


ASK_LIMIT_USD = 1e6
"""The furthest an ask goes either way, USD per GPU-hour: a million, past any buyer's budget (an H100 rents
for $2-4 an hour), so it reads "no sale" where a rule gives +inf (no price pays and no outside option
bounds it), and a rebate no larger keeps micro-dollars in 64 bits (a reward of 1e13 USD a GPU-hour
overflowed them)."""


def micro_usd_asks(usd: np.ndarray) -> np.ndarray:
    """Asks in USD per GPU-hour as integer micro-dollars, within +-ASK_LIMIT_USD."""
    return np.rint(np.clip(usd, -ASK_LIMIT_USD, ASK_LIMIT_USD) * MICRO).astype(np.int64)


def shutdown_micro_usd(q: Quote, below_zero: bool = False) -> np.ndarray:
    """The lowest price at which a sale beats not selling: power, less the reward the sale adds, plus
    what the idle hour would have netted by self-dealing, grossed up for the fee and burn; never below 0
    (at a negative price buyers would take any amount, and a provider is better off buying its own
    hours: that is self-dealing, which the self-dealing rule models). Where the provider keeps nothing
    of a payment (all of it burned), no price makes a sale pay: the node asks 0 if the reward covers the
    sale's cost and the buyers' outside option (where it sells only to buyers with no better venue)
    if not, and with no outside option no ask a buyer meets (``ASK_LIMIT_USD``).

    ``below_zero``: where the sale's reward exceeds its cost the ask is that (negative) difference: the
    provider pays the buyer up to what the sale earns it. That is a market with a scarce buyer-side
    right, as Filecoin's verified data (a client's DataCap allowance is limited, so only its holders can
    be paid to store), where the payment is a side payment outside the protocol's non-negative deal
    price; a rebate carries no fee."""
    short = q.marginal - q.work_reward + q.self_dealing
    if q.kept > 0:
        floor = np.where(short < 0, short, short / q.kept) if below_zero else np.maximum(short / q.kept, 0.0)
    else:
        floor = np.where(short <= 0, short if below_zero else 0.0, q.ceiling)
    return micro_usd_asks(floor)


class AskPolicy(Mechanism):
    """How a node turns its costs and the token rewards it expects into the ask it posts each epoch."""

    registry: ClassVar[Registry] = Registry("ask policy", default="cost_plus")

    def asks_micro_usd(self, quote: Quote) -> np.ndarray:
        """Asks in USD micro-dollars per GPU-hour for a group's nodes."""
        raise NotImplementedError

    def may_ask_below_zero(self) -> bool:
        """Whether the policy's asks can be negative (the provider paying its buyers)."""
        return False


class CostPlusAsk(AskPolicy):
    """Ask = fully loaded cost x (1 + markup) - pass_through x expected token reward per GPU-hour.

    An assumption, kept for comparison with earlier runs: the provider prices at a margin over full
    cost whatever the demand, and the share of the reward it passes on is a parameter, not an outcome.
    Use the shutdown or adaptive policies (with a clearing market) to have prices and pass-through
    come out of supply and demand.
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
        "from its ask. 0 = ignores rewards, 1 = passes all of it to buyers (an assumption of this policy).",
    )
    floor_usd_per_gpu_hour: float = Field(
        default=0.0, ge=0, description="Lowest ask the provider ever posts, USD per GPU-hour."
    )

    def asks_micro_usd(self, quote: Quote) -> np.ndarray:
        """A work reward comes with every GPU-hour sold; a capacity reward with every GPU-hour offered, so
        per hour sold it is spread over the target utilisation, like the fixed costs it offsets. The
        subsidy is one integer shift per class, so a class's asks keep their order from epoch to epoch
        (the book then need not re-rank them)."""
        loaded = quote.marginal + quote.fixed / self.target_utilisation
        unsubsidised = np.rint(loaded * (1.0 + self.markup) * MICRO).astype(np.int64)
        reward = quote.work_reward + quote.capacity_reward / self.target_utilisation
        # a subsidy beyond the whole ask takes it to the floor: capped there, it never overflows int64 (a
        # reward of 1e13 USD a GPU-hour, an emission shared by almost no expected sales, did, by luck to
        # the floor as well)
        shift = np.rint(np.minimum(self.subsidy_pass_through * reward * MICRO, unsubsidised)).astype(np.int64)
        return np.maximum(unsubsidised - shift, int(round(self.floor_usd_per_gpu_hour * MICRO)))


class ShutdownAsk(AskPolicy):
    """Ask = the shutdown price: the least a sale must pay to beat leaving the GPU idle (see
    ``shutdown_micro_usd``). A competitive provider's offer in a uniform-price market, where bidding
    above it only risks not selling and the price is set by the market; under pay-as-bid it is a
    provider that does not shade its bid."""

    kind: Literal["shutdown"] = "shutdown"
    below_zero: bool = Field(
        default=False, description="Ask below zero where a sale's reward exceeds its cost: the provider pays the "
        "buyer (a side payment, as Filecoin providers competing for verified data). Default: the ask stops at 0.")

    def asks_micro_usd(self, quote: Quote) -> np.ndarray:
        return shutdown_micro_usd(quote, self.below_zero)

    def may_ask_below_zero(self) -> bool:
        return self.below_zero


class AdaptiveAsk(AskPolicy):
    """Vast.ai-style hosts: each epoch a node moves its ask toward the one that would sell its target
    utilisation, within a band from its shutdown price (it never sells at a loss on the margin) to the
    buyers' outside option (above it nobody buys).

    The ask is a position x in that band: x rises by ``step`` x (utilisation - target) / target when the
    node sold more than its target and falls when it sold less (a tatonnement: a busy node is priced
    too low, an idle one too high), starting from ``initial_position``.
    """

    model_config = examples({"kind": "adaptive", "target_utilisation": 0.8, "step": 0.2})
    kind: Literal["adaptive"] = "adaptive"
    target_utilisation: float = Field(default=0.85, gt=0, lt=1,
        description="Share of offered GPU-hours the node aims to sell (assumption).")
    step: float = Field(default=0.1, gt=0, le=1,
        description="How far the ask moves across its band per epoch, per unit of relative utilisation gap.")
    initial_position: float = Field(default=0.5, ge=0, le=1,
        description="First ask as a position between the shutdown price (0) and the outside option (1).")

    def asks_micro_usd(self, quote: Quote) -> np.ndarray:
        """A class without an outside option (one no stream buys: the schema gives every stream an
        outside option where asks are adaptive) has no band: its nodes ask their shutdown price."""
        low = shutdown_micro_usd(quote).astype(float)
        high = np.where(np.isfinite(quote.ceiling), np.maximum(np.rint(quote.ceiling * MICRO), low), low)
        band = high - low
        seen = quote.previous_micro_usd >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            was = np.where(seen & (band > 0), (quote.previous_micro_usd - low) / band, self.initial_position)
        gap = np.nan_to_num(quote.utilisation, nan=self.target_utilisation) - self.target_utilisation
        position = np.clip(np.clip(was, 0.0, 1.0) + self.step * gap / self.target_utilisation, 0.0, 1.0)
        return np.rint(low + position * band).astype(np.int64)


AskPolicyUnion = AskPolicy.registry.union()


class Entry(StrictModel):
    """When new nodes of a group join: their expected return over the horizon must beat a hurdle rate."""

    hurdle_rate_per_year: float = Field(default=0.15, ge=0, description="Required return on the capex, per year.")
    horizon_years: float | None = Field(
        default=None, gt=0, description="Years over which an entrant expects to earn (default: amortisation_years).")
    lead_time_days: float = Field(default=30.0, ge=0,
        description="Days from the decision to a working node (hardware lead time).")
    max_entries_per_epoch: int = Field(default=5, ge=0, description="Most nodes of this group that may join per epoch.")


HardwarePath = Annotated[Union[ConstantPath, StepsPath, DeclinePath], Field(discriminator="kind")]  # noqa: UP007
"""A price path for hardware: the rental paths without the CSV series (which gives a rental offer's price)."""


class Hardware(StrictModel):
    """What a group's GPUs cost to buy as the run goes on, and what a leaving node gets for them.

    GPUs get cheaper (an H100 sold for ~$30-40k at launch and far less used two years later), so an
    entrant that decides later pays less, and a node that could sell its cards pays, by staying, the
    return it forgoes on their resale value and the value they lose while it stays. The defaults (prices
    constant, no resale) keep a scenario's meaning from before these fields existed."""

    price_path: HardwarePath = Field(  # type: ignore[valid-type]
        default_factory=ConstantPath,
        description="The purchase price per GPU over the run, as a multiple of capex_usd_per_gpu (kind: "
        "constant, steps or decline; the same fields as a cloud price path). An entrant pays the price of "
        "the epoch it decides in.")
    resale_fraction: float = Field(
        default=0.0, ge=0, le=1,
        description="Share of the current purchase price a node gets for its GPUs when it leaves (used-market "
        "discount). 0: none (the GPUs are worth nothing outside the network, as before). A node with a "
        "resale value leaves when its cash margin stays below the cost of holding the GPUs: the entry "
        "hurdle rate on their resale value plus the value they lose over the epoch.")


class NodeGroup(Mechanism):
    """What every group of provider nodes has, whatever resource it offers: its size, entry and exit, its
    location and power price, its reliability and its ask policy. The resource family's members are told
    apart by ``resource`` (GPU groups may leave it out)."""

    registry: ClassVar[Registry] = Registry("resource", default="gpu", key="resource")

    name: str = Field(min_length=1, description="Label for this group (unique in the scenario).")
    count: int = Field(gt=0, description="Number of nodes active at the start.")
    max_count: int | None = Field(
        default=None, gt=0,
        description="Most nodes the group can grow to by entry (default: count, i.e. no entry).")
    entry: Entry = Field(default_factory=Entry, description="How new nodes decide to join (when max_count > count).")
    hardware: Hardware = Field(default_factory=Hardware,
                               description="The hardware's purchase price over the run and its resale value on exit.")
    exit_after_negative_epochs: int | None = Field(
        default=None, gt=0,
        description="A node leaves after this many consecutive epochs of negative cash margin (USD revenue + "
        "rewards - power - other opex; sunk capex does not count), or of a margin below the cost of holding "
        "hardware it could sell (hardware.resale_fraction). Default: never.")
    region: Categorical = Field(
        default={"us-east": 1.0},
        description="Region label of each node, or a mapping region -> probability (summing to 1)."
    )
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
    mtbf_hours: Positive = Field(  # type: ignore[valid-type]
        default=8760.0,
        description="Mean time between node failures, hours (assumption). A failure stops the node's jobs "
        "(training restarts from its last checkpoint, inference fails over, stored data is offline for the "
        "repair) and may slash its stake.",
    )
    mttr_hours: Positive = Field(  # type: ignore[valid-type]
        default=4.0, description="Mean time to repair a failed node, hours (exponential; assumption).")
    failure_distribution: Literal["exponential", "weibull"] = Field(
        default="exponential", description="Distribution of the time between failures, with mean mtbf_hours.")
    weibull_shape: float = Field(
        default=1.5, gt=0, description="Shape k of the Weibull distribution (k > 1: failures rise with age).")
    ask_policy: AskPolicyUnion = Field(  # type: ignore[valid-type]
        default_factory=CostPlusAsk, description=f"How the node sets its ask ({AskPolicy.registry.describe()}).")

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroup:
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
        """Capacity classes (GPU models, storage media) this group's nodes can have (weight above zero)."""
        return [m for m, w in self.gpu_model.items() if w > 0]

    # The fleet also reads, per unit of capacity (a GPU, or a TiB of storage): gpu_model (the capacity
    # classes), gpus_per_node, capex_usd_per_gpu, other_opex_usd_per_gpu_hour (distributions),
    # amortisation_years and fabric: fields of a GPU group, properties of a storage group.

    def unit_costs(self, watts: np.ndarray, pue: np.ndarray, electricity: np.ndarray, capex: np.ndarray,
                   years: np.ndarray, opex: np.ndarray, marginal_extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(marginal, fixed) USD per unit-hour of capacity: what a unit sold costs beyond one left idle, and
        what every installed unit costs whether sold or not."""
        raise NotImplementedError

    def deal_cost_usd_per_unit_hour(self) -> float:
        """A sale's own cost beyond power, per unit-hour (none for a GPU)."""
        return 0.0


class ProviderGroup(NodeGroup):
    """A population of GPU nodes; each node draws its attributes from these distributions.

    A GPU draws its power only while it works, so power is the marginal cost of a GPU-hour sold; capex
    written off over the amortisation period and other opex are fixed."""

    model_config = examples({"name": "h100", "count": 2, "gpu_model": "H100_SXM"})
    resource: Literal["gpu"] = Field(default="gpu", exclude=True,
                                     description="gpu (the default; storage groups say resource: storage).")
    gpu_model: Categorical = Field(
        description="GPU model of each node: a model name from the GPU catalog, or a mapping "
        "model -> probability (summing to 1, e.g. {H100_SXM: 0.7, A100_80GB: 0.3})."
    )
    gpus_per_node: CountChoice = Field(
        default={8: 1.0}, description="GPUs per node: an integer, or a mapping count -> probability (summing to 1)."
    )
    capex_usd_per_gpu: NonNegative | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Purchase cost per GPU, USD. Default: the catalog purchase price of the model. "
        "0 for paid-off hardware (sunk cost).",
    )
    amortisation_years: float = Field(default=3.0, gt=0, description="Years over which capex is written off.")
    other_opex_usd_per_gpu_hour: NonNegative = Field(  # type: ignore[valid-type]
        default=0.05,
        description="Hosting, bandwidth and staff per installed GPU-hour, USD (assumption).",
    )
    fabric: Literal["none", "infiniband"] = Field(
        default="none",
        description="Network between the group's nodes in one region: infiniband for a datacentre fabric "
        "(multi-node training runs at InfiniBand speed), none for nodes that reach each other over the internet.")

    @model_validator(mode="after")
    def _known_models(self) -> ProviderGroup:
        check_gpu_models(list(self.gpu_model), f"provider group {self.name!r}")
        return self

    def unit_costs(self, watts: np.ndarray, pue: np.ndarray, electricity: np.ndarray, capex: np.ndarray,
                   years: np.ndarray, opex: np.ndarray, marginal_extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return watts / 1000.0 * pue * electricity, capex / (years * HOURS_PER_YEAR) + opex


class StorageProviderGroup(NodeGroup):
    """A population of storage nodes (Filecoin-style storage providers): capacity in TiB of sealed storage.

    Every sealed TiB draws power and proves its storage whether it holds a client's data or committed
    capacity, so power is a fixed cost of storage; the marginal cost of a deal is sealing the client's
    data into a sector, spread over the sector's life. That is why a capacity-style reward (Filecoin's
    power) can push a storage price to zero: there is little marginal cost left for a buyer to pay."""

    model_config = examples({"resource": "storage", "name": "sps", "count": 10, "media": "hdd_sealed",
                             "tib_per_node": 1024})
    resource: Literal["storage"] = Field(description="storage: this group offers storage capacity (TiB).")
    media: str = Field(default="hdd_sealed", description="Storage medium of every node (sim/data/storage.yaml).")
    tib_per_node: CountChoice = Field(
        default={1024: 1.0}, description="Sealed capacity per node, TiB: an integer, or a mapping TiB -> probability.")
    capex_usd_per_tib: NonNegative | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Purchase cost per TiB of sealed capacity, USD (default: the medium's catalog figure).")
    amortisation_years: float = Field(
        default=5.0, gt=0, description="Years over which capex is written off (default 5: assumption, a hard "
        "disk's service life in a datacentre).")
    other_opex_usd_per_tib_month: float = Field(
        default=0.5, ge=0, description="Hosting, bandwidth and proving per installed TiB-month, USD (assumption).")
    sealing_usd_per_tib: float | None = Field(
        default=None, ge=0, description="Cost of sealing one TiB of a client's data, USD. Default: the medium's "
        "catalog figure.")
    sector_days: float = Field(
        default=540.0, gt=0, description="Days over which a sealed sector's sealing cost is recovered (default: "
        "540, Filecoin's longest sector life): the sealing share of a deal's marginal cost per TiB-hour.")

    @model_validator(mode="after")
    def _known_media(self) -> StorageProviderGroup:
        spec = hardware_models().get(self.media)
        if spec is None or spec.resource != "storage":
            known = [m for m, v in hardware_models().items() if v.resource == "storage"]
            raise ValueError(f"unknown storage medium {self.media!r} in provider group {self.name!r}; allowed: "
                             f"{', '.join(known)}")
        return self

    @property
    def gpu_model(self) -> dict[str, float]:  # type: ignore[override]
        return {self.media: 1.0}

    @property
    def gpus_per_node(self) -> dict[int, float]:  # type: ignore[override]
        return self.tib_per_node

    @property
    def capex_usd_per_gpu(self) -> Distribution | None:  # type: ignore[override]
        return self.capex_usd_per_tib

    @property
    def other_opex_usd_per_gpu_hour(self) -> Distribution:  # type: ignore[override]
        return Constant(value=self.other_opex_usd_per_tib_month / HOURS_PER_MONTH)

    @property
    def fabric(self) -> str:  # type: ignore[override]
        return "none"

    def unit_costs(self, watts: np.ndarray, pue: np.ndarray, electricity: np.ndarray, capex: np.ndarray,
                   years: np.ndarray, opex: np.ndarray, marginal_extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sealing is marginal (``marginal_extra``, per TiB-hour); power, capex and other opex are fixed."""
        return marginal_extra, watts / 1000.0 * pue * electricity + capex / (years * HOURS_PER_YEAR) + opex

    def deal_cost_usd_per_unit_hour(self) -> float:
        """Sealing the client's data, spread over the sector's life."""
        sealing = self.sealing_usd_per_tib
        if sealing is None:
            sealing = storage_catalog().media[self.media].sealing_usd_per_tib.value
        return sealing / (self.sector_days * HOURS_PER_DAY)


AnyProviderGroup = NodeGroup.registry.union()
"""A provider group of any resource: GPU groups name no resource (as before storage existed)."""
