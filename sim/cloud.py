"""The centralised alternatives: the venues a scenario names (AWS by default), at catalog prices moved by
each venue's price path, with unlimited capacity, always available.

A buyer compares every network offer with the cheapest offer, over all the alternatives, that can run the
same job, priced when the job arrives. The epoch table compares each network GPU class with each
alternative's price for that GPU, or, where the alternative has no such GPU (consumer cards), with its
price for the same work converted to this GPU's hours (labelled "work-equivalent"); and with the AWS price
set's every price kind, as before alternatives existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import (
    CLOUD_PRICE_KINDS,
    CloudOffer,
    CloudPriceKind,
    GpuModel,
    StorageMedia,
    cloud_catalog,
    hardware_models,
)
from .schema.cloud import CloudSettings, PricePath
from .schema.jobs import JobKind
from .schema.shocks import Shock


@dataclass(frozen=True)
class Reference:
    """Per network GPU class, the offer of one alternative it is compared with: the offer's index (-1: none
    fits), the factor turning that offer's GPU-hours into this class's, and the label tables show."""

    offer: np.ndarray
    factor: np.ndarray
    label: tuple[str, ...]


@dataclass(frozen=True)
class CloudBaseline:
    """Every offer of every alternative, as arrays by offer, and each alternative's price path."""

    alternatives: tuple[str, ...]
    """Names (venue and price kind, e.g. ``lambda_on_demand``), in the scenario's order."""
    offers: tuple[str, ...]
    offer_alt: np.ndarray
    """Per offer, the index of its alternative."""
    offer_gpu: tuple[str, ...]
    buyer_prices: np.ndarray
    """Per offer, the catalog USD per GPU-hour at its alternative's price kind (before the path)."""
    instance_gpus: np.ndarray
    interruptions_per_hour: np.ndarray
    """Per offer, reclaims per instance-hour (0 unless its alternative is bought at spot)."""
    notice_hours: np.ndarray
    """Per offer, the reclaim notice of its venue, hours."""
    paths: tuple[PricePath | ShockedPath, ...]
    anchors: tuple[float, ...]
    """Per alternative, the catalog price of its path's anchor offer (NaN: the path needs none)."""
    aws_prices: dict[CloudPriceKind, np.ndarray]
    """The AWS price set's offers at every price kind (USD per GPU-hour, NaN where none), for the epoch
    table's AWS columns; they follow the AWS alternative's path (none: constant)."""
    aws_offers: tuple[str, ...]
    aws_gpu: tuple[str, ...]
    aws_path: int
    """Index of the AWS alternative, or -1."""

    def multipliers(self, t_hours: np.ndarray) -> np.ndarray:
        """Per alternative and time, the multiplier on its catalog prices."""
        t = np.asarray(t_hours, dtype=float)
        return np.array([p.multiplier(t, a) for p, a in zip(self.paths, self.anchors, strict=True)]).reshape(-1, t.size)

    def offer_prices(self, o: int, t_hours: np.ndarray) -> np.ndarray:
        """Offer o's price per GPU-hour at each time."""
        alt = int(self.offer_alt[o])
        return self.buyer_prices[o] * self.paths[alt].multiplier(np.asarray(t_hours, dtype=float), self.anchors[alt])

    def offer_model(self, o: int) -> GpuModel | StorageMedia:
        """The GPU of offer o."""
        return hardware_models()[self.offer_gpu[o]]

    def eligible(self, job: JobKind) -> list[int]:
        """Offers whose GPU the job accepts (its GPU models, its memory)."""
        return [i for i, gpu in enumerate(self.offer_gpu) if job.accepts(gpu)]

    def cheapest_per_work(self, job: JobKind, t_hours: np.ndarray) -> np.ndarray:
        """At each time, the lowest price per unit of the job's work among the offers it accepts (inf if none)."""
        t = np.asarray(t_hours, dtype=float)
        best = np.full(t.size, np.inf)
        for o in self.eligible(job):
            best = np.minimum(best, self.offer_prices(o, t) / job.speed(self.offer_model(o)))
        return best

    def references(self, classes: tuple[str, ...]) -> list[Reference]:
        """Per alternative, what each network class is compared with (at catalog prices, so the label of a
        class does not change when a path moves prices)."""
        return [_reference(classes, [o for o in range(len(self.offers)) if self.offer_alt[o] == a],
                           self.offers, self.offer_gpu, self.buyer_prices) for a in range(len(self.alternatives))]

    def aws_reference(self, classes: tuple[str, ...]) -> Reference:
        """What each class is compared with in the AWS price set (chosen on on-demand prices)."""
        return _reference(classes, list(range(len(self.aws_offers))), self.aws_offers, self.aws_gpu,
                          self.aws_prices["on_demand"])

    def aws_multiplier(self, t_hours: np.ndarray) -> np.ndarray:
        t = np.asarray(t_hours, dtype=float)
        if self.aws_path < 0:
            return np.ones(t.size)
        return self.paths[self.aws_path].multiplier(t, self.anchors[self.aws_path])


def _reference(classes: tuple[str, ...], candidates: list[int], names: tuple[str, ...], gpus: tuple[str, ...],
               prices: np.ndarray) -> Reference:
    """The same GPU where an offer has it, else the offer with at least this class's memory that is cheapest
    per unit of training work, its price converted by throughput (a work-equivalent)."""
    models = hardware_models()
    offer, factor, label = np.full(len(classes), -1, dtype=np.int64), np.ones(len(classes)), []
    for c, cls in enumerate(classes):
        priced = [i for i in candidates if np.isfinite(prices[i])]
        same = [i for i in priced if gpus[i] == cls]
        if same:
            offer[c] = min(same, key=lambda i: prices[i])
            label.append(names[offer[c]])
            continue
        fits = [i for i in priced if models[cls].resource == models[gpus[i]].resource == "gpu"
                and models[gpus[i]].memory_gb.value >= models[cls].memory_gb.value]
        if not fits:
            label.append("none")
            continue
        per_work = [prices[i] / models[gpus[i]].training_throughput_rel.value for i in fits]
        offer[c] = fits[int(np.argmin(per_work))]
        factor[c] = models[cls].training_throughput_rel.value / models[gpus[offer[c]]].training_throughput_rel.value
        label.append(f"{names[offer[c]]} (work-equivalent)")
    return Reference(offer, factor, tuple(label))


@dataclass(frozen=True)
class ShockedPath:
    """An alternative's price path with the scenario's shocks on top (``Shock.alternative_multiplier``):
    a shock composes with any path kind."""

    path: PricePath
    alternative: str
    shocks: tuple[Shock, ...]

    def multiplier(self, t_hours: np.ndarray, anchor_usd: float) -> np.ndarray:
        out = self.path.multiplier(t_hours, anchor_usd)
        for shock in self.shocks:
            out = out * shock.alternative_multiplier(t_hours, self.alternative)
        return out


def build_cloud(settings: CloudSettings, shocks: tuple[Shock, ...] = ()) -> CloudBaseline:
    """The scenario's alternatives, each at the price kind its buyers pay, their paths moved by ``shocks``."""
    catalog = cloud_catalog()
    offers, offer_alt, gpu, prices, gpus, rates, notice, anchors = [], [], [], [], [], [], [], []
    aws_path = -1
    for a, alt in enumerate(settings.alternatives):
        assert alt.price is not None
        ps, venue = alt.price_set_data(), catalog.venues[alt.venue]
        aws_path = a if alt.venue == "aws" else aws_path
        minutes = venue.spot_notice_minutes.value if venue.spot_notice_minutes is not None else 0.0
        for name in alt.offer_names():
            offer = ps.offers[name]
            offers.append(name)
            offer_alt.append(a)
            gpu.append(offer.gpu_model)
            prices.append(ps.price(name, alt.price))
            gpus.append(offer.gpus)
            rates.append(_spot_rate(settings, alt.price, offer))
            notice.append(minutes / 60.0)
        anchor = alt.path.anchor_offer()
        anchors.append(ps.price(anchor, alt.price) if anchor is not None else float("nan"))
    aws = catalog.price_sets[settings.price_set]
    aws_offers = tuple(aws.offers)
    return CloudBaseline(
        alternatives=tuple(alt.name for alt in settings.alternatives),
        offers=tuple(offers), offer_alt=np.array(offer_alt, dtype=np.int64), offer_gpu=tuple(gpu),
        buyer_prices=np.array(prices), instance_gpus=np.array(gpus, dtype=np.int64),
        interruptions_per_hour=np.array(rates), notice_hours=np.array(notice),
        paths=tuple(ShockedPath(alt.path, alt.name, shocks) if shocks else alt.path for alt in settings.alternatives),
        anchors=tuple(anchors),
        aws_prices={kind: np.array([aws.price(o, kind) for o in aws_offers]) for kind in CLOUD_PRICE_KINDS},
        aws_offers=aws_offers, aws_gpu=tuple(aws.offers[o].gpu_model for o in aws_offers), aws_path=aws_path,
    )


def _spot_rate(settings: CloudSettings, kind: CloudPriceKind, offer: CloudOffer) -> float:
    if kind != "spot":
        return 0.0
    if settings.spot_interruptions_per_hour is not None:
        return settings.spot_interruptions_per_hour
    return offer.spot_interruptions_per_hour.value if offer.spot_interruptions_per_hour is not None else 0.0
