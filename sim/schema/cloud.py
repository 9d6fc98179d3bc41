"""The centralised-cloud baseline a buyer can always take instead: which AWS prices, which price kind."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from ..catalog import CloudPriceKind, cloud_catalog
from .core import StrictModel


class CloudSettings(StrictModel):
    """Which AWS prices the buyers can always fall back on."""

    price_set: str = Field(
        default="aws_2025_post_cut",
        description="Name of the AWS price set in sim/data/cloud_aws.yaml "
        "(aws_2025_pre_cut or aws_2025_post_cut: before/after the June 2025 P4/P5 price cut).",
    )
    buyer_price: CloudPriceKind = Field(
        default="on_demand",
        description="Which AWS price buyers compare the network against: on_demand, spot (midpoint of "
        "the observed range), reserved (savings-plan price) or capacity_block.",
    )

    spot_interruptions_per_hour: float | None = Field(
        default=None, ge=0,
        description="When buyers use spot: reclaims per instance-hour, for every offer (default: the catalog's "
        "per-offer figures, which are assumptions). A reclaim gives the catalog's notice (two minutes); a "
        "job restarts on a new instance and loses the work since its last checkpoint unless the notice is "
        "long enough to write one.")

    def offered_models(self) -> list[str]:
        """The GPU models of the price set's offers that have a price of the buyers' kind."""
        price_set = cloud_catalog().price_sets[self.price_set]
        return [o.gpu_model for name, o in price_set.offers.items()
                if math.isfinite(price_set.price(name, self.buyer_price))]

    @model_validator(mode="after")
    def _known_set(self) -> CloudSettings:
        sets = cloud_catalog().price_sets
        if self.price_set not in sets:
            raise ValueError(f"unknown price_set {self.price_set!r}; allowed: {', '.join(sets)}")
        return self
