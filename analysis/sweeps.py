"""Figures of a sweep: pricing curves of selected runs, an undercut heatmap over two parameters, months of
undercut against a parameter (the emission size), and a tornado chart of sensitivities.

Each takes the long DataFrames ``sim.sweep`` and ``sim.sweep_epochs`` return and gives a matplotlib
``Figure`` (no pyplot state). Replications are averaged per point; error bars are standard errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.sweep import replicated_means
from sim.units import HOURS_PER_MONTH


def _short(name: str, labels: Mapping[str, str] | None = None) -> str:
    """A column's label (``labels``: e.g. ``analysis.labels``' readable names), else the last parts of its
    dotted path: enough to read on an axis."""
    if labels and name in labels:
        return labels[name]
    parts = name.split(".")
    keep = 3 if len(parts) > 2 and parts[-2].isdigit() else 2  # providers.0.count, not 0.count
    return ".".join(parts[-keep:])


def sweep_pricing_curves(epochs: pd.DataFrame, runs: pd.DataFrame, gpu_class: str,
                         run_ids: Sequence[int] | None = None, label_by: Sequence[str] | None = None) -> Figure:
    """The network price of ``gpu_class`` over time in several runs (default: replication 0 of every
    point, at most eight), against AWS on-demand."""
    params = label_by or runs.attrs.get("params", [])
    chosen = list(run_ids) if run_ids is not None else runs.loc[runs["replication"] == 0, "run_id"].head(8).tolist()
    e = epochs[(epochs["gpu_class"] == gpu_class) & epochs["run_id"].isin(chosen)]
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.subplots()
    for run_id, group in e.groupby("run_id", sort=True):
        row = runs.loc[runs["run_id"] == run_id].iloc[0]
        label = ", ".join(f"{_short(p)}={row[p]:g}" if isinstance(row[p], int | float) else f"{_short(p)}={row[p]}"
                          for p in params)
        g = group.sort_values("epoch")
        ax.plot(g["t_start_hours"] / HOURS_PER_MONTH, g["network_price_usd_per_gpu_hour"], lw=1.4, label=label)
    if len(e):
        aws = e.sort_values("epoch").drop_duplicates("epoch")
        ax.plot(aws["t_start_hours"] / HOURS_PER_MONTH, aws["aws_on_demand_usd_per_gpu_hour"], color="black",
                ls="--", lw=1.2, label="AWS on-demand")
    ax.set_xlabel("Months since start")
    ax.set_ylabel(f"{gpu_class}: USD per GPU-hour")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"Network price of {gpu_class} across the sweep", fontsize=11)
    return fig


def undercut_heatmap(runs: pd.DataFrame, x: str, y: str, metric: str,
                     labels: Mapping[str, str] | None = None, source: str | None = None) -> Figure:
    """Mean ``metric`` (an undercut ratio: network price / AWS) over a grid of two parameters, each cell
    with +- 1.96 standard errors of its replications; below 1 the network is cheaper. ``labels``: readable
    names of the columns; ``source``: a footer line."""
    means = replicated_means(runs, metric, [y, x])
    table = means.pivot(index=y, columns=x, values="mean").sort_index(ascending=False)
    fig = Figure(figsize=(1.3 * len(table.columns) + 3, 0.7 * len(table) + 2.2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(dtype=float), cmap="RdYlGn_r", vmin=0, vmax=max(1.0, float(np.nanmax(table))),
                      aspect="auto")
    ax.set_xticks(range(len(table.columns)), [f"{v:g}" for v in table.columns])
    ax.set_yticks(range(len(table.index)), [f"{v:g}" for v in table.index])
    half = (1.96 * means.pivot(index=y, columns=x, values="sem")).reindex_like(table).to_numpy(dtype=float)
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        spread = f"\n+-{half[i, j]:.2f}" if np.isfinite(half[i, j]) else ""
        ax.text(j, i, "-" if np.isnan(value) else f"{value:.2f}{spread}", ha="center", va="center", fontsize=8)
    ax.set_xlabel(_short(x, labels))
    ax.set_ylabel(_short(y, labels))
    fig.colorbar(image, ax=ax, label=f"{_short(metric, labels)} (mean)")
    ax.set_title(f"Mean {_short(metric, labels)} (< 1 is an undercut; +- 1.96 s.e.)", fontsize=10)
    return _footer(fig, source)


def months_vs_parameter(runs: pd.DataFrame, param: str, metric: str, labels: Mapping[str, str] | None = None,
                        horizon_months: float | None = None, source: str | None = None) -> Figure:
    """Mean months of undercut (or any metric) against one parameter, e.g. the emission size, with
    standard-error bars; other parameters, if any, are separate lines. The axis runs from 0 to the
    horizon (``horizon_months``) or above the highest value, so a flat line reads as flat, not as noise
    on a zoomed axis."""
    others = [p for p in runs.attrs.get("params", []) if p != param]
    fig = Figure(figsize=(7, 4.4), layout="constrained")
    ax = fig.subplots()
    groups = [((), runs)] if not others else list(runs.groupby(others, sort=True))
    top = 0.0
    for key, group in groups:
        means = replicated_means(group, metric, [param])
        label = ", ".join(f"{_short(o, labels)} = {k:g}" for o, k in zip(others, np.atleast_1d(key), strict=False))
        ax.errorbar(means[param], means["mean"], yerr=means["sem"].fillna(0), marker="o", capsize=3,
                    label=label or None)
        top = max(top, float(np.nanmax(means["mean"] + means["sem"].fillna(0)))) if len(means) else top
    ax.set_ylim(0, horizon_months if horizon_months else 1.1 * top or 1.0)
    ax.set_xlabel(_short(param, labels))
    ax.set_ylabel(f"{_short(metric, labels)} (mean +- s.e.)")
    ax.grid(alpha=0.3)
    if others:
        ax.legend(fontsize=8)
    ax.set_title(f"{_short(metric, labels)} against {_short(param, labels)}", fontsize=11)
    return _footer(fig, source)


def tornado(indices: pd.DataFrame, title: str = "Sensitivity of the undercut ratio",
            labels: Mapping[str, str] | None = None, source: str | None = None) -> Figure:
    """Horizontal bars per parameter, largest on top: ``indices`` has a row per parameter and the columns
    to draw (Sobol ``first_order`` and ``total_order``, or a single ``rank_correlation``)."""
    columns = [c for c in indices.columns if c != "parameter"]
    order = indices.assign(_size=indices[columns].abs().max(axis=1)).sort_values("_size")
    fig = Figure(figsize=(7.5, 0.55 * len(order) + 1.8), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(columns)
    for k, column in enumerate(columns):
        ax.barh(np.arange(len(order)) + (k - (len(columns) - 1) / 2) * height, order[column], height=height,
                label=column.replace("_", " "))
    ax.set_yticks(range(len(order)), [_short(p, labels) for p in order["parameter"]])
    if columns == ["rank_correlation"]:
        ax.set_xlabel("Spearman rank correlation")
        ax.set_xlim(-1.05, 1.05)
    else:
        ax.set_xlabel("Sobol index")
    ax.axvline(0, color="black", lw=0.8)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=11)
    return _footer(fig, source)


def _footer(fig: Figure, source: str | None) -> Figure:
    """A source line under the axes, with room kept for it (constrained layout would draw over it)."""
    if source:
        height = fig.get_figheight()
        fig.get_layout_engine().set(rect=(0, 0.25 / height, 1, 1 - 0.25 / height))
        fig.text(0.01, 0.06 / height, source, fontsize=7, color="#555555", ha="left", va="bottom")
    return fig
