"""Where a swept metric crosses a target, in the words a memo prints: read from the runs alone (the
memo runs nothing), with an interval from the replications' spread."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .breakeven import Z95, metric_goal


def breakevens(ok: pd.DataFrame, numeric: list[str], target: float, metric: str, labels: Mapping[str, str]) -> str:
    """The crossing along the first parameter at each value of the others (pooling them would interpolate
    across, say, two fleet sizes as if they were one)."""
    first, others = numeric[0], numeric[1:]
    if not others:
        return crossing(ok, target, first, metric, labels)
    parts = []
    for values, group in ok.groupby(others, sort=True):
        at = ", ".join(f"{labels[p]} = {v:,.4g}" for p, v in zip(others, np.atleast_1d(values), strict=True))
        parts.append(f"At {at}: {crossing(group, target, first, metric, labels)}")
    return " ".join(parts)


def crossing(runs: pd.DataFrame, target: float, param: str, metric: str, labels: Mapping[str, str]) -> str:
    """Where the mean metric crosses the target along ``param`` (linear interpolation between the two swept
    values that bracket it), with an interval from the replication spread: where mean -+ 1.96 standard
    errors cross it. A memo reads only what was run."""
    stats_ = runs.groupby(param, sort=True)[metric].agg(["mean", "sem", "count"])
    x = stats_.index.to_numpy(dtype=float)
    y = stats_["mean"].to_numpy(dtype=float)
    half = Z95 * stats_["sem"].fillna(0.0).to_numpy(dtype=float)
    at = interpolated(x, y, target)
    what, along = labels.get(metric, metric), labels.get(param, param)
    if at is None:
        if not np.isfinite(y).any():
            return f"the mean {what} is undefined over the swept range of {along}."
        span = f"it spans {np.nanmin(y):.3f} to {np.nanmax(y):.3f} over {along} = {x[0]:,.4g} to {x[-1]:,.4g}"
        goal = metric_goal(metric)
        if goal is not None:
            met = bool(np.nanmax(y) <= target) if goal == "below" else bool(np.nanmin(y) >= target)
            if met:
                word = "at or below" if goal == "below" else "at or above"
                return (f"the mean {what} is {word} {target:g} at every swept value ({span}): the target "
                        "already holds.")
            word = "above" if goal == "below" else "below"
            return (f"the mean {what} stays {word} {target:g} at every swept value ({span}): the target is not "
                    "reached within the swept range.")
        return f"the mean {what} does not cross {target:g} within the swept range ({span})."
    ends = [v for v in (interpolated(x, y - half, target), interpolated(x, y + half, target)) if v is not None]
    interval = (f" (95% interval from the spread of {int(stats_['count'].min())} replications: "
                f"{min(ends):,.4g} to {max(ends):,.4g})" if len(ends) == 2 and half.any() else "")
    return (f"the mean {what} reaches {target:g} at {along} = {at:,.4g}{interval}, interpolated between the "
            "swept values (`analysis.breakeven` solves it with brentq).")


def interpolated(x: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """The first crossing of ``target`` by the piecewise-linear curve (x, y), or None."""
    for i in range(len(x) - 1):
        bracketed = (y[i] - target) * (y[i + 1] - target) <= 0 and y[i] != y[i + 1]
        if np.isfinite(y[i]) and np.isfinite(y[i + 1]) and bracketed:
            return float(x[i] + (target - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
    return None
