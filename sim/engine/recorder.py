"""The epoch table, recorded as the run goes: per epoch and GPU class, the pricing curve and the token side.

Per epoch and class: the volume-weighted network price buyers paid, the price the same providers would
have asked without token rewards (same epoch, same orders: under a clearing market, the price cleared
from their unsubsidised offers), the clearing price, and the centralised alternatives' prices at the
epoch's start (the AWS price set, each alternative, the cheapest), with the token side (price, emission, reward per
GPU-hour, subsidy share of provider revenue) beside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from ..catalog import CLOUD_PRICE_KINDS
from ..cloud import CloudBaseline, Reference
from ..fleet import Fleet
from ..units import MICRO
from .phases import Epoch, EpochPhase
from .state import RunState

RATIO_KINDS = ("on_demand", "spot", "reserved")
NETWORK_COLUMNS = ("token_price_usd", "realisable_token_price_usd", "provider_token_sales_usd", "minted_tokens",
                   "burned_tokens", "supply_tokens", "circulating_tokens", "locked_tokens", "pool_usd", "pool_tokens",
                   "burn_usd", "self_dealers", "self_dealers_caught", "self_dealt_gpu_hours", "forfeited_tokens",
                   "failures", "slashed_tokens", "escrow_usd")
# per-class sums kept for every epoch, in this order
SUMS = ("providers", "gpus", "entries", "exits", "offered_gpu_hours", "gpu_hours_sold", "buyers_usd",
        "usd_revenue", "reward_tokens", "energy_usd", "fixed_usd", "unsubsidised_usd", "self_dealing_usd",
        "median_ask_usd_per_gpu_hour", "clearing_price_usd_per_gpu_hour", "expected_work_reward_usd_per_gpu_hour",
        "self_dealt_gpu_hours_by_class")


def ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray | float:
    """num / den, NaN or inf where den is 0 (no warning: an epoch may sell nothing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(num, den)


class EpochRecorder(EpochPhase):
    """Collects per-epoch, per-class sums as the run closes each epoch; ``table()`` derives the rest.

    Closing an epoch only sums provider arrays by class; prices, ratios and shares are computed once,
    vectorised over all epochs, when the table is built.
    """

    def __init__(self, state: RunState, fleet: Fleet, cloud: CloudBaseline, class_work_rate: np.ndarray) -> None:
        """``class_work_rate``: per class, the work a GPU-hour sold counts for in work rewards."""
        self._state = state
        self._fleet = fleet
        self._k = len(fleet.classes)
        self._cloud = cloud
        self._class_work_rate = class_work_rate
        self._epochs: list[tuple[float, ...]] = []
        self._network: list[list[float]] = []
        self._sums: list[np.ndarray] = []

    def close_epoch(self, epoch: Epoch) -> None:
        """Record the epoch; leave in ``epoch.economics`` the per-class economics entrants look at
        (utilisation, USD kept per GPU-hour sold, token reward per GPU-hour offered)."""
        fleet, flows = self._fleet, epoch.flows
        assert flows is not None
        k, medians, arriving, leaving, active = (epoch.k, epoch.median_asks_usd, epoch.arriving, epoch.leaving,
                                                 epoch.was_active)
        gpu_hours, offered, buyers_usd = epoch.gpu_hours, epoch.offered_gpu_hours, epoch.revenue_micro_usd / MICRO
        self._epochs.append((k, epoch.t0, epoch.t1, epoch.work_reward_usd, epoch.capacity_reward_usd))
        self_hours = flows.self_dealt_gpu_hours
        nan = np.full(self._k, np.nan)
        clearing = nan if epoch.clearing_prices_usd is None else np.where(
            np.isfinite(epoch.clearing_prices_usd), epoch.clearing_prices_usd, np.nan)
        self._network.append([flows.network[c] for c in NETWORK_COLUMNS])
        by_class = _class_sums(fleet.gpu_class, self._k, tuple(np.asarray(v, dtype=float) for v in (
            active, fleet.gpus * active, offered, gpu_hours, buyers_usd, flows.usd_received, flows.reward_tokens,
            (gpu_hours + self_hours) * fleet.marginal_usd_per_gpu_hour, offered * fleet.fixed_usd_per_gpu_hour,
            gpu_hours * epoch.unsubsidised_asks_micro_usd / MICRO, flows.self_dealing_paid_usd, self_hours)))
        sums = np.stack([
            *by_class[:2],
            np.bincount(fleet.gpu_class[arriving], minlength=self._k),
            np.bincount(fleet.gpu_class[leaving], minlength=self._k),
            *by_class[2:11],
            medians,
            clearing,
            epoch.work_reward_usd * self._class_work_rate,
            by_class[11],
        ])
        self._sums.append(sums)
        row = dict(zip(SUMS, sums, strict=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            epoch.economics = {
                "gpu_hours_sold": row["gpu_hours_sold"],
                "net_price_usd": np.nan_to_num(row["usd_revenue"] / row["gpu_hours_sold"]),
                "reward_tokens": row["reward_tokens"],
            }
        self._state.closed_epochs = k + 1

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
        price = ratio(col["buyers_usd"], gh)
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
            "utilisation": ratio(gh, col["offered_gpu_hours"]),
            "network_price_usd_per_gpu_hour": price,
            "price_without_subsidy_usd_per_gpu_hour": ratio(col["unsubsidised_usd"], gh),
            "median_ask_usd_per_gpu_hour": col["median_ask_usd_per_gpu_hour"],
            "clearing_price_usd_per_gpu_hour": col["clearing_price_usd_per_gpu_hour"],
            "expected_work_reward_usd_per_work": per_epoch(ep[:, 3]),
            "expected_work_reward_usd_per_gpu_hour": col["expected_work_reward_usd_per_gpu_hour"],
            "expected_capacity_reward_usd_per_gpu_hour": per_epoch(ep[:, 4]),
        })
        for name, values in self._alternative_columns(ep[:, 1], price).items():
            df[name] = values
        df["reward_tokens"] = col["reward_tokens"]
        df["reward_usd"] = reward_usd
        df["reward_usd_per_gpu_hour"] = ratio(reward_usd, gh)
        df["buyers_usd"] = col["buyers_usd"]
        df["usd_revenue"] = revenue
        df["subsidy_share"] = ratio(reward_usd, reward_usd + revenue)
        df["cost_usd"] = cost
        df["fully_loaded_cost_usd_per_gpu_hour"] = ratio(cost, gh)
        df["self_dealing_usd"] = col["self_dealing_usd"]
        df["self_dealt_gpu_hours_by_class"] = col["self_dealt_gpu_hours_by_class"]
        df["provider_profit_usd"] = revenue + reward_usd - cost - col["self_dealing_usd"]
        for i, name in enumerate(NETWORK_COLUMNS):
            df[name] = per_epoch(net[:, i])
        df["length_hours"] = length
        return df

    def _alternative_columns(self, starts: np.ndarray, price: np.ndarray) -> dict[str, object]:
        """The centralised prices each class is compared with, at each epoch's start (epoch-major, as the
        table): the AWS price set at every kind, each alternative at its buyers' kind, and the cheapest of
        the alternatives; each with the network's undercut ratio against it and the offer it rests on."""
        cloud, classes = self._cloud, self._fleet.classes

        def per_class(values: object) -> np.ndarray:
            return np.tile(np.asarray(values), len(starts))

        def over_time(base: np.ndarray, multiplier: np.ndarray) -> np.ndarray:
            return (base[None, :] * multiplier[:, None]).ravel()

        def based(prices: np.ndarray, ref: Reference) -> np.ndarray:
            return np.where(ref.offer >= 0, prices[np.maximum(ref.offer, 0)] * ref.factor, np.nan)

        aws = cloud.aws_reference(classes)
        out: dict[str, object] = {"aws_reference_offer": pd.Categorical(per_class(aws.label))}
        aws_multiplier = cloud.aws_multiplier(starts)
        for kind in CLOUD_PRICE_KINDS:
            out[f"aws_{kind}_usd_per_gpu_hour"] = over_time(based(cloud.aws_prices[kind], aws), aws_multiplier)
        for kind in RATIO_KINDS:
            out[f"undercut_ratio_{kind}"] = ratio(price, out[f"aws_{kind}_usd_per_gpu_hour"])
        multipliers = cloud.multipliers(starts)
        alt_prices = []
        for a, (name, ref) in enumerate(zip(cloud.alternatives, cloud.references(classes), strict=True)):
            usd = over_time(based(cloud.buyer_prices, ref), multipliers[a])
            alt_prices.append(usd)
            out[f"alt_{name}_reference_offer"] = pd.Categorical(per_class(ref.label))
            out[f"alt_{name}_usd_per_gpu_hour"] = usd
            out[f"undercut_ratio_vs_{name}"] = ratio(price, usd)
        stacked = np.where(np.isnan(alt_prices), np.inf, alt_prices)
        best = np.argmin(stacked, axis=0)
        cheapest = stacked[best, np.arange(best.size)]
        known = np.isfinite(cheapest)
        out["cheapest_alternative"] = pd.Categorical.from_codes(np.where(known, best, -1),
                                                                categories=list(cloud.alternatives))
        out["cheapest_alternative_usd_per_gpu_hour"] = np.where(known, cheapest, np.nan)
        out["undercut_ratio_vs_cheapest"] = ratio(price, out["cheapest_alternative_usd_per_gpu_hour"])
        return out


@njit(cache=True)
def _class_sums(gpu_class: np.ndarray, k: int, rows: tuple[np.ndarray, ...]) -> np.ndarray:
    """Each of ``rows`` (per node) summed by the nodes' class, node by node as ``np.bincount`` adds its
    weights (so the sums are the same to the bit). The fleet lists nodes group by group, so one bincount
    adds into one class over and over and waits on each add; here the rows' sums interleave (a node at a
    time, every row), 7x faster for the epoch's twelve sums."""
    out = np.zeros((len(rows), k))
    for i in range(gpu_class.size):
        c = gpu_class[i]
        for r in range(len(rows)):
            out[r, c] += rows[r][i]
    return out
