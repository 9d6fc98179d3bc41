"""The headline numbers of a run: where the work went, what it cost, how far under AWS and for how long,
and what it took in tokens (``summary.json``)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from .catalog import CLOUD_PRICE_KINDS
from .economy import TokenEconomy
from .engine.recorder import RATIO_KINDS
from .jobfigures import JobFigures
from .latency import latency_summary
from .schema import Scenario, scenario_hash
from .units import BELOW_SHARE, HOURS_PER_MONTH, MICRO


def package_version() -> str:
    try:
        return metadata.version("depinsim")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def weighted_mean(values: pd.Series | np.ndarray, weights: pd.Series | np.ndarray) -> float:
    """Weighted mean of the values that are known and have weight (on arrays: the summary takes ~100 of
    these, and pandas' per-call overhead was most of their cost)."""
    v, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    ok = ~np.isnan(v) & (w > 0)
    total = w[ok].sum()
    return float((v[ok] * w[ok]).sum() / total) if total > 0 else float("nan")


def _crossings(e: pd.DataFrame, column: str) -> dict[str, Any]:
    """When the network price first went below a centralised price (an undercut-ratio column), and first
    came back above."""
    ratio = e[column].to_numpy()
    months = e["t_start_hours"].to_numpy() / HOURS_PER_MONTH
    below = np.flatnonzero(ratio < 1.0)
    first_below = float(months[below[0]]) if below.size else None
    above = np.flatnonzero((ratio >= 1.0) & (np.arange(ratio.size) > below[0])) if below.size else np.empty(0, int)
    return {"first_below_month": first_below, "back_above_month": float(months[above[0]]) if above.size else None}


def _ratio_in_month(e: pd.DataFrame, column: str, month: int) -> float | None:
    """Volume-weighted undercut ratio over the 30-day window ending at month ``month``; None past the horizon."""
    end_hours = month * HOURS_PER_MONTH
    t_end, t_start = e["t_end_hours"].to_numpy(), e["t_start_hours"].to_numpy()
    if t_end.max() < end_hours - 1e-6:
        return None
    window = (t_end > end_hours - HOURS_PER_MONTH) & (t_start < end_hours)
    value = weighted_mean(e[column].to_numpy()[window], e["gpu_hours_sold"].to_numpy()[window])
    return None if value != value else value


def ratio_metrics(e: pd.DataFrame, ratio: str, below: float = BELOW_SHARE) -> dict[str, float | None]:
    """The tail of one class's undercut against one price, over its epochs (rows of ``epochs.parquet``):
    ``worst_ratio`` and ``p95_ratio``, the highest and the 95th-percentile (numpy's linear interpolation)
    per-epoch ratio over the epochs in which the class sold GPU-hours (an epoch with no sales has no price
    to compare); ``months_below``, the months (730 h) of epochs whose ratio is below ``below`` (as
    ``months_undercut`` counts those below 1). A horizon average hides the epoch in which the undercut
    fails: an analyst asking "below half of AWS for the whole horizon" needs the worst one."""
    r = e[ratio].to_numpy(dtype=float)
    sold = r[(e["gpu_hours_sold"].to_numpy() > 0) & np.isfinite(r)]
    hours = (e["t_end_hours"] - e["t_start_hours"]).to_numpy()
    return {
        "worst_ratio": float(sold.max()) if sold.size else None,
        "p95_ratio": float(np.percentile(sold, 95)) if sold.size else None,
        "months_below": float(hours[r < below].sum() / HOURS_PER_MONTH),
    }


def _against(e: pd.DataFrame, price: str, ratio: str, offer: str | None, below: float) -> dict[str, Any]:
    """The network against one centralised price over the run: that price at the start and the end (a path
    moves it), the volume-weighted, worst and 95th-percentile undercut ratio, months of undercut and below
    the ``below`` share, crossings and the ratio by month."""
    usd = e[price].to_numpy()
    under = e[ratio].to_numpy() < 1.0
    out: dict[str, Any] = {} if offer is None else {"reference_offer": offer}
    return out | {
        "usd_per_gpu_hour_start": _finite(usd[0]),
        "usd_per_gpu_hour_end": _finite(usd[-1]),
        "undercut_ratio": _finite(weighted_mean(e[ratio], e["gpu_hours_sold"])),
        "months_undercut": float(((e["t_end_hours"] - e["t_start_hours"]).to_numpy()[under]).sum() / HOURS_PER_MONTH),
        **ratio_metrics(e, ratio, below),
        "crossings": _crossings(e, ratio),
        "undercut_ratio_at_month": {str(m): _ratio_in_month(e, ratio, m) for m in (1, 12, 36, 60)},
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _label(value: object) -> str | None:
    return None if pd.isna(value) else str(value)


def build_summary(scenario: Scenario, jobs: JobFigures, epochs: pd.DataFrame, economy: TokenEconomy,
                  conservation: dict[str, Any], below: float = BELOW_SHARE) -> dict[str, Any]:
    """Headline numbers: where the work went, what it cost, how far under AWS and for how long (months
    below 1 and below the ``below`` share of each price), and what it took in tokens. ``jobs``: the job
    table's figures, added up as it was built."""
    reward_usd = float(epochs["reward_usd"].sum())
    revenue = float(epochs["usd_revenue"].sum())
    first = epochs[epochs["epoch"] == 0]
    network = epochs.drop_duplicates("epoch")
    rate = (network["minted_tokens"] / network["length_hours"]).to_numpy()
    halved = np.flatnonzero(rate <= 0.5 * rate[0]) if rate.size and rate[0] > 0 else np.empty(0, int)
    decay_hours = float(network["t_start_hours"].to_numpy()[halved[0]]) if halved.size else None
    scenario_alternatives = [alt.name for alt in scenario.cloud.alternatives]
    by_class: dict[str, Any] = {}
    for cls, e in epochs.groupby("gpu_class", observed=True, sort=False):
        gh = e["gpu_hours_sold"]
        entry: dict[str, Any] = {
            "gpu_hours_sold": float(gh.sum()),
            "utilisation": float(_safe(gh.sum(), (e["gpus"] * (e["t_end_hours"] - e["t_start_hours"])).sum())),
            "network_price_usd_per_gpu_hour": weighted_mean(e["network_price_usd_per_gpu_hour"], gh),
            "price_without_subsidy_usd_per_gpu_hour": weighted_mean(e["price_without_subsidy_usd_per_gpu_hour"], gh),
            "fully_loaded_cost_usd_per_gpu_hour": float(_safe(e["cost_usd"].sum(), gh.sum())),
            "aws_reference_offer": str(e["aws_reference_offer"].iloc[0]),
            "providers_start": int(e["providers"].iloc[0]),
            "providers_end": int(e["providers"].iloc[-1] - e["exits"].iloc[-1]),
            "entries": int(e["entries"].sum()),
            "exits": int(e["exits"].sum()),
        }
        for kind in CLOUD_PRICE_KINDS:
            entry[f"aws_{kind}_usd_per_gpu_hour"] = float(e[f"aws_{kind}_usd_per_gpu_hour"].iloc[0])
        for kind in RATIO_KINDS:
            against = _against(e, f"aws_{kind}_usd_per_gpu_hour", f"undercut_ratio_{kind}", None, below)
            entry[f"undercut_ratio_{kind}"] = weighted_mean(e[f"undercut_ratio_{kind}"], gh)  # NaN, not None, as before
            entry[f"months_undercut_{kind}"] = against["months_undercut"]
            for metric in ("worst_ratio", "p95_ratio", "months_below"):
                entry[f"{metric}_{kind}"] = against[metric]
            entry[f"crossings_{kind}"] = against["crossings"]
            entry[f"undercut_ratio_{kind}_at_month"] = against["undercut_ratio_at_month"]
            if decay_hours is not None:
                after = e[e["t_start_hours"] >= decay_hours]
                late = weighted_mean(after[f"undercut_ratio_{kind}"], after["gpu_hours_sold"])
                entry[f"undercut_survives_emission_decay_{kind}"] = None if late != late else bool(late < 1.0)
        entry["alternatives"] = {name: _against(e, f"alt_{name}_usd_per_gpu_hour", f"undercut_ratio_vs_{name}",
                                                str(e[f"alt_{name}_reference_offer"].iloc[0]), below)
                                 for name in scenario_alternatives}
        entry["cheapest_alternative"] = _against(e, "cheapest_alternative_usd_per_gpu_hour",
                                                 "undercut_ratio_vs_cheapest", None, below) | {
            "at_start": _label(e["cheapest_alternative"].iloc[0]),
            "at_end": _label(e["cheapest_alternative"].iloc[-1])}
        entry["subsidy_share"] = float(_safe(e["reward_usd"].sum(), e["reward_usd"].sum() + e["usd_revenue"].sum()))
        entry["provider_profit_usd"] = float(e["provider_profit_usd"].sum())
        by_class[str(cls)] = entry
    ledger, token, unit = economy.ledger, economy.token, economy.unit
    prices = network["token_price_usd"]
    held = int(sum(ledger.provider_balances(token)))  # providers' tokens at the end, in base units
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "scenario_hash": scenario_hash(scenario),
        "seed": scenario.seed,
        "package_version": package_version(),
        "schema_version": scenario.schema_version,
        "horizon_days": scenario.horizon_days,
        "below_share": below,  # the share of each price that months_below counts under
        "epoch_hours": scenario.epoch_hours,
        "warnings": scenario.warnings(),
        "epochs": int(epochs["epoch"].nunique()),
        "cloud": {"price_set": scenario.cloud.price_set, "buyer_price": scenario.cloud.buyer_price,
                  "alternatives": scenario_alternatives},
        "jobs": {
            "submitted": jobs.rows - jobs.count("latent"),
            "latent": jobs.count("latent"),
            "network": jobs.network,
            "cloud": jobs.cloud,
            "cloud_by_alternative": {name: int(v) for name, v in
                                     zip(jobs.alternatives, jobs.cloud_by_alternative, strict=True)},
            "abandoned": jobs.count("abandoned"),
            "queued_at_end": jobs.count("queued"),
            "running_at_end": jobs.count("running"),
            "completed": jobs.count("completed"),
        },
        "gpu_hours": {
            "network": jobs.gpu_hours["network"],
            "cloud": jobs.gpu_hours["cloud"],
            "network_share_of_work": float(_safe(jobs.work["network"], jobs.work["served"])),
        },
        "spend_usd": {
            "network": jobs.spend["network"],
            "cloud": jobs.spend["cloud"],
            "protocol_fees": economy.totals["fees"] / MICRO,
            "bought_and_burned": economy.totals["burn_usd"] / MICRO,
        },
        "tokens": {
            "symbol": token,
            "emitted": int(conservation["tokens"]["emitted_base_units"]) / unit,
            "burned": ledger.burned[token] / unit,
            "supply_end": ledger.supply(token) / unit,
            "circulating_end": float(network["circulating_tokens"].iloc[-1]),
            "locked_end": float(network["locked_tokens"].iloc[-1]),
            "reward_usd": reward_usd,
            "reward_usd_realisable": float((epochs["reward_tokens"] * epochs["realisable_token_price_usd"]).sum()),
            "provider_sales_usd": float(network["provider_token_sales_usd"].sum()),
            "provider_tokens_held_end": held / unit,
            "provider_tokens_held_liquidation_usd_end": economy.market.liquidation_usd(held),
            "price_start_usd": float(prices.iloc[0]),
            "price_end_usd": float(economy.market.price_usd()),
            "price_min_usd": float(prices.min()),
            "price_max_usd": float(prices.max()),
            "emission_halved_month": None if decay_hours is None else decay_hours / HOURS_PER_MONTH,
        },
        "providers": {
            "start": int(first["providers"].sum()),
            "end": int(epochs.loc[epochs["epoch"] == epochs["epoch"].max(), "providers"].sum()
                       - epochs.loc[epochs["epoch"] == epochs["epoch"].max(), "exits"].sum()),
            "entries": int(epochs["entries"].sum()),
            "exits": int(epochs["exits"].sum()),
            "failures": int(network["failures"].sum()),
            "slashed_tokens": float(network["slashed_tokens"].sum()),
            "self_dealt_gpu_hours": float(network["self_dealt_gpu_hours"].sum()),
            "self_dealer_epochs": int(network["self_dealers"].sum()),
            "self_dealers_caught": int(network["self_dealers_caught"].sum()),
            "forfeited_tokens": float(network["forfeited_tokens"].sum()),
        },
        "provider_economics": {
            "usd_revenue": revenue,
            "reward_usd": reward_usd,
            "subsidy_share": float(_safe(reward_usd, reward_usd + revenue)),
            "cost_usd": float(epochs["cost_usd"].sum()),
            "profit_usd": float(epochs["provider_profit_usd"].sum()),
        },
        "by_class": by_class,
        "latency": latency_summary(jobs.latency()),
        "conservation": conservation,
    }


def _safe(num: float, den: float) -> float:
    return num / den if den else float("nan")
