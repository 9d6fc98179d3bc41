"""Replications: one scenario run on N seeds, with the spread of every headline and of every epoch's prices.

A single seed is one draw of the arrivals, failures and token price; an analyst quoting "the network is
35% under AWS" needs the range that claim holds over. ``replicate`` runs the scenario on the first N
children of its seed's ``numpy.random.SeedSequence`` (replication r gets child r, as replication r of a
sweep point does), on any sweep backend (serial, a process pool, Dask: the same tasks, so the same
results), and returns the per-seed summary rows and epoch tables with their P10/P50/P90 bands.

Bands are empirical quantiles across seeds (numpy's linear interpolation), epoch by epoch and GPU class
by GPU class for the epoch table, and per headline for the summary. With few seeds they are rough
(P10 and P90 of 5 seeds are interpolated between the lowest two and the highest two): they show the
spread of the model's outcomes over its random draws, not a confidence interval of a mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .backends import Backend
from .errors import InputError
from .schema import Scenario, scenario_hash
from .summary import package_version
from .sweep import run_points, run_seeds, sweep_epochs
from .units import BELOW_SHARE

QUANTILES = (0.1, 0.5, 0.9)
BAND_NAMES = ("p10", "p50", "p90")
BANDED = ("network_price_usd_per_gpu_hour", "price_without_subsidy_usd_per_gpu_hour", "utilisation",
          "undercut_ratio_on_demand", "undercut_ratio_vs_cheapest", "token_price_usd")
"""The epoch columns whose spread across seeds ``bands`` gives (the pricing curve draws the first)."""
CLASS_HEADLINES = ("network_price_usd_per_gpu_hour", "undercut_ratio_on_demand", "p95_ratio_on_demand",
                   "worst_ratio_on_demand", "months_undercut_on_demand", "months_below_on_demand", "utilisation",
                   "subsidy_share")
HEADLINES = ("jobs.network", "jobs.abandoned", "tokens.reward_usd", "tokens.price_end_usd",
             "provider_economics.subsidy_share", "providers.end")


class ReplicationError(RuntimeError):
    """A replication's run failed (a broken conservation law, a bug): the spread of the others would hide it."""


@dataclass
class Replicated:
    """A scenario's replications: ``runs`` one row a seed (the flattened summary, as a sweep's rows),
    ``epochs`` every seed's epoch table stacked (with ``replication`` and ``seed``)."""

    scenario: Scenario
    runs: pd.DataFrame
    epochs: pd.DataFrame
    below: float = BELOW_SHARE
    """The share of each alternative's price under which ``months_below`` counts months."""

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.runs["seed"]]

    def bands(self) -> pd.DataFrame:
        """Per epoch and GPU class, P10/P50/P90 across seeds of the ``BANDED`` columns (``COLUMN_p10``, ...)
        and the median of every other numeric column, so the frame draws as an epoch table would."""
        return epoch_bands(self.epochs)

    def summary(self) -> dict[str, Any]:
        """Each headline with its P10/P50/P90, mean and per-seed values, per GPU class and for the run."""
        ok = self.runs[self.runs["status"] == "ok"]
        classes = sorted({c.split(".")[1] for c in ok.columns if c.startswith("by_class.")})
        by_class = {cls: {name: _spread(ok, f"by_class.{cls}.{name}") for name in CLASS_HEADLINES
                          if f"by_class.{cls}.{name}" in ok} for cls in classes}
        sc = self.scenario
        return {
            "scenario": sc.name,
            "description": sc.description,
            "scenario_hash": scenario_hash(sc),  # of the resolved scenario, whose seed is the root seed
            "seed": sc.seed,
            "package_version": package_version(),
            "horizon_days": sc.horizon_days,
            "below_share": self.below,
            "cloud": {"price_set": sc.cloud.price_set, "buyer_price": sc.cloud.buyer_price,
                      "alternatives": [alt.name for alt in sc.cloud.alternatives]},
            "replications": len(self.runs),
            "seeds": self.seeds,
            "bands": "P10/P50/P90 across seeds (empirical quantiles, numpy linear interpolation)",
            "headlines": {name: _spread(ok, name) for name in HEADLINES if name in ok},
            "by_class": by_class,
        }


def _spread(runs: pd.DataFrame, column: str) -> dict[str, Any]:
    values = runs[column].to_numpy(dtype=float)
    known = values[np.isfinite(values)]
    out: dict[str, Any] = dict.fromkeys(BAND_NAMES)
    if known.size:
        out = dict(zip(BAND_NAMES, (float(v) for v in np.quantile(known, QUANTILES)), strict=True))
    out["mean"] = float(known.mean()) if known.size else None
    out["values"] = [None if not np.isfinite(v) else float(v) for v in values]
    return out


def epoch_bands(epochs: pd.DataFrame) -> pd.DataFrame:
    """P10/P50/P90 across replications of the ``BANDED`` columns per epoch and GPU class, and the median
    of every other numeric column (categorical columns: the first replication's)."""
    keys = ["epoch", "gpu_class"]
    grouped = epochs.groupby(keys, observed=True, sort=True)
    numeric = [c for c in epochs.columns if c not in (*keys, "run_id", "point", "replication", "seed")
               and pd.api.types.is_numeric_dtype(epochs[c])]
    other = [c for c in epochs.columns if c not in (*keys, *numeric, "run_id", "point", "replication", "seed")]
    out = grouped[numeric].median()
    for column in BANDED:
        q = grouped[column].quantile(list(QUANTILES)).unstack()
        for quantile, name in zip(QUANTILES, BAND_NAMES, strict=True):
            out[f"{column}_{name}"] = q[quantile]
    if other:
        out = out.join(grouped[other].first())
    out["replications"] = grouped["seed"].nunique()
    return out.reset_index()


def replicate(scenario: Scenario | str | Path, replications: int, backend: Backend = "serial",
              workers: int | None = None, address: str | None = None, cache_dir: str | Path | None = None,
              progress: bool = True, overrides: Sequence[str] = (), below: float = BELOW_SHARE) -> Replicated:
    """Run ``scenario`` (a Scenario or a scenario file, with ``overrides``) on ``replications`` seeds: the
    first children of its own seed's SeedSequence. A failed replication raises ReplicationError naming it.
    ``below``: as ``run --below``, the share of each alternative's price ``months_below`` counts under."""
    from .loader import load_scenario

    if replications < 1:
        raise InputError(f"--replications must be 1 or more, got {replications}.")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    base: Scenario | str | Path = sc if isinstance(scenario, Scenario) or overrides else scenario
    seeds = run_seeds(sc.seed, 1, replications)
    if not below > 0:
        raise InputError(f"below {below:g}: the share of the alternative's price must be above 0 (0.5: half).")
    runs = run_points(base, pd.DataFrame(index=range(1)), seeds, backend, address, cache_dir, progress, workers,
                      below=below)
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        row = failed.iloc[0]
        raise ReplicationError(f"{len(failed)} of {replications} replications of {sc.name} failed; replication "
                               f"{row['replication']} (seed {row['seed']}): {row['error']}")
    epochs = sweep_epochs(runs).drop(columns=["run_id", "point"])
    return Replicated(sc, runs.drop(columns=["run_id", "point"]), epochs, below)
