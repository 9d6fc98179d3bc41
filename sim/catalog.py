"""Catalogs of GPU models, storage media and cloud offers, read from the package's data files.

Figures from the world live in ``sim/data/*.yaml`` with a source and a date, never in code; this module
validates those files and turns them into the per-GPU-hour numbers the model uses.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

from .units import HOURS_PER_MONTH

CloudPriceKind = Literal["on_demand", "spot", "reserved", "capacity_block"]
CLOUD_PRICE_KINDS: tuple[CloudPriceKind, ...] = ("on_demand", "spot", "reserved", "capacity_block")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Grade = Literal["primary", "mirror", "secondary", "derived", "assumption", "definition"]
PRICE_UNITS = ("USD per instance-hour", "USD per GPU-hour", "USD per GB-month")
GB_PER_TIB = 1024.0
"""AWS bills storage per GB of 2^30 bytes, so a TiB is 1,024 of them (S3 Standard $0.023 = $23.55/TiB-month)."""


class Sourced(_Strict):
    """A figure from the world, with its unit, where it comes from, when it was true, and how much to trust
    the source (an assumption is graded as one, and its text must say so, so neither can hide)."""

    value: float
    unit: str = Field(min_length=1)
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)
    grade: Grade

    @model_validator(mode="after")
    def _assumption_says_so(self) -> Sourced:
        if (self.grade == "assumption") != self.source.lower().startswith("assumption"):
            starts = "does not start" if self.grade == "assumption" else "starts"
            raise ValueError(f"grade {self.grade!r} but the source text {starts} with 'assumption': "
                             f"{self.source[:80]!r}")
        return self


class GpuModel(_Strict):
    resource: ClassVar[str] = "gpu"
    """The resource a unit of this model's capacity is (job kinds accept only their own resource)."""
    memory_gb: Sourced
    tdp_watts: Sourced
    purchase_usd: Sourced
    training_throughput_rel: Sourced
    inference_throughput_rel: Sourced

    def unit_capex_usd(self) -> float:
        """Purchase price of one unit of capacity (a GPU)."""
        return self.purchase_usd.value

    def unit_watts(self) -> float:
        """Power of one unit of capacity at work (a GPU's TDP)."""
        return self.tdp_watts.value


class StorageMedia(_Strict):
    """A storage provider's capacity, per TiB of sealed capacity (the engine's capacity unit for storage)."""

    resource: ClassVar[str] = "storage"
    description: str
    capex_usd_per_tib: Sourced
    watts_per_tib: Sourced
    sealing_usd_per_tib: Sourced
    sealing_tib_per_day: Sourced

    def unit_capex_usd(self) -> float:
        """Purchase price of one unit of capacity (a TiB)."""
        return self.capex_usd_per_tib.value

    def unit_watts(self) -> float:
        """Power of one unit of capacity (a sealed TiB)."""
        return self.watts_per_tib.value


class StorageCatalog(_Strict):
    catalog: str
    media: dict[str, StorageMedia]


class ReferenceInference(_Strict):
    prefill_tokens_per_s: Sourced
    decode_tokens_per_s: Sourced


class GpuCatalog(_Strict):
    catalog: str
    reference_model: str
    reference_inference: ReferenceInference
    models: dict[str, GpuModel]

    def service_seconds(self, model: str, context_tokens: np.ndarray, generated_tokens: np.ndarray) -> np.ndarray:
        """Seconds one GPU of ``model`` spends on each request (prefill, then decode)."""
        ref = self.reference_inference
        speed = self.models[model].inference_throughput_rel.value
        return (np.asarray(context_tokens) / ref.prefill_tokens_per_s.value
                + np.asarray(generated_tokens) / ref.decode_tokens_per_s.value) / speed


class CloudOffer(_Strict):
    gpu_model: str
    gpus: int = Field(gt=0)
    on_demand: Sourced | None
    spot_low: Sourced | None
    spot_high: Sourced | None
    spot_interruptions_per_hour: Sourced | None
    reserved: Sourced | None = None
    """The venue's own commitment price; without one, AWS's is on-demand less the savings-plan discount."""
    capacity_block: Sourced | None

    @model_validator(mode="after")
    def _complete(self) -> CloudOffer:
        if (self.spot_low is None) != (self.spot_interruptions_per_hour is None) or \
                (self.spot_low is None) != (self.spot_high is None):
            raise ValueError("an offer with spot prices needs spot_low, spot_high and spot_interruptions_per_hour "
                             "(and one without, all three null)")
        prices = [f for f in (self.on_demand, self.spot_low, self.spot_high, self.reserved, self.capacity_block) if f]
        if not prices:
            raise ValueError("an offer needs at least one price")
        wrong = [f.unit for f in prices if f.unit not in PRICE_UNITS]
        if wrong:
            raise ValueError(f"price unit {wrong[0]!r}; allowed: {', '.join(PRICE_UNITS)}")
        return self

    def _per_gpu(self, figure: Sourced) -> float:
        """Per unit of capacity and hour: a GPU-hour, or for storage a TiB-hour."""
        if figure.unit == "USD per GB-month":
            return figure.value * GB_PER_TIB / HOURS_PER_MONTH / self.gpus
        return figure.value / self.gpus if figure.unit == "USD per instance-hour" else figure.value

    def usd_per_gpu_hour(self, kind: CloudPriceKind, savings_plan_discount: float | None) -> float:
        """Per-GPU price of one kind; NaN where no figure exists (the offer is then unavailable at that kind)."""
        if kind == "on_demand":
            return self._per_gpu(self.on_demand) if self.on_demand else math.nan
        if kind == "reserved":
            if self.reserved is not None:
                return self._per_gpu(self.reserved)
            if self.on_demand is None or savings_plan_discount is None:
                return math.nan
            return self._per_gpu(self.on_demand) * (1.0 - savings_plan_discount)
        if kind == "spot":
            if self.spot_low is None or self.spot_high is None:
                return math.nan
            return 0.5 * (self._per_gpu(self.spot_low) + self._per_gpu(self.spot_high))
        return self._per_gpu(self.capacity_block) if self.capacity_block else math.nan


class PriceSet(_Strict):
    description: str
    savings_plan_discount: Sourced | None
    egress_usd_per_gb: Sourced | None = None
    """A storage venue's internet egress price, for the record (deals are not read back: see cloud_storage.yaml)."""
    offers: dict[str, CloudOffer]

    def price(self, offer: str, kind: CloudPriceKind) -> float:
        discount = self.savings_plan_discount.value if self.savings_plan_discount else None
        return self.offers[offer].usd_per_gpu_hour(kind, discount)


class Venue(_Strict):
    """One centralised alternative a buyer can rent from: a cloud, a neocloud or a marketplace."""

    kind: Literal["hyperscaler", "neocloud", "marketplace"]
    description: str
    region: str
    spot_notice_minutes: Sourced | None
    default_price_set: str
    unpriced: dict[str, str] = {}
    """Offers known to exist with no price found, and what was searched: documented gaps, not guesses."""
    price_sets: dict[str, PriceSet]

    @model_validator(mode="after")
    def _consistent(self) -> Venue:
        if self.default_price_set not in self.price_sets:
            raise ValueError(f"default_price_set {self.default_price_set!r} is not one of {', '.join(self.price_sets)}")
        if self.spot_notice_minutes is None and any(
                o.spot_low is not None for ps in self.price_sets.values() for o in ps.offers.values()):
            raise ValueError("a venue with spot offers needs spot_notice_minutes")
        return self


class CloudCatalog(_Strict):
    venues: dict[str, Venue]

    @property
    def price_sets(self) -> dict[str, PriceSet]:
        """Every venue's price sets by name (names are unique across venues)."""
        return {name: ps for v in self.venues.values() for name, ps in v.price_sets.items()}


CLOUD_FILES = ("cloud_aws.yaml", "cloud_venues.yaml", "cloud_storage.yaml")


def _read(name: str) -> object:
    text = resources.files("sim").joinpath("data", name).read_text(encoding="utf-8")
    return YAML(typ="safe").load(text)


@cache
def gpu_catalog() -> GpuCatalog:
    """The bundled GPU catalog (validated once per process)."""
    return GpuCatalog.model_validate(_read("gpus.yaml"))


@cache
def storage_catalog() -> StorageCatalog:
    """The bundled storage media (validated once per process)."""
    return StorageCatalog.model_validate(_read("storage.yaml"))


@cache
def hardware_models() -> dict[str, GpuModel | StorageMedia]:
    """Every capacity class a provider can offer, by name: the GPU models, then the storage media."""
    gpus, media = gpu_catalog().models, storage_catalog().media
    both = set(gpus) & set(media)
    if both:
        raise ValueError(f"{', '.join(sorted(both))}: named both a GPU model and a storage medium")
    return {**gpus, **media}


def display_unit(model: str) -> tuple[str, float]:
    """How a capacity class's prices are shown (tables keep USD per unit-hour): the unit, and the factor from
    USD per unit-hour to it. GPUs per GPU-hour; storage per TiB-month, as clouds price it."""
    if hardware_models()[model].resource == "storage":
        return "USD per TiB-month", HOURS_PER_MONTH
    return "USD per GPU-hour", 1.0


@cache
def cloud_catalog() -> CloudCatalog:
    """The bundled venues and their price sets, from every cloud file (validated once per process)."""
    venues: dict[str, object] = {}
    known = hardware_models()
    for name in CLOUD_FILES:
        data = _read(name)
        assert isinstance(data, dict)
        for venue, body in data["venues"].items():
            if venue in venues:
                raise ValueError(f"{name}: venue {venue!r} is defined in two cloud files")
            venues[venue] = body
    catalog = CloudCatalog.model_validate({"venues": venues})
    seen: set[str] = set()
    for venue_name, venue in catalog.venues.items():
        for set_name, price_set in venue.price_sets.items():
            if set_name in seen:
                raise ValueError(f"price set {set_name!r} is defined by two venues")
            seen.add(set_name)
            for offer_name, offer in price_set.offers.items():
                if offer.gpu_model not in known:
                    raise ValueError(f"{venue_name}.{set_name}.{offer_name} names unknown GPU {offer.gpu_model}")
    return catalog


def catalog_fingerprint() -> dict[str, object]:
    """Every catalog as plain data, so a scenario hash changes when a catalog figure changes."""
    return {"gpus": gpu_catalog().model_dump(mode="json"), "storage": storage_catalog().model_dump(mode="json"),
            "cloud": cloud_catalog().model_dump(mode="json")}
