"""A run's state: what the phases change, per job, per interrupted job and per provider, and the allocation log.

The phases of a run (placement, reliability, settlement, demand) share one ``RunState``; the tables and
checks at the end read it. The compiled loop appends to the start log (``StartLog``) and pops the
departure queue in place, so Python and machine code always see the same arrays.

The loop only records each start (provider, start, end and ask, as rows of this epoch); GPU-hours,
revenue and payments per provider are computed per epoch from those records, vectorised, as
``NetworkStarts``: one row an allocation of GPUs to a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..jobs import JobBatch
from ..leases import LeaseBook
from .allocations import AllocationLog, NetworkStarts
from .departures import DepartureQueue
from .fastloop import StartLog
from .settled import SettledLog


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
    horizon: float
    spill: Path | None = None
    """A directory to file the settled allocations in (``SettledLog``); None: kept in memory."""
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
    settled: SettledLog = field(init=False)
    """The allocations that ended (all of them at the horizon), filed by job, and the checks' sums."""
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
        self.settled = SettledLog(n, m, self.horizon, self.spill)
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
