"""The scenario: everything a run depends on, validated, frozen and documented field by field.

The schema is the documentation an analyst reads (``depinsim schema`` exports it as JSON Schema), so
every field states its unit and meaning. Pluggable mechanisms are families keyed by ``kind``
(``sim.schema.core``): a new mechanism is one class in its family's module.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from pydantic import Field, model_validator

from ..catalog import catalog_fingerprint, hardware_models
from ..topology import region_data
from ..units import HOURS_PER_DAY, HOURS_PER_MONTH
from .chain import ChainSettings
from .cloud import CloudSettings
from .core import StrictModel
from .emission import ConstantEmission
from .market import Market, MarketMechanism, PostedPriceMarket
from .providers import AnyProviderGroup
from .shocks import AnyShock, Shock
from .tokenomics import Tokenomics
from .workload import Workload

SCHEMA_VERSION = 1


class Scenario(StrictModel):
    """A complete, self-describing experiment: same scenario + same seed = same results."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Version of this schema (1).")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Short identifier (letters, digits, _ . -).")
    description: str = Field(default="", description="What this scenario shows, in a sentence or two.")
    seed: int = Field(default=0, ge=0, description="Root seed; every random stream derives from it.")
    horizon_days: float = Field(default=365.0, gt=0, le=3650, description="Simulated time, days.")
    epoch_hours: float = Field(
        default=24.0, gt=0, description="Epoch length, hours: rewards, prices and statistics are per epoch."
    )
    cloud: CloudSettings = Field(default_factory=CloudSettings,
                                 description="The centralised alternatives buyers can always take (default: AWS).")
    providers: tuple[AnyProviderGroup, ...] = Field(  # type: ignore[valid-type]
        min_length=1, description="Provider node groups: GPU nodes, or storage nodes (resource: storage).")
    workload: Workload = Field(description="Demand.")
    market: Market = Field(  # type: ignore[valid-type]
        default_factory=PostedPriceMarket,
        description=f"Market mechanism ({MarketMechanism.registry.describe()}).")
    tokenomics: Tokenomics = Field(default_factory=Tokenomics, description="Token rewards and price.")
    shocks: tuple[AnyShock, ...] = Field(  # type: ignore[valid-type]
        default=(),
        description="Events that hit the run from a month on (the stress battery's overlays; "
        f"{Shock.registry.describe()}): a token price drop, an emission cut, an alternative's price cut, a new "
        "GPU generation, a demand drop, a token unlock.")
    chain: ChainSettings = Field(
        default_factory=ChainSettings,
        description="Settlement through per-job contracts for a sample of leases (booked off-chain too).")
    counterfactual: bool = Field(
        default=False,
        description="Also run the same scenario with no token emission, on the same random draws (same jobs, "
        "nodes and failures), and report the subsidy's incidence (summary['incidence']): per GPU class, the "
        "price change per dollar of reward and who kept the reward. Doubles the run time.")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.epoch_hours > self.horizon_days * HOURS_PER_DAY:
            raise ValueError(f"epoch_hours ({self.epoch_hours}) must not exceed the horizon "
                             f"({self.horizon_days * HOURS_PER_DAY} hours)")
        burn = self.tokenomics.emission.payment_burn_share()
        if self.market.protocol_fee_share + burn > 1:
            raise ValueError(f"market.protocol_fee_share ({self.market.protocol_fee_share}) + emission.burn_share "
                             f"({burn}) must not exceed 1: they are both taken out of each payment")
        self._check_stakes()
        self._check_streams_servable()
        self._check_outside_option()
        self._check_comparable()
        self._check_shocks()
        below = [g.name for g in self.providers if g.ask_policy.may_ask_below_zero()]
        if below and self.market.escrow:
            raise ValueError(f"provider group {below[0]!r} may ask below zero (ask_policy.below_zero), but market "
                             f"{self.market.kind!r} settles through escrow, which holds only what buyers pay in: use "
                             "uniform_clearing or posted_price, or set below_zero: false")
        if self.chain.escrow_sample_share > 0 and not self.market.escrow:
            raise ValueError(f"chain.escrow_sample_share ({self.chain.escrow_sample_share}) locks sampled leases in "
                             f"escrow, but market {self.market.kind!r} pays each job once, when it ends, with no "
                             "escrow: use the reverse_auction market, or set escrow_sample_share: 0")
        for i, stream in enumerate(self.workload.streams):
            why = stream.job.beyond_horizon(self.horizon_days * HOURS_PER_DAY)
            if why:
                raise ValueError(f"workload.streams.{i}.job ({stream.name!r}): {why}")
        names = [g.name for g in self.providers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"provider group names must be unique; repeated: {', '.join(dupes)}")
        return self

    def _check_streams_servable(self) -> None:
        """A stream whose jobs no provider group and no alternative's offer could ever run means nothing: refuse it."""
        network = sorted({m for g in self.providers for m in g.offered_models()})
        cloud = sorted(set(self.cloud.offered_models()))
        models = hardware_models()
        for i, stream in enumerate(self.workload.streams):
            job = stream.job
            if not any(models[m].resource == job.resource for m in network):
                raise ValueError(
                    f"workload.streams.{i} ({stream.name!r}) rents {job.resource} ({job.requirement()}), but no "
                    f"provider group offers {job.resource} (they offer {', '.join(map(_capacity_label, network))}). "
                    + ("Storage deals need a group with resource: storage" if job.resource == "storage" else
                       "GPU jobs need a group with GPUs (gpu_model)") + ", or remove the stream")
            if not any(job.accepts(m) for m in [*network, *cloud]):
                listed = ", ".join(_capacity_label(m) for m in network)
                raise ValueError(
                    f"workload.streams.{i} ({stream.name!r}) needs {job.requirement()}, but no provider group offers "
                    f"it (they offer {listed}) and no offer of the alternatives ({self.cloud.describe()}) "
                    f"does either ({', '.join(cloud) or 'none'}): its jobs could never run anywhere. Relax the "
                    "job's requirement, add a provider group that offers it (storage deals need a group with "
                    "resource: storage), or add an alternative that has it")

    def _check_outside_option(self) -> None:
        """Clearing prices and adaptive asks are bounded above by the buyers' outside option: every buyer
        must have one (an offer of the alternatives its job accepts), or the price could rise without limit."""
        adaptive = [g.name for g in self.providers if g.ask_policy.kind == "adaptive"]
        if not (self.market.clears or adaptive):
            return
        cloud = sorted(set(self.cloud.offered_models()))
        who = (f"market {self.market.kind!r}" if self.market.clears
               else f"the adaptive ask policy of provider group {adaptive[0]!r}")
        for i, stream in enumerate(self.workload.streams):
            if not any(stream.job.accepts(m) for m in cloud):
                raise ValueError(
                    f"workload.streams.{i} ({stream.name!r}) has no outside option: no offer of the alternatives "
                    f"({self.cloud.describe()}: {', '.join(cloud) or 'none'}) fits its job "
                    f"({stream.job.requirement()}), but {who} needs one to bound prices from above. Add an "
                    "alternative or a price kind with such a GPU, relax the job's requirement, or use "
                    "the posted_price market with cost_plus or shutdown asks")

    def _check_comparable(self) -> None:
        """Every network GPU class is compared with a centralised price: the same GPU at some alternative, or
        one with at least its memory whose price converts to a work-equivalent. A class with neither would
        have no undercut ratio at all."""
        models = hardware_models()
        offered = sorted(set(self.cloud.offered_models()))
        for i, group in enumerate(self.providers):
            for m in group.offered_models():
                if m in offered or any(models[o].resource == models[m].resource == "gpu"
                                       and models[o].memory_gb.value >= models[m].memory_gb.value for o in offered):
                    continue
                if models[m].resource != "gpu":
                    raise ValueError(
                        f"providers.{i} ({group.name!r}) offers {m} storage, but no alternative "
                        f"({self.cloud.describe()}) offers storage to compare it with (they offer "
                        f"{', '.join(offered)}). Add one: e.g. cloud.alternatives: [{{venue: aws_s3, offers: "
                        "[s3_standard]}] (sim/data/cloud_storage.yaml)")
                raise ValueError(
                    f"providers.{i} ({group.name!r}) offers {_capacity_label(m)}, but no alternative "
                    f"({self.cloud.describe()}) has that GPU or one with as much memory to compare it with as a "
                    f"work-equivalent (they offer {', '.join(offered)}). Add an alternative that offers {m} "
                    "(cloud.alternatives; venues and their GPUs are in sim/data/cloud_*.yaml)")

    def _check_shocks(self) -> None:
        alternatives = [alt.name for alt in self.cloud.alternatives]
        streams = [s.name for s in self.workload.streams]
        for i, shock in enumerate(self.shocks):
            if shock.needs_exogenous_token_price() and self.tokenomics.token_price.endogenous:
                raise ValueError(f"shocks.{i} ({shock.kind}) moves a token price path, but "
                                 f"tokenomics.token_price is {self.tokenomics.token_price.kind!r}, whose price the "
                                 "run's own flows set: use an exogenous price (gbm, csv, constant)")
            if shock.needs_endogenous_token_price() and not self.tokenomics.token_price.endogenous:
                raise ValueError(f"shocks.{i} ({shock.kind}) sells into the run's own token market, but "
                                 f"tokenomics.token_price is {self.tokenomics.token_price.kind!r}, a path no sale "
                                 "moves: use kind amm")
            if shock.needs_exit() and not any(g.exit_after_negative_epochs for g in self.providers):
                raise ValueError(f"shocks.{i} ({shock.kind}) acts through providers leaving, but no provider group "
                                 "can leave: set exit_after_negative_epochs on at least one of providers")
            named = getattr(shock, "alternative", None)
            if named is not None and named != "all" and named not in alternatives:
                raise ValueError(f"shocks.{i}.alternative {named!r} is not one of the scenario's alternatives "
                                 f"({', '.join(alternatives)}) or 'all'")
            unknown = [name for name in getattr(shock, "streams", None) or () if name not in streams]
            if unknown:
                raise ValueError(f"shocks.{i}.streams names unknown streams {unknown}; the scenario's: "
                                 f"{', '.join(streams)}")
            if shock.month * HOURS_PER_MONTH >= self.horizon_days * HOURS_PER_DAY:
                raise ValueError(f"shocks.{i}.month ({shock.month:g}) is at or after the horizon "
                                 f"({self.horizon_days * HOURS_PER_DAY / HOURS_PER_MONTH:.1f} months)")

    def _check_stakes(self) -> None:
        """The initial nodes must be able to buy their stakes without draining the market."""
        tok = self.tokenomics
        per_gpu = tok.staking.tokens_per_gpu
        if per_gpu <= 0:
            return
        gpus = sum(g.count * max(g.gpus_per_node) for g in self.providers)
        need = per_gpu * gpus
        available, where = tok.token_price.tokens_for_stakes(tok.initial_supply_tokens)
        if need > available:
            raise ValueError(f"the initial nodes' stakes need up to {need:,.0f} tokens (staking.tokens_per_gpu x "
                             f"their GPUs) but {where} is {available:,.0f}; deepen the pool, raise the supply, "
                             "or lower tokens_per_gpu")

    def warnings(self) -> list[str]:
        """Valid but probably not what was meant: each a one-paragraph note for the run's summary and the
        command line. An AMM price moves only with the flows through its pool; with none, the token
        stays at its initial price and rewards are booked at a price nobody could sell at."""
        tok, market = self.tokenomics, self.market
        if not tok.token_price.endogenous:
            return []
        speculation = getattr(tok.token_price, "speculative_flow_usd_per_day", None)
        flows = [tok.provider_sell_share > 0, tok.emission.payment_burn_share() > 0,
                 market.fee_destination == "buy_and_burn" and market.protocol_fee_share > 0,
                 speculation is not None and speculation.support() != (0.0, 0.0), tok.staking.tokens_per_gpu > 0]
        if any(flows):
            return []
        return ["tokenomics.token_price is an AMM pool, but nothing trades through it: provider_sell_share is 0, "
                "no payment or fee buys and burns tokens, there is no speculative_flow_usd_per_day and no stake "
                "is bought, so the token price stays at its initial value for the whole run and the rewards' "
                "USD value is booked at a price no provider could realise by selling (summary.json tokens: "
                "reward_usd against provider_sales_usd and provider_tokens_held_liquidation_usd_end). Set "
                "provider_sell_share above 0 or a speculative flow to let the price move."]

    @property
    def horizon_hours(self) -> float:
        return self.horizon_days * HOURS_PER_DAY

    @property
    def n_epochs(self) -> int:
        """Epochs in the horizon (the last may be shorter)."""
        return int(math.ceil(self.horizon_hours / self.epoch_hours - 1e-9))


def _capacity_label(model: str) -> str:
    """A capacity class in messages: a GPU with its memory, or a storage medium."""
    spec = hardware_models()[model]
    return f"{model} ({spec.memory_gb.value:g} GB)" if spec.resource == "gpu" else f"{model} (storage)"


def without_rewards(scenario: Scenario) -> Scenario:
    """The paired counterfactual: the same scenario and seed with no emission (and so no reward, burn or
    self-dealing motive); everything drawn from the seed is the same."""
    tokenomics = scenario.tokenomics.model_copy(update={"emission": ConstantEmission(tokens_per_day=0.0)})
    return scenario.model_copy(update={"tokenomics": tokenomics, "counterfactual": False})


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario and the catalogs it reads: the identity of a result."""
    payload: dict[str, Any] = {"scenario": scenario.model_dump(mode="json"), "catalogs": catalog_fingerprint(),
                               "regions": region_data().model_dump(mode="json")}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario file, for editors and documentation."""
    return Scenario.model_json_schema()
