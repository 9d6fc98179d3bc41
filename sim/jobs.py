"""The jobs of a run: every stream's draws, merged in time, and priced on every venue.

All jobs of a run are drawn up front, vectorised, each stream from its own seeded generator, and merged
in time order. For every job the builder also works out what it would need on each network GPU class
(GPUs, hours, the highest ask it accepts) and what the cheapest centralised alternative costs, so the event loop
only compares numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from . import rng as rngs
from .catalog import hardware_models
from .cloud import CloudBaseline
from .failures import spot_reclaims
from .fleet import Fleet
from .heap import trim_heap
from .schema.distributions import sample_index
from .schema.jobs import JobKind, speed_on
from .schema.shocks import Shock
from .schema.workload import Workload
from .scratch import Scratch
from .traces import RequestLog

UNDRAWN = {"request_start": -1, "request_end": -1, "demand_u": 0.0}
"""A job's request rows without a trace (none), and its demand draw without elastic demand (never thinned)."""
KEEP_DRAWS = 2_000_000
"""Jobs whose drawn fields the build keeps from the first pass over the streams to the scatter (about 150 MB);
a larger run's streams beyond are drawn twice (~0.3 s a million jobs) rather than held at once."""


@dataclass(frozen=True)
class JobBatch:
    """Every job of a run, in submission order (index = job id). ``K`` = number of network classes.

    ``net_*`` arrays are (S, n), one row per slot: slot i of a job holds the i-th class its stream accepts
    (``net_slot``), where it needs ``net_gpus`` GPUs for ``net_hours`` and accepts asks up to
    ``net_limit_usd_per_gpu_hour`` (its budget or the cloud cost, whichever is lower, per GPU-hour of that
    class). S is the most classes any stream accepts, often one or two of the K (a million jobs on four
    classes, two per stream at most: 48 MB less); ``net_gpus`` is 0 in slots a stream does not use.
    """

    stream_names: tuple[str, ...]
    stream_kinds: tuple[str, ...]
    """Each stream's job kind, as a label for tables."""
    stream_jobs: tuple[JobKind, ...]
    """Each stream's job kind: how its work behaves (speed, slowdown across nodes, interruptions)."""
    stream_interruptible: tuple[bool, ...]
    stream_classes: tuple[tuple[int, ...], ...]
    stream_speed: np.ndarray
    """(streams, K): throughput of one GPU of each network class for the stream's kind of work."""
    request_logs: tuple[RequestLog | None, ...]
    """Per stream; a job's requests are rows request_start:request_end of its stream's log."""
    submit_hours: np.ndarray
    regions: tuple[str, ...]
    """Every buyer region of the streams, sorted."""
    region: np.ndarray
    """Buyer region of each job, as its position in ``regions``."""
    request_start: np.ndarray
    request_end: np.ndarray
    stream: np.ndarray
    work_ref_gpu_hours: np.ndarray
    patience_hours: np.ndarray
    budget_usd: np.ndarray
    stream_latency_slo_ms: np.ndarray
    """Each stream's latency objective per request (NaN: none): every job kind draws one a stream, so it is
    kept a stream, not a job (80 MB at 10M jobs)."""
    demand_u: np.ndarray
    """Elastic streams: a job is submitted only if this is below the share of the capped demand the
    price at its arrival draws; 0 for the rest."""
    net_slot: np.ndarray
    """(streams, K): the row of the ``net_*`` arrays holding class k for a stream's jobs; -1 if none."""
    net_gpus: np.ndarray
    net_hours: np.ndarray
    net_limit_usd_per_gpu_hour: np.ndarray
    cloud_offer: np.ndarray
    cloud_gpus: np.ndarray
    cloud_hours: np.ndarray
    """Hours on the chosen alternative without interruptions; ``cloud_extra_hours`` more with the spot
    reclaims drawn."""
    cloud_cost_usd: np.ndarray
    """Expected cost on the cheapest alternative, what buyers compare with (its price when the job arrives x
    hours, times the expected extra hours of spot reclaims)."""
    cloud_reclaims: np.ndarray
    cloud_extra_hours: np.ndarray
    cloud_lost_hours: np.ndarray
    """Wall hours of work lost to reclaims (a share of cloud_extra_hours)."""

    def on_class(self, c: int, j: int) -> tuple[int, float, float]:
        """What job j needs on class c: GPUs, hours, and the highest ask it takes (USD per GPU-hour)."""
        row = int(self.net_slot[self.stream[j], c])
        if row < 0:
            raise ValueError(f"job {j} cannot run on GPU class {c}")
        return (int(self.net_gpus[row, j]), float(self.net_hours[row, j]),
                float(self.net_limit_usd_per_gpu_hour[row, j]))

    def class_rows(self, c: np.ndarray | int, jobs: np.ndarray | slice) -> np.ndarray:
        """The ``net_*`` row of each job in ``jobs`` for class c (one class, or one per job)."""
        return self.net_slot[self.stream[jobs], c]

    def release_net(self) -> None:
        """Drop what each job needs and accepts on each class (``net_*``), which only the simulation reads,
        once it has run: at 10M jobs they were 0.6 GB of the memory the job table was then built in. The one
        change a JobBatch takes (a later read of them fails loudly: their rows are empty)."""
        for name in ("net_gpus", "net_hours", "net_limit_usd_per_gpu_hour"):
            column = getattr(self, name)
            object.__setattr__(self, name, np.empty((column.shape[0], 0), dtype=column.dtype))

    def job_of(self, j: int) -> JobKind:
        """Job j's kind (its stream's)."""
        return self.stream_jobs[int(self.stream[j])]

    def class_mean(self, per_stream: np.ndarray, default: float) -> np.ndarray:
        """Per network class, the mean of a (streams, K) quantity (or a stack of them: (..., streams, K)) over
        the streams that accept the class (and where it is finite), weighted by the reference GPU-hours each
        stream asks for; ``default`` for a class no such stream uses."""
        volume = np.bincount(self.stream, weights=self.work_ref_gpu_hours, minlength=len(self.stream_names))
        use = (self.net_slot >= 0) & np.isfinite(per_stream)
        weight = np.where(use, volume[:, None], 0.0)
        total = weight.sum(axis=-2)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = (weight * np.where(use, per_stream, 0.0)).sum(axis=-2) / total
        return np.where(total > 0, mean, default)

    def class_work_rate(self) -> np.ndarray:
        """Per network class, the work one GPU-hour delivers: the throughput of its GPU relative to the
        reference, averaged over the streams that accept it (what providers expect a GPU-hour sold to
        earn in work rewards; 1 for a class no job uses, whose work is never counted)."""
        return self.class_mean(self.stream_speed, 1.0)

    def epoch_orders(self, edges: np.ndarray, keep: np.ndarray, waiting: list[int],
                     scratch: Scratch | None = None) -> EpochOrders:
        """The buy side a day-ahead market sees at the epoch's open for the intervals between ``edges``
        (first: the open, last: the close): the jobs submitted in the epoch (those an elastic stream's
        price draws, ``keep``) and those still ``waiting``, each with, per class, its limit (USD per
        GPU-hour), the GPU-hours it would use in each interval if it started when it is submitted (a
        waiting job: at the open), and those its whole run takes."""
        t0, t1 = float(edges[0]), float(edges[-1])
        lo, hi = np.searchsorted(self.submit_hours, [t0, t1], side="left")
        new = np.arange(lo, hi)
        new = new[self.demand_u[new] < keep[self.stream[new]]]
        ids = np.concatenate([np.asarray(waiting, dtype=np.int64), new])
        k = self.net_slot.shape[1]
        gpus, hours = np.zeros((ids.size, k), dtype=np.int64), np.zeros((ids.size, k))
        limits = np.full((ids.size, k), -np.inf)
        shape = (ids.size, k, edges.size - 1)
        loads = np.empty(shape) if scratch is None else scratch.get("loads", shape)
        _orders(ids, self.stream, self.net_slot, self.net_gpus, self.net_hours, self.net_limit_usd_per_gpu_hour,
                np.maximum(self.submit_hours[ids], t0), edges, gpus, hours, limits, loads)
        return EpochOrders(ids, limits, loads, gpus * hours)

    @property
    def loop(self) -> JobArrays:
        """The arrays the compiled loop reads (it reads ``demand_u`` only with elastic demand: without, the
        column is a broadcast, and the loop takes one zero in its place, of the layout it is compiled for)."""
        demand_u = self.demand_u if self.demand_u.strides[0] else np.zeros(1)
        return JobArrays(self.submit_hours, self.stream, self.net_slot, self.net_gpus, self.net_hours,
                         self.net_limit_usd_per_gpu_hour, demand_u)


@njit(cache=True, nogil=True)
def _orders(ids: np.ndarray, stream: np.ndarray, net_slot: np.ndarray, net_gpus: np.ndarray, net_hours: np.ndarray,
            net_limit: np.ndarray, start: np.ndarray, edges: np.ndarray, gpus: np.ndarray, hours: np.ndarray,
            limits: np.ndarray, loads: np.ndarray) -> None:
    """Fill (orders, classes) ``gpus``, ``hours`` and ``limits`` (left as they are where the order's stream
    does not take the class) and ``loads`` (orders, classes, intervals): the GPU-hours each order would
    use in each interval between ``edges`` if it started at ``start``."""
    n, k = gpus.shape
    b = edges.size - 1
    for i in range(n):
        j = ids[i]
        for c in range(k):
            row = net_slot[stream[j], c]
            if row < 0:  # a class the order does not take (most of them)
                loads[i, c, :] = 0.0
                continue
            g, h = net_gpus[row, j], net_hours[row, j]
            gpus[i, c], hours[i, c], limits[i, c] = g, h, net_limit[row, j]
            end = start[i] + h
            for m in range(b):
                loads[i, c, m] = g * max(min(end, edges[m + 1]) - max(start[i], edges[m]), 0.0)


class EpochOrders(NamedTuple):
    """One epoch's buy side, (orders, classes) arrays (see ``JobBatch.epoch_orders``)."""

    job: np.ndarray
    limit_usd_per_gpu_hour: np.ndarray
    interval_gpu_hours: np.ndarray
    """(orders, classes, intervals)."""
    run_gpu_hours: np.ndarray


class JobArrays(NamedTuple):
    """What the compiled loop needs of every job (see ``JobBatch``)."""

    submit: np.ndarray
    stream: np.ndarray
    net_slot: np.ndarray
    net_gpus: np.ndarray
    net_hours: np.ndarray
    net_limit: np.ndarray
    demand_u: np.ndarray


def build_jobs(workload: Workload, seed: int, horizon_hours: float, fleet: Fleet, cloud: CloudBaseline,
               spot_discount: float, shocks: tuple[Shock, ...] = ()) -> JobBatch:
    """Draw every stream's jobs and price each one on every network class and on every alternative.

    Prices are what the buyer expects to pay for the work done: on AWS spot, and on network nodes that
    fail, a run is interrupted at some rate and each interruption costs the restart and the work since the
    last checkpoint, so the expected price is the list price times the expected extra hours. A job accepts
    a network ask up to its budget or the expected AWS cost, divided by the network's expected hours.

    Streams are drawn one by one (each from its own generator), then scattered straight into the
    time-ordered arrays (ties: stream order, then draw order), so no per-stream copy of the (n, K)
    arrays is ever made; beyond ``KEEP_DRAWS`` jobs a stream is drawn a second time for its scatter
    rather than held from the first pass (the same draws: its generator starts from the same seed), and
    the heap gives back what each freed (``heap.trim_heap``). ``spot_discount``: the market's, off the
    ask for interruptible buyers. ``shocks``: a demand shock thins each stream's arrivals on a generator
    of its own, after they are drawn, so the jobs it keeps are the unshocked run's jobs.
    """
    models = hardware_models()
    classes = fleet.classes
    horizon = horizon_hours
    streams = workload.streams
    # per network class: node failures per node-hour (mean over its nodes) and the largest node
    failure_rate = np.bincount(fleet.gpu_class, weights=1.0 / fleet.mtbf_hours, minlength=len(classes)) / \
        np.maximum(np.bincount(fleet.gpu_class, minlength=len(classes)), 1)
    node_gpus = np.zeros(len(classes), dtype=np.int64)
    np.maximum.at(node_gpus, fleet.gpu_class, fleet.gpus)
    regions = tuple(sorted({r for s in streams for r in s.region}))

    def draw(si: int) -> tuple[np.ndarray, dict[str, np.ndarray], RequestLog | None]:
        """Stream si's jobs: the same draws every time (its generators are seeded by the run's seed)."""
        s = streams[si]
        rng = rngs.stream(seed, rngs.WORKLOAD, si)
        t, d, log = s.draw(rng, horizon)
        d["patience_hours"] = s.job.patience_hours.sample(rng, len(t))
        d["budget_usd"] = s.job.budgets_usd(rng, d["work_ref_gpu_hours"])
        d["region"] = np.array([regions.index(r) for r in s.region], dtype=np.int64)[
            sample_index(s.region, rng, len(t))]
        # after every draw from the stream's generator, so the jobs kept are drawn as without the shock
        t, d = _thinned(t, d, s.name, shocks, rngs.stream(seed, rngs.SHOCK_DEMAND, si))
        return t, d, log

    # every stream's arrival times first (their time order places each job); a stream's other fields are
    # kept for the scatter below while the jobs drawn so far number KEEP_DRAWS or fewer, and drawn again
    # there beyond: holding them all beside the job arrays is ~75 bytes a job more at the build's peak
    arrivals: list[np.ndarray] = []
    drawn: list[dict[str, np.ndarray] | None] = []
    logs: list[RequestLog | None] = []
    for si in range(len(streams)):
        t, d, log = draw(si)
        arrivals.append(t)
        logs.append(log)
        if sum(len(a) for a in arrivals) <= KEEP_DRAWS:
            drawn.append(d)
        else:
            drawn.append(None)
            del d
            trim_heap()
    times = np.concatenate(arrivals)
    stream_of = np.concatenate([np.full(len(t), si, dtype=np.int16) for si, t in enumerate(arrivals)])
    # time order; ties in stream order, then draw order: a stable sort of the streams laid end to end (as a
    # lexsort on time, stream and draw, three times slower)
    order = np.argsort(times, kind="stable")
    position = np.empty(order.size, dtype=np.int32 if order.size < 2**31 else np.int64)  # where each job goes
    position[order] = np.arange(order.size, dtype=position.dtype)

    n, k = times.size, len(classes)
    eligible_classes = [tuple(ci for ci, name in enumerate(classes) if s.job.accepts(name)) for s in streams]
    slots = max((len(e) for e in eligible_classes), default=0) or 1
    # the columns in the smallest integer types that hold them (~40 bytes a job less); a column no stream
    # draws is not written job by job: request rows without traces are one -1 broadcast, the demand draw
    # without elastic demand a 0 broadcast
    traced = any(log is not None for log in logs)
    elastic = any(s.elastic_demand() is not None for s in streams)
    out = {
        "submit_hours": times[order], "stream": stream_of[order],
        "work_ref_gpu_hours": np.zeros(n), "patience_hours": np.zeros(n),
        "budget_usd": np.zeros(n), "region": np.zeros(n, dtype=np.int16),
        "request_start": np.zeros(n, dtype=np.int64) if traced else np.broadcast_to(np.int64(-1), (n,)),
        "request_end": np.zeros(n, dtype=np.int64) if traced else np.broadcast_to(np.int64(-1), (n,)),
        "demand_u": np.zeros(n) if elastic else np.broadcast_to(0.0, (n,)),
        "net_gpus": np.zeros((slots, n), dtype=np.int32), "net_hours": np.zeros((slots, n)),
        "net_limit_usd_per_gpu_hour": np.full((slots, n), -np.inf),
        "net_slot": np.full((len(streams), k), -1, dtype=np.int64),
        "cloud_offer": np.full(n, -1, dtype=np.int16), "cloud_gpus": np.zeros(n, dtype=np.int32),
        "cloud_hours": np.zeros(n), "cloud_cost_usd": np.full(n, np.inf),
        "cloud_reclaims": np.zeros(n, dtype=np.int32), "cloud_extra_hours": np.zeros(n),
        "cloud_lost_hours": np.zeros(n),
    }
    fields = ["work_ref_gpu_hours", "patience_hours", "budget_usd", "region",
              *(["request_start", "request_end"] if traced else []), *(["demand_u"] if elastic else [])]
    del times, stream_of, order
    slo = np.full(len(streams), np.nan)
    offset = 0
    for si, s in enumerate(streams):
        t, kept = arrivals[si], drawn[si]
        redrawn = kept is None
        d = draw(si)[1] if redrawn else kept
        arrivals[si], drawn[si] = np.empty(0), None  # freed once scattered, not held to the end beside the batch
        at = position[offset:offset + len(t)]
        offset += len(t)
        job = s.job
        for key in fields:  # a stream without traces or elastic demand draws no request rows or demand draw
            out[key][at] = d.get(key, UNDRAWN.get(key))
        slo[si] = _stream_constant(d["latency_slo_ms"], s.name)
        c_cost, c_rate = _cheapest_alternative(job, d, t, at, cloud, out)
        if c_rate.any():  # spot: the reclaims each run will meet, from the stream's own generator
            hours = out["cloud_hours"][at]
            count, lost = spot_reclaims(rngs.stream(seed, rngs.CLOUD_SPOT, si), c_rate, hours,
                                        _lost_caps(job, cloud, out["cloud_offer"][at], hours))
            out["cloud_reclaims"][at] = count
            out["cloud_lost_hours"][at] = lost
            out["cloud_extra_hours"][at] = count * job.interruption_overhead_hours + lost
        # what the job needs on each network class it accepts, and the highest ask it takes there (a spot
        # buyer pays a share of the ask, so takes higher asks)
        spot_price_share = 1.0 - spot_discount if job.interruptible else 1.0
        for slot, ci in enumerate(eligible_classes[si]):
            g, h = job.placement(models[classes[ci]], d)
            nodes = np.ceil(g / max(int(node_gpus[ci]), 1))
            expected_hours = h * (1.0 + nodes * failure_rate[ci] * job.hours_lost_per_interruption(h, 0.0))
            out["net_slot"][si, ci] = slot
            out["net_gpus"][slot, at] = g
            out["net_hours"][slot, at] = h
            out["net_limit_usd_per_gpu_hour"][slot, at] = np.minimum(d["budget_usd"], c_cost) / (
                g * expected_hours * spot_price_share)
        if redrawn:
            del d
            trim_heap()
    return JobBatch(
        stream_names=tuple(s.name for s in streams),
        regions=regions,
        stream_kinds=tuple(s.job.kind for s in streams),
        stream_jobs=tuple(s.job for s in streams),
        stream_interruptible=tuple(s.job.interruptible for s in streams),
        stream_classes=tuple(eligible_classes),
        stream_speed=np.array([[speed_on(s.job, models[c]) for c in classes] for s in streams]).reshape(
            len(streams), len(classes)),
        request_logs=tuple(logs),
        stream_latency_slo_ms=slo,
        **out,
    )


def _stream_constant(values: np.ndarray, stream: str) -> float:
    """The one latency objective a stream's jobs were drawn with (NaN for none or no jobs)."""
    if values.size == 0 or np.isnan(values[0]):
        same = bool(np.isnan(values).all())
    else:
        same = bool((values == values[0]).all())
    if not same:
        raise ValueError(f"stream {stream!r}: its jobs were drawn with different latency objectives; a job kind "
                         "draws one a stream")
    return float(values[0]) if values.size else np.nan


def _cheapest_alternative(job: JobKind, d: dict[str, np.ndarray], t: np.ndarray, at: np.ndarray,
                          cloud: CloudBaseline, out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest offer of any alternative for each of a stream's jobs (submitted at ``t``, placed at
    ``at``), in expected cost at the price it has when the job arrives (each alternative's path moves its
    prices), written to ``out``'s ``cloud_*`` columns; returns that cost and the offer's reclaims an hour.
    A function of its own so that its per-offer temporaries are gone before the network classes' come."""
    models = hardware_models()
    c_cost, c_rate = np.full(len(t), np.inf), np.zeros(len(t))
    for o in cloud.eligible(job):
        g, h = job.placement(models[cloud.offer_gpu[o]], d)
        rate = cloud.interruptions_per_hour[o] * np.ceil(g / cloud.instance_gpus[o])
        lost = job.hours_lost_per_interruption(h, float(cloud.notice_hours[o]))
        cost = cloud.offer_prices(o, t) * g * h * (1.0 + rate * lost)
        better = cost < c_cost
        c_cost[better], c_rate[better] = cost[better], rate[better]
        out["cloud_offer"][at[better]] = o
        out["cloud_gpus"][at[better]] = g[better]
        out["cloud_hours"][at[better]] = h[better]
    out["cloud_cost_usd"][at] = c_cost
    return c_cost, c_rate


def _thinned(t: np.ndarray, d: dict[str, np.ndarray], stream: str, shocks: tuple[Shock, ...],
             rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A stream's arrivals kept by the demand shocks (each kept with the product of their shares)."""
    kept = np.ones(len(t))
    for shock in shocks:
        kept = kept * shock.demand_kept(t, stream)
    if (kept >= 1.0).all():
        return t, d
    keep = rng.random(len(t)) < kept
    return t[keep], {k: v[keep] if isinstance(v, np.ndarray) and len(v) == len(t) else v for k, v in d.items()}


def _lost_caps(job: JobKind, cloud: CloudBaseline, offer: np.ndarray, hours: np.ndarray) -> np.ndarray | None:
    """Per run, the most work a reclaim loses at its offer's notice; None where no offer's notice is too short
    to write a checkpoint (then no loss is drawn at all)."""
    caps = np.zeros(len(hours))
    short = False
    for o in np.unique(offer[offer >= 0]):
        cap = job.work_lost_cap_hours(hours, float(cloud.notice_hours[o]))
        if cap is not None:
            use = offer == o
            caps[use], short = cap[use], True
    return caps if short else None
