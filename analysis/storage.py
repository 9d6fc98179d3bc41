"""The reference case side by side with a GPU run: where the Filecoin analogy holds and where it breaks.

Every figure is read from runs' tables (``RunResult``), never set: the share of a provider's cost that is
marginal (what a sale costs beyond an idle unit: power for a GPU, sealing for a stored TiB), the network's
price with and without the subsidy as a share of the buyers' cheapest alternative, the price drop per
dollar of reward (the static counterfactual of every run: same orders, same nodes, no reward), and how
long the undercut lasts. A storage class's prices are per TiB-hour in the tables; here each class's
prices are shown against its own alternative, so the units cancel.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.catalog import display_unit, hardware_models
from sim.results import RunResult
from sim.units import HOURS_PER_DAY, HOURS_PER_MONTH


def _network_epochs(result: RunResult) -> pd.DataFrame:
    """One row an epoch: its end (hours), its length (days), the network's capacity and the tokens minted."""
    epochs = result.epochs.groupby("epoch", sort=True).agg(
        t0=("t_start_hours", "first"), t1=("t_end_hours", "first"), capacity=("gpus", "sum"),
        minted=("minted_tokens", "first"))
    epochs["days"] = (epochs["t1"] - epochs["t0"]) / HOURS_PER_DAY
    return epochs


def baseline_crossing(result: RunResult) -> dict[str, Any]:
    """When the network's raw capacity first rose above Filecoin's baseline b(t) and stayed there for the
    rest of the run (day and capacity at the first epoch end where it did), and the reward per unit of
    capacity per day then; None values when it never did. Needs the filecoin emission."""
    epochs = _network_epochs(result)
    baseline = result.scenario.tokenomics.emission.baseline_at(epochs["t1"].to_numpy())
    above = epochs["capacity"].to_numpy() >= baseline
    stays = np.flip(np.logical_and.accumulate(np.flip(above)))
    if not stays.any():
        return {"day": None, "capacity": None, "baseline": None}
    i = int(np.argmax(stays))
    row = epochs.iloc[i]
    return {"day": float(row["t1"] / HOURS_PER_DAY), "capacity": float(row["capacity"]), "baseline": float(baseline[i]),
            "reward_tokens_per_unit_day": float(row["minted"] / row["capacity"] / row["days"])}


def reward_per_unit_day_at(result: RunResult, capacity: float) -> tuple[float, float]:
    """(day, tokens minted per unit of capacity per day) at the first epoch whose capacity reaches
    ``capacity`` (e.g. 9 EiB in TiB); NaNs when the network never gets there."""
    epochs = _network_epochs(result)
    reached = epochs[epochs["capacity"] >= capacity]
    if reached.empty:
        return float("nan"), float("nan")
    row = reached.iloc[0]
    return float(row["t1"] / HOURS_PER_DAY), float(row["minted"] / row["capacity"] / row["days"])


def storage_vs_gpu(runs: dict[str, RunResult]) -> pd.DataFrame:
    """One row per run and capacity class: what the comparison of the memo needs (see the module doc)."""
    rows = []
    for label, result in runs.items():
        providers, epochs = result.providers, result.epochs
        for cls, by_class in result.summary["by_class"].items():
            nodes = providers[providers["gpu_class"] == cls]
            units = nodes["gpus"].to_numpy(dtype=float)
            marginal = float(np.average(nodes["marginal_usd_per_gpu_hour"], weights=units))
            fixed = float(np.average(nodes["fixed_usd_per_gpu_hour"], weights=units))
            e = epochs[(epochs["gpu_class"] == cls) & (epochs["gpu_hours_sold"] > 0)]
            sold = e["gpu_hours_sold"].to_numpy()

            price, bare, reward, alt = (float(np.average(e[c], weights=sold)) if sold.size else np.nan for c in (
                "network_price_usd_per_gpu_hour", "price_without_subsidy_usd_per_gpu_hour", "reward_usd_per_gpu_hour",
                "cheapest_alternative_usd_per_gpu_hour"))
            cheapest = by_class.get("cheapest_alternative") or {}
            unit, factor = display_unit(cls)
            rows.append({
                "run": label, "class": cls, "resource": hardware_models()[cls].resource, "unit": unit,
                "marginal_share_of_cost": marginal / (marginal + fixed),
                "utilisation": by_class["utilisation"],
                "price": price * factor,
                "price_without_subsidy": bare * factor,
                "alternative_price": alt * factor,
                "price_share_of_alternative": price / alt,
                "price_without_subsidy_share_of_alternative": bare / alt,
                "price_drop_per_reward_usd": (bare - price) / reward if reward > 0 else np.nan,
                "months_undercut": cheapest.get("months_undercut"),
                "horizon_months": result.scenario.horizon_hours / HOURS_PER_MONTH,
            })
    return pd.DataFrame(rows)


def storage_vs_gpu_figure(table: pd.DataFrame) -> Figure:
    """Three panels from ``storage_vs_gpu``: the marginal share of a provider's cost, the share of capacity
    sold, and the network price with and without the subsidy as a share of the cheapest alternative."""
    labels = [f"{textwrap.fill(r.run.replace('_', ' '), 16)}\n{r['class']}" for _, r in table.iterrows()]
    x = np.arange(len(table))
    fig = Figure(figsize=(14, 4.8), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    left.bar_label(left.bar(x, table["marginal_share_of_cost"], color="#4c72b0"), fmt="%.2f", fontsize=7)
    left.set_title("Marginal share of a provider's cost")
    left.set_ylabel("marginal / (marginal + fixed) cost per unit-hour")
    middle.bar_label(middle.bar(x, table["utilisation"], color="#55a868"), fmt="%.3f", fontsize=7)
    middle.set_title("Capacity sold to buyers")
    middle.set_ylabel("unit-hours sold / offered")
    for ax in (left, middle):
        ax.set_ylim(0, 1)
    width = 0.38
    right.bar_label(right.bar(x - width / 2, table["price_without_subsidy_share_of_alternative"], width,
                              label="without subsidy", color="#a0a0a0"), fmt="%.2f", fontsize=7)
    right.bar_label(right.bar(x + width / 2, table["price_share_of_alternative"], width, label="with subsidy",
                              color="#dd8452"), fmt="%.2f", fontsize=7)
    right.set_title("Network price / cheapest alternative's price")
    right.set_ylabel("share of the alternative's price")
    right.legend(frameon=False)
    for ax in (left, middle, right):
        ax.set_xticks(x, labels, fontsize=7)
    fig.get_layout_engine().set(h_pad=0.15)
    fig.supxlabel("Source: depinsim runs (providers and epochs tables), volume-weighted over epochs with sales; "
                  "without subsidy = the same orders and nodes with no reward.", fontsize=7)
    return fig
