"""Seeded random streams, one per concern.

Each concern (provider draws, each workload stream, the token price) gets its own generator derived
from the root seed by a fixed spawn key, so adding draws to one concern never shifts another's, and a
run is identical on any machine and in any process.
"""

from __future__ import annotations

import numpy as np

PROVIDERS = 0
WORKLOAD = 1
TOKEN_PRICE = 2
FAILURES = 3
SELF_DEALING = 4
SPECULATION = 5
CLOUD_SPOT = 6
SHOCK_DEMAND = 7  # a demand shock's thinning, per stream: the kept jobs are the unshocked run's
ESCROW_SAMPLE = 8  # which jobs lease through escrow of their own (chain.escrow_sample_share)


def stream(seed: int, *key: int) -> np.random.Generator:
    """The generator for concern ``key`` (e.g. ``stream(seed, WORKLOAD, 2)`` for the third job stream)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
