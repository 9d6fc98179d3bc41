"""Conservation laws every run must satisfy, checked at the end of the run; a violation raises.

Each law is checked between two independent bookkeeping paths where possible (event-loop counters
against the job log, per-provider accumulators against per-job hours, the integer ledger against the
per-job payments), so a bug in either path shows up here rather than in a plausible-looking result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ConservationError
from .ledger import USD

if TYPE_CHECKING:
    from .engine import World

REL_TOL = 1e-9


def _require(ok: bool, law: str, detail: str | Callable[[], str]) -> None:
    """Raise naming the law; ``detail`` may be a callable so it is only built on failure."""
    if not ok:
        text = detail() if callable(detail) else detail
        raise ConservationError(f"conservation of {law} violated: {text}")


def check_run(world: World, jobs: pd.DataFrame, horizon: float) -> dict[str, Any]:
    """Check jobs, GPU-hours, tokens and money; return the checked totals for the summary."""
    return {
        "jobs": _jobs(world, jobs),
        "gpu_hours": _gpu_hours(world, jobs, horizon),
        "tokens": _tokens(world),
        "usd": _money(world, jobs),
    }


def _jobs(world: World, jobs: pd.DataFrame) -> dict[str, Any]:
    n = world.n_jobs
    net = world.records[:, 0].astype(np.int64)
    cld = np.array([j for j, _ in world.cloud_starts], dtype=np.int64)
    waiting = np.fromiter(world.waiting, dtype=np.int64, count=len(world.waiting))
    placed = np.concatenate([net, cld, waiting])
    _require(np.unique(placed).size == placed.size, "jobs",
             "a job was started twice, or is both started and waiting")
    _require(len(jobs) == n and not jobs["state"].isna().any(), "jobs", "a job has no state")
    counts = jobs["state"].value_counts()
    _require(int(counts.sum()) == n, "jobs", f"states sum to {int(counts.sum())}, not {n}")
    venue, state = jobs["venue"], jobs["state"]
    served = venue.isin(["network", "cloud"])
    _require(bool((served == state.isin(["running", "completed"])).all()), "jobs",
             "a job's venue and state disagree")
    _require(int(counts["queued"]) == waiting.size, "jobs",
             f"{int(counts['queued'])} queued in the log, {waiting.size} in the market")
    completed_net = int(((venue == "network") & (state == "completed")).sum())
    _require(completed_net == world.departed, "jobs",
             f"{world.departed} departures processed but {completed_net} network jobs completed")
    _require(bool(((venue == "network") == (jobs["provider_id"] >= 0)).all()), "jobs",
             "a network job without a provider, or a provider on another venue")
    started = jobs[served]
    _require(bool((started["wait_hours"] >= -1e-9).all()), "jobs", "a job started before it was submitted")
    patience = world.jobs.patience_hours[started.index.to_numpy()]
    _require(bool((started["wait_hours"].to_numpy() <= patience + 1e-9).all()), "jobs",
             "a job waited longer than its patience")
    return {"submitted": n, **{str(k): int(v) for k, v in counts.items()}}


def _gpu_hours(world: World, jobs: pd.DataFrame, horizon: float) -> dict[str, Any]:
    fleet = world.fleet
    delivered = world.gh_total  # per provider, summed epoch by epoch
    capacity = fleet.gpus * horizon
    over = delivered > capacity * (1 + REL_TOL)
    _require(not over.any(), "GPU-hours", lambda:
             f"provider {int(np.argmax(over))} sold {delivered[over][0]:.6f} GPU-hours of {capacity[over][0]:.6f}")
    net = jobs[jobs["venue"] == "network"]
    per_job = np.bincount(net["provider_id"], weights=net["delivered_gpu_hours"], minlength=fleet.size)
    gap = np.abs(per_job - delivered)
    _require(bool((gap <= 1e-6 + REL_TOL * capacity).all()), "GPU-hours", lambda:
             f"provider {int(np.argmax(gap))}: jobs delivered {per_job[np.argmax(gap)]:.6f} GPU-hours, "
             f"epochs say {delivered[np.argmax(gap)]:.6f}")
    peak = _peak_gpus_in_use(world.records, fleet.size)
    _require(bool((peak <= fleet.gpus).all()), "GPU-hours", lambda:
             f"provider {int(np.argmax(peak - fleet.gpus))} ran {int(peak.max())} GPUs at once")
    rec = world.records
    running = rec[rec[:, 6] > horizon]
    in_use = np.bincount(running[:, 1].astype(np.int64), weights=running[:, 3], minlength=fleet.size)
    free = np.asarray(world.market.free)
    _require(bool((free == fleet.gpus - in_use).all()), "GPU-hours",
             "the market's free GPUs disagree with the jobs still running")
    return {"delivered": float(delivered.sum()), "capacity": float(capacity.sum())}


def _peak_gpus_in_use(records: np.ndarray, n_providers: int) -> np.ndarray:
    """Most GPUs each provider ran at any instant, from start/end records (ends before starts on ties)."""
    p = np.concatenate([records[:, 1], records[:, 1]]).astype(np.int64)
    t = np.concatenate([records[:, 2], records[:, 6]])
    delta = np.concatenate([records[:, 3], -records[:, 3]])
    order = np.lexsort((delta, t, p))
    p, delta = p[order], delta[order]
    level = np.cumsum(delta)
    first = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    base = np.r_[0.0, level[first[1:] - 1]]  # running total before each provider's first event
    level -= np.repeat(base, np.diff(np.r_[first, p.size]))
    peak = np.zeros(n_providers)
    np.maximum.at(peak, p, level)
    return peak


def _tokens(world: World) -> dict[str, Any]:
    ledger, token = world.ledger, world.token
    ledger.check(token)
    emitted = ledger.minted[token] - world.initial_supply
    scheduled = world.cum_emission[-1]
    _require(emitted == scheduled, "tokens", f"minted {emitted} base units, schedule says {scheduled}")
    _require(ledger.burned[token] == 0, "tokens", "tokens burned with no burn rule")
    return {"emitted_base_units": str(emitted), "supply_base_units": str(ledger.supply(token))}


def _money(world: World, jobs: pd.DataFrame) -> dict[str, Any]:
    ledger = world.ledger
    ledger.check(USD)
    paid = int(world.paid_micro.sum())
    deposited = ledger.minted[USD]
    _require(paid == deposited, "money", f"jobs paid {paid} micro-USD, buyers deposited {deposited}")
    named = ledger.named_balances(USD)
    _require(named.get("buyers", 0) == 0, "money", "buyers' payments were not all passed on")
    fees = named.get("treasury", 0)
    providers = int(ledger.provider_balances(USD).sum())
    _require(providers + fees == paid, "money",
             f"providers received {providers} + fees {fees} != buyers paid {paid} micro-USD")
    accrued = float(world.rev_total.sum())
    n_net = int((jobs["venue"] == "network").sum())
    _require(abs(accrued - paid) <= 0.5 * n_net + REL_TOL * max(paid, 1), "money",
             f"revenue accrued over time {accrued:.1f} and settled {paid} micro-USD differ by more than rounding")
    return {"paid_by_buyers_micro_usd": paid, "received_by_providers_micro_usd": providers,
            "protocol_fees_micro_usd": fees}
