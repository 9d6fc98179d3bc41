"""Conservation laws every run must satisfy, checked at the end of the run; a violation raises.

Each law is checked between two independent bookkeeping paths where possible (event-loop counters
against the job log, per-provider accumulators against per-job hours, the integer ledger against the
per-job payments), so a bug in either path shows up here rather than in a plausible-looking result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .economy import ESCROW, TokenEconomy
from .engine.allocations import NetworkStarts
from .engine.settled import peak_levels
from .engine.state import RunState
from .errors import ConservationError
from .fleet import Fleet
from .jobfigures import JobFigures
from .leases import LEASES, PPM
from .ledger import USD
from .tables import STATES

REL_TOL = 1e-9


def _require(ok: bool, law: str, detail: str | Callable[[], str]) -> None:
    """Raise naming the law; ``detail`` may be a callable so it is only built on failure."""
    if not ok:
        text = detail() if callable(detail) else detail
        raise ConservationError(f"conservation of {law} violated: {text}")


def check_run(state: RunState, jobs: JobFigures, horizon: float, fleet: Fleet, offered_gpus: np.ndarray,
              free_gpus: np.ndarray, economy: TokenEconomy, order_delay_hours: float,
              peak_gpus: np.ndarray) -> dict[str, Any]:
    """Check jobs, GPU-hours, tokens and money; return the checked totals for the summary.

    ``offered_gpus``: what each node offers now (its GPUs if active and up, else 0); ``free_gpus``: the
    book's free GPUs, which must be that less what the jobs still running hold; ``peak_gpus``: the most
    GPUs each node ran at once (``SettledLog.peak``, or ``peak_gpus_in_use`` of a set of allocations);
    ``jobs``: the job table's figures, each chunk of which passed ``check_job_rows``."""
    return {
        "jobs": _jobs(state, jobs),
        "gpu_hours": _gpu_hours(state, jobs, horizon, fleet, offered_gpus, free_gpus, peak_gpus),
        "tokens": _tokens(economy),
        "usd": _money(state, economy),
    }


def check_ledgers(economy: TokenEconomy) -> dict[str, Any]:
    """The token and money ledgers alone (they balance at every epoch end): for a run stopped early,
    whose job and GPU-hour checks need the whole horizon."""
    economy.ledger.check(USD)
    return {"tokens": _tokens(economy), "usd": "ledger balanced; end-of-run checks not run (partial run)"}


def check_job_rows(chunk: pd.DataFrame, patience_hours: np.ndarray, order_delay_hours: float) -> None:
    """The laws each row of the job table must keep on its own (``patience_hours``: the chunk's jobs')."""
    venue = chunk["venue"].cat.codes.to_numpy()   # none, network, cloud
    status = chunk["state"].cat.codes.to_numpy()   # queued, running, completed, abandoned, latent
    served = venue > 0
    _require(bool((served == ((status == 1) | (status == 2))).all()), "jobs", "a job's venue and state disagree")
    _require(bool(((venue == 1) == (chunk["provider_id"].to_numpy() >= 0)).all()), "jobs",
             "a network job without a provider, or a provider on another venue")
    wait = chunk["wait_hours"].to_numpy()[served]
    _require(bool((wait >= -1e-9).all()), "jobs", "a job started before it was submitted")
    longest = np.maximum(patience_hours[served], order_delay_hours)
    _require(bool((wait <= longest + 1e-9).all()), "jobs",
             "a job waited longer than its patience (or the market's order delay, where that is longer)")


def _jobs(state: RunState, jobs: JobFigures) -> dict[str, Any]:
    n = state.n_jobs
    # a mark a job, not counts (a run-sized int64 bincount and its index: 320 MB of temporaries at 10M jobs)
    placed = state.settled.placed.copy()  # a job on several nodes or attempts is one job
    cld = np.array([j for j, _ in state.cloud_starts], dtype=np.int64)
    waiting = np.fromiter(state.waiting, dtype=np.int64, count=len(state.waiting))
    twice = False
    for ids in (cld, waiting):
        twice = twice or bool(placed[ids].any()) or np.unique(ids).size < ids.size
        placed[ids] = True
    _require(not twice, "jobs", "a job was started twice, or is both started and waiting")
    _require(jobs.rows == n, "jobs", f"the job log has {jobs.rows} rows for {n} submitted jobs")
    counts = jobs.states
    _require(int(counts.sum()) == n, "jobs", f"states sum to {int(counts.sum())}, not {n}")
    _require(int(counts[0]) == waiting.size, "jobs",
             f"{int(counts[0])} queued in the log, {waiting.size} in the market")
    latent = np.asarray(state.latent, dtype=np.int64)
    _require(int(counts[4]) == latent.size and not placed[latent].any(), "jobs",
             "an arrival the price did not draw was also placed, queued or counted twice")
    completed = state.settled.completed  # allocations that ended within the horizon
    _require(completed == state.departed + state.truncated, "jobs",
             f"{state.departed} departures processed and {state.truncated} cut short by failures, but "
             f"{completed} network allocations ended in the run")
    return {"submitted": n - latent.size, **{name: int(c) for name, c in zip(STATES, counts, strict=True)}}


def _gpu_hours(state: RunState, jobs: JobFigures, horizon: float, fleet: Fleet, offered: np.ndarray,
               free: np.ndarray, peak: np.ndarray) -> dict[str, Any]:
    delivered = state.gh_total  # per provider, summed epoch by epoch
    capacity = fleet.gpus * horizon
    over = delivered > capacity * (1 + REL_TOL)
    _require(not over.any(), "GPU-hours", lambda:
             f"provider {int(np.argmax(over))} sold {delivered[over][0]:.6f} GPU-hours of {capacity[over][0]:.6f}")
    per_job, in_use = state.settled.delivered, state.settled.in_use  # summed as the allocations settled
    logged = jobs.gpu_hours["network"]
    _require(abs(logged - per_job.sum()) <= 1e-6 * max(1.0, logged), "GPU-hours",
             f"the job log delivered {logged:.6f} GPU-hours, the allocations {per_job.sum():.6f}")
    gap = np.abs(per_job - delivered)
    _require(bool((gap <= 1e-6 + REL_TOL * capacity).all()), "GPU-hours", lambda:
             f"provider {int(np.argmax(gap))}: jobs delivered {per_job[np.argmax(gap)]:.6f} GPU-hours, "
             f"epochs say {delivered[np.argmax(gap)]:.6f}")
    _require(bool((peak <= fleet.gpus).all()), "GPU-hours", lambda:
             f"provider {int(np.argmax(peak - fleet.gpus))} ran {int(peak.max())} GPUs at once")
    _require(bool((np.asarray(free) == offered - in_use).all()), "GPU-hours",
             "the market's free GPUs disagree with the active nodes and the jobs still running")
    return {"delivered": float(delivered.sum()), "capacity": float(capacity.sum())}


def peak_gpus_in_use(starts: NetworkStarts, n_providers: int) -> np.ndarray:
    """Most GPUs each provider ran at any instant, from the start/end records alone (a run keeps this
    figure as its allocations settle: ``SettledLog.peak``)."""
    peak = np.zeros(n_providers, dtype=np.int64)
    peak_levels(starts.provider, starts.start, starts.end, starts.gpus, peak)
    return peak


def _tokens(economy: TokenEconomy) -> dict[str, Any]:
    ledger, token = economy.ledger, economy.token
    ledger.check(token)
    emitted = ledger.minted[token] - economy.initial_supply
    _require(emitted == economy.minted_base, "tokens",
             f"minted {emitted} base units, the emission schedule released {economy.minted_base}")
    economy.check_accounts()
    return {"emitted_base_units": str(emitted), "burned_base_units": str(ledger.burned[token]),
            "supply_base_units": str(ledger.supply(token))}


def _money(state: RunState, economy: TokenEconomy) -> dict[str, Any]:
    ledger, totals = economy.ledger, economy.totals
    ledger.check(USD)
    paid = int(state.paid_micro.sum())
    _require(paid == totals["buyers"], "money", f"jobs paid {paid} micro-USD, buyers deposited {totals['buyers']}")
    inflow = totals["buyers"] + totals["self_dealing"]
    outflow = totals["to_providers"] + totals["fees"] + totals["burn_share"]
    _require(inflow == outflow, "money",
             f"buyers paid {inflow} micro-USD but providers, fees and burns took {outflow}")
    if economy.escrow:
        held = ledger.balance(USD, ESCROW) + ledger.balance(USD, LEASES)
        _require(held == 0, "money", f"{held} micro-USD left in escrow after every lease ended")
        net_in = totals["escrow_in"] - totals["escrow_refunds"]
        _require(net_in == paid, "money",
                 f"buyers put {net_in} micro-USD in escrow (net of refunds) but leases paid {paid}")
    accrued = float(state.rev_total.sum())
    n_rounded = state.settled.rows  # each allocation's bill is rounded to the micro-USD once
    # a lease of its own cut short pays whole parts per million of its deposit (sim.leases)
    granularity = 0.5 * n_rounded + totals["lease_cut_deposits"] / PPM
    _require(abs(accrued - paid) <= granularity + REL_TOL * max(paid, 1), "money",
             f"revenue accrued over time {accrued:.1f} and settled {paid} micro-USD differ by more than rounding")
    return {"paid_by_buyers_micro_usd": paid, "received_by_providers_micro_usd": totals["to_providers"],
            "protocol_fees_micro_usd": totals["fees"], "burn_purchases_micro_usd": totals["burn_usd"],
            "self_dealing_micro_usd": totals["self_dealing"], "rebates_to_buyers_micro_usd": totals["rebates"],
            "escrow_deposits_micro_usd": totals["escrow_in"], "escrow_refunds_micro_usd": totals["escrow_refunds"]}
