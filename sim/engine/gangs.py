"""Jobs on several nodes (gangs): which nodes, how their link slows the job, and the log of their allocations.

A job larger than any node of a class it accepts may gather its GPUs from several nodes of that class,
cheapest asks first (``book._gang``), if that beats its budget and AWS; data-parallel work then runs
slower by what it exchanges over the link between the nodes (``JobKind.slowdown``). Some 20,000 jobs of a
million-job year do so, so the compiled loop places them itself (``start_gang``) instead of returning to
Python for each (0.45 s of a 5 s run, measured 2026-12-07). It reads the slowdown from a table each run
fills once from every job kind's own rule, by stream, class, node count and link, so a new kind's rule
needs no compiled code. Restarts after a failure take the same table and the same booking from Python.

A link is an InfiniBand fabric when every node is in one provider group with such a fabric and one
region, else the internet path between their regions, at the slowest pair's bandwidth.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..book import BookArrays, _gang
from ..fleet import Fleet
from ..jobs import JobArrays, JobBatch
from ..topology import topology
from .departures import DepartureArrays, push

LINKS = ("none", "nvlink", "infiniband", "cloud", "internet")
"""How a job's GPUs talk to each other (the jobs table's ``interconnect``; codes are positions here)."""
INFINIBAND, INTERNET = LINKS.index("infiniband"), LINKS.index("internet")
PLACED, NO_GANG, FULL = range(3)  # what start_gang did


class AllocationArrays(NamedTuple):
    """Allocations as columns (job, provider, start, end, GPUs, hours billed, ask paid in micro-USD per
    GPU-hour) and ``size``, the rows in use: ``allocations.AllocationLog``'s, for compiled code."""

    job: np.ndarray
    provider: np.ndarray
    start: np.ndarray
    end: np.ndarray
    gpus: np.ndarray
    hours: np.ndarray
    ask: np.ndarray
    size: np.ndarray


class GangArrays(NamedTuple):
    """What placing a gang reads and writes. Per provider: its region's index, its group, whether the
    group has an InfiniBand fabric. Bandwidth between regions (Gbps). The slowdown table by (stream,
    class, nodes, link: 0 the fabric, 1 + a * regions + b the internet between regions a <= b). Per job:
    spot or not, budget and AWS cost (USD), and, written, the link of its last gang (a ``LINKS`` code, 0
    for none) and its slowdown. Scratch for a candidate gang and the best one ((2, width): providers,
    GPUs), and the share of an ask a spot buyer pays ((1,))."""

    region: np.ndarray
    group: np.ndarray
    fabric: np.ndarray
    bandwidth: np.ndarray
    slowdown: np.ndarray
    spot: np.ndarray
    budget: np.ndarray
    cloud_cost: np.ndarray
    link: np.ndarray
    factor: np.ndarray
    parts: np.ndarray
    best: np.ndarray
    spot_share: np.ndarray


class Gangs:
    """The gang tables of a run, built once: links between nodes and slowdowns by link."""

    def __init__(self, fleet: Fleet, jobs: JobBatch, spot: np.ndarray, spot_share: float, link: np.ndarray,
                 factor: np.ndarray) -> None:
        """``link``, ``factor``: the run state's per-job arrays this writes."""
        topo = topology()
        regions = sorted(set(fleet.region.tolist()))
        index = {r: i for i, r in enumerate(regions)}
        n = len(regions)
        bandwidth = np.array([[topo.bandwidth_gbps(a, b) for b in regions] for a in regions]).reshape(n, n)
        fabric = np.zeros(fleet.size, dtype=np.bool_)
        for sl, group in fleet.group_slices:
            fabric[sl] = group.fabric == "infiniband"
        self.arrays = GangArrays(
            region=np.array([index[r] for r in fleet.region.tolist()], dtype=np.int64),
            group=fleet.group_index.astype(np.int64), fabric=fabric, bandwidth=bandwidth,
            slowdown=_slowdown_table(jobs, bandwidth, topo.data.interconnect.infiniband_gbps_per_gpu.value,
                                     min(int(jobs.net_gpus.max(initial=1)), fleet.size)),
            spot=spot, budget=jobs.budget_usd, cloud_cost=jobs.cloud_cost_usd, link=link, factor=factor,
            # a gang has one part per node at most
            parts=np.zeros((2, fleet.size), dtype=np.int64), best=np.zeros((2, fleet.size), dtype=np.int64),
            spot_share=np.array([spot_share]))

    def link(self, stream: int, c: int, providers: np.ndarray) -> tuple[int, float]:
        """The link (a ``LINKS`` code) between ``providers`` of class c and the slowdown it gives a job of
        ``stream``."""
        a = self.arrays
        link = _link_of(providers, providers.size, a.region, a.group, a.fabric, a.bandwidth)
        return INFINIBAND if link == 0 else INTERNET, float(a.slowdown[stream, c, providers.size, link])


def _slowdown_table(jobs: JobBatch, bandwidth: np.ndarray, infiniband_gbps: float, max_nodes: int) -> np.ndarray:
    """Each kind's ``slowdown`` for every stream, class it accepts, node count (up to ``max_nodes``: the most
    GPUs any job asks for, or the fleet's nodes) and link, evaluated here once so the compiled loop only
    looks it up."""
    n_regions = bandwidth.shape[0]
    links = [infiniband_gbps] + [float(bandwidth[a, b]) if a <= b else np.nan
                                 for a in range(n_regions) for b in range(n_regions)]
    table = np.ones((len(jobs.stream_jobs), jobs.stream_speed.shape[1], max_nodes + 1, len(links)))
    for s, job in enumerate(jobs.stream_jobs):
        for c in jobs.stream_classes[s]:
            speed = float(jobs.stream_speed[s, c])
            for nodes in range(2, max_nodes + 1):
                for k, gbps in enumerate(links):
                    if not np.isnan(gbps):
                        table[s, c, nodes, k] = job.slowdown(speed, nodes, gbps)
    return table


@njit(cache=True)
def _link_of(providers: np.ndarray, m: int, region: np.ndarray, group: np.ndarray, fabric: np.ndarray,
             bandwidth: np.ndarray) -> int:
    """The link between the first ``m`` providers (its index on the slowdown table's last axis)."""
    first = providers[0]
    n = bandwidth.shape[0]
    seen = np.zeros(n, dtype=np.bool_)
    fabric_only = fabric[first]
    for i in range(m):
        p = providers[i]
        seen[region[p]] = True
        fabric_only = fabric_only and group[p] == group[first] and region[p] == region[first]
    if fabric_only:
        return 0
    slowest, link = np.inf, -1
    for a in range(n):
        for b in range(a, n):
            if seen[a] and seen[b] and bandwidth[a, b] < slowest:
                slowest, link = bandwidth[a, b], 1 + a * n + b
    return link


@njit(cache=True)
def start_gang(j: int, t: float, jobs: JobArrays, class_order: np.ndarray, book: BookArrays, dep: DepartureArrays,
               g: GangArrays, log: AllocationArrays) -> int:
    """Start job j at ``t`` on the gang that costs it least over its classes too large for any one node,
    counting the slowdown, if that is within its budget and AWS's cost. PLACED; NO_GANG; or FULL: the
    log has no room for the gang's rows (grow it and call again: nothing has changed)."""
    s = jobs.stream[j]
    ceiling = min(g.budget[j], g.cloud_cost[j]) * 1e6
    share = g.spot_share[0] if g.spot[j] else 1.0
    best_cost, best_m, best_hours, best_link, best_c = np.inf, -1, 0.0, 0, 0
    for k in range(class_order.shape[1]):
        c = class_order[s, k]
        if c < 0:
            break
        row = jobs.net_slot[s, c]
        need, hours = jobs.net_gpus[row, j], jobs.net_hours[row, j]
        if need <= book.max_gpus[c]:
            continue
        m, per_hour = _gang(c, need, jobs.net_limit[row, j] * 1e6, share, book, g.parts)
        if m < 0 or per_hour * hours > ceiling:  # too dear before any slowdown (which only adds hours)
            continue
        link = _link_of(g.parts[0], m, g.region, g.group, g.fabric, g.bandwidth)
        hours *= g.slowdown[s, c, m, link]
        cost = per_hour * hours
        if cost <= ceiling and cost < best_cost:
            best_cost, best_m, best_hours, best_link, best_c = cost, m, hours, link, c
            g.best[:, :m] = g.parts[:, :m]
    if best_m < 0:
        return NO_GANG
    if log.size[0] + best_m > log.job.size:
        return FULL
    g.link[j] = INFINIBAND if best_link == 0 else INTERNET
    g.factor[j] = g.slowdown[s, best_c, best_m, best_link]
    place(j, g.best[0, :best_m], g.best[1, :best_m], share, t, best_hours, book, dep, log)
    return PLACED


@njit(cache=True)
def place(j: int, providers: np.ndarray, gpus: np.ndarray, share: float, now: float, hours: float, book: BookArrays,
          dep: DepartureArrays, log: AllocationArrays) -> None:
    """Run job j on ``providers`` (distinct; ``gpus`` on each) for ``hours`` from ``now``: take their GPUs,
    log one allocation each, paying ``share`` of each ask per GPU-hour rounded down to the micro-dollar
    (exact for one paying all of it: asks are far below 2**53), and queue their departures."""
    end, n = now + hours, log.size[0]
    for i in range(providers.size):
        p = providers[i]
        book.free[p] -= gpus[i]
        log.job[n + i], log.provider[n + i], log.start[n + i], log.end[n + i] = j, p, now, end
        log.gpus[n + i], log.hours[n + i], log.ask[n + i] = gpus[i], hours, np.int64(book.ask[p] * share)
    log.size[0] = n + providers.size
    for i in range(providers.size):
        push(end, providers[i], gpus[i], j, dep)


@njit(cache=True)
def place_flat(j: int, providers: np.ndarray, gpus: np.ndarray, share: float, now: float, hours: float,
               *arrays: np.ndarray) -> None:
    """``place`` from Python: the book's, the departures' and the log's arrays, flat."""
    place(j, providers, gpus, share, now, hours, BookArrays(*arrays[:16]), DepartureArrays(*arrays[16:24]),
          AllocationArrays(*arrays[24:32]))
