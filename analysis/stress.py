"""The stress battery's figure: the lead class's price against the cheapest alternative, per shock."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from sim.units import HOURS_PER_MONTH


def stress_figure(epochs: pd.DataFrame, gpu_class: str, month: float, scenario: str) -> Figure:
    """Network price / cheapest alternative over time for the unshocked run and each shock (a line a shock;
    below 1 the network undercuts), with the shock's month marked."""
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    ax = fig.subplots()
    e = epochs[epochs["gpu_class"] == gpu_class]
    for shock, group in e.groupby("shock", sort=False):
        g = group.sort_values("epoch")
        unshocked = shock == "none"
        ax.plot(g["t_start_hours"] / HOURS_PER_MONTH, g["undercut_ratio_vs_cheapest"], lw=2.2 if unshocked else 1.3,
                color="black" if unshocked else None, label="no shock" if unshocked else str(shock).replace("_", " "))
    ax.axhline(1.0, color="#7f7f7f", lw=1.2, ls="--", label="price of the cheapest alternative")
    ax.axvline(month, color="#555555", lw=1, ls=":", label=f"shock (month {month:g})")
    ax.set_xlabel("Months since start")
    ax.set_ylabel(f"{gpu_class}: network price / cheapest alternative")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    ax.set_title(f"Stress battery, scenario {scenario}: does the {gpu_class} undercut survive?", fontsize=11)
    fig.get_layout_engine().set(rect=(0, 0.04, 1, 0.96))
    fig.text(0.01, 0.005, "Source: depinsim stress; each shock is the scenario plus one entry of shocks: at the "
             "same seed (volume-weighted price per epoch).", fontsize=7, color="#555555")
    return fig
