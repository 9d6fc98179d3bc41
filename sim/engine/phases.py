"""The epoch boundary: what every phase of a run may do when an epoch opens and closes.

The driver (``World``) calls ``open_epoch`` on every phase, in its listed order, when an epoch starts,
and ``close_epoch``, in the same order, when it ends; one ``Epoch`` record carries what the phases tell
each other in between (the asks posted, the payments settled, the flows...). Phases that only act on
events (a failure, an arrival) do nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..economy import EpochFlows


@dataclass
class Epoch:
    """One epoch [t0, t1) as the phases fill it in; ``final``: it ends at the horizon."""

    k: int
    t0: float
    t1: float
    final: bool
    # at the open
    arriving: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    work_reward_usd: float = 0.0
    """Expected work reward per unit of work sold (a node's work rate times it: per GPU-hour sold)."""
    capacity_reward_usd: float = 0.0
    asks_micro_usd: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    unsubsidised_asks_micro_usd: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The asks nodes would post with no token reward (same orders, same nodes)."""
    clearing_prices_usd: np.ndarray | None = None
    """Per GPU class, the epoch's uniform price under a clearing market (inf: nothing offered)."""
    dealers: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    median_asks_usd: list[float] = field(default_factory=list)
    # at the close
    gpu_hours: np.ndarray = field(default_factory=lambda: np.empty(0))
    revenue_micro_usd: np.ndarray = field(default_factory=lambda: np.empty(0))
    offered_gpu_hours: np.ndarray = field(default_factory=lambda: np.empty(0))
    was_active: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    flows: EpochFlows | None = None
    leaving: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    economics: dict[str, Any] = field(default_factory=dict)
    """Per class, what entrants look at: utilisation, USD kept per GPU-hour sold, reward per GPU-hour offered."""


class EpochPhase:
    """A participant in the epoch boundary; both hooks default to doing nothing."""

    def open_epoch(self, epoch: Epoch) -> None:
        """The epoch starts (``epoch.t0``)."""

    def close_epoch(self, epoch: Epoch) -> None:
        """The epoch ends (``epoch.t1``)."""
