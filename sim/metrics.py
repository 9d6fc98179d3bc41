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

from .catalog import CLOUD_PRICE_KINDS, gpu_catalog
from .latency import latency_summary
from .scenario import Scenario, scenario_hash

if TYPE_CHECKING:
    from .cloud import CloudBaseline
    from .economy import EpochFlows, TokenEconomy
    from .engine import NetworkStarts, World
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


NETWORK_COLUMNS = ("token_price_usd", "minted_tokens", "burned_tokens", "supply_tokens", "circulating_tokens",
                   "locked_tokens", "pool_usd", "pool_tokens", "burn_usd", "self_dealers", "self_dealers_caught",
                   "self_dealt_gpu_hours", "forfeited_tokens", "failures", "slashed_tokens", "escrow_usd")
# per-class sums kept for every epoch, in this order
SUMS = ("providers", "gpus", "entries", "exits", "offered_gpu_hours", "gpu_hours_sold", "buyers_usd",
        "usd_revenue", "reward_tokens", "energy_usd", "fixed_usd", "unsubsidised_usd", "self_dealing_usd",
        "median_ask_usd_per_gpu_hour")


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
        self._opened: dict[int, tuple[list[float], float, float, np.ndarray]] = {}
        self._epochs: list[tuple[float, ...]] = []
        self._network: list[list[float]] = []
        self._sums: list[np.ndarray] = []

    def _by_class(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self._fleet.gpu_class, weights=values, minlength=self._k)

    def open(self, k: int, median_asks: list[float], work_reward_usd: float, capacity_reward_usd: float,
             arriving: np.ndarray) -> None:
        """What the epoch opened with: median posted asks per class (USD), expected rewards, new nodes."""
        self._opened[k] = (median_asks, work_reward_usd, capacity_reward_usd, arriving)

    def close(self, k: int, t0: float, t1: float, gpu_hours: np.ndarray, buyers_usd: np.ndarray,
              flows: EpochFlows, offered: np.ndarray, active: np.ndarray, leaving: np.ndarray) -> dict[str, np.ndarray]:
        """Record the epoch; return per-class economics entrants look at (utilisation, USD kept per GPU-hour
        sold, token reward per GPU-hour offered)."""
        fleet = self._fleet
        medians, work, capacity, arriving = self._opened.pop(k)
        self._epochs.append((k, t0, t1, work, capacity))
        self._network.append([flows.network[c] for c in NETWORK_COLUMNS])
        sums = np.stack([
            self._by_class(active.astype(float)),
            self._by_class(fleet.gpus * active),
            np.bincount(fleet.gpu_class[arriving], minlength=self._k),
            np.bincount(fleet.gpu_class[leaving], minlength=self._k),
            self._by_class(offered),
            self._by_class(gpu_hours),
            self._by_class(buyers_usd),
            self._by_class(flows.usd_received),
            self._by_class(flows.reward_tokens),
            self._by_class(gpu_hours * fleet.marginal_usd_per_gpu_hour),
            self._by_class(offered * fleet.fixed_usd_per_gpu_hour),
            self._by_class(gpu_hours * self._unsubsidised),
            self._by_class(flows.self_dealing_paid_usd),
            medians,
        ])
        self._sums.append(sums)
        row = dict(zip(SUMS, sums, strict=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "utilisation": np.nan_to_num(row["gpu_hours_sold"] / row["offered_gpu_hours"]),
                "net_price_usd": np.nan_to_num(row["usd_revenue"] / row["gpu_hours_sold"]),
                "reward_tokens_per_offered_hour": np.nan_to_num(row["reward_tokens"] / row["offered_gpu_hours"]),
            }

    def table(self) -> pd.DataFrame:
        """One row per epoch and GPU class (epoch-major), every column in its unit."""
        fleet, k = self._fleet, self._k
        ep = np.array(self._epochs).reshape(-1, 5)
        net = np.array(self._network).reshape(-1, len(NETWORK_COLUMNS))
        sums = np.array(self._sums).reshape(-1, len(SUMS), k)

        def per_epoch(values: np.ndarray) -> np.ndarray:
            return np.repeat(values, k)

        def per_class(values: np.ndarray) -> np.ndarray:
            return np.tile(np.asarray(values), len(ep))

        col = {name: sums[:, i, :].ravel() for i, name in enumerate(SUMS)}
        length = per_epoch(ep[:, 2] - ep[:, 1])
        gh, revenue = col["gpu_hours_sold"], col["usd_revenue"]
        token_price = per_epoch(net[:, NETWORK_COLUMNS.index("token_price_usd")])
        reward_usd = col["reward_tokens"] * token_price
        cost = col["energy_usd"] + col["fixed_usd"]
        price = _ratio(col["buyers_usd"], gh)
        ref = self._reference
        df = pd.DataFrame({
            "epoch": per_epoch(ep[:, 0]).astype(np.int64),
            "t_start_hours": per_epoch(ep[:, 1]),
            "t_end_hours": per_epoch(ep[:, 2]),
            "gpu_class": pd.Categorical.from_codes(per_class(np.arange(k)), categories=list(fleet.classes)),
            "providers": col["providers"].astype(np.int64),
            "gpus": col["gpus"].astype(np.int64),
            "entries": col["entries"].astype(np.int64),
            "exits": col["exits"].astype(np.int64),
            "gpu_hours_sold": gh,
            "utilisation": _ratio(gh, col["offered_gpu_hours"]),
            "network_price_usd_per_gpu_hour": price,
            "price_without_subsidy_usd_per_gpu_hour": _ratio(col["unsubsidised_usd"], gh),
            "median_ask_usd_per_gpu_hour": col["median_ask_usd_per_gpu_hour"],
            "expected_work_reward_usd_per_gpu_hour": per_epoch(ep[:, 3]),
            "expected_capacity_reward_usd_per_gpu_hour": per_epoch(ep[:, 4]),
            "aws_reference_offer": pd.Categorical(per_class(ref["aws_reference_offer"].to_numpy())),
        })
        for kind in CLOUD_PRICE_KINDS:
            df[f"aws_{kind}_usd_per_gpu_hour"] = per_class(ref[f"aws_{kind}_usd_per_gpu_hour"].to_numpy())
        for kind in RATIO_KINDS:
            df[f"undercut_ratio_{kind}"] = _ratio(price, df[f"aws_{kind}_usd_per_gpu_hour"].to_numpy())
        df["reward_tokens"] = col["reward_tokens"]
        df["reward_usd"] = reward_usd
        df["reward_usd_per_gpu_hour"] = _ratio(reward_usd, gh)
        df["buyers_usd"] = col["buyers_usd"]
        df["usd_revenue"] = revenue
        df["subsidy_share"] = _ratio(reward_usd, reward_usd + revenue)
        df["cost_usd"] = cost
        df["fully_loaded_cost_usd_per_gpu_hour"] = _ratio(cost, gh)
        df["self_dealing_usd"] = col["self_dealing_usd"]
        df["provider_profit_usd"] = revenue + reward_usd - cost - col["self_dealing_usd"]
        for i, name in enumerate(NETWORK_COLUMNS):
            df[name] = per_epoch(net[:, i])
        df["length_hours"] = length
        return df


VENUES = ("none", "network", "cloud")
LINKS = ("none", "nvlink", "infiniband", "cloud", "internet")  # how a job's GPUs talk to each other
STATES = ("queued", "running", "completed", "abandoned", "latent")  # latent: elastic demand the price did not draw
JOB_TYPES = ("training", "inference")


def build_jobs_table(world: World, horizon: float) -> pd.DataFrame:
    """One row a job: where it ran, when, on what, and what it paid for the hours delivered."""
    jobs, fleet, cloud = world.jobs, world.fleet, world.cloud
    n = world.n_jobs
    rec = world.network_starts()
    net = np.flatnonzero(np.bincount(rec.job, minlength=n))  # the jobs it ran (np.unique: 60x slower)
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
    # a job spread over several nodes has one allocation per node: its span, GPUs and hours add up
    delivered = np.zeros(n)
    start[net], end[net] = np.inf, -np.inf
    np.minimum.at(start, rec.job, rec.start)
    np.maximum.at(end, rec.job, rec.end)
    first = rec.start == start[rec.job]  # the first attempt's allocations: a restart starts later
    np.add.at(gpus, rec.job[first], rec.gpus[first])
    np.add.at(delivered, rec.job, rec.gpus * (np.minimum(rec.end, horizon) - rec.start))
    provider[rec.job[::-1]] = rec.provider[::-1]  # the first allocation's provider
    start[cld] = cloud_started[:, 1]
    cloud_hours = jobs.cloud_hours[cld] + jobs.cloud_extra_hours[cld]  # spot reclaims make runs longer
    end[cld] = start[cld] + cloud_hours
    gpus[cld] = jobs.cloud_gpus[cld]
    delivered[cld] = gpus[cld] * (np.minimum(end[cld], horizon) - start[cld])
    interconnect = np.where(venue == 1, 1, np.where(venue == 2, 3, 0))  # nvlink on one node; cloud; none
    slowdown = np.ones(n)
    for j, (link, factor) in world.interconnect.items():
        interconnect[j], slowdown[j] = LINKS.index(link), factor

    # GPU class codes over the fleet's classes then AWS's other GPUs; -1 (missing) where nothing ran
    class_names = list(dict.fromkeys([*fleet.classes, *cloud.offer_gpu]))
    offer_class = np.array([class_names.index(g) for g in cloud.offer_gpu], dtype=np.int64)
    gpu_class = np.full(n, -1, dtype=np.int64)
    gpu_class[net] = fleet.gpu_class[provider[net]]
    gpu_class[cld] = offer_class[cld_offer]

    paid = np.zeros(n)
    paid[net] = world.paid_micro[net] / 1_000_000
    paid[cld] = cloud.buyer_prices[cld_offer] * gpus[cld] * np.minimum(cloud_hours, horizon - start[cld])
    unit_price = np.full(n, np.nan)
    weighted = np.zeros(n)
    np.add.at(weighted, rec.job[first], rec.ask_micro_usd[first] * rec.gpus[first])
    unit_price[net] = weighted[net] / gpus[net] / 1_000_000  # GPU-weighted over a spread job's nodes
    unit_price[cld] = cloud.buyer_prices[cld_offer]

    # quality: what a job paid per unit of work it got done, after slowdowns, lost work, restarts, downtime
    models = gpu_catalog().models
    training = np.asarray(jobs.stream_kinds, dtype=object)[jobs.stream] == "training"
    speed = np.full(n, np.nan)
    known = gpu_class >= 0
    train_speed = np.array([models[c].training_throughput_rel.value for c in class_names])
    infer_speed = np.array([models[c].inference_throughput_rel.value for c in class_names])
    speed[known] = np.where(training[known], train_speed[gpu_class[known]], infer_speed[gpu_class[known]])
    attempts, lost_work, downtime = world.attempts.copy(), world.lost_work.copy(), world.downtime_hours.copy()
    attempts[cld] += jobs.cloud_reclaims[cld]
    lost_work[cld] = jobs.cloud_lost_hours[cld] * gpus[cld] * speed[cld]
    overhead = np.array([s.job.interruption_overhead_hours for s in world.scenario.workload.streams])[jobs.stream]
    downtime[cld] = np.where(training[cld], 0.0, jobs.cloud_reclaims[cld] * overhead[cld])
    useful = _useful_work(world, rec, first, venue, start, end, horizon,
                          jobs.cloud_hours + jobs.cloud_extra_hours)
    remainder = np.zeros(n)
    for j, (_, usd) in world.cloud_remainder.items():
        remainder[j] = usd
    waiting = np.zeros(n, dtype=bool)
    waiting[list(world.waiting)] = True
    state = np.where(venue == 0, np.where(waiting, 0, 3), np.where(end > horizon, 1, 2))
    state[world.latent] = 4
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
        "interconnect": pd.Categorical.from_codes(interconnect, categories=list(LINKS)),
        "slowdown": slowdown,
        "attempts": attempts,
        "preemptions": world.preempted,
        "lost_work_ref_gpu_hours": lost_work,
        "downtime_hours": downtime,
        "cloud_remainder_usd": remainder,
        "useful_work_ref_gpu_hours": useful,
        "price_per_work_usd": unit_price / speed,
        "quality_adjusted_usd_per_work": _ratio(paid + remainder, useful),
        "work_ref_gpu_hours": jobs.work_ref_gpu_hours,
        "budget_usd": jobs.budget_usd,
        "cloud_alternative_usd": jobs.cloud_cost_usd,
        "latency_slo_ms": jobs.latency_slo_ms,
        "region": pd.Categorical(jobs.region),
    }, copy=False)  # the arrays are ours: no second copy of a million-row table
    return df


def _useful_work(world: World, rec: NetworkStarts, first: np.ndarray, venue: np.ndarray, start: np.ndarray,
                 end: np.ndarray, horizon: float, cloud_hours: np.ndarray) -> np.ndarray:
    """Reference GPU-hours of work each job got done, by the engine's own account of its attempts: a job
    that ended got all its work done (the rest of an interrupted one on AWS), less any that nowhere could
    take; one running at the horizon, its work up to where its current attempt has got."""
    work = world.jobs.work_ref_gpu_hours
    useful = np.zeros_like(work)
    net, cld = venue == 1, venue == 2
    useful[net] = work[net]
    for j, left in world.unfinished.items():
        useful[j] -= left
    # the attempt running at the horizon: (start, restart overhead, planned wall hours, work it took on),
    # for the jobs still running only (a few thousand of a million)
    running = np.flatnonzero(net & (end > horizon))
    began, overhead, planned, taken = start[running], np.zeros(running.size), np.zeros(running.size), work[running]
    at = np.searchsorted(running, rec.job)
    mine = first & (at < running.size)
    mine[mine] = running[at[mine]] == rec.job[mine]
    np.maximum.at(planned, at[mine], rec.hours[mine])
    for j, (t, o, h, w) in world.attempt.items():
        i = int(np.searchsorted(running, j))
        if i < running.size and running[i] == j:
            began[i], overhead[i], planned[i], taken[i] = t, o, h, w
    share = np.clip((horizon - began - overhead) / np.maximum(planned - overhead, 1e-12), 0.0, 1.0)
    useful[running] = work[running] - taken * (1.0 - share)
    useful[cld] = work[cld] * np.clip((horizon - start[cld]) / cloud_hours[cld], 0.0, 1.0)
    return useful


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna() & (weights > 0)
    w = weights[ok].sum()
    return float((values[ok] * weights[ok]).sum() / w) if w > 0 else float("nan")


def _crossings(e: pd.DataFrame, kind: str) -> dict[str, Any]:
    """When the network price first went below AWS (of one price kind), and first came back above."""
    ratio = e[f"undercut_ratio_{kind}"].to_numpy()
    months = e["t_start_hours"].to_numpy() / HOURS_PER_MONTH
    below = np.flatnonzero(ratio < 1.0)
    first_below = float(months[below[0]]) if below.size else None
    above = np.flatnonzero((ratio >= 1.0) & (np.arange(ratio.size) > below[0])) if below.size else np.empty(0, int)
    return {"first_below_month": first_below, "back_above_month": float(months[above[0]]) if above.size else None}


def _ratio_in_month(e: pd.DataFrame, kind: str, month: int) -> float | None:
    """Volume-weighted undercut ratio over the 30-day window ending at month ``month``; None past the horizon."""
    end_hours = month * HOURS_PER_MONTH
    if e["t_end_hours"].max() < end_hours - 1e-6:
        return None
    window = e[(e["t_end_hours"] > end_hours - HOURS_PER_MONTH) & (e["t_start_hours"] < end_hours)]
    value = _weighted(window[f"undercut_ratio_{kind}"], window["gpu_hours_sold"])
    return None if value != value else value


def build_summary(scenario: Scenario, jobs: pd.DataFrame, epochs: pd.DataFrame, economy: TokenEconomy,
                  conservation: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers: where the work went, what it cost, how far under AWS and for how long, and what
    it took in tokens."""
    venue = jobs["venue"]
    state = jobs["state"]
    net = venue == "network"
    cld = venue == "cloud"
    reward_usd = float(epochs["reward_usd"].sum())
    revenue = float(epochs["usd_revenue"].sum())
    first = epochs[epochs["epoch"] == 0]
    network = epochs.drop_duplicates("epoch")
    rate = (network["minted_tokens"] / network["length_hours"]).to_numpy()
    halved = np.flatnonzero(rate <= 0.5 * rate[0]) if rate.size and rate[0] > 0 else np.empty(0, int)
    decay_hours = float(network["t_start_hours"].to_numpy()[halved[0]]) if halved.size else None
    by_class: dict[str, Any] = {}
    for cls, e in epochs.groupby("gpu_class", observed=True, sort=False):
        gh = e["gpu_hours_sold"]
        entry: dict[str, Any] = {
            "gpu_hours_sold": float(gh.sum()),
            "utilisation": float(_safe(gh.sum(), (e["gpus"] * (e["t_end_hours"] - e["t_start_hours"])).sum())),
            "network_price_usd_per_gpu_hour": _weighted(e["network_price_usd_per_gpu_hour"], gh),
            "price_without_subsidy_usd_per_gpu_hour": _weighted(e["price_without_subsidy_usd_per_gpu_hour"], gh),
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
            entry[f"undercut_ratio_{kind}"] = _weighted(e[f"undercut_ratio_{kind}"], gh)
            below = e[f"undercut_ratio_{kind}"] < 1.0
            entry[f"months_undercut_{kind}"] = float(
                ((e["t_end_hours"] - e["t_start_hours"])[below]).sum() / HOURS_PER_MONTH)
            entry[f"crossings_{kind}"] = _crossings(e, kind)
            entry[f"undercut_ratio_{kind}_at_month"] = {str(m): _ratio_in_month(e, kind, m) for m in (1, 12, 36, 60)}
            if decay_hours is not None:
                after = e[e["t_start_hours"] >= decay_hours]
                late = _weighted(after[f"undercut_ratio_{kind}"], after["gpu_hours_sold"])
                entry[f"undercut_survives_emission_decay_{kind}"] = None if late != late else bool(late < 1.0)
        entry["subsidy_share"] = float(_safe(e["reward_usd"].sum(), e["reward_usd"].sum() + e["usd_revenue"].sum()))
        entry["provider_profit_usd"] = float(e["provider_profit_usd"].sum())
        by_class[str(cls)] = entry
    ledger, token, unit = economy.ledger, economy.token, economy.unit
    prices = network["token_price_usd"]
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
            "submitted": int((state != "latent").sum()),
            "latent": int((state == "latent").sum()),
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
            "protocol_fees": economy.totals["fees"] / 1_000_000,
            "bought_and_burned": economy.totals["burn_usd"] / 1_000_000,
        },
        "tokens": {
            "symbol": token,
            "emitted": int(conservation["tokens"]["emitted_base_units"]) / unit,
            "burned": ledger.burned[token] / unit,
            "supply_end": ledger.supply(token) / unit,
            "circulating_end": float(network["circulating_tokens"].iloc[-1]),
            "locked_end": float(network["locked_tokens"].iloc[-1]),
            "reward_usd": reward_usd,
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
        "latency": latency_summary(jobs),
        "conservation": conservation,
    }


def _safe(num: float, den: float) -> float:
    return num / den if den else float("nan")
