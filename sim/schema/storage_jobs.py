"""Storage deals: the job kind of the storage resource (issue P9), a client's data kept for days.

Its own module so that the GPU job kinds stay readable; it registers in the synthetic job family like
them (``sim.schema.workload`` imports it before it builds the family's union).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..catalog import GpuModel, StorageMedia, hardware_models
from ..units import HOURS_PER_DAY, HOURS_PER_MONTH
from .core import examples
from .distributions import CountChoice, Positive, sample_choice
from .jobs import OutageWork, SyntheticJob


class StorageDeal(SyntheticJob, OutageWork):
    """A storage deal: a client's data of ``size_tib`` kept for ``duration_days``, on a storage network or a
    cloud's object store. Capacity is TiB and work TiB-hours; a provider fault takes the data offline for
    the repair (the sector is recovered from its replica), and loses none of it.

    ``verified``: the client holds verified-data allowance (Filecoin Plus), so under the
    quality_adjusted_power reward rule the deal's TiB count ``verified_multiplier`` times in the provider's
    power. That is what makes providers compete for such deals down to (or below) a zero price.
    """

    model_config = examples({"kind": "storage_deal", "size_tib": 32, "duration_days": 365,
                             "reservation_usd_per_tib_month": 20})
    resource: ClassVar[str] = "storage"
    kind: Literal["storage_deal"] = "storage_deal"
    media: tuple[str, ...] | None = Field(
        default=None, description="Storage media the deal accepts (sim/data/storage.yaml); default: any.")
    size_tib: CountChoice = Field(
        description="Data per deal, whole TiB: an integer, or a mapping size -> probability (summing to 1).")
    duration_days: Positive = Field(  # type: ignore[valid-type]
        description="How long the data is kept, days (Filecoin sectors: 180-540).")
    verified: bool = Field(
        default=False, description="Verified (FIL+) data: counts verified_multiplier times in quality-adjusted "
        "power under the quality_adjusted_power reward rule.")
    reservation_usd_per_tib_month: Positive = Field(  # type: ignore[valid-type]
        description="Most the client pays per TiB-month stored, USD. Above this on every venue, the deal is "
        "abandoned.")
    repair_hours: float = Field(
        default=24.0, ge=0, description="Hours a provider fault keeps the data offline (assumption: a sector "
        "restored from a replica within a day).")
    within_horizon: bool = Field(
        default=False, description="Every deal must be able to end within the run (for runs that count only "
        "whole deals): a duration longer than the horizon is then an error.")

    @model_validator(mode="after")
    def _known_media(self) -> StorageDeal:
        if self.media is not None:
            if not self.media:
                raise ValueError("media must list at least one storage medium")
            unknown = [m for m in self.media if hardware_models().get(m) is None
                       or hardware_models()[m].resource != "storage"]
            if unknown:
                raise ValueError(f"unknown storage medium {', '.join(unknown)} in media; allowed: "
                                 f"{', '.join(m for m, v in hardware_models().items() if v.resource == 'storage')}")
        return self

    def accepts(self, model: str) -> bool:
        spec = hardware_models()[model]
        return spec.resource == self.resource and (self.media is None or model in self.media)

    def requirement(self) -> str:
        return f"storage ({', '.join(self.media)})" if self.media is not None else "storage (any medium)"

    def budgets_usd(self, rng: np.random.Generator, work: np.ndarray) -> np.ndarray:
        return self.reservation_usd_per_tib_month.sample(rng, len(work)) * work / HOURS_PER_MONTH

    def verified_share(self) -> float:
        return 1.0 if self.verified else 0.0

    def beyond_horizon(self, horizon_hours: float) -> str | None:
        longest = self.duration_days.support()[1]
        if self.within_horizon and longest * HOURS_PER_DAY > horizon_hours:
            return (f"duration_days reaches {longest:g} days but the run lasts {horizon_hours / HOURS_PER_DAY:g} "
                    "(within_horizon: true needs every deal to fit): shorten the deals, lengthen horizon_days, "
                    "or set within_horizon: false")
        return None

    def draw(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        size = sample_choice(self.size_tib, rng, n).astype(np.int64)
        hours = self.duration_days.sample(rng, n) * HOURS_PER_DAY
        return {"size": size, "work_ref_gpu_hours": size * hours, "duration_hours": hours,
                "latency_slo_ms": np.full(n, np.nan)}

    def placement(self, model: GpuModel | StorageMedia, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The deal's TiB for its duration, whatever the medium."""
        return draws["size"], draws["duration_hours"]

    def speed(self, model: GpuModel | StorageMedia) -> float:
        return 1.0  # a TiB stores a TiB

    @property
    def outage_hours(self) -> float:
        return self.repair_hours  # stored data survives a fault (sealed replicas); it is offline for the repair
