"""The stress battery: a scenario run against a named set of shocks, and a scorecard of what survives.

Each shock is an overlay: the scenario with one entry added to its ``shocks`` (``sim.schema.shocks``), at
the same seed, so the shocked and unshocked runs share every random draw the shock does not touch and the
difference is the shock's. The battery runs on any sweep backend (it is a sweep over ``shocks``).

Per shock, against the lead GPU class (H100_SXM where it sells, else the class that sells most) and the
cheapest alternative buyers have:

- ``undercut_survives``: the volume-weighted network price / cheapest alternative after the shock is
  below 1;
- ``months_until_undercut_ends``: months from the shock to the first epoch whose ratio is 1 or more (None:
  not within the horizon);
- ``providers_lost``: providers at the end of the unshocked run less those at the end of the shocked run;
- ``price_rebound``: the network price after the shock, shocked / unshocked - 1, each epoch weighted by the
  unshocked run's GPU-hours (a fixed basket: a shock that moves sales between cheap and dear epochs, or
  collapses them, is not read as a price change), over the epochs where both runs sold;
- ``subsidy_share``: the share of providers' income after the shock that was token rewards.

A token crash needs an exogenous price path and a token unlock the run's own AMM pool, so a scenario
takes one of the two (the scorecard lists the other as not run). A competing network offering providers
twice the yield acts through providers leaving, so it runs only where a provider group can leave
(``exit_after_negative_epochs``).
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
from .schema import Scenario
from .summary import weighted_mean
from .sweep import run_points, sweep_epochs
from .units import HOURS_PER_DAY, HOURS_PER_MONTH


def not_run(scenario: Scenario) -> dict[str, str]:
    """The battery's shocks this scenario cannot take, and why (the scorecard lists them)."""
    if scenario.tokenomics.token_price.endogenous:
        why = {"token_crash_80pct": "an AMM's price has no path to shock: the run's own flows set it (see the "
                                    "token unlock)"}
    else:
        why = {"token_unlock_10pct": "a sale into the pool needs the run's own token market (token_price kind "
                                     "amm); a price path ignores it (see the token crash)"}
    if not _can_leave(scenario):
        why["competing_network_2x_yield"] = ("providers cannot leave in this scenario (no group sets "
                                             "exit_after_negative_epochs), so a competitor's offer changes nothing")
    return why


def _can_leave(scenario: Scenario) -> bool:
    return any(group.exit_after_negative_epochs for group in scenario.providers)


def battery(scenario: Scenario, month: float, cheapest: str) -> dict[str, dict[str, Any]]:
    """The named shocks, each one entry of ``shocks``, at ``month``; ``cheapest``: the alternative whose
    prices the price-cut shock cuts (the one buyers of the lead class take at the shock's month)."""
    shocks: dict[str, dict[str, Any]] = {
        "emission_halved": {"kind": "emission_cut", "month": month, "factor": 0.5},
        "alternative_cut_45pct": {"kind": "alternative_price_cut", "month": month, "alternative": cheapest,
                                  "cut": 0.45},
        "demand_halved": {"kind": "demand_drop", "month": month, "drop": 0.5},
        "new_gpu_generation": {"kind": "new_generation", "month": month, "to_share": 0.5, "over_months": 12},
    }
    if not scenario.tokenomics.token_price.endogenous:  # an AMM's price has no path to shock
        shocks = {"token_crash_80pct": {"kind": "token_price_drop", "month": month, "drop": 0.8,
                                        "over_months": 1}, **shocks}
    else:  # an AMM: a crash is what a large sale into the pool does; the unlock is a tenth of the supply
        shocks["token_unlock_10pct"] = {"kind": "token_unlock", "month": month,
                                        "tokens": 0.1 * scenario.tokenomics.initial_supply_tokens, "over_months": 1}
    if _can_leave(scenario):
        shocks["competing_network_2x_yield"] = {"kind": "competing_network", "month": month, "yield_multiplier": 2.0}
    return shocks


def lead_class(epochs: pd.DataFrame) -> str:
    sold = epochs.groupby("gpu_class", observed=True)["gpu_hours_sold"].sum()
    sold = sold[sold > 0]
    if sold.empty:
        raise InputError("stress: the unshocked run sells nothing, so there is no undercut to stress.")
    return "H100_SXM" if "H100_SXM" in sold.index else str(sold.idxmax())


def scorecard_row(epochs: pd.DataFrame, base: pd.DataFrame, providers_end: int, base_providers_end: int,
                  month: float, cls: str) -> dict[str, Any]:
    """One shock's scorecard entry from its run's epoch table and the unshocked run's (see the module)."""
    def after(e: pd.DataFrame) -> pd.DataFrame:
        c = e[e["gpu_class"] == cls]
        return c[c["t_end_hours"] > month * HOURS_PER_MONTH].sort_values("epoch")

    e, b = after(epochs), after(base)
    ratio = weighted_mean(e["undercut_ratio_vs_cheapest"], e["gpu_hours_sold"])
    ended = e[e["undercut_ratio_vs_cheapest"] >= 1.0]
    # a fixed basket: both runs' prices epoch by epoch, weighted by the unshocked run's GPU-hours, over the
    # epochs both sold in (each run's own volumes would read a shift of sales between cheap and dear epochs
    # as a price change)
    both = e.merge(b, on="epoch", suffixes=("", "_base"))
    both = both[(both["gpu_hours_sold"] > 0) & (both["gpu_hours_sold_base"] > 0)]
    price = float((both["network_price_usd_per_gpu_hour"] * both["gpu_hours_sold_base"]).sum())
    base_price = float((both["network_price_usd_per_gpu_hour_base"] * both["gpu_hours_sold_base"]).sum())
    income = e["reward_usd"].sum() + e["usd_revenue"].sum()
    return {
        "ratio_after": ratio,
        "base_ratio_after": weighted_mean(b["undercut_ratio_vs_cheapest"], b["gpu_hours_sold"]),
        "undercut_survives": bool(ratio < 1.0) if np.isfinite(ratio) else None,
        "months_until_undercut_ends": (float(max(ended["t_start_hours"].iloc[0] / HOURS_PER_MONTH - month, 0.0))
                                       if len(ended) else None),
        "providers_lost": int(base_providers_end - providers_end),
        "price_rebound": price / base_price - 1.0 if base_price > 0 else None,
        "subsidy_share": float(e["reward_usd"].sum() / income) if income > 0 else None,
    }


@dataclass
class StressResult:
    """The battery's runs: ``scorecard`` one row a shock (the unshocked run first), ``epochs`` every run's
    epoch table with its ``shock``, ``shocks`` the overlays by name."""

    scenario: Scenario
    month: float
    gpu_class: str
    shocks: dict[str, dict[str, Any]]
    scorecard: pd.DataFrame
    epochs: pd.DataFrame

    def overlays(self) -> dict[str, str]:
        """Each shock as the ``--set`` that gives its run: ``depinsim run FILE --set 'shocks=[...]'``."""
        return {name: f"--set 'shocks={_flow([shock])}'" for name, shock in self.shocks.items()}


def stress(scenario: Scenario, month: float | None = None, backend: Backend = "serial", workers: int | None = None,
           cache_dir: str | Path | None = None, progress: bool = True) -> StressResult:
    """Run ``scenario`` unshocked and under every shock of the battery (``month``: when they hit; default a
    third of the horizon, at most month 12)."""
    horizon_months = scenario.horizon_days * HOURS_PER_DAY / HOURS_PER_MONTH
    month = float(month if month is not None else round(min(12.0, horizon_months / 3), 1))
    if not 0 <= month < horizon_months:
        raise InputError(f"stress: --month {month:g} must be within the horizon (0 to {horizon_months:.1f}).")
    if scenario.shocks:
        raise InputError(f"stress: scenario {scenario.name} already has shocks; the battery adds its own to the "
                         "scenario as written. Remove its shocks: entries first.")
    base = run_points(scenario, pd.DataFrame(index=range(1)), np.array([[scenario.seed]]), backend, None,
                      cache_dir, progress, workers)
    _check(base, "the unshocked run")
    base_epochs = sweep_epochs(base)
    cls = lead_class(base_epochs)
    at = base_epochs[(base_epochs["gpu_class"] == cls) & (base_epochs["t_end_hours"] > month * HOURS_PER_MONTH)]
    cheapest = str(at["cheapest_alternative"].iloc[0])
    shocks = battery(scenario, month, cheapest)
    points = pd.DataFrame({"shocks": [_flow([s]) for s in shocks.values()]})
    runs = run_points(scenario, points, np.full((len(shocks), 1), scenario.seed), backend, None, cache_dir, progress,
                      workers)
    _check(runs, "a shocked run")
    epochs = sweep_epochs(runs)
    names = list(shocks)
    base_end = int(base["providers.end"].iloc[0])
    unshocked = scorecard_row(base_epochs, base_epochs, base_end, base_end, month, cls)
    rows = [{"shock": "none", "modelled": True, "overlay": "", **unshocked}]
    for i, name in enumerate(names):
        run = epochs[epochs["point"] == i]
        rows.append({"shock": name, "modelled": True, "overlay": _flow([shocks[name]]),
                     **scorecard_row(run, base_epochs, int(runs["providers.end"].iloc[i]), base_end, month, cls)})
    for name, why in not_run(scenario).items():
        rows.append({"shock": name, "modelled": False, "overlay": why})
    stacked = pd.concat([base_epochs.assign(shock="none"),
                         epochs.assign(shock=epochs["point"].map(dict(enumerate(names))))], ignore_index=True)
    stacked = stacked.drop(columns=["run_id", "point", "replication", "seed", "shocks"], errors="ignore")
    return StressResult(scenario, month, cls, shocks, pd.DataFrame(rows), stacked)


def _check(runs: pd.DataFrame, what: str) -> None:
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        raise InputError(f"stress: {what} failed: {failed['error'].iloc[0]}")


def _flow(shocks: Sequence[dict[str, Any]]) -> str:
    """Shocks as a YAML flow sequence, the value of ``--set shocks=...``."""
    items = ", ".join("{" + ", ".join(f"{k}: {v}" for k, v in s.items()) + "}" for s in shocks)
    return f"[{items}]"
