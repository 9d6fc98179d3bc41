"""A run's state: what the phases change, per job, per interrupted job and per provider, and the allocation log.

The phases of a run (placement, reliability, settlement, demand) share one ``RunState``; the tables and
checks at the end read it. The compiled loop appends to the start log (``StartLog``) and pops the
departure queue in place, so Python and machine code always see the same arrays.

The loop only records each start (provider, start, end and ask, as rows of this epoch); GPU-hours,
revenue and payments per provider are computed per epoch from those records, vectorised, as
``NetworkStarts``: one row an allocation of GPUs to a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from numba import njit

from ..jobs import JobBatch
from ..leases import LeaseBook
from .departures import DepartureQueue
from .fastloop import StartLog
from .gangs import AllocationArrays


@dataclass(frozen=True)
class NetworkStarts:
    """Allocations of network GPUs to jobs, with where, when and at what ask (micro-USD per GPU-hour)."""

    job: np.ndarray
    provider: np.ndarray
    start: np.ndarray
    end: np.ndarray
    gpus: np.ndarray
    hours: np.ndarray
    ask_micro_usd: np.ndarray

    def __getitem__(self, index: np.ndarray) -> NetworkStarts:
        if index.dtype == bool:  # one scan of the mask, not one per column
            index = np.flatnonzero(index)
        return NetworkStarts(*(getattr(self, f.name)[index] for f in fields(self)))

    def __add__(self, other: NetworkStarts) -> NetworkStarts:
        return NetworkStarts.concat([self, other])

    @staticmethod
    def concat(parts: list[NetworkStarts]) -> NetworkStarts:
        return NetworkStarts(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(NetworkStarts)))


class AllocationLog:
    """NetworkStarts appended into columns that double when full: the settled log, so the run ends with its
    allocations in one piece (joining a year of epoch pieces at the end would hold both copies at once,
    when the tables are built and memory peaks), and the allocations still running, kept in place from
    epoch to epoch. Unused capacity is never touched, so costs no memory: ``capacity`` can be generous (a
    run's jobs times two: a job has one allocation per node and attempt), which saves the copies of
    growing (80 ms of a 1M-job run from 4,096 rows up). Compiled code appends through ``arrays`` (the row
    count lives in an array there); growing replaces the columns, so it must take ``arrays`` again."""

    def __init__(self, capacity: int = 0) -> None:
        self._columns = [np.empty(capacity, dtype=dtype) for dtype in (np.int64, np.int64, float, float, np.int64,
                                                                         float, np.int64)]
        self._size = np.zeros(1, dtype=np.int64)

    def append(self, starts: NetworkStarts) -> None:
        """Append ``starts`` after the rows held."""
        n, size = starts.job.size, self.size
        self.reserve(n)
        for column, f in zip(self._columns, fields(NetworkStarts), strict=True):
            column[size:size + n] = getattr(starts, f.name)
        self._size[0] = size + n

    def settle(self, running: AllocationLog, done: np.ndarray, final: bool) -> None:
        """Append the allocations of ``running`` (every row: those still running and this epoch's starts) that
        ended (``done``; at the horizon, all of them), and keep the others, in order, at the front of
        ``running``: one compiled pass over the columns, in place, instead of a compress into this log and a
        gather of the rest per column into fresh arrays (a year's running allocations copied every epoch)."""
        kept = running.size - int(np.count_nonzero(done))
        ended = running.size if final else running.size - kept
        self.reserve(ended)
        ints, floats = (0, 1, 4, 6), (2, 3, 5)  # the columns by dtype (numba indexes a tuple of one type)
        _split(done, final, self.size, *(tuple(columns[i] for i in kind)
                                          for columns in (running._columns, self._columns, running._columns)
                                          for kind in (ints, floats)))
        self._size[0] += ended
        running._size[0] = kept

    @property
    def size(self) -> int:
        return int(self._size[0])

    @property
    def arrays(self) -> AllocationArrays:
        return AllocationArrays(*self._columns, self._size)

    def clear(self) -> None:
        self._size[0] = 0

    def reserve(self, n: int) -> None:
        """Room for ``n`` more rows (doubling the columns when full)."""
        size = self.size
        if size + n > self._columns[0].size:
            capacity = max(2 * self._columns[0].size, size + n, 4096)
            for i, column in enumerate(self._columns):
                grown = np.empty(capacity, dtype=column.dtype)
                grown[:size] = column[:size]
                self._columns[i] = grown

    def view(self) -> NetworkStarts:
        return NetworkStarts(*(column[:self.size] for column in self._columns))


@njit(cache=True, nogil=True)
def _split(done: np.ndarray, final: bool, at: int, ints: tuple[np.ndarray, ...], floats: tuple[np.ndarray, ...],
           log_ints: tuple[np.ndarray, ...], log_floats: tuple[np.ndarray, ...], kept_ints: tuple[np.ndarray, ...],
           kept_floats: tuple[np.ndarray, ...]) -> None:
    """Copy the rows of the columns (``ints``, ``floats``) that are ``done`` (all, if ``final``) to the log's
    columns from row ``at`` on, and those not ``done`` to the ``kept_*`` columns, in order (the ``kept_*``
    columns may be the input's own: a row is read before any later row is written over it)."""
    kept = 0
    for i in range(done.size):
        if final or done[i]:
            for c in range(len(ints)):
                log_ints[c][at] = ints[c][i]
            for c in range(len(floats)):
                log_floats[c][at] = floats[c][i]
            at += 1
        if not done[i]:
            for c in range(len(ints)):
                kept_ints[c][kept] = ints[c][i]
            for c in range(len(floats)):
                kept_floats[c][kept] = floats[c][i]
            kept += 1


@dataclass
class RunState:
    """Everything a run changes as it goes, by job and by provider."""

    jobs: JobBatch
    provider_class: np.ndarray
    """Each provider's GPU class (to read a job's GPUs and hours on it)."""
    spot_share: float
    """Share of the ask an interruptible (spot) buyer pays."""
    n_providers: int
    node_gpus: np.ndarray
    """Each provider's GPUs."""
    log: StartLog = field(init=False)
    departures: DepartureQueue = field(init=False)
    spot_job: np.ndarray = field(init=False)
    waiting: dict[int, tuple[int, ...]] = field(default_factory=dict)
    """Jobs waiting for the network -> the classes they wait on."""
    cloud_starts: list[tuple[int, float]] = field(default_factory=list)
    """(job, start) of the jobs sent to AWS."""
    turned_away: list[tuple[int, float]] = field(default_factory=list)
    """(class, GPU-hours) of the jobs this epoch that would have bought the network at its price but found
    it full until their patience ran out: the demand entrants can see beyond what was sold."""
    spread: AllocationLog = field(init=False)
    """This epoch's allocations other than single-node starts: jobs on several nodes, and restarts."""
    leases: LeaseBook | None = None
    """The sampled jobs' own escrow leases (``chain.escrow_sample_share``; None: every lease is pooled)."""
    running_log: AllocationLog = field(init=False)
    """Allocations still running at the last epoch close (``running``), and this epoch's starts while it closes."""
    settled: AllocationLog = field(init=False)
    billed_hours: dict[int, float] = field(default_factory=dict)
    """Single-node starts of this epoch that a failure cut short: the hours they ran."""
    attempt: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    """Restarted jobs: the current attempt's start, overhead, wall hours and reference work."""
    cloud_remainder: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Interrupted jobs finished on AWS: (when, USD)."""
    unfinished: dict[int, float] = field(default_factory=dict)
    """Interrupted jobs nowhere could take: reference work left undone."""
    truncated: int = 0
    """Allocations a failure or preemption cut short."""
    refunds: int = 0
    """Escrow owed back to buyers, since the last close, for leases a failure cut short (micro-USD)."""
    closed_epochs: int = 0
    # per interrupted job (under 1% of the benchmark's jobs: a dict each, not a column of every job)
    preempted: dict[int, int] = field(default_factory=dict)
    """Times a spot job was preempted."""
    restarts: dict[int, int] = field(default_factory=dict)
    """Times a job was restarted (its attempts less one)."""
    lost_work: dict[int, float] = field(default_factory=dict)
    """Reference GPU-hours of work lost since a checkpoint."""
    downtime_hours: dict[int, float] = field(default_factory=dict)
    """Inference hours not served (failover)."""
    # per job
    paid_micro: np.ndarray = field(init=False)
    """What each network job has paid (settled), micro-USD."""
    link: np.ndarray = field(init=False)
    """How the nodes of each job's last multi-node run talk (a ``gangs.LINKS`` code; 0: it had none)."""
    slowdown: np.ndarray = field(init=False)
    """That run's run-time factor (1 for every other job)."""
    # per provider
    down: np.ndarray = field(init=False)
    """Failed and not yet repaired."""
    failures: np.ndarray = field(init=False)
    """Failures this epoch."""
    gh_total: np.ndarray = field(init=False)
    """GPU-hours delivered, up to the last close."""
    rev_total: np.ndarray = field(init=False)
    """Revenue accrued (micro-USD), up to the last close."""

    def __post_init__(self) -> None:
        n, m = self.jobs.submit_hours.size, self.n_providers
        self.log = StartLog.empty()
        self.settled = AllocationLog(2 * n)
        self.departures = DepartureQueue(self.node_gpus)
        self.spot_job = np.asarray(self.jobs.stream_interruptible, dtype=bool)[self.jobs.stream]
        n_gpus = int(self.node_gpus.sum())
        self.running_log = AllocationLog(n_gpus + 4096)  # each running allocation holds a GPU
        self.spread = AllocationLog(n_gpus + 4096)  # grown by the engine if an epoch starts more
        self.link, self.slowdown = np.zeros(n, dtype=np.int8), np.ones(n)
        self.paid_micro = np.zeros(n, dtype=np.int64)
        self.down, self.failures = np.zeros(m, dtype=bool), np.zeros(m, dtype=np.int64)
        self.gh_total, self.rev_total = np.zeros(m), np.zeros(m)

    @property
    def running(self) -> NetworkStarts:
        """Allocations still running at the last epoch close (views: changing them changes the record)."""
        return self.running_log.view()

    @property
    def n_jobs(self) -> int:
        return int(self.jobs.submit_hours.size)

    @property
    def latent(self) -> np.ndarray:
        """Arrivals the price did not draw (never submitted), in arrival order."""
        return self.log.latent[:int(self.log.n_latent[0])]

    @property
    def departed(self) -> int:
        """Allocations that ran to their end (not cut short by a failure)."""
        return int(self.log.departed[0])

    def start_row(self) -> int:
        """The start log's next row (``log`` grown if full: a loop holding its old columns then returns GROW
        before it writes to them, and takes the new ones)."""
        self.log = self.log.with_room()
        return int(self.log.n_started[0])

    def started_this_epoch(self) -> np.ndarray:
        """Jobs started on one node since the last epoch close (a view of the loop's buffer)."""
        return self.log.started[:int(self.log.n_started[0])]

    def share_paid(self, j: int) -> float:
        """The share of an ask job j pays (a spot buyer's share, else all of it)."""
        return self.spot_share if self.spot_job[j] else 1.0

    def epoch_starts(self) -> NetworkStarts:
        """The single-node starts since the last epoch close, in order, as allocations (copies: the loop's
        buffer is reused next epoch)."""
        log, n = self.log, int(self.log.n_started[0])
        jobs, provider = log.started[:n].copy(), log.provider[:n].copy()
        rows = self.jobs.class_rows(self.provider_class[provider], jobs)
        starts = NetworkStarts(
            job=jobs, provider=provider, start=log.start[:n].copy(), end=log.end[:n].copy(),
            gpus=self.jobs.net_gpus[rows, jobs], hours=self.jobs.net_hours[rows, jobs],
            ask_micro_usd=log.ask[:n].copy(),
        )
        spot = self.spot_job[jobs]
        if spot.any():  # the recorded ask is the provider's; spot buyers pay their share of it
            starts.ask_micro_usd[spot] = np.floor(starts.ask_micro_usd[spot] * self.spot_share).astype(np.int64)
        if self.billed_hours:  # jobs a failure cut short bill the hours they ran
            for i in np.flatnonzero(np.isin(jobs, list(self.billed_hours))).tolist():
                starts.hours[i] = self.billed_hours[int(jobs[i])]
        return starts

    def live(self, now: float) -> NetworkStarts:
        """Every allocation running at ``now`` (not yet settled)."""
        current = self.epoch_starts() + self.spread.view()
        live = self.running + current
        return live[live.end > now]

    def network_starts(self) -> NetworkStarts:
        """Every allocation of network GPUs to a job, as settled up to the last closed epoch (a job spread
        over several nodes has one per node; a job restarted after a failure, one per attempt)."""
        return self.settled.view()
