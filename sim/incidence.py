"""Subsidy incidence: who ends up with the token reward, measured against the paired run without it.

The counterfactual is the same scenario and seed with no emission (``sim.schema.without_rewards``): the
same jobs, nodes and failures are drawn (common random numbers), so the difference in prices is the
subsidy's doing, not the draws'. Per GPU class:

- pass-through: the fall in the price buyers pay per dollar of reward per GPU-hour sold,
  (price without - price with) / (reward USD / GPU-hours sold);
- the split of the reward (USD) between buyers (the price fall times the GPU-hours they bought),
  self-dealing (the reward on self-dealt hours, pro rata to hours), entry (the reward on capacity the
  counterfactual does not have, per epoch, pro rata to GPUs) and providers (the rest: their profit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def measure_incidence(with_rewards: pd.DataFrame, without: pd.DataFrame) -> dict[str, Any]:
    """Per GPU class, pass-through and split of the reward, from the two runs' epoch tables."""
    out: dict[str, Any] = {}
    base = without.set_index(["epoch", "gpu_class"])
    for cls, e in with_rewards.groupby("gpu_class", observed=True):
        b = base.xs(cls, level="gpu_class").reindex(e["epoch"])
        hours, hours_without = float(e.gpu_hours_sold.sum()), float(b.gpu_hours_sold.sum())
        price = float(e.buyers_usd.sum()) / hours if hours else float("nan")
        price_without = float(b.buyers_usd.sum()) / hours_without if hours_without else float("nan")
        reward = float(e.reward_usd.sum())
        per_hour = reward / hours if hours else float("nan")
        buyers = (price_without - price) * hours if hours and hours_without else 0.0
        dealt = e.self_dealt_gpu_hours_by_class.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            self_share = np.nan_to_num(dealt / (e.gpu_hours_sold.to_numpy() + dealt))
            extra = np.nan_to_num(np.clip(e.gpus.to_numpy() - b.gpus.to_numpy(), 0, None) / e.gpus.to_numpy())
        self_dealing = float((e.reward_usd.to_numpy() * self_share).sum())
        entry = float((e.reward_usd.to_numpy() * (1.0 - self_share) * extra).sum())
        split = {"buyers": buyers, "entry": entry, "self_dealing": self_dealing,
                 "providers": reward - buyers - entry - self_dealing}
        out[str(cls)] = {
            "price_usd_per_gpu_hour": price,
            "price_without_rewards_usd_per_gpu_hour": price_without,
            "gpu_hours_sold": hours,
            "gpu_hours_sold_without_rewards": hours_without,
            "reward_usd": reward,
            "reward_usd_per_gpu_hour_sold": per_hour,
            "pass_through": (price_without - price) / per_hour if per_hour else float("nan"),
            "split_usd": split,
            "split_share": {k: (v / reward if reward else float("nan")) for k, v in split.items()},
        }
    return out


INCIDENCE_COLUMNS = {"price_usd_per_gpu_hour": "price $/h",
                     "price_without_rewards_usd_per_gpu_hour": "w/o rewards",
                     "reward_usd_per_gpu_hour_sold": "reward $/h",
                     "pass_through": "pass-through"}
SPLIT_PARTS = ("buyers", "entry", "self_dealing", "providers")


def incidence_frame(incidence: dict[str, Any]) -> pd.DataFrame:
    """The ``incidence`` block as one row per GPU class with readable column names: prices, reward and
    pass-through, then each part's share of the reward; the CLI and the memo format it."""
    rows = []
    for cls, c in incidence.items():
        row: dict[str, Any] = {"GPU class": cls}
        row.update({label: c[key] for key, label in INCIDENCE_COLUMNS.items()})
        row.update({part.replace("_", "-"): c["split_share"][part] for part in SPLIT_PARTS})
        rows.append(row)
    return pd.DataFrame(rows)
