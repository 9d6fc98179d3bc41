"""Provider entry and exit: the supply side's response to prices, rewards and the token price.

Exit: a node leaves after K consecutive epochs of negative cash margin (USD revenue + rewards - power -
other opex; capex is sunk, so paid-off consumer rigs hang on longer than financed datacentre nodes).
Entry: a group's not-yet-built nodes join when the return they can expect over their horizon, at the
latest market conditions of their GPU class, beats a hurdle rate on their capex and stake; they start
working after a hardware lead time, at most so many per epoch.
"""

from __future__ import annotations

import math

import numpy as np

from .fleet import Fleet
from .units import HOURS_PER_YEAR


class ProviderDynamics:
    """Which nodes are active, which are on their way, and who has left."""

    def __init__(self, fleet: Fleet, epoch_hours: float, n_epochs: int) -> None:
        self.fleet = fleet
        n = fleet.size
        self.active = fleet.initially_active.copy()
        self.used = fleet.initially_active.copy()  # active, on its way, or gone: not a candidate any more
        self.negative_epochs = np.zeros(n, dtype=np.int64)
        self.exit_after = np.zeros(n, dtype=np.int64)  # 0: never leaves
        self._pending: dict[int, list[int]] = {}
        self._n_epochs = n_epochs
        self._groups = []
        for sl, group in fleet.group_slices:
            self.exit_after[sl] = group.exit_after_negative_epochs or 0
            entry = group.entry
            if group.capacity_nodes > group.count and entry.max_entries_per_epoch > 0:
                years = entry.horizon_years or group.amortisation_years
                r = entry.hurdle_rate_per_year
                annuity = years if r == 0 else (1 - (1 + r) ** -years) / r
                lead = math.ceil(entry.lead_time_days * 24 / epoch_hours - 1e-9)
                self._groups.append((sl, annuity, lead, entry.max_entries_per_epoch))

    def arriving(self, k: int) -> np.ndarray:
        """Nodes that start working at the start of epoch k."""
        ids = np.array(sorted(self._pending.pop(k, [])), dtype=np.int64)
        self.active[ids] = True
        return ids

    def leaving(self, cash_margin_usd: np.ndarray) -> np.ndarray:
        """Nodes whose cash margin has been negative for their K epochs in a row; they stop now."""
        self.negative_epochs = np.where(self.active & (cash_margin_usd < 0), self.negative_epochs + 1, 0)
        ids = np.flatnonzero(self.active & (self.exit_after > 0) & (self.negative_epochs >= self.exit_after))
        self.active[ids] = False
        return ids

    def plan_entries(self, k: int, utilisation: np.ndarray, net_price_usd: np.ndarray, reward_usd: np.ndarray,
                     stake_usd_per_gpu: float) -> np.ndarray:
        """Decide entries after epoch k from each class's latest economics (per class: utilisation, USD a
        provider keeps per GPU-hour sold, reward per GPU-hour offered); returns the nodes decided."""
        fleet = self.fleet
        decided = []
        for sl, annuity, lead, cap in self._groups:
            start = k + 1 + lead
            if start >= self._n_epochs:
                continue
            ids = np.arange(sl.start, sl.stop)[~self.used[sl]]
            if not ids.size:
                continue
            c = fleet.gpu_class[ids]
            per_hour = (utilisation[c] * (net_price_usd[c] - fleet.marginal_usd_per_gpu_hour[ids]) + reward_usd[c]
                        - fleet.other_opex_usd_per_gpu_hour[ids])
            value = per_hour * HOURS_PER_YEAR * annuity - fleet.capex_usd_per_gpu[ids] - stake_usd_per_gpu
            keep = np.isfinite(value) & (value > 0)
            chosen = ids[keep][np.lexsort((ids[keep], -value[keep]))][:cap]
            if chosen.size:
                self.used[chosen] = True
                self._pending.setdefault(start, []).extend(chosen.tolist())
                decided.append(chosen)
        return np.concatenate(decided) if decided else np.empty(0, dtype=np.int64)
