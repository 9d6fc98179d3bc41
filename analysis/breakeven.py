"""Breakeven and sensitivity: what parameter value reaches a target undercut, and which parameters matter.

Both run the model through ``sim.sweep`` (so any backend, and a cache, serve them) with common random
numbers: every evaluation uses the same replication seeds, so the function a root finder or a Sobol
estimator sees changes with the parameters and not with the noise.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sim.backends import Backend
from sim.errors import InputError
from sim.schema import Scenario
from sim.sweep import Range, sweep
from sim.units import BELOW_SHARE

H100_ON_DEMAND = "by_class.H100_SXM.undercut_ratio_on_demand"


SHORT_METRICS = {"ratio": "undercut_ratio", "undercut_ratio": "undercut_ratio", "worst_ratio": "worst_ratio",
                 "p95_ratio": "p95_ratio", "months_below": "months_below", "months_undercut": "months_undercut"}
"""Metric names ``breakeven`` resolves per GPU class and alternative (see ``metric_column``)."""
AWS_KINDS = ("on_demand", "spot", "reserved")
Z95 = float(stats.norm.ppf(0.975))


def metric_column(metric: str, gpu_class: str = "H100_SXM", against: str = "on_demand") -> str:
    """The sweep-table column of a metric: a dotted column as it is, or a short name (``p95_ratio``,
    ``worst_ratio``, ``ratio``, ``months_below``, ``months_undercut``) for ``gpu_class`` against AWS's
    ``on_demand``, ``spot`` or ``reserved`` price, an alternative by name, or ``cheapest``."""
    if "." in metric:
        return metric
    if metric not in SHORT_METRICS:
        raise InputError(f"breakeven: metric {metric!r} is neither a summary column (by_class.CLASS.NAME, as in "
                         f"a sweep's runs table) nor one of {', '.join(SHORT_METRICS)}.")
    name = SHORT_METRICS[metric]
    if against in AWS_KINDS:
        return f"by_class.{gpu_class}.{name}_{against}"
    if against == "cheapest":
        return f"by_class.{gpu_class}.cheapest_alternative.{name}"
    return f"by_class.{gpu_class}.alternatives.{against}.{name}"


def metric_goal(column: str) -> str | None:
    """What meeting the target means for a column: a ratio at or below it, months at or above it."""
    last = column.rsplit(".", 1)[-1]
    return "above" if last.startswith("months") else "below" if "ratio" in last else None


@dataclass
class Breakeven:
    """Where the replicated mean of ``metric`` meets ``target`` along ``param``, or why it does not.

    ``status``: ``crossed`` (``value`` is the crossing, ``interval`` its 95% interval), ``holds_at_lower_bound``
    (the target is already met at the lower bound: ``value`` is that bound) or ``unreachable`` (not met even
    at the upper bound: ``value`` is NaN). The interval is from the replication spread by the delta method:
    the crossing +- 1.96 standard errors of the mean there, over the mean's local slope.
    """

    param: str
    metric: str
    target: float
    value: float
    replications: int
    status: str = "crossed"
    interval: tuple[float, float] = (float("nan"), float("nan"))
    message: str = ""
    evaluations: list[tuple[float, float, float]] = field(default_factory=list)
    """Every point evaluated: (parameter value, mean, standard error)."""

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.evaluations, columns=[self.param, "mean", "sem"]).sort_values(self.param)


def breakeven(base: Scenario | str | Path, param: str, target_ratio: float, bounds: tuple[float, float],
              metric: str = H100_ON_DEMAND, replications: int = 4, seed: int = 0, fixed: Sequence[str] = (),
              backend: Backend = "serial", workers: int | None = None, cache_dir: str | Path | None = None,
              xtol: float | None = None, gpu_class: str = "H100_SXM", against: str = "on_demand",
              below: float = BELOW_SHARE) -> Breakeven:
    """Solve mean(metric)(param) = target_ratio with ``scipy.optimize.brentq`` within ``bounds``.

    For example the emission budget at which the H100 network price stays below 50% of AWS on-demand in
    95% of the epochs: ``breakeven("scenarios/baseline.yaml", "tokenomics.emission.tokens_per_day", 0.5,
    (1e3, 1e5), metric="p95_ratio")``. ``metric`` is a sweep column or a short name resolved for
    ``gpu_class`` and ``against`` (``metric_column``); ``months_below`` counts months under ``below`` of
    the price (default half, ``sim.units.BELOW_SHARE``). ``xtol`` defaults to a thousandth of the bracket.

    When the mean does not cross the target within ``bounds``, a ratio (met at or below the target) or a
    count of months (met at or above it) says so in ``status`` and ``message``: the target already holds
    at the lower bound, or cannot be reached within the upper one. For another metric, with no sense of
    which side meets the target, that is an InputError giving the values at both ends.
    """
    low, high = bounds
    if not low < high:
        raise InputError(f"breakeven: bounds ({low:g}, {high:g}) must be (low, high) with low < high.")
    column = metric_column(metric, gpu_class, against)
    found = Breakeven(param, column, target_ratio, float("nan"), replications)
    cache_dir = cache_dir or tempfile.mkdtemp(prefix="depinsim-breakeven-")  # brentq revisits the bounds

    def evaluate(x: float) -> tuple[float, float]:
        runs = sweep(base, {param: [float(x)]}, replications=replications, seed=seed, backend=backend,
                     workers=workers, cache_dir=cache_dir, progress=False, fixed=fixed, common_random_numbers=True,
                     below=below)
        failed = runs[runs["status"] != "ok"]
        if len(failed):
            raise InputError(f"breakeven: the run at {param}={x:g} failed: {failed['error'].iloc[0]}")
        if column not in runs.columns:
            raise InputError(f"breakeven: the runs have no metric {column!r}; summary columns include "
                             f"{', '.join(c for c in runs.columns if 'undercut_ratio' in c)[:300]}")
        values = runs[column].to_numpy(dtype=float)
        if np.isnan(values).any():
            raise InputError(f"breakeven: {column} is undefined at {param}={x:g} (no network sales of that class)")
        mean = float(values.mean())
        sem = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
        if all(x != seen for seen, _, _ in found.evaluations):
            found.evaluations.append((float(x), mean, sem))
        return mean, sem

    (m_low, s_low), (m_high, s_high) = evaluate(low), evaluate(high)
    f_low, f_high = m_low - target_ratio, m_high - target_ratio
    if np.sign(f_low) == np.sign(f_high) and f_low != 0:
        goal = metric_goal(column)
        at_low = f"{m_low:.3f} +- {Z95 * s_low:.3f} at {param}={low:g}"
        at_high = f"{m_high:.3f} +- {Z95 * s_high:.3f} at {param}={high:g}"
        if goal is None:
            raise InputError(f"breakeven: mean {column} is {at_low} and {at_high}; the target {target_ratio:g} is "
                             "not between them. Widen the bounds.")
        met = f_low < 0 if goal == "below" else f_low > 0
        word = "at or below" if goal == "below" else "at or above"
        if met:
            found.status, found.value = "holds_at_lower_bound", float(low)
            found.message = (f"The target ({column} {word} {target_ratio:g}) already holds at the lower bound: the "
                             f"mean is {at_low} (and {at_high}).")
        else:
            found.status = "unreachable"
            found.message = (f"The target ({column} {word} {target_ratio:g}) is not reached within the upper bound: "
                             f"the mean is {at_low} and {at_high}. Widen the bounds or change the scenario.")
        return found
    found.value = float(optimize.brentq(lambda x: evaluate(x)[0] - target_ratio, low, high,
                                        xtol=xtol or abs(high - low) * 1e-3))
    found.interval = _delta_interval(found, low, high)
    lo, hi = found.interval
    found.message = (f"The mean {column} reaches {target_ratio:g} at {param} = {found.value:,.4g} "
                     f"(95% interval {lo:,.4g} to {hi:,.4g}, from {replications} replications).")
    return found


def _delta_interval(found: Breakeven, low: float, high: float) -> tuple[float, float]:
    """The crossing +- 1.96 standard errors of the mean there over the mean's slope there (the secant of
    the two evaluations that bracket the crossing most closely), clipped to the bounds."""
    table = found.table()
    x, mean, sem = (table[c].to_numpy(dtype=float) for c in (found.param, "mean", "sem"))
    right = int(np.searchsorted(x, found.value))
    if right == 0 or right >= x.size or not np.isfinite(sem).all():
        return float("nan"), float("nan")
    left = right - 1
    slope = (mean[right] - mean[left]) / (x[right] - x[left])
    if slope == 0:
        return float(low), float(high)
    share = (found.value - x[left]) / (x[right] - x[left])
    half = Z95 * (sem[left] + share * (sem[right] - sem[left])) / abs(slope)
    return max(float(low), found.value - half), min(float(high), found.value + half)


def sobol_sensitivity(base: Scenario | str | Path, ranges: Mapping[str, Range | tuple[float, float]],
                      metric: str = H100_ON_DEMAND, n: int = 64, seed: int = 0, fixed: Sequence[str] = (),
                      backend: Backend = "serial", workers: int | None = None,
                      cache_dir: str | Path | None = None) -> pd.DataFrame:
    """First-order and total Sobol indices of ``metric`` over ``ranges`` (Saltelli sampling, with
    ``scipy.stats.sobol_indices``); ``n`` (a power of two) base samples cost n * (d + 2) runs."""
    names = list(ranges)
    axes = [r if isinstance(r, Range) else Range(float(r[0]), float(r[1])) for r in ranges.values()]
    dists = [stats.loguniform(a.low, a.high) if a.scale == "log" else stats.uniform(a.low, a.high - a.low)
             for a in axes]

    def model(x: np.ndarray) -> np.ndarray:
        points: dict[str, Any] = {}
        for name, axis, column in zip(names, axes, x, strict=True):
            points[name] = [int(round(v)) for v in column] if axis.integer else [float(v) for v in column]
        runs = sweep(base, points, method="zip", seed=seed, backend=backend, workers=workers, cache_dir=cache_dir,
                     progress=False, fixed=fixed, common_random_numbers=True)
        if (runs["status"] != "ok").any():
            raise InputError(f"sobol_sensitivity: a run failed: {runs.loc[runs['status'] != 'ok', 'error'].iloc[0]}")
        return np.array(runs[metric], dtype=float)[np.newaxis, :]  # a writable copy: scipy centres it in place

    result = stats.sobol_indices(func=model, n=n, dists=dists, rng=np.random.default_rng(seed))
    return pd.DataFrame({"parameter": names, "first_order": result.first_order.ravel(),
                         "total_order": result.total_order.ravel()})


def rank_sensitivity(runs: pd.DataFrame, metric: str = H100_ON_DEMAND,
                     params: Sequence[str] | None = None) -> pd.DataFrame:
    """Spearman rank correlation of ``metric`` with each swept parameter: a cheap, model-free sensitivity
    for any sweep (the memo's), where Sobol indices need their own design."""
    ok = runs[runs["status"] == "ok"]
    rows = []
    for p in params or runs.attrs.get("params", []):
        x, y = ok[p].to_numpy(dtype=float), ok[metric].to_numpy(dtype=float)
        keep = ~(np.isnan(x) | np.isnan(y))
        rho = stats.spearmanr(x[keep], y[keep]).statistic if keep.sum() > 2 and np.ptp(x[keep]) > 0 else np.nan
        rows.append((p, float(rho)))
    return pd.DataFrame(rows, columns=["parameter", "rank_correlation"])
