"""The job log of a run: one row a job, where it ran, when, on what, what it paid and what it got done."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numba import njit

from .catalog import hardware_models
from .cloud import CloudBaseline
from .engine.allocations import NetworkStarts
from .engine.gangs import LINKS
from .engine.recorder import ratio
from .engine.state import RunState
from .fleet import Fleet
from .schema.jobs import job_types as job_kinds
from .schema.jobs import speed_on

VENUES = ("none", "network", "cloud")
STATES = ("queued", "running", "completed", "abandoned", "latent")  # latent: elastic demand the price did not draw
ABANDONED = ("no", "over_budget", "no_cloud_offer")
"""Why a job was abandoned: the cheapest alternative costs more than its budget, or no alternative offers
any of the GPUs it accepts (either way the network had no capacity within its limit before its patience
ran out)."""


CHUNK_ROWS = 1 << 18
"""Rows of the job table built at a time (by job id) when it is streamed to a file: the run's memory at the
end grows by one chunk's table (~60 MB), not a whole one. A constant, not a setting: the summary adds its
job figures over chunks of this many rows, streamed or not (a table kept in memory is built in one piece,
then read a chunk at a time), so the chunking is part of what a scenario's results are."""


def job_table_chunks(state: RunState, fleet: Fleet, cloud: CloudBaseline, horizon: float,
                     rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The job table, ``rows`` jobs at a time (``CHUNK_ROWS`` if None) in job-id order (one empty table for
    a run without jobs): one row a job, where it ran, when, on what, and what it paid for the hours
    delivered. A row is its job's alone: the table is the same however it is cut."""
    rows = rows or CHUNK_ROWS
    jobs = state.jobs
    cloud_started = np.array(state.cloud_starts, dtype=float).reshape(-1, 2)
    class_names = list(dict.fromkeys([*fleet.classes, *cloud.offer_gpu]))
    models = hardware_models()
    speeds = np.array([[speed_on(job, models[c]) for c in class_names] for job in jobs.stream_jobs]).reshape(
        len(jobs.stream_jobs), len(class_names))  # per stream and class
    # the regions any job comes from, over the whole run: every chunk's categorical has the same categories
    used = np.flatnonzero(np.bincount(jobs.region, minlength=len(jobs.regions)))
    context = _Context(
        class_names, speeds, used, _Keyed(cloud_started[:, 0].astype(np.int64), cloud_started[:, 1]),
        _Keyed.of(state.restarts, np.int64), _Keyed.of(state.preempted, np.int64), _Keyed.of(state.lost_work),
        _Keyed.of(state.downtime_hours), _Keyed.of({j: usd for j, (_, usd) in state.cloud_remainder.items()}),
        _Keyed.of(state.unfinished), _Keyed.of(state.attempt), _Keyed.jobs(list(state.waiting)),
        _Keyed.jobs(state.latent))
    for lo in range(0, max(state.n_jobs, 1), rows):
        yield _chunk(state, fleet, cloud, horizon, context, lo, min(lo + rows, state.n_jobs))


class _Keyed(NamedTuple):
    """What the run kept for a few jobs (a dict of its state), as arrays built once for every chunk: the job
    ids and, row for row, their values."""

    ids: np.ndarray
    values: np.ndarray

    @staticmethod
    def of(values: Mapping[int, Any], dtype: type = float) -> _Keyed:
        return _Keyed(np.fromiter(values.keys(), dtype=np.int64, count=len(values)),
                      np.array(list(values.values()), dtype=dtype))

    @staticmethod
    def jobs(ids: list[int] | np.ndarray) -> _Keyed:
        """Job ids alone (their values zeros)."""
        return _Keyed(np.asarray(ids, dtype=np.int64), np.zeros(len(ids)))

    def within(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows (job - lo) of the jobs from ``lo`` to ``hi`` - 1 and their values, in the run's order."""
        mine = (self.ids >= lo) & (self.ids < hi)
        return self.ids[mine] - lo, self.values[mine]

    def column(self, lo: int, hi: int, default: float) -> np.ndarray:
        """A column of jobs ``lo`` to ``hi`` - 1: their values, ``default`` for the others."""
        column = np.full(hi - lo, default, dtype=self.values.dtype)
        rows, values = self.within(lo, hi)
        column[rows] = values
        return column


class _Context(NamedTuple):
    """What every chunk of a run's job table reads besides its allocations: the GPU classes, each stream's
    speed on each, the regions jobs come from, and what the run kept for a few jobs: their starts on an
    alternative, restarts, preemptions, lost work, downtime, AWS remainders, unfinished work, attempts
    running at the horizon, and the jobs waiting and latent."""

    class_names: list[str]
    speeds: np.ndarray
    regions_used: np.ndarray
    cloud_start: _Keyed
    restarts: _Keyed
    preempted: _Keyed
    lost_work: _Keyed
    downtime: _Keyed
    remainder: _Keyed
    unfinished: _Keyed
    attempt: _Keyed
    waiting: _Keyed
    latent: _Keyed


def _chunk(state: RunState, fleet: Fleet, cloud: CloudBaseline, horizon: float, ctx: _Context, lo: int,
           hi: int) -> pd.DataFrame:
    """The job table's rows of jobs ``lo`` to ``hi`` - 1 (row i is job lo + i)."""
    jobs = state.jobs
    n = hi - lo
    rows = slice(lo, hi)
    a = _aggregate(state.settled.parts(lo, hi), horizon, lo, n, fleet.gpu_class, state.paid_micro[rows])
    cld, cloud_start = ctx.cloud_start.within(lo, hi)
    cld_offer = jobs.cloud_offer[rows][cld]

    # category codes are built in the categoricals' own small dtype (pandas would cast int64 codes down anyway):
    # a million-row int64 temporary per category column is 7 MB of fresh memory each
    venue = a.on_network.view(np.int8)  # 1 on the network (its own memory: the kernel's fresh array)
    venue[cld] = 2
    start, end, gpus, provider, delivered = a.start, a.end, a.gpus, a.provider, a.delivered
    start[cld] = cloud_start
    cloud_hours = jobs.cloud_hours[rows][cld] + jobs.cloud_extra_hours[rows][cld]  # spot reclaims make runs longer
    end[cld] = start[cld] + cloud_hours
    gpus[cld] = jobs.cloud_gpus[rows][cld]
    delivered[cld] = gpus[cld] * (np.minimum(end[cld], horizon) - start[cld])
    interconnect = np.array([0, 1, 3], dtype=np.int8)[venue]  # none; nvlink on one node; cloud
    link = state.link[rows]
    np.copyto(interconnect, link, where=link > 0)  # several nodes: their link

    # GPU class codes over the fleet's classes then the alternatives' other GPUs; -1 (missing) where nothing ran
    class_names = ctx.class_names
    offer_class = np.array([class_names.index(g) for g in cloud.offer_gpu], dtype=np.int64)
    gpu_class = a.gpu_class
    gpu_class[cld] = offer_class[cld_offer]

    submit = jobs.submit_hours[rows]
    stream = jobs.stream[rows]
    paid = a.paid
    cloud_price = np.zeros(len(cld))  # per GPU-hour, at the price the alternative had when the job arrived
    for o in np.unique(cld_offer):
        use = cld_offer == o
        cloud_price[use] = cloud.offer_prices(int(o), submit[cld[use]])
    paid[cld] = cloud_price * gpus[cld] * np.minimum(cloud_hours, horizon - start[cld])
    unit_price = a.unit_price
    unit_price[cld] = cloud_price
    alternative = np.full(n, -1, dtype=np.int16)
    alternative[cld] = cloud.offer_alt[cld_offer]

    # quality: what a job paid per unit of work it got done, after slowdowns, lost work, restarts, downtime
    speed = np.full(n, np.nan)
    known = gpu_class >= 0
    speed[known] = ctx.speeds[stream[known], gpu_class[known]]
    attempts = ctx.restarts.column(lo, hi, 0) + 1
    lost_work, downtime = ctx.lost_work.column(lo, hi, 0.0), ctx.downtime.column(lo, hi, 0.0)
    attempts[cld] += jobs.cloud_reclaims[rows][cld]
    lost_work[cld] = jobs.cloud_lost_hours[rows][cld] * gpus[cld] * speed[cld]
    per_reclaim = np.array([job.downtime_per_interruption_hours for job in jobs.stream_jobs])
    downtime[cld] = jobs.cloud_reclaims[rows][cld] * per_reclaim[stream[cld]]
    useful = _useful_work(state.jobs.work_ref_gpu_hours[rows], ctx, lo, a.planned, venue, start, end, horizon, cld,
                          cloud_hours)
    remainder = ctx.remainder.column(lo, hi, 0.0)
    waiting = np.zeros(n, dtype=bool)
    waiting[ctx.waiting.within(lo, hi)[0]] = True
    i8 = np.int8
    status = np.where(venue == 0, np.where(waiting, i8(0), i8(3)), np.where(end > horizon, i8(1), i8(2)))
    status[ctx.latent.within(lo, hi)[0]] = 4
    cloud_cost = jobs.cloud_cost_usd[rows]
    abandoned = np.where(status == 3, np.where(np.isfinite(cloud_cost), i8(1), i8(2)), i8(0))
    job_types = job_kinds()
    kind_codes = np.array([job_types.index(k) for k in jobs.stream_kinds], dtype=np.int8)
    recode = np.full(len(jobs.regions), -1, dtype=np.int16)  # codes in the categorical's own dtype, as above
    recode[ctx.regions_used] = np.arange(ctx.regions_used.size)
    df = pd.DataFrame({
        "job_id": np.arange(lo, hi),
        "stream": pd.Categorical.from_codes(stream, categories=list(jobs.stream_names)),
        "job_type": pd.Categorical.from_codes(kind_codes[stream], categories=list(job_types)),
        "submit_hours": submit,
        "start_hours": start,
        "end_hours": end,
        "wait_hours": start - submit,
        "venue": pd.Categorical.from_codes(venue, categories=list(VENUES)),
        "alternative": pd.Categorical.from_codes(alternative, categories=list(cloud.alternatives)),
        "state": pd.Categorical.from_codes(status, categories=list(STATES)),
        "abandoned_because": pd.Categorical.from_codes(abandoned, categories=list(ABANDONED)),
        "gpu_class": pd.Categorical.from_codes(gpu_class, categories=class_names),
        "gpus": gpus,
        "provider_id": provider,
        "price_paid_usd": paid,
        "price_usd_per_gpu_hour": unit_price,
        "delivered_gpu_hours": delivered,
        "interconnect": pd.Categorical.from_codes(interconnect, categories=list(LINKS)),
        "slowdown": state.slowdown[rows],
        "attempts": attempts,
        "preemptions": ctx.preempted.column(lo, hi, 0),
        "lost_work_ref_gpu_hours": lost_work,
        "downtime_hours": downtime,
        "cloud_remainder_usd": remainder,
        "useful_work_ref_gpu_hours": useful,
        "price_per_work_usd": unit_price / speed,
        "quality_adjusted_usd_per_work": ratio(paid + remainder, useful),
        "work_ref_gpu_hours": jobs.work_ref_gpu_hours[rows],
        "budget_usd": jobs.budget_usd[rows],
        "cloud_alternative_usd": cloud_cost,
        "latency_slo_ms": jobs.stream_latency_slo_ms[stream],
        "region": pd.Categorical.from_codes(recode[jobs.region[rows]],
                                            categories=[jobs.regions[i] for i in ctx.regions_used]),
    }, copy=False)  # the arrays are ours: no second copy of a million-row table
    return df


def _useful_work(work: np.ndarray, ctx: _Context, lo: int, planned_hours: np.ndarray, venue: np.ndarray,
                 start: np.ndarray, end: np.ndarray, horizon: float, cld: np.ndarray,
                 cloud_hours: np.ndarray) -> np.ndarray:
    """Reference GPU-hours of work each job got done, by the engine's own account of its attempts: a job
    that ended got all its work done (the rest of an interrupted one on AWS), less any that nowhere could
    take; one running at the horizon, its work up to where its current attempt has got. ``planned_hours``:
    per job running at the horizon, the longest of its first attempt's allocations (``_aggregate``);
    ``cloud_hours``: the wall hours of each of the jobs ``cld`` that ran on an alternative. The arrays
    (``work``: the jobs' reference work) are a chunk's: row i is job lo + i."""
    useful = np.zeros_like(work)
    net = venue == 1
    useful[net] = work[net]
    rows, left = ctx.unfinished.within(lo, lo + venue.size)
    useful[rows] -= left
    # the attempt running at the horizon: (start, restart overhead, planned wall hours, work it took on),
    # for the jobs still running only (a few thousand of a million)
    running = np.flatnonzero(net & (end > horizon))
    began, overhead, planned, taken = start[running], np.zeros(running.size), planned_hours[running], work[running]
    rows, attempt = ctx.attempt.within(lo, lo + venue.size)
    attempt = attempt.reshape(rows.size, 4)
    at = np.minimum(np.searchsorted(running, rows), max(running.size - 1, 0))
    now = (running[at] == rows) if running.size else np.zeros(rows.size, dtype=bool)
    began[at[now]], overhead[at[now]], planned[at[now]], taken[at[now]] = attempt[now].T
    share = np.clip((horizon - began - overhead) / np.maximum(planned - overhead, 1e-12), 0.0, 1.0)
    useful[running] = work[running] - taken * (1.0 - share)
    useful[cld] = work[cld] * np.clip((horizon - start[cld]) / cloud_hours, 0.0, 1.0)
    return useful


class JobAggregates(NamedTuple):
    """Per job, what its network allocations add up to (``_aggregate``); NaN, -1 or 0 for a job that had none."""

    on_network: np.ndarray
    """uint8: 1 for a job with any network allocation."""
    start: np.ndarray
    end: np.ndarray
    gpus: np.ndarray
    """Its first attempt's GPUs, over all its nodes."""
    provider: np.ndarray
    """The provider of its first allocation in the log."""
    delivered: np.ndarray
    gpu_class: np.ndarray
    paid: np.ndarray
    """USD, settled."""
    unit_price: np.ndarray
    """USD per GPU-hour, GPU-weighted over the first attempt's nodes."""
    planned: np.ndarray
    """For a job running at the horizon only: its first attempt's longest allocation, hours."""


def _aggregate(parts: Iterable[NetworkStarts], horizon: float, lo: int, n: int, provider_class: np.ndarray,
               paid_micro: np.ndarray) -> JobAggregates:
    """Two compiled passes over each part of the allocation log holding the jobs' allocations (a job on
    several nodes has one allocation per node, a restarted job one per attempt; all of a job's are in one
    part, in log order) instead of a dozen NumPy passes over a million rows with random access (0.3 s of a
    million-job run, measured): the arrays are fresh, and each job's sums run in log order, as
    ``np.bincount`` adds them. The aggregates are of jobs ``lo`` to ``lo + n - 1`` (``paid_micro``: theirs)."""
    out = JobAggregates(np.zeros(n, dtype=np.uint8), np.full(n, np.nan), np.full(n, np.nan),
                        np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.zeros(n),
                        np.full(n, -1, dtype=np.int16), np.zeros(n), np.full(n, np.nan), np.zeros(n))
    weighted = np.zeros(n)  # the first attempt's asks times GPUs
    for p in parts:
        _aggregate_part(p.job, p.provider, p.start, p.end, p.gpus, p.hours, p.ask_micro_usd, horizon, lo, weighted,
                        out.on_network, out.start, out.end, out.gpus, out.provider, out.delivered, out.planned)
    _aggregate_jobs(provider_class, paid_micro, weighted, out.on_network, out.gpus, out.provider, out.gpu_class,
                    out.paid, out.unit_price)
    return out


@njit(cache=True, nogil=True)
def _aggregate_part(job: np.ndarray, provider: np.ndarray, start: np.ndarray, end: np.ndarray, gpus: np.ndarray,
                    hours: np.ndarray, ask_micro: np.ndarray, horizon: float, lo: int, weighted: np.ndarray,
                    on_network: np.ndarray, first_start: np.ndarray, last_end: np.ndarray, first_gpus: np.ndarray,
                    first_provider: np.ndarray, delivered: np.ndarray, planned: np.ndarray) -> None:
    n = on_network.size
    for i in range(job.size):  # span, first provider and GPU-hours delivered
        j = job[i] - lo
        if j < 0 or j >= n:
            continue
        if on_network[j] == 0:
            on_network[j], first_start[j], last_end[j], first_provider[j] = 1, start[i], end[i], provider[i]
        else:
            first_start[j], last_end[j] = min(first_start[j], start[i]), max(last_end[j], end[i])
        delivered[j] += gpus[i] * (min(end[i], horizon) - start[i])
    for i in range(job.size):  # the first attempt's allocations (a restart starts later): its GPUs and asks
        j = job[i] - lo
        if j < 0 or j >= n:
            continue
        if start[i] == first_start[j]:
            first_gpus[j] += gpus[i]
            weighted[j] += float(ask_micro[i] * gpus[i])
            if last_end[j] > horizon:
                planned[j] = max(planned[j], hours[i])


@njit(cache=True, nogil=True)
def _aggregate_jobs(provider_class: np.ndarray, paid_micro: np.ndarray, weighted: np.ndarray, on_network: np.ndarray,
                    first_gpus: np.ndarray, first_provider: np.ndarray, gpu_class: np.ndarray, paid: np.ndarray,
                    unit_price: np.ndarray) -> None:
    for j in range(on_network.size):
        if on_network[j]:
            gpu_class[j] = provider_class[first_provider[j]]
            paid[j] = paid_micro[j] / 1e6
            unit_price[j] = weighted[j] / first_gpus[j] / 1e6
