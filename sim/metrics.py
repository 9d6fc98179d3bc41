"""Tables and summary derived from a run: per-epoch market statistics, the job log, headline numbers.

The epoch table is the pricing curve: per epoch and GPU class, the volume-weighted network price buyers
paid, the price the same providers would have asked without token rewards, and AWS's prices, with the
token side (price, emission, reward per GPU-hour, subsidy share of provider revenue) beside them.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .catalog import CLOUD_PRICE_KINDS
from .scenario import Scenario, scenario_hash

if TYPE_CHECKING:
    from .cloud import CloudBaseline
    from .engine import World
    from .ledger import Ledger
    from .providers import Fleet

HOURS_PER_MONTH = 730.0  # 8760 / 12
RATIO_KINDS = ("on_demand", "spot", "reserved")


def package_version() -> str:
    try:
        return metadata.version("depinsim")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(num, den)


class EpochRecorder:
    """Collects per-epoch, per-class sums as the run closes each epoch; ``table()`` derives the rest.

    Closing an epoch only sums provider arrays by class; prices, ratios and shares are computed once,
    vectorised over all epochs, when the table is built.
    """

    def __init__(self, fleet: Fleet, cloud: CloudBaseline) -> None:
        self._fleet = fleet
        self._k = len(fleet.classes)
        self._reference = cloud.reference(fleet.classes)
        self._unsubsidised = fleet.unsubsidised_asks()
        self._posted: dict[int, tuple[list[float], float]] = {}
        self._epochs: list[tuple[float, ...]] = []
        self._sums: list[np.ndarray] = []

    def _by_class(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self._fleet.gpu_class, weights=values, minlength=self._k)

    def open(self, k: int, median_asks: list[float], expected_reward_usd_per_gpu_hour: float) -> None:
        """What the epoch opened with: the median posted ask per class (USD) and the expected reward."""
        self._posted[k] = (median_asks, expected_reward_usd_per_gpu_hour)

    def close(self, k: int, t0: float, t1: float, gpu_hours: np.ndarray, revenue_usd: np.ndarray,
              reward_tokens: np.ndarray, emission_tokens: float, token_price_usd: float) -> None:
        median_asks, expected = self._posted.pop(k)
        self._epochs.append((k, t0, t1, expected, token_price_usd, emission_tokens))
        self._sums.append(np.stack([
            self._by_class(gpu_hours),
            self._by_class(revenue_usd),
            self._by_class(reward_tokens),
            self._by_class(gpu_hours * self._fleet.marginal_usd_per_gpu_hour),
            self._by_class(gpu_hours * self._unsubsidised),
            median_asks,
        ]))

    def table(self) -> pd.DataFrame:
        """One row per epoch and GPU class (epoch-major), every column in its unit."""
        fleet, k = self._fleet, self._k
        ep = np.array(self._epochs).reshape(-1, 6)
        sums = np.array(self._sums).reshape(-1, 6, k)

        def per_epoch(col: int) -> np.ndarray:
            return np.repeat(ep[:, col], k)

        def summed(row: int) -> np.ndarray:
            return sums[:, row, :].ravel()

        def per_class(values: np.ndarray) -> np.ndarray:
            return np.tile(np.asarray(values), len(ep))

        length = per_epoch(2) - per_epoch(1)
        gh, revenue, reward_tokens = summed(0), summed(1), summed(2)
        token_price = per_epoch(4)
        reward_usd = reward_tokens * token_price
        gpus = per_class(self._by_class(fleet.gpus.astype(float)))
        fixed_per_hour = per_class(self._by_class(fleet.gpus * fleet.fixed_usd_per_gpu_hour))
        cost = summed(3) + fixed_per_hour * length
        price = _ratio(revenue, gh)
        ref = self._reference
        df = pd.DataFrame({
            "epoch": per_epoch(0).astype(np.int64),
            "t_start_hours": per_epoch(1),
            "t_end_hours": per_epoch(2),
            "gpu_class": pd.Categorical.from_codes(per_class(np.arange(k)), categories=list(fleet.classes)),
            "providers": per_class(np.bincount(fleet.gpu_class, minlength=k)),
            "gpus": gpus.astype(np.int64),
            "gpu_hours_sold": gh,
            "utilisation": gh / (gpus * length),
            "network_price_usd_per_gpu_hour": price,
            "price_without_subsidy_usd_per_gpu_hour": _ratio(summed(4), gh),
            "median_ask_usd_per_gpu_hour": summed(5),
            "expected_reward_usd_per_gpu_hour": per_epoch(3),
            "aws_reference_offer": pd.Categorical(per_class(ref["aws_reference_offer"].to_numpy())),
        })
        for kind in CLOUD_PRICE_KINDS:
            df[f"aws_{kind}_usd_per_gpu_hour"] = per_class(ref[f"aws_{kind}_usd_per_gpu_hour"].to_numpy())
        for kind in RATIO_KINDS:
            df[f"undercut_ratio_{kind}"] = _ratio(price, df[f"aws_{kind}_usd_per_gpu_hour"].to_numpy())
        df["token_price_usd"] = token_price
        df["emission_tokens"] = per_epoch(5)
        df["reward_tokens"] = reward_tokens
        df["reward_usd"] = reward_usd
        df["reward_usd_per_gpu_hour"] = _ratio(reward_usd, gh)
        df["usd_revenue"] = revenue
        df["subsidy_share"] = _ratio(reward_usd, reward_usd + revenue)
        df["cost_usd"] = cost
        df["provider_profit_usd"] = revenue + reward_usd - cost
        return df


VENUES = ("none", "network", "cloud")
STATES = ("queued", "running", "completed", "abandoned")
JOB_TYPES = ("training", "inference")


def build_jobs_table(world: World, horizon: float) -> pd.DataFrame:
    """One row a job: where it ran, when, on what, and what it paid for the hours delivered."""
    jobs, fleet, cloud = world.jobs, world.fleet, world.cloud
    n = world.n_jobs
    rec = world.network_starts()
    net = rec.job
    cloud_started = np.array(world.cloud_starts, dtype=float).reshape(-1, 2)
    cld = cloud_started[:, 0].astype(np.int64)
    cld_offer = jobs.cloud_offer[cld]

    venue = np.zeros(n, dtype=np.int64)
    venue[net] = 1
    venue[cld] = 2
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    gpus = np.zeros(n, dtype=np.int64)
    provider = np.full(n, -1, dtype=np.int64)
    start[net], end[net] = rec.start, rec.end
    gpus[net] = rec.gpus
    provider[net] = rec.provider
    start[cld] = cloud_started[:, 1]
    end[cld] = start[cld] + jobs.cloud_hours[cld]
    gpus[cld] = jobs.cloud_gpus[cld]
    delivered = gpus * (np.minimum(end, horizon) - start)

    # GPU class codes over the fleet's classes then AWS's other GPUs; -1 (missing) where nothing ran
    class_names = list(dict.fromkeys([*fleet.classes, *cloud.offer_gpu]))
    offer_class = np.array([class_names.index(g) for g in cloud.offer_gpu], dtype=np.int64)
    gpu_class = np.full(n, -1, dtype=np.int64)
    gpu_class[net] = fleet.gpu_class[provider[net]]
    gpu_class[cld] = offer_class[cld_offer]

    paid = np.zeros(n)
    paid[net] = world.paid_micro[net] / 1_000_000
    cloud_hours = jobs.cloud_hours[cld]
    paid[cld] = jobs.cloud_cost_usd[cld] * np.minimum(1.0, (horizon - start[cld]) / cloud_hours)
    unit_price = np.full(n, np.nan)
    unit_price[net] = rec.ask_micro_usd / 1_000_000
    unit_price[cld] = cloud.buyer_prices[cld_offer]

    waiting = np.zeros(n, dtype=bool)
    waiting[list(world.waiting)] = True
    state = np.where(venue == 0, np.where(waiting, 0, 3), np.where(end > horizon, 1, 2))
    kind_codes = np.array([JOB_TYPES.index(k) for k in jobs.stream_kinds], dtype=np.int64)
    df = pd.DataFrame({
        "job_id": np.arange(n),
        "stream": pd.Categorical.from_codes(jobs.stream, categories=list(jobs.stream_names)),
        "job_type": pd.Categorical.from_codes(kind_codes[jobs.stream], categories=list(JOB_TYPES)),
        "submit_hours": jobs.submit_hours,
        "start_hours": start,
        "end_hours": end,
        "wait_hours": start - jobs.submit_hours,
        "venue": pd.Categorical.from_codes(venue, categories=list(VENUES)),
        "state": pd.Categorical.from_codes(state, categories=list(STATES)),
        "gpu_class": pd.Categorical.from_codes(gpu_class, categories=class_names),
        "gpus": gpus,
        "provider_id": provider,
        "price_paid_usd": paid,
        "price_usd_per_gpu_hour": unit_price,
        "delivered_gpu_hours": delivered,
        "work_ref_gpu_hours": jobs.work_ref_gpu_hours,
        "budget_usd": jobs.budget_usd,
        "cloud_alternative_usd": jobs.cloud_cost_usd,
        "latency_slo_ms": jobs.latency_slo_ms,
    })
    return df


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna() & (weights > 0)
    w = weights[ok].sum()
    return float((values[ok] * weights[ok]).sum() / w) if w > 0 else float("nan")


def build_summary(scenario: Scenario, jobs: pd.DataFrame, epochs: pd.DataFrame, ledger: Ledger,
                  token: str, unit: int, conservation: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers: where the work went, what it cost, how far under AWS, and what it took in tokens."""
    venue = jobs["venue"]
    state = jobs["state"]
    net = venue == "network"
    cld = venue == "cloud"
    reward_usd = float(epochs["reward_usd"].sum())
    revenue = float(epochs["usd_revenue"].sum())
    by_class: dict[str, Any] = {}
    for cls, e in epochs.groupby("gpu_class", observed=True, sort=False):
        gh = e["gpu_hours_sold"]
        entry = {
            "gpu_hours_sold": float(gh.sum()),
            "utilisation": float(gh.sum() / (e["gpus"] * (e["t_end_hours"] - e["t_start_hours"])).sum()),
            "network_price_usd_per_gpu_hour": _weighted(e["network_price_usd_per_gpu_hour"], gh),
            "price_without_subsidy_usd_per_gpu_hour": _weighted(e["price_without_subsidy_usd_per_gpu_hour"], gh),
            "aws_reference_offer": str(e["aws_reference_offer"].iloc[0]),
        }
        for kind in CLOUD_PRICE_KINDS:
            entry[f"aws_{kind}_usd_per_gpu_hour"] = float(e[f"aws_{kind}_usd_per_gpu_hour"].iloc[0])
        for kind in RATIO_KINDS:
            entry[f"undercut_ratio_{kind}"] = _weighted(e[f"undercut_ratio_{kind}"], gh)
            below = e[f"undercut_ratio_{kind}"] < 1.0
            entry[f"months_undercut_{kind}"] = float(
                ((e["t_end_hours"] - e["t_start_hours"])[below]).sum() / HOURS_PER_MONTH)
        entry["subsidy_share"] = float(_safe(e["reward_usd"].sum(), e["reward_usd"].sum() + e["usd_revenue"].sum()))
        entry["provider_profit_usd"] = float(e["provider_profit_usd"].sum())
        by_class[str(cls)] = entry
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "scenario_hash": scenario_hash(scenario),
        "seed": scenario.seed,
        "package_version": package_version(),
        "schema_version": scenario.schema_version,
        "horizon_days": scenario.horizon_days,
        "epoch_hours": scenario.epoch_hours,
        "epochs": int(epochs["epoch"].nunique()),
        "cloud": {"price_set": scenario.cloud.price_set, "buyer_price": scenario.cloud.buyer_price},
        "jobs": {
            "submitted": len(jobs),
            "network": int(net.sum()),
            "cloud": int(cld.sum()),
            "abandoned": int((state == "abandoned").sum()),
            "queued_at_end": int((state == "queued").sum()),
            "running_at_end": int((state == "running").sum()),
            "completed": int((state == "completed").sum()),
        },
        "gpu_hours": {
            "network": float(jobs.loc[net, "delivered_gpu_hours"].sum()),
            "cloud": float(jobs.loc[cld, "delivered_gpu_hours"].sum()),
            "network_share_of_work": float(_safe(jobs.loc[net, "work_ref_gpu_hours"].sum(),
                                                 jobs.loc[net | cld, "work_ref_gpu_hours"].sum())),
        },
        "spend_usd": {
            "network": float(jobs.loc[net, "price_paid_usd"].sum()),
            "cloud": float(jobs.loc[cld, "price_paid_usd"].sum()),
            "protocol_fees": ledger.balance("USD", "treasury") / 1_000_000,
        },
        "tokens": {
            "symbol": token,
            "emitted": int(conservation["tokens"]["emitted_base_units"]) / unit,
            "supply_end": ledger.supply(token) / unit,
            "reward_usd": reward_usd,
        },
        "provider_economics": {
            "usd_revenue": revenue,
            "reward_usd": reward_usd,
            "subsidy_share": float(_safe(reward_usd, reward_usd + revenue)),
            "cost_usd": float(epochs["cost_usd"].sum()),
            "profit_usd": float(epochs["provider_profit_usd"].sum()),
        },
        "by_class": by_class,
        "conservation": conservation,
    }


def _safe(num: float, den: float) -> float:
    return num / den if den else float("nan")
