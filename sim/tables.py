"""The job log of a run: one row a job, where it ran, when, on what, what it paid and what it got done."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from numba import njit

from .catalog import hardware_models
from .cloud import CloudBaseline
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


def build_jobs_table(state: RunState, fleet: Fleet, cloud: CloudBaseline, horizon: float) -> pd.DataFrame:
    """One row a job: where it ran, when, on what, and what it paid for the hours delivered."""
    jobs = state.jobs
    n = state.n_jobs
    rec = state.network_starts()
    a = _aggregate(rec.job, rec.provider, rec.start, rec.end, rec.gpus, rec.hours, rec.ask_micro_usd, horizon, n,
                   fleet.gpu_class, state.paid_micro)
    cloud_started = np.array(state.cloud_starts, dtype=float).reshape(-1, 2)
    cld = cloud_started[:, 0].astype(np.int64)
    cld_offer = jobs.cloud_offer[cld]

    # category codes are built in the categoricals' own small dtype (pandas would cast int64 codes down anyway):
    # a million-row int64 temporary per category column is 7 MB of fresh memory each
    venue = a.on_network.view(np.int8)  # 1 on the network (its own memory: the kernel's fresh array)
    venue[cld] = 2
    start, end, gpus, provider, delivered = a.start, a.end, a.gpus, a.provider, a.delivered
    start[cld] = cloud_started[:, 1]
    cloud_hours = jobs.cloud_hours[cld] + jobs.cloud_extra_hours[cld]  # spot reclaims make runs longer
    end[cld] = start[cld] + cloud_hours
    gpus[cld] = jobs.cloud_gpus[cld]
    delivered[cld] = gpus[cld] * (np.minimum(end[cld], horizon) - start[cld])
    interconnect = np.array([0, 1, 3], dtype=np.int8)[venue]  # none; nvlink on one node; cloud
    np.copyto(interconnect, state.link, where=state.link > 0)  # several nodes: their link
    slowdown = state.slowdown

    # GPU class codes over the fleet's classes then the alternatives' other GPUs; -1 (missing) where nothing ran
    class_names = list(dict.fromkeys([*fleet.classes, *cloud.offer_gpu]))
    offer_class = np.array([class_names.index(g) for g in cloud.offer_gpu], dtype=np.int64)
    gpu_class = a.gpu_class
    gpu_class[cld] = offer_class[cld_offer]

    paid = a.paid
    cloud_price = np.zeros(len(cld))  # per GPU-hour, at the price the alternative had when the job arrived
    for o in np.unique(cld_offer):
        use = cld_offer == o
        cloud_price[use] = cloud.offer_prices(int(o), jobs.submit_hours[cld[use]])
    paid[cld] = cloud_price * gpus[cld] * np.minimum(cloud_hours, horizon - start[cld])
    unit_price = a.unit_price
    unit_price[cld] = cloud_price
    alternative = np.full(n, -1, dtype=np.int16)
    alternative[cld] = cloud.offer_alt[cld_offer]

    # quality: what a job paid per unit of work it got done, after slowdowns, lost work, restarts, downtime
    models = hardware_models()
    speed = np.full(n, np.nan)
    known = gpu_class >= 0
    speeds = np.array([[speed_on(job, models[c]) for c in class_names] for job in jobs.stream_jobs]).reshape(
        len(jobs.stream_jobs), len(class_names))  # per stream and class
    speed[known] = speeds[jobs.stream[known], gpu_class[known]]
    attempts = _by_job(state.restarts, n, 0) + 1
    lost_work, downtime = _by_job(state.lost_work, n, 0.0), _by_job(state.downtime_hours, n, 0.0)
    attempts[cld] += jobs.cloud_reclaims[cld]
    lost_work[cld] = jobs.cloud_lost_hours[cld] * gpus[cld] * speed[cld]
    per_reclaim = np.array([job.downtime_per_interruption_hours for job in jobs.stream_jobs])
    downtime[cld] = jobs.cloud_reclaims[cld] * per_reclaim[jobs.stream[cld]]
    useful = _useful_work(state, a.planned, venue, start, end, horizon, cld, cloud_hours)
    remainder = np.zeros(n)
    for j, (_, usd) in state.cloud_remainder.items():
        remainder[j] = usd
    waiting = np.zeros(n, dtype=bool)
    waiting[list(state.waiting)] = True
    i8 = np.int8
    status = np.where(venue == 0, np.where(waiting, i8(0), i8(3)), np.where(end > horizon, i8(1), i8(2)))
    status[state.latent] = 4
    abandoned = np.where(status == 3, np.where(np.isfinite(jobs.cloud_cost_usd), i8(1), i8(2)), i8(0))
    job_types = job_kinds()
    kind_codes = np.array([job_types.index(k) for k in jobs.stream_kinds], dtype=np.int8)
    df = pd.DataFrame({
        "job_id": np.arange(n),
        "stream": pd.Categorical.from_codes(jobs.stream, categories=list(jobs.stream_names)),
        "job_type": pd.Categorical.from_codes(kind_codes[jobs.stream], categories=list(job_types)),
        "submit_hours": jobs.submit_hours,
        "start_hours": start,
        "end_hours": end,
        "wait_hours": start - jobs.submit_hours,
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
        "slowdown": slowdown,
        "attempts": attempts,
        "preemptions": _by_job(state.preempted, n, 0),
        "lost_work_ref_gpu_hours": lost_work,
        "downtime_hours": downtime,
        "cloud_remainder_usd": remainder,
        "useful_work_ref_gpu_hours": useful,
        "price_per_work_usd": unit_price / speed,
        "quality_adjusted_usd_per_work": ratio(paid + remainder, useful),
        "work_ref_gpu_hours": jobs.work_ref_gpu_hours,
        "budget_usd": jobs.budget_usd,
        "cloud_alternative_usd": jobs.cloud_cost_usd,
        "latency_slo_ms": jobs.latency_slo_ms,
        "region": _used_categories(jobs.region, jobs.regions),
    }, copy=False)  # the arrays are ours: no second copy of a million-row table
    return df


def _by_job(values: dict[int, int] | dict[int, float], n: int, default: int | float) -> np.ndarray:
    """A column of ``n`` jobs from the few the run kept a value for (``default`` for the others)."""
    column = np.full(n, default, dtype=np.int64 if isinstance(default, int) else float)
    column[np.fromiter(values.keys(), dtype=np.int64, count=len(values))] = np.fromiter(
        values.values(), dtype=column.dtype, count=len(values))
    return column


def _used_categories(codes: np.ndarray, names: tuple[str, ...]) -> pd.Categorical:
    """The categorical of ``codes`` over the ``names`` that occur, in their order: as
    ``remove_unused_categories`` gives, without its hash table over a million rows (16x slower, measured)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    recode = np.full(len(names), -1, dtype=np.int16)  # codes in the categorical's own dtype, as above
    recode[used] = np.arange(used.size)
    return pd.Categorical.from_codes(recode[codes], categories=[names[i] for i in used])


def _useful_work(state: RunState, planned_hours: np.ndarray, venue: np.ndarray, start: np.ndarray,
                 end: np.ndarray, horizon: float, cld: np.ndarray, cloud_hours: np.ndarray) -> np.ndarray:
    """Reference GPU-hours of work each job got done, by the engine's own account of its attempts: a job
    that ended got all its work done (the rest of an interrupted one on AWS), less any that nowhere could
    take; one running at the horizon, its work up to where its current attempt has got. ``planned_hours``:
    per job running at the horizon, the longest of its first attempt's allocations (``_aggregate``);
    ``cloud_hours``: the wall hours of each of the jobs ``cld`` that ran on an alternative."""
    work = state.jobs.work_ref_gpu_hours
    useful = np.zeros_like(work)
    net = venue == 1
    useful[net] = work[net]
    for j, left in state.unfinished.items():
        useful[j] -= left
    # the attempt running at the horizon: (start, restart overhead, planned wall hours, work it took on),
    # for the jobs still running only (a few thousand of a million)
    running = np.flatnonzero(net & (end > horizon))
    began, overhead, planned, taken = start[running], np.zeros(running.size), planned_hours[running], work[running]
    for j, (t, o, h, w) in state.attempt.items():
        i = int(np.searchsorted(running, j))
        if i < running.size and running[i] == j:
            began[i], overhead[i], planned[i], taken[i] = t, o, h, w
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


def _aggregate(job: np.ndarray, provider: np.ndarray, start: np.ndarray, end: np.ndarray, gpus: np.ndarray,
               hours: np.ndarray, ask_micro: np.ndarray, horizon: float, n: int, provider_class: np.ndarray,
               paid_micro: np.ndarray) -> JobAggregates:
    """Two compiled passes over the allocation log (a job on several nodes has one allocation per node, a
    restarted job one per attempt) instead of a dozen NumPy passes over a million rows with random access
    (0.3 s of a million-job run, measured): the arrays are fresh, and each job's sums run in log order,
    as ``np.bincount`` adds them."""
    out = JobAggregates(np.zeros(n, dtype=np.uint8), np.full(n, np.nan), np.full(n, np.nan),
                        np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.zeros(n),
                        np.full(n, -1, dtype=np.int16), np.zeros(n), np.full(n, np.nan), np.zeros(n))
    _aggregate_into(job, provider, start, end, gpus, hours, ask_micro, horizon, provider_class, paid_micro, *out)
    return out


@njit(cache=True, nogil=True)
def _aggregate_into(job: np.ndarray, provider: np.ndarray, start: np.ndarray, end: np.ndarray, gpus: np.ndarray,
                    hours: np.ndarray, ask_micro: np.ndarray, horizon: float, provider_class: np.ndarray,
                    paid_micro: np.ndarray, on_network: np.ndarray, first_start: np.ndarray, last_end: np.ndarray,
                    first_gpus: np.ndarray, first_provider: np.ndarray, delivered: np.ndarray,
                    gpu_class: np.ndarray, paid: np.ndarray, unit_price: np.ndarray, planned: np.ndarray) -> None:
    for i in range(job.size):  # span, first provider and GPU-hours delivered
        j = job[i]
        if on_network[j] == 0:
            on_network[j], first_start[j], last_end[j], first_provider[j] = 1, start[i], end[i], provider[i]
        else:
            first_start[j], last_end[j] = min(first_start[j], start[i]), max(last_end[j], end[i])
        delivered[j] += gpus[i] * (min(end[i], horizon) - start[i])
    weighted = np.zeros(on_network.size)
    for i in range(job.size):  # the first attempt's allocations (a restart starts later): its GPUs and asks
        j = job[i]
        if start[i] == first_start[j]:
            first_gpus[j] += gpus[i]
            weighted[j] += float(ask_micro[i] * gpus[i])
            if last_end[j] > horizon:
                planned[j] = max(planned[j], hours[i])
    for j in range(on_network.size):
        if on_network[j]:
            gpu_class[j] = provider_class[first_provider[j]]
            paid[j] = paid_micro[j] / 1e6
            unit_price[j] = weighted[j] / first_gpus[j] / 1e6
