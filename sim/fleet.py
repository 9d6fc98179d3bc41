"""The fleet: every provider node of a run as columns, drawn from the scenario's provider groups.

A node's cost per GPU-hour has a marginal part (power while busy) and a fixed part (capex written off
over the amortisation period, plus other opex per installed hour); its group's ask policy turns them
and the rewards it expects into the ask it posts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import rng as rngs
from .catalog import gpu_catalog
from .schema.distributions import sample_choice
from .schema.providers import ProviderGroup
from .units import HOURS_PER_YEAR, MICRO


@dataclass(frozen=True)
class Fleet:
    """Every provider node as columns (index = provider id), built once per run."""

    classes: tuple[str, ...]
    group: np.ndarray
    gpu_class: np.ndarray
    gpus: np.ndarray
    region: np.ndarray
    capex_usd_per_gpu: np.ndarray
    amortisation_years: np.ndarray
    electricity_usd_per_kwh: np.ndarray
    pue: np.ndarray
    other_opex_usd_per_gpu_hour: np.ndarray
    mtbf_hours: np.ndarray
    marginal_usd_per_gpu_hour: np.ndarray
    fixed_usd_per_gpu_hour: np.ndarray
    initially_active: np.ndarray
    group_index: np.ndarray
    group_slices: tuple[tuple[slice, ProviderGroup], ...]
    """Each group's nodes: the first ``count`` start active, the rest are its possible entrants."""

    @property
    def size(self) -> int:
        return len(self.gpus)

    def unsubsidised_asks(self) -> np.ndarray:
        """The asks (USD per GPU-hour) every provider would post with no token reward: the counterfactual."""
        return self.asks_micro_usd(0.0, 0.0) / MICRO

    def asks_micro_usd(self, work_reward_usd: float, capacity_reward_usd: float) -> np.ndarray:
        """Posted asks, USD micro-dollars per GPU-hour, given the rewards providers expect (USD per GPU-hour
        sold and per GPU-hour offered)."""
        out = np.empty(self.size, dtype=np.int64)
        for sl, group in self.group_slices:
            out[sl] = group.ask_policy.asks_micro_usd(self.marginal_usd_per_gpu_hour[sl],
                                                      self.fixed_usd_per_gpu_hour[sl], work_reward_usd,
                                                      capacity_reward_usd)
        return out

    def table(self) -> pd.DataFrame:
        """One row per provider, for results and analysis."""
        names = np.asarray(self.classes, dtype=object)
        return pd.DataFrame({
            "provider_id": np.arange(self.size),
            "group": self.group,
            "gpu_class": names[self.gpu_class],
            "gpus": self.gpus,
            "region": self.region,
            "capex_usd_per_gpu": self.capex_usd_per_gpu,
            "amortisation_years": self.amortisation_years,
            "electricity_usd_per_kwh": self.electricity_usd_per_kwh,
            "pue": self.pue,
            "other_opex_usd_per_gpu_hour": self.other_opex_usd_per_gpu_hour,
            "mtbf_hours": self.mtbf_hours,
            "marginal_usd_per_gpu_hour": self.marginal_usd_per_gpu_hour,
            "fixed_usd_per_gpu_hour": self.fixed_usd_per_gpu_hour,
            "unsubsidised_ask_usd_per_gpu_hour": self.unsubsidised_asks(),
            "initially_active": self.initially_active,
        })


def build_fleet(groups: tuple[ProviderGroup, ...], seed: int) -> Fleet:
    """Draw every node of every group from the group's own seeded stream (root ``seed``)."""
    catalog = gpu_catalog().models
    present = {m for g in groups for m in g.offered_models()}
    classes = tuple(m for m in catalog if m in present)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "group", "gpu_class", "gpus", "region", "capex", "years", "elec", "pue", "opex", "mtbf", "tdp", "active")}
    slices = []
    start = 0
    for gi, group in enumerate(groups):
        rng = rngs.stream(seed, rngs.PROVIDERS, gi)
        n = group.capacity_nodes
        models = sample_choice(group.gpu_model, rng, n)
        gpus = sample_choice(group.gpus_per_node, rng, n).astype(np.int64)
        region = sample_choice(group.region, rng, n)
        if group.capex_usd_per_gpu is None:
            capex = np.array([catalog[m].purchase_usd.value for m in models])
        else:
            capex = group.capex_usd_per_gpu.sample(rng, n)
        cols["group"].append(np.full(n, group.name, dtype=object))
        cols["gpu_class"].append(np.array([classes.index(m) for m in models], dtype=np.int64))
        cols["gpus"].append(gpus)
        cols["region"].append(region)
        cols["capex"].append(capex)
        cols["years"].append(np.full(n, group.amortisation_years))
        cols["elec"].append(group.electricity_usd_per_kwh.sample(rng, n))
        cols["pue"].append(group.pue.sample(rng, n))
        cols["opex"].append(group.other_opex_usd_per_gpu_hour.sample(rng, n))
        cols["mtbf"].append(group.mtbf_hours.sample(rng, n))
        cols["tdp"].append(np.array([catalog[m].tdp_watts.value for m in models]))
        cols["active"].append(np.arange(n) < group.count)
        slices.append((slice(start, start + n), group))
        start += n
    c = {k: np.concatenate(v) for k, v in cols.items()}
    marginal = c["tdp"] / 1000.0 * c["pue"] * c["elec"]
    fixed = c["capex"] / (c["years"] * HOURS_PER_YEAR) + c["opex"]
    return Fleet(
        classes=classes, group=c["group"], gpu_class=c["gpu_class"], gpus=c["gpus"], region=c["region"],
        capex_usd_per_gpu=c["capex"], amortisation_years=c["years"], electricity_usd_per_kwh=c["elec"],
        pue=c["pue"], other_opex_usd_per_gpu_hour=c["opex"], mtbf_hours=c["mtbf"],
        marginal_usd_per_gpu_hour=marginal, fixed_usd_per_gpu_hour=fixed, initially_active=c["active"],
        group_index=np.repeat(np.arange(len(slices)), [sl.stop - sl.start for sl, _ in slices]),
        group_slices=tuple(slices),
    )
