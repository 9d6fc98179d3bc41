"""The centralised-cloud baseline: AWS at catalog prices, unlimited capacity, always available.

Buyers compare every network offer with the cheapest AWS offer that can run the same job; the epoch
table compares each network GPU class with the AWS price for that GPU, or, where AWS has no such GPU
(consumer cards), with the AWS price of the same work converted to this GPU's hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalog import CLOUD_PRICE_KINDS, CloudOffer, CloudPriceKind, GpuModel, cloud_catalog, gpu_catalog
from .schema.cloud import CloudSettings
from .schema.jobs import JobKind


@dataclass(frozen=True)
class CloudBaseline:
    """The offers of one AWS price set, as arrays by offer."""

    price_set: str
    buyer_price: CloudPriceKind
    offers: tuple[str, ...]
    offer_gpu: tuple[str, ...]
    prices: dict[CloudPriceKind, np.ndarray]
    """Per offer, USD per GPU-hour; NaN where the offer has no price of that kind."""
    instance_gpus: np.ndarray
    interruptions_per_hour: np.ndarray
    """Per offer, reclaims per instance-hour at the buyers' price kind (0 unless they buy spot)."""
    notice_hours: float

    @property
    def buyer_prices(self) -> np.ndarray:
        return self.prices[self.buyer_price]

    def offer_model(self, o: int) -> GpuModel:
        """The GPU of offer o."""
        return gpu_catalog().models[self.offer_gpu[o]]

    def eligible(self, job: JobKind) -> list[int]:
        """Offers whose GPU the job accepts (its GPU models, its memory), at the buyers' price kind."""
        return [i for i, gpu in enumerate(self.offer_gpu) if job.accepts(gpu) and np.isfinite(self.buyer_prices[i])]

    def cheapest_per_work(self, job: JobKind) -> float:
        """The lowest price per unit of the job's work among the offers it accepts (inf if none)."""
        return min((self.buyer_prices[o] / job.speed(self.offer_model(o)) for o in self.eligible(job)),
                   default=np.inf)

    def reference(self, classes: tuple[str, ...]) -> pd.DataFrame:
        """Per network GPU class, the AWS prices to compare against (USD per GPU-hour of that class)."""
        models = gpu_catalog().models
        rows = []
        for cls in classes:
            same = [i for i, gpu in enumerate(self.offer_gpu) if gpu == cls]
            if same:
                i, factor, label = same[0], 1.0, self.offers[same[0]]
            else:
                tau = models[cls].training_throughput_rel.value
                memory = models[cls].memory_gb.value
                fits = [i for i, gpu in enumerate(self.offer_gpu) if models[gpu].memory_gb.value >= memory]
                per_work = [self.prices["on_demand"][i] / models[self.offer_gpu[i]].training_throughput_rel.value
                            for i in fits]
                if not fits:
                    rows.append({"gpu_class": cls, "aws_reference_offer": "none"}
                                | {f"aws_{kind}_usd_per_gpu_hour": np.nan for kind in CLOUD_PRICE_KINDS})
                    continue
                i = fits[int(np.argmin(per_work))]
                factor = tau / models[self.offer_gpu[i]].training_throughput_rel.value
                label = f"{self.offers[i]} (work-equivalent)"
            row = {"gpu_class": cls, "aws_reference_offer": label}
            for kind in CLOUD_PRICE_KINDS:
                row[f"aws_{kind}_usd_per_gpu_hour"] = self.prices[kind][i] * factor
            rows.append(row)
        return pd.DataFrame(rows)


def build_cloud(settings: CloudSettings) -> CloudBaseline:
    """The scenario's price set, at the price kind its buyers compare against."""
    price_set = cloud_catalog().price_sets[settings.price_set]
    offers = tuple(price_set.offers)
    return CloudBaseline(
        price_set=settings.price_set,
        buyer_price=settings.buyer_price,
        offers=offers,
        offer_gpu=tuple(price_set.offers[o].gpu_model for o in offers),
        prices={kind: np.array([price_set.price(o, kind) for o in offers]) for kind in CLOUD_PRICE_KINDS},
        instance_gpus=np.array([price_set.offers[o].gpus for o in offers], dtype=np.int64),
        interruptions_per_hour=np.array([_spot_rate(settings, price_set.offers[o]) for o in offers]),
        notice_hours=cloud_catalog().spot_notice_minutes.value / 60.0,
    )


def _spot_rate(settings: CloudSettings, offer: CloudOffer) -> float:
    if settings.buyer_price != "spot":
        return 0.0
    if settings.spot_interruptions_per_hour is not None:
        return settings.spot_interruptions_per_hour
    return offer.spot_interruptions_per_hour.value if offer.spot_interruptions_per_hour is not None else 0.0
