"""Catalogs of GPU models and cloud offers, read from the package's data files.

Figures from the world live in ``sim/data/*.yaml`` with a source and a date, never in code; this module
validates those files and turns them into the per-GPU-hour numbers the model uses.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

CloudPriceKind = Literal["on_demand", "spot", "reserved", "capacity_block"]
CLOUD_PRICE_KINDS: tuple[CloudPriceKind, ...] = ("on_demand", "spot", "reserved", "capacity_block")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    """A figure from the world, with where it comes from and when it was true."""

    value: float
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)


class GpuModel(_Strict):
    memory_gb: Sourced
    tdp_watts: Sourced
    purchase_usd: Sourced
    training_throughput_rel: Sourced
    inference_throughput_rel: Sourced


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
    on_demand: Sourced
    spot_low: Sourced | None
    spot_high: Sourced | None
    spot_interruptions_per_hour: Sourced | None
    capacity_block: Sourced | None

    @model_validator(mode="after")
    def _spot_complete(self) -> CloudOffer:
        if (self.spot_low is None) != (self.spot_interruptions_per_hour is None):
            raise ValueError("an offer with spot prices needs spot_interruptions_per_hour (and one without, null)")
        return self

    def usd_per_gpu_hour(self, kind: CloudPriceKind, savings_plan_discount: float) -> float:
        """Per-GPU price of one kind; NaN where no figure exists (the offer is then unavailable)."""
        if kind == "on_demand":
            instance = self.on_demand.value
        elif kind == "reserved":
            instance = self.on_demand.value * (1.0 - savings_plan_discount)
        elif kind == "spot":
            if self.spot_low is None or self.spot_high is None:
                return math.nan
            instance = 0.5 * (self.spot_low.value + self.spot_high.value)
        else:
            if self.capacity_block is None:
                return math.nan
            instance = self.capacity_block.value
        return instance / self.gpus


class PriceSet(_Strict):
    description: str
    savings_plan_discount: Sourced
    offers: dict[str, CloudOffer]

    def price(self, offer: str, kind: CloudPriceKind) -> float:
        return self.offers[offer].usd_per_gpu_hour(kind, self.savings_plan_discount.value)


class CloudCatalog(_Strict):
    provider: str
    region: str
    spot_notice_minutes: Sourced
    price_sets: dict[str, PriceSet]


def _read(name: str) -> object:
    text = resources.files("sim").joinpath("data", name).read_text(encoding="utf-8")
    return YAML(typ="safe").load(text)


@cache
def gpu_catalog() -> GpuCatalog:
    """The bundled GPU catalog (validated once per process)."""
    return GpuCatalog.model_validate(_read("gpus.yaml"))


@cache
def cloud_catalog() -> CloudCatalog:
    """The bundled AWS price sets (validated once per process)."""
    catalog = CloudCatalog.model_validate(_read("cloud_aws.yaml"))
    known = gpu_catalog().models
    for set_name, price_set in catalog.price_sets.items():
        for offer_name, offer in price_set.offers.items():
            if offer.gpu_model not in known:
                raise ValueError(f"cloud_aws.yaml: {set_name}.{offer_name} names unknown GPU {offer.gpu_model}")
    return catalog


def catalog_fingerprint() -> dict[str, object]:
    """Both catalogs as plain data, so a scenario hash changes when a catalog figure changes."""
    return {"gpus": gpu_catalog().model_dump(mode="json"), "cloud": cloud_catalog().model_dump(mode="json")}
