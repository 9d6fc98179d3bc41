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

H100_ON_DEMAND = "by_class.H100_SXM.undercut_ratio_on_demand"


@dataclass
class Breakeven:
    """The parameter value at which the replicated mean of ``metric`` equals ``target``."""

    param: str
    metric: str
    target: float
    value: float
    replications: int
    evaluations: list[tuple[float, float, float]] = field(default_factory=list)
    """Every point brentq asked for: (parameter value, mean, standard error)."""

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.evaluations, columns=[self.param, "mean", "sem"]).sort_values(self.param)


def breakeven(base: Scenario | str | Path, param: str, target_ratio: float, bounds: tuple[float, float],
              metric: str = H100_ON_DEMAND, replications: int = 4, seed: int = 0, fixed: Sequence[str] = (),
              backend: Backend = "serial", workers: int | None = None, cache_dir: str | Path | None = None,
              xtol: float | None = None) -> Breakeven:
    """Solve mean(metric)(param) = target_ratio with ``scipy.optimize.brentq`` within ``bounds``.

    For example the emission budget at which the H100 network price is 50% of AWS on-demand:
    ``breakeven("scenarios/baseline.yaml", "tokenomics.emission.tokens_per_day", 0.5, (1e4, 1e6))``.
    ``xtol`` defaults to a thousandth of the bracket. The metric must change sign against the target
    across ``bounds``; if it does not, the error says what it was at both ends.
    """
    low, high = bounds
    found = Breakeven(param, metric, target_ratio, float("nan"), replications)
    cache_dir = cache_dir or tempfile.mkdtemp(prefix="depinsim-breakeven-")  # brentq revisits the bounds

    def mean_at(x: float) -> float:
        runs = sweep(base, {param: [float(x)]}, replications=replications, seed=seed, backend=backend,
                     workers=workers, cache_dir=cache_dir, progress=False, fixed=fixed, common_random_numbers=True)
        failed = runs[runs["status"] != "ok"]
        if len(failed):
            raise InputError(f"breakeven: the run at {param}={x:g} failed: {failed['error'].iloc[0]}")
        if metric not in runs.columns:
            raise InputError(f"breakeven: the runs have no metric {metric!r}; summary columns include "
                             f"{', '.join(c for c in runs.columns if 'undercut_ratio' in c)[:300]}")
        values = runs[metric].to_numpy(dtype=float)
        if np.isnan(values).any():
            raise InputError(f"breakeven: {metric} is undefined at {param}={x:g} (no network sales of that class)")
        mean = float(values.mean())
        sem = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
        if all(x != seen for seen, _, _ in found.evaluations):
            found.evaluations.append((float(x), mean, sem))
        return mean - target_ratio

    f_low, f_high = mean_at(low), mean_at(high)
    if np.sign(f_low) == np.sign(f_high):
        raise InputError(f"breakeven: mean {metric} is {f_low + target_ratio:.3f} at {param}={low:g} and "
                         f"{f_high + target_ratio:.3f} at {high:g}; the target {target_ratio:g} is not between them. "
                         "Widen the bounds.")
    found.value = float(optimize.brentq(mean_at, low, high, xtol=xtol or abs(high - low) * 1e-3))
    return found


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
