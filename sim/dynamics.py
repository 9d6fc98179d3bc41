"""Provider entry and exit: the supply side's response to prices, rewards and the token price.

Exit: a node leaves after K consecutive epochs of negative cash margin (USD revenue as it is earned +
rewards - power - other opex; capex is sunk, so paid-off consumer rigs hang on longer than financed
datacentre nodes). A node whose GPUs have a resale value (``hardware.resale_fraction`` of the current
purchase price) compares its cash margin with the cost of holding them instead: the hurdle rate on that
value plus what the value loses over the epoch as hardware gets cheaper. It sells when staying earns less
than selling would, for K epochs in a row; with no resale value the threshold is 0, the rule above.

A competing network (the ``competing_network`` shock) offers every node of a GPU class a multiple of the
cash margin per GPU-hour the class realised here before the offer: from then on a node also leaves when
its margin stays below that offer for K epochs (it moves its GPUs, so it sells nothing), and an entrant
joins only if the margin it expects here is at least the offer. The costliest nodes, whose margins are
lowest, leave first; as supply shrinks the price rises for those who stay.

Hardware prices: a group's purchase price per GPU follows its ``hardware.price_path``; an entrant pays the
price of the epoch it decides in (its capex and fixed cost are set then), and counts the resale value at
the end of its horizon, discounted at the hurdle rate. Entrants do not wait for cheaper hardware: they
decide on this epoch's price, not on the option of deciding later (a myopic rule, like their price
expectations).

Entry: a group's not-yet-built nodes join when the return they can expect over their horizon beats a
hurdle rate on their capex and stake; they start working after a hardware lead time, at most so many
per epoch. The expectation rule (adaptive expectations, documented in the README): an entrant expects
its class's recent economics to persist, each an exponentially weighted average with a half-life of the
lead time (the window over which its decision plays out): the USD a provider keeps per GPU-hour sold,
the GPU-hours the class's buyers wanted per epoch (those sold, plus those of buyers who found it full
until their patience ran out) and the USD of rewards it earns per epoch. It does not expect demand to
grow: those hours (up to capacity) and rewards are shared over the capacity the class will have when it
arrives, the active GPUs plus every GPU already on its way and its own. So entrants decided in the same window
see each other, and entry stops when the diluted margin no longer pays for the capex. Entrants take
the price as given: they do not foresee that their capacity may lower a clearing price (a price-taker's
expectation; the exit rule corrects entry that overshoots).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .fleet import Fleet
from .schema.shocks import Shock
from .units import HOURS_PER_YEAR


class ProviderDynamics:
    """Which nodes are active, which are on their way, and who has left."""

    def __init__(self, fleet: Fleet, epoch_hours: float, n_epochs: int, shocks: tuple[Shock, ...] = ()) -> None:
        """``shocks``: the run's; a competing network's offer enters the exit and entry rules."""
        self.fleet = fleet
        self._shocks = shocks
        self._reference = np.zeros(len(fleet.classes))  # per class, its margin per GPU-hour up to a competitor's offer
        self._offered = False
        n = fleet.size
        self.active = fleet.initially_active.copy()
        self.used = fleet.initially_active.copy()  # active, on its way, or gone: not a candidate any more
        self.negative_epochs = np.zeros(n, dtype=np.int64)
        self.exit_after = np.zeros(n, dtype=np.int64)  # 0: never leaves
        self._pending: dict[int, list[int]] = {}
        self._n_epochs = n_epochs
        self._epoch_hours = epoch_hours
        self.joined = np.where(fleet.initially_active, 0, -1)
        self.left = np.full(n, -1, dtype=np.int64)
        self.expected_margin_usd = np.full(n, np.nan)  # per GPU-hour of capacity, as the entrant expected it
        self.cash_usd = np.zeros(n)  # cash margin earned while active, per node
        self.active_hours = np.zeros(n)
        self.resale_usd = np.zeros(n)  # what a node got for its GPUs when it left
        self._catalog_capex = fleet.capex_usd_per_gpu.copy()  # per GPU at t = 0, before any price path
        self._resale_fraction = np.zeros(n)
        self._hurdle = np.zeros(n)
        self._groups = []
        for sl, group in fleet.group_slices:
            self.exit_after[sl] = group.exit_after_negative_epochs or 0
            entry = group.entry
            self._resale_fraction[sl] = group.hardware.resale_fraction
            self._hurdle[sl] = entry.hurdle_rate_per_year
            if group.capacity_nodes > group.count and entry.max_entries_per_epoch > 0:
                years = entry.horizon_years or group.amortisation_years
                r = entry.hurdle_rate_per_year
                annuity = years if r == 0 else (1 - (1 + r) ** -years) / r
                lead = math.ceil(entry.lead_time_days * 24 / epoch_hours - 1e-9)
                self._groups.append((sl, group, annuity, lead, entry.max_entries_per_epoch, years, r))
        k = len(fleet.classes)
        self._seen = {name: np.full(k, np.nan) for name in ("sold", "price", "reward")}
        lead_epochs = [lead for _, _, _, lead, _, _, _ in self._groups] or [1]
        self._weight = 1.0 - 0.5 ** (1.0 / max(1, min(lead_epochs)))  # EWMA weight: half-life of the lead time

    def arriving(self, k: int) -> np.ndarray:
        """Nodes that start working at the start of epoch k."""
        ids = np.array(sorted(self._pending.pop(k, [])), dtype=np.int64)
        self.active[ids] = True
        self.joined[ids] = k
        return ids

    def leaving(self, k: int, t_hours: float, cash_margin_usd: np.ndarray) -> np.ndarray:
        """Nodes whose cash margin has been below the cost of holding their GPUs (0 without a resale value),
        or below a competing network's offer, for their K epochs in a row; they stop after epoch k, which
        ends at ``t_hours``, and sell their GPUs (or take them to the competitor)."""
        offer = self._outside_offer(t_hours - self._epoch_hours) * self.fleet.gpus * self._epoch_hours
        self.cash_usd += np.where(self.active, cash_margin_usd, 0.0)
        self.active_hours += self.active * self._epoch_hours
        holding = np.zeros(self.fleet.size)
        resale = np.zeros(self.fleet.size)
        if self._resale_fraction.any():
            resale = self._resale_fraction * self.fleet.gpus * self._hardware_usd_per_gpu(t_hours)
            later = self._resale_fraction * self.fleet.gpus * self._hardware_usd_per_gpu(t_hours + self._epoch_hours)
            holding = resale * self._hurdle * self._epoch_hours / HOURS_PER_YEAR + (resale - later)
        # a node would earn more selling its GPUs, or, offered more, on the competitor
        below = cash_margin_usd < np.where(offer > 0, np.maximum(holding, offer), holding)
        self.negative_epochs = np.where(self.active & below, self.negative_epochs + 1, 0)
        ids = np.flatnonzero(self.active & (self.exit_after > 0) & (self.negative_epochs >= self.exit_after))
        self.active[ids] = False
        self.left[ids] = k
        self.resale_usd[ids] = np.where(offer[ids] > holding[ids], 0.0, resale[ids])  # a mover keeps its GPUs
        return ids

    def _outside_offer(self, t_hours: float) -> np.ndarray:
        """Per node, a competing network's offer at ``t_hours`` (USD per GPU-hour; 0 without one): the
        competitor's multiple of the margin its class realised here before the first offer (over every
        GPU-hour its nodes had offered by then), which is when that margin is taken; none where it was not
        positive."""
        multiple = max((shock.outside_yield_multiplier(t_hours) for shock in self._shocks), default=0.0)
        if multiple <= 0:
            return np.zeros(self.fleet.size)
        if not self._offered:
            self._offered = True
            k, c = len(self.fleet.classes), self.fleet.gpu_class
            cash = np.bincount(c, weights=self.cash_usd, minlength=k)
            hours = np.bincount(c, weights=self.fleet.gpus * self.active_hours, minlength=k)
            with np.errstate(divide="ignore", invalid="ignore"):
                self._reference = np.where(hours > 0, cash / hours, 0.0)
        return multiple * np.maximum(self._reference, 0.0)[self.fleet.gpu_class]

    def _hardware_usd_per_gpu(self, t_hours: float) -> np.ndarray:
        """Every node's purchase price per GPU at ``t_hours``: its group's price path on its t = 0 capex."""
        out = self._catalog_capex.copy()
        for sl, group in self.fleet.group_slices:
            out[sl] *= float(group.hardware.price_path.multiplier(np.array([t_hours]), math.nan)[0])
        return out

    def table(self) -> pd.DataFrame:
        """Per node: when it joined and left (epoch; -1: never), the cash margin per GPU-hour it expected
        when it decided to enter (entrants only), the one it realised while active, and what it got for
        its GPUs when it left."""
        with np.errstate(divide="ignore", invalid="ignore"):
            realised = self.cash_usd / (self.fleet.gpus * self.active_hours)
        return pd.DataFrame({"joined_epoch": self.joined, "left_epoch": self.left,
                             "expected_margin_usd_per_gpu_hour": self.expected_margin_usd,
                             "realised_margin_usd_per_gpu_hour": realised, "resale_usd": self.resale_usd})

    def _expect(self, sold_gpu_hours: np.ndarray, net_price_usd: np.ndarray, reward_usd: np.ndarray) -> None:
        """Fold an epoch's economics into the entrants' expectations (a value that is not finite leaves
        what was expected)."""
        for name, value in (("sold", sold_gpu_hours), ("price", net_price_usd), ("reward", reward_usd)):
            seen = self._seen[name]
            fresh = np.isfinite(value)
            self._seen[name] = np.where(fresh & np.isnan(seen), value,
                                        np.where(fresh, seen + self._weight * (value - seen), seen))

    def _gpus_by_class(self, ids: np.ndarray) -> np.ndarray:
        return np.bincount(self.fleet.gpu_class[ids], weights=self.fleet.gpus[ids],
                           minlength=len(self.fleet.classes))

    def _margin(self, ids: np.ndarray | int, utilisation: np.ndarray | float,
                capacity: np.ndarray | float) -> np.ndarray:
        """Expected cash margin per GPU-hour of nodes ``ids`` (capex aside): their class's expected price
        less their power on the hours sold, the class's expected reward per GPU-hour of ``capacity``
        (GPU-hours per epoch), less their other opex."""
        c = self.fleet.gpu_class[ids]
        return (utilisation * (self._seen["price"][c] - self.fleet.marginal_usd_per_gpu_hour[ids])
                + self._seen["reward"][c] / capacity - self.fleet.other_opex_usd_per_gpu_hour[ids])

    def plan_entries(self, k: int, t_hours: float, sold_gpu_hours: np.ndarray, net_price_usd: np.ndarray,
                     reward_usd: np.ndarray, stake_usd_per_gpu: float) -> np.ndarray:
        """Decide entries after epoch k, which ends at ``t_hours`` (per class: GPU-hours wanted, USD a provider
        keeps per GPU-hour sold, USD of rewards), by the expectation rule of the module docstring, at that
        time's hardware prices; returns the nodes decided."""
        self._expect(sold_gpu_hours, net_price_usd, reward_usd)
        if not self._groups:
            return np.empty(0, dtype=np.int64)
        fleet = self.fleet
        offer = self._outside_offer(t_hours - self._epoch_hours)  # an entrant could join a competitor instead
        active = self._gpus_by_class(np.flatnonzero(self.active))
        coming = self._gpus_by_class(np.array([i for ids in self._pending.values() for i in ids], dtype=np.int64))
        hours = self._epoch_hours
        sold = self._seen["sold"]
        decided = []
        for sl, group, annuity, lead, cap, years, r in self._groups:
            start = k + 1 + lead
            if start >= self._n_epochs:
                continue
            ids = np.arange(sl.start, sl.stop)[~self.used[sl]]
            path = group.hardware.price_path
            now, end = path.multiplier(np.array([t_hours, t_hours + years * HOURS_PER_YEAR]), math.nan)
            capex = self._catalog_capex * now  # what the group's candidates would pay today
            resale = self._catalog_capex * end * group.hardware.resale_fraction * (1 + r) ** -years
            c = fleet.gpu_class[ids]
            with np.errstate(divide="ignore", invalid="ignore"):  # ranking only; classes not seen yet: NaN, last
                capacity = (active[c] + coming[c]) * hours
                margin = (self._margin(ids, sold[c] / capacity, capacity)
                          - (capex[ids] - resale[ids]) / (HOURS_PER_YEAR * annuity))
            chosen: list[int] = []
            for i in ids[np.lexsort((ids, -np.nan_to_num(margin, nan=-np.inf)))].tolist():  # the best nodes first
                if len(chosen) == cap:
                    break
                c = fleet.gpu_class[i]
                capacity = (active[c] + coming[c] + fleet.gpus[i]) * hours  # GPU-hours per epoch when it arrives
                per_hour = float(self._margin(i, min(1.0, sold[c] / capacity), capacity))
                value = per_hour * HOURS_PER_YEAR * annuity - capex[i] + resale[i] - stake_usd_per_gpu
                if np.isfinite(value) and value > 0 and per_hour >= offer[i]:
                    chosen.append(i)
                    coming[c] += fleet.gpus[i]
                    self.expected_margin_usd[i] = per_hour
                    fleet.fixed_usd_per_gpu_hour[i] += (capex[i] - fleet.capex_usd_per_gpu[i]) / (
                        fleet.amortisation_years[i] * HOURS_PER_YEAR)
                    fleet.capex_usd_per_gpu[i] = capex[i]  # the price it paid
            if chosen:
                ids = np.array(chosen, dtype=np.int64)
                self.used[ids] = True
                self._pending.setdefault(start, []).extend(chosen)
                decided.append(ids)
        return np.concatenate(decided) if decided else np.empty(0, dtype=np.int64)
