"""Demand: which GPU classes buyers try first, and how many buyers the current prices draw.

Each epoch, every stream's eligible classes are ordered by the cheapest posted ask per unit of work (ties:
the class with more of its GPUs free first), so
the first class tried usually wins and the others are skipped on a bound without searching their books.
A stream with a demand curve (elasticity) submits the share of its capped arrivals that the cheapest
median ask per unit of work, against AWS for the same work, draws.
"""

from __future__ import annotations

import numpy as np

from ..book import PostedPriceBook
from ..cloud import CloudBaseline
from ..jobs import JobBatch
from ..schema.workload import Stream
from .fastloop import Routing
from .phases import Epoch, EpochPhase


class Demand(EpochPhase):
    """The buyers' side of each epoch: the class order and the elastic share of arrivals."""

    def __init__(self, streams: tuple[Stream, ...], jobs: JobBatch, cloud: CloudBaseline, book: PostedPriceBook,
                 epoch_starts: np.ndarray) -> None:
        """``epoch_starts``: the hour each epoch starts (the alternatives' prices are taken then)."""
        n_epochs = len(epoch_starts)
        self._jobs, self._book = jobs, book
        self._curves = [s.elastic_demand() for s in streams]
        self.routing = Routing(keep=np.ones(len(streams)),
                               class_order=np.full(jobs.stream_speed.shape, -1, dtype=np.int64))
        self.multiplier = np.ones((n_epochs, len(streams)))
        """Per epoch and stream, arrivals as a multiple of the base rate."""
        self.classes: list[tuple[int, ...]] = [() for _ in streams]
        """Per stream, this epoch's class order (as in ``routing.class_order``)."""
        self._cloud_per_work = [cloud.cheapest_per_work(s.job, epoch_starts) for s in streams]
        """Per stream and epoch, the cheapest alternative's price per unit of work."""

    @property
    def elastic(self) -> bool:
        return any(c is not None for c in self._curves)

    def open_epoch(self, epoch: Epoch) -> None:
        self._order_classes()
        self._update(epoch.k, epoch.median_asks_usd)

    def _order_classes(self) -> None:
        """Ties (equal prices per unit of work: a common floor, or one clearing price) go to the class with
        the larger share of its GPUs free, not to the first in the catalog."""
        speed = self._jobs.stream_speed
        per_work = np.asarray(self._book.min_ask, dtype=float) / speed
        free = self._book.free_share()
        order = self.routing.class_order
        for si, cs in enumerate(self._jobs.stream_classes):
            self.classes[si] = tuple(sorted(cs, key=lambda c: (per_work[si, c], -free[c], c)))
            order[si, :len(cs)] = self.classes[si]

    def _update(self, k: int, medians: list[float]) -> None:
        """The buyers' best price per unit of work is never above AWS's, so the ratio is capped at 1."""
        speed = self._jobs.stream_speed
        for si, curve in enumerate(self._curves):
            if curve is None:
                continue
            net = min((medians[c] / speed[si, c] for c in self._jobs.stream_classes[si] if np.isfinite(medians[c])),
                      default=np.inf)
            ratio = min(1.0, net / self._cloud_per_work[si][k])
            cap, e = float(curve.max_rate_multiplier), curve.elasticity
            multiplier = min(cap, ratio ** -e) if ratio > 0 else (cap if e > 0 else 1.0)  # free GPUs
            self.multiplier[k, si] = multiplier
            self.routing.keep[si] = multiplier / curve.max_rate_multiplier
