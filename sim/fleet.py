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
from .catalog import hardware_models
from .schema.distributions import sample_choice
from .schema.providers import NodeGroup, Quote
from .units import MICRO

ATTRIBUTES = 8
"""Drawn attributes of a node (model, GPUs, region, capex, electricity, PUE, opex, MTBF), one stream each."""


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
    group_slices: tuple[tuple[slice, NodeGroup], ...]
    """Each group's nodes: the first ``count`` start active, the rest are its possible entrants."""

    @property
    def size(self) -> int:
        return len(self.gpus)

    def loaded_cost_micro_usd(self) -> np.ndarray:
        """Full cost per GPU-hour (power + fixed), micro-USD: a static order for equal asks, so the book
        keeps its ranking when many asks sit at one price (a clearing price, or a floor)."""
        return np.rint((self.marginal_usd_per_gpu_hour + self.fixed_usd_per_gpu_hour) * MICRO).astype(np.int64)

    def asks_micro_usd(self, work_reward_usd: np.ndarray, capacity_reward_usd: float, self_dealing_usd: np.ndarray,
                       kept: float, ceiling_usd: np.ndarray, previous_micro_usd: np.ndarray,
                       utilisation: np.ndarray) -> np.ndarray:
        """Every node's ask, micro-USD per GPU-hour, from its group's ask policy; per-node arrays (see
        ``Quote``): the work reward a GPU-hour sold earns, what an idle hour nets by self-dealing, the
        outside option on the node's class, last epoch's ask and utilisation."""
        out = np.empty(self.size, dtype=np.int64)
        for sl, group in self.group_slices:
            quote = Quote(self.marginal_usd_per_gpu_hour[sl], self.fixed_usd_per_gpu_hour[sl], work_reward_usd[sl],
                          capacity_reward_usd, self_dealing_usd[sl], kept, ceiling_usd[sl], previous_micro_usd[sl],
                          utilisation[sl])
            out[sl] = group.ask_policy.asks_micro_usd(quote)
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
            "initially_active": self.initially_active,
        })


def build_fleet(groups: tuple[NodeGroup, ...], seed: int) -> Fleet:
    """Draw every node of every group, each attribute from its own seeded stream (root ``seed``, group,
    attribute), node by node in order: a group's first nodes are the same whatever its ``max_count``,
    so runs with and without entry start from the same fleet (common random numbers)."""
    catalog = hardware_models()
    present = {m for g in groups for m in g.offered_models()}
    classes = tuple(m for m in catalog if m in present)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "group", "gpu_class", "gpus", "region", "capex", "years", "elec", "pue", "opex", "mtbf", "tdp", "extra",
        "active")}
    slices = []
    start = 0
    for gi, group in enumerate(groups):
        rng = [rngs.stream(seed, rngs.PROVIDERS, gi, attribute) for attribute in range(ATTRIBUTES)]
        n = group.capacity_nodes
        models = sample_choice(group.gpu_model, rng[0], n)
        gpus = sample_choice(group.gpus_per_node, rng[1], n).astype(np.int64)
        region = sample_choice(group.region, rng[2], n)
        if group.capex_usd_per_gpu is None:
            capex = np.array([catalog[m].unit_capex_usd() for m in models])
        else:
            capex = group.capex_usd_per_gpu.sample(rng[3], n)
        cols["group"].append(np.full(n, group.name, dtype=object))
        cols["gpu_class"].append(np.array([classes.index(m) for m in models], dtype=np.int64))
        cols["gpus"].append(gpus)
        cols["region"].append(region)
        cols["capex"].append(capex)
        cols["years"].append(np.full(n, group.amortisation_years))
        cols["elec"].append(group.electricity_usd_per_kwh.sample(rng[4], n))
        cols["pue"].append(group.pue.sample(rng[5], n))
        cols["opex"].append(group.other_opex_usd_per_gpu_hour.sample(rng[6], n))
        cols["mtbf"].append(group.mtbf_hours.sample(rng[7], n))
        cols["tdp"].append(np.array([catalog[m].unit_watts() for m in models]))
        cols["extra"].append(np.full(n, group.deal_cost_usd_per_unit_hour()))
        cols["active"].append(np.arange(n) < group.count)
        slices.append((slice(start, start + n), group))
        start += n
    c = {k: np.concatenate(v) for k, v in cols.items()}
    marginal, fixed = np.empty(start), np.empty(start)
    for sl, group in slices:
        marginal[sl], fixed[sl] = group.unit_costs(c["tdp"][sl], c["pue"][sl], c["elec"][sl], c["capex"][sl],
                                                   c["years"][sl], c["opex"][sl], c["extra"][sl])
    return Fleet(
        classes=classes, group=c["group"], gpu_class=c["gpu_class"], gpus=c["gpus"], region=c["region"],
        capex_usd_per_gpu=c["capex"], amortisation_years=c["years"], electricity_usd_per_kwh=c["elec"],
        pue=c["pue"], other_opex_usd_per_gpu_hour=c["opex"], mtbf_hours=c["mtbf"],
        marginal_usd_per_gpu_hour=marginal, fixed_usd_per_gpu_hour=fixed, initially_active=c["active"],
        group_index=np.repeat(np.arange(len(slices)), [sl.stop - sl.start for sl, _ in slices]),
        group_slices=tuple(slices),
    )
