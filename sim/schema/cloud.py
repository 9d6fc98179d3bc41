"""The centralised alternatives a buyer can always take instead: which venues (AWS, other clouds, neoclouds,
marketplaces), at which price kind, and how their prices move over the horizon.

A venue's prices come from the catalogs (sim/data/cloud_*.yaml); a scenario only chooses among them and
gives each a price path, a multiplier on the catalog prices over time (a cut, a yearly decline, or an
observed series), so no price a buyer faces is typed into a scenario without a path saying why.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..catalog import CloudPriceKind, PriceSet, cloud_catalog
from ..units import HOURS_PER_MONTH, HOURS_PER_YEAR
from .core import Mechanism, Registry, StrictModel, examples
from .series import csv_rows, with_file_points


class PricePath(Mechanism):
    """How an alternative's prices move: a multiplier on its catalog prices at each time of the run."""

    registry: ClassVar[Registry] = Registry("price path", default="constant")

    def multiplier(self, t_hours: np.ndarray, anchor_usd: float) -> np.ndarray:
        """Catalog price multiplier at each time (hours since the start). ``anchor_usd``: the catalog price
        of ``anchor_offer()``, which a path of absolute prices (a CSV series) is divided by."""
        raise NotImplementedError

    def anchor_offer(self) -> str | None:
        """The offer whose absolute prices the path gives (a CSV series), if any."""
        return None


class ConstantPath(PricePath):
    """Catalog prices for the whole horizon."""

    model_config = examples({"kind": "constant"})
    kind: Literal["constant"] = "constant"

    def multiplier(self, t_hours: np.ndarray, anchor_usd: float) -> np.ndarray:
        return np.ones(np.shape(t_hours))


class PriceStep(StrictModel):
    month: float = Field(gt=0, description="Month of the run from which the multiplier holds (30.4-day months).")
    multiplier: float = Field(gt=0, description="Price as a multiple of the catalog price from that month "
                              "(0.55: a 45% cut); not cumulative.")


class StepsPath(PricePath):
    """Scheduled price changes, e.g. AWS's June 2025 cut: catalog prices until the first step, then each
    step's multiplier until the next. AWS held p5 at one list price for ~23 months, then cut it by ~44% in
    one step, so steps, not a smooth decline, are how a hyperscaler's list price moves."""

    model_config = examples({"kind": "steps", "steps": [{"month": 6, "multiplier": 0.55}]})
    kind: Literal["steps"] = "steps"
    steps: tuple[PriceStep, ...] = Field(min_length=1, description="Price changes, months increasing.")

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: tuple[PriceStep, ...]) -> tuple[PriceStep, ...]:
        months = [s.month for s in steps]
        if months != sorted(set(months)):
            raise ValueError(f"step months must be strictly increasing; got {months}")
        return steps

    def multiplier(self, t_hours: np.ndarray, anchor_usd: float) -> np.ndarray:
        months = np.asarray(t_hours, dtype=float) / HOURS_PER_MONTH
        edges = np.array([s.month for s in self.steps])
        values = np.concatenate([[1.0], [s.multiplier for s in self.steps]])
        return values[np.searchsorted(edges, months, side="right")]


class DeclinePath(PricePath):
    """A steady yearly decline from ``from_month`` on: the rental-market trend as hardware gets cheaper
    (H100 rentals fell from ~$8 in 2023 to ~$2 in 2025)."""

    model_config = examples({"kind": "decline", "rate_per_year": 0.26})
    kind: Literal["decline"] = "decline"
    rate_per_year: float = Field(ge=0, lt=1, description="Share of the price lost each year (compounded).")
    from_month: float = Field(default=0.0, ge=0, description="Month the decline starts (catalog price before).")

    def multiplier(self, t_hours: np.ndarray, anchor_usd: float) -> np.ndarray:
        years = np.maximum(np.asarray(t_hours, dtype=float) - self.from_month * HOURS_PER_MONTH, 0.0) / HOURS_PER_YEAR
        return (1.0 - self.rate_per_year) ** years


_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")


class CsvPath(PricePath):
    """An observed monthly series (one row a month, no gaps): the price of one offer in USD per GPU-hour,
    month 0 first; the alternative's other offers move in proportion. A price holds for its month; after
    the last row the last price holds.

    The file is read when the scenario is loaded (``file`` relative to the scenario file) and its rows are
    kept in ``points``, so a resolved scenario carries its own series and reruns without the file."""

    model_config = examples({"kind": "csv", "file": "h100.csv", "offer": "p5.48xlarge",
                             "points": [[0, 6.88], [1, 6.5]]})
    kind: Literal["csv"] = "csv"
    file: str = Field(description="CSV file, relative to the scenario file, with a month column (0, 1, 2, ... "
                      "or YYYY-MM / YYYY-MM-DD, one row a month) and a price column.")
    offer: str = Field(description="The catalog offer whose price (USD per GPU-hour) the series gives.")
    month_column: str = Field(default="month", description="Column with the month (index or date).")
    price_column: str = Field(default="usd_per_gpu_hour", description="Column with the price, USD per GPU-hour (> 0).")
    points: tuple[tuple[float, float], ...] = Field(
        default=(), description="(month, USD per GPU-hour) rows; filled from the file when the scenario is loaded.")

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any, info: ValidationInfo) -> Any:
        return with_file_points(data, info, read_monthly_csv,
                                {"month_column": "month", "price_column": "usd_per_gpu_hour"})

    @model_validator(mode="after")
    def _valid(self) -> CsvPath:
        if not self.points:
            raise ValueError("the price series is empty")
        return self

    def anchor_offer(self) -> str | None:
        return self.offer

    def multiplier(self, t_hours: np.ndarray, anchor_usd: float) -> np.ndarray:
        usd = np.array([p for _, p in self.points])
        month = np.clip((np.asarray(t_hours, dtype=float) / HOURS_PER_MONTH).astype(np.int64), 0, usd.size - 1)
        return usd[month] / anchor_usd


def read_monthly_csv(path: Path, month_column: str, price_column: str) -> tuple[tuple[float, float], ...]:
    """Rows of a monthly price CSV; any problem (missing file or column, a gap, a price <= 0) is a
    ValueError naming the file and the line."""
    points: list[tuple[float, float]] = []
    first: int | None = None
    for line, row in csv_rows(path, (month_column, price_column)):
        raw = str(row[month_column]).strip()
        date = _MONTH.match(raw)
        try:
            month = int(date[1]) * 12 + int(date[2]) - 1 if date else int(raw)
            usd = float(row[price_column])
        except (TypeError, ValueError):
            raise ValueError(f"{path}, line {line}: {month_column} must be a month index or YYYY-MM and "
                             f"{price_column} a number, got {raw!r}, {row[price_column]!r}") from None
        first = month if first is None else first
        if not usd > 0 or not math.isfinite(usd):
            raise ValueError(f"{path}, line {line}: prices must be > 0, got {usd}")
        expected = first + len(points)
        if month != expected:
            raise ValueError(f"{path}, line {line}: one row a month with no gaps; expected month "
                             f"{_show(expected, date is not None)}, got {raw!r}")
        points.append((float(month - first), usd))
    return tuple(points)


def _show(month: int, as_date: bool) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}" if as_date else str(month)


AnyPricePath = PricePath.registry.union()


class Alternative(StrictModel):
    """One venue buyers consider, at one price kind, with its offers and its price path."""

    venue: str = Field(description="A venue of the cloud catalogs (aws, gcp, azure, coreweave, lambda, nebius, "
                       "crusoe, vast, runpod).")
    price: CloudPriceKind | None = Field(default=None,
        description="Which of the venue's prices buyers pay: on_demand, spot, reserved or capacity_block "
        "(default: cloud.buyer_price).")
    price_set: str | None = Field(default=None,
        description="The venue's price set (default: cloud.price_set for AWS, else the venue's default).")
    offers: tuple[str, ...] | None = Field(default=None,
        description="Only these offers of the price set (default: all of them with a price of this kind).")
    path: AnyPricePath = Field(  # type: ignore[valid-type]
        default_factory=ConstantPath,
        description=f"How the venue's prices move over the run ({PricePath.registry.describe()}).")

    @property
    def name(self) -> str:
        """How tables and summary.json name it: venue and price kind, e.g. ``lambda_on_demand``."""
        return f"{self.venue}_{self.price}"

    def price_set_data(self) -> PriceSet:
        assert self.price_set is not None
        return cloud_catalog().price_sets[self.price_set]

    def offer_names(self) -> list[str]:
        """The chosen offers that have a price of this kind."""
        assert self.price is not None
        ps = self.price_set_data()
        names = list(self.offers) if self.offers is not None else list(ps.offers)
        return [o for o in names if math.isfinite(ps.price(o, self.price))]


class CloudSettings(StrictModel):
    """Which centralised alternatives the buyers can always fall back on."""

    price_set: str = Field(
        default="aws_2025_post_cut",
        description="The AWS price set (sim/data/cloud_aws.yaml: aws_2025_pre_cut or aws_2025_post_cut, "
        "before/after the June 2025 P4/P5 price cut): the epoch table's AWS columns and the default for an AWS "
        "alternative.")
    buyer_price: CloudPriceKind = Field(
        default="on_demand",
        description="The price kind of an alternative that names none: on_demand, spot (midpoint of the "
        "observed range), reserved (commitment price) or capacity_block.",
    )
    alternatives: tuple[Alternative, ...] = Field(
        default=(), min_length=1,
        description="The venues buyers consider; each buyer takes the cheapest one that runs its job (per unit "
        "of work, spot reclaims included). Each venue at most once. Default: AWS alone.")

    spot_interruptions_per_hour: float | None = Field(
        default=None, ge=0,
        description="For alternatives bought at spot: reclaims per instance-hour, for every offer (default: the "
        "catalog's per-offer figures, which are assumptions). A reclaim gives the venue's notice; a job restarts "
        "on a new instance and loses the work since its last checkpoint unless the notice is long enough to "
        "write one.")

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        """Each alternative's price kind and price set, made explicit so the resolved scenario says them."""
        if not isinstance(data, dict):
            return data
        kind = data.get("buyer_price", "on_demand")
        aws_set = data.get("price_set", "aws_2025_post_cut")
        venues = cloud_catalog().venues
        alts = data.get("alternatives", [{"venue": "aws"}])
        if not isinstance(alts, (list, tuple)):
            return data
        filled = []
        for alt in alts:
            if isinstance(alt, dict) and alt.get("venue") in venues:
                venue = alt["venue"]
                default_set = aws_set if venue == "aws" else venues[venue].default_price_set
                alt = {"price": kind, "price_set": default_set, **alt}
            filled.append(alt)
        return {**data, "alternatives": filled}

    @model_validator(mode="after")
    def _known(self) -> CloudSettings:
        catalog = cloud_catalog()
        aws_sets = catalog.venues["aws"].price_sets
        if self.price_set not in aws_sets:
            raise ValueError(f"unknown AWS price_set {self.price_set!r}; allowed: {', '.join(aws_sets)}")
        seen: set[str] = set()
        for i, alt in enumerate(self.alternatives):
            where = f"alternatives.{i}"
            if alt.venue not in catalog.venues:
                raise ValueError(f"{where}.venue: unknown venue {alt.venue!r}; allowed: {', '.join(catalog.venues)}")
            if alt.venue in seen:
                raise ValueError(f"{where}.venue: {alt.venue!r} is listed twice; list a venue once and choose its "
                                 "price kind with `price`")
            seen.add(alt.venue)
            sets = catalog.venues[alt.venue].price_sets
            if alt.price_set not in sets:
                raise ValueError(f"{where}.price_set: {alt.price_set!r} is not a price set of {alt.venue}; allowed: "
                                 f"{', '.join(sets)}")
            offers = sets[alt.price_set].offers
            unknown = [o for o in (alt.offers or ()) if o not in offers]
            if unknown:
                raise ValueError(f"{where}.offers: unknown offer(s) {', '.join(unknown)} in {alt.price_set}; allowed: "
                                 f"{', '.join(offers)}")
            if not alt.offer_names():
                priced = [o for o in offers if math.isfinite(sets[alt.price_set].price(o, alt.price))]  # type: ignore[arg-type]
                raise ValueError(f"{where}: no offer of {alt.venue} ({alt.price_set}) has a {alt.price} price among "
                                 f"those chosen; offers with one: {', '.join(priced) or 'none'}. Choose another "
                                 "price kind or other offers")
            anchor = alt.path.anchor_offer()
            if anchor is not None and anchor not in alt.offer_names():
                raise ValueError(f"{where}.path.offer: {anchor!r} is not one of this alternative's offers with a "
                                 f"{alt.price} price; allowed: {', '.join(alt.offer_names())}")
        return self

    def offered_models(self) -> list[str]:
        """The GPU models the alternatives offer at their buyers' price kinds."""
        return [alt.price_set_data().offers[o].gpu_model for alt in self.alternatives for o in alt.offer_names()]

    def describe(self) -> str:
        """The alternatives as a message names them."""
        return ", ".join(f"{a.venue} {a.price} ({a.price_set})" for a in self.alternatives)
