"""Pricing curves: network price per GPU-hour over time against AWS (and the cheapest alternative), with
and without the subsidy.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state), so they can be made in
worker processes and notebooks alike; saving is the caller's business.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.catalog import display_unit
from sim.units import HOURS_PER_MONTH

AWS_LINES = (
    ("aws_on_demand_usd_per_gpu_hour", "AWS on-demand", "#d62728", "-"),
    ("aws_spot_usd_per_gpu_hour", "AWS spot (midpoint)", "#ff7f0e", "--"),
    ("aws_reserved_usd_per_gpu_hour", "AWS reserved (savings plan)", "#9467bd", ":"),
)


def pricing_curve(epochs: pd.DataFrame, summary: dict[str, Any], classes: list[str] | None = None) -> Figure:
    """One panel per GPU class: what buyers paid on the network, what providers would have asked with
    no token rewards, and AWS's on-demand, spot and reserved prices for the same GPU (or work); where the
    scenario names other alternatives, the cheapest of them too, since that is the price buyers weigh.
    Given a replicated run's bands (``sim.replicate.epoch_bands``) for ``epochs``, the network price is the
    median across seeds with the P10-P90 band around it."""
    sold = epochs.groupby("gpu_class", observed=False)["gpu_hours_sold"].sum()
    names = classes or [str(c) for c, hours in sold.items() if hours > 0]
    names = names or [str(c) for c in epochs["gpu_class"].cat.categories]
    alternatives = summary["cloud"].get("alternatives", ["aws_on_demand"])
    several = alternatives != ["aws_on_demand"] and "cheapest_alternative_usd_per_gpu_hour" in epochs
    cols = min(len(names), 3)
    rows = math.ceil(len(names) / cols)
    width = max(5.2 * cols, 9.0)  # one panel still needs room for the title, legend and source line
    shown = epochs[epochs["gpu_class"].isin(names)]
    aws = any(shown[column].notna().any() for column, *_ in AWS_LINES)  # none for a storage class
    parts = [f"Source: depinsim {summary['package_version']}, scenario {summary['scenario']} "
             f"(sha256 {summary['scenario_hash'][:12]}), "
             + (f"{summary['replications']} seeds from root seed {summary['seed']}." if "replications" in summary
                else f"seed {summary['seed']}.")]
    if aws:
        parts.append(f"AWS prices: {summary['cloud']['price_set']} (sim/data/cloud_aws.yaml: skypilot catalog, AWS "
                     "pricing pages, 2025).")
    if several:
        parts.append(f"Alternatives: {', '.join(alternatives)} (sim/data/cloud_*.yaml, sources there).")
    source = " ".join([*parts, "Network price: volume-weighted per epoch."])
    source = textwrap.fill(source, width=int(17 * width))
    height = 3.8 * rows + 1.4
    fig = Figure(figsize=(width, height))
    # rect = (left, bottom, width, height): room above for the legend, below for the source line's lines
    bottom = 0.01 + (source.count("\n") + 1) * 0.12 / height
    fig.set_layout_engine("constrained", rect=(0, bottom, 1, 0.88 - bottom))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, name in zip(axes, names, strict=False):
        e = epochs[epochs["gpu_class"] == name].sort_values("epoch")
        unit, factor = display_unit(name)  # storage per TiB-month; the tables are per unit-hour
        months = e["t_start_hours"].to_numpy() / HOURS_PER_MONTH
        banded = "network_price_usd_per_gpu_hour_p10" in e
        if banded:  # the epochs of a replicated run: medians across seeds, and the seeds' spread
            ax.fill_between(months, e["network_price_usd_per_gpu_hour_p10"] * factor,
                            e["network_price_usd_per_gpu_hour_p90"] * factor, color="#1f77b4", alpha=0.2, lw=0,
                            label=f"Network price, P10-P90 of {int(e['replications'].max())} seeds")
        ax.plot(months, e["network_price_usd_per_gpu_hour"] * factor, color="#1f77b4", lw=1.8,
                label="Network price paid (median of seeds)" if banded else "Network price paid")
        ax.plot(months, e["price_without_subsidy_usd_per_gpu_hour"] * factor, color="#1f77b4", lw=1.2, ls="--",
                label="Network price without token subsidy")
        for column, label, color, style in AWS_LINES:
            if e[column].notna().any():
                ax.plot(months, e[column] * factor, color=color, lw=1.2, ls=style, label=label)
        reference = str(e["aws_reference_offer"].iloc[0]) if len(e) else ""
        title = name if reference in ("", "none") else f"{name} (AWS reference: {reference})"
        if several and e["cheapest_alternative_usd_per_gpu_hour"].notna().any():
            ax.plot(months, e["cheapest_alternative_usd_per_gpu_hour"] * factor, color="#2ca02c", lw=1.6, ls="-.",
                    label="Cheapest alternative")
            venues = list(dict.fromkeys(str(v).replace("_on_demand", "").replace("_", " ")
                                        for v in e["cheapest_alternative"].dropna()))
            title += f"\ncheapest: {' then '.join(venues)}"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("Months since start")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    for ax in axes[:len(names)]:
        for artist in [*ax.get_lines(), *ax.collections]:  # lines, and a replicated run's band
            handles.setdefault(artist.get_label(), artist)
    ncols = min(len(handles), max(3, int(width // 2.6)))  # ~2.6 inches a legend entry
    fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.94),
               ncols=ncols, fontsize=8, frameon=False)
    extra_rows = math.ceil(len(handles) / ncols) - 1  # a second legend row takes room from the panels
    fig.set_layout_engine("constrained", rect=(0, bottom, 1, 0.88 - bottom - extra_rows * 0.2 / height))
    against = ("AWS and the cheapest alternative" if aws else "the cheapest alternative") if several else "AWS"
    per = "GPU-hour" if all(display_unit(n)[1] == 1.0 for n in names) else "unit of capacity"
    fig.suptitle(f"Network vs {against}, price per {per}: scenario {summary['scenario']}", fontsize=12, y=0.99)
    fig.text(0.01, 0.005, source, fontsize=7, color="#555555", ha="left", va="bottom")
    return fig
