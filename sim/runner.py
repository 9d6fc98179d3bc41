"""A run, end to end: build the model, simulate it, then derive its tables, check its conservation laws
and summarise it. This is the library's entry point (``sim.run``); it does no file I/O, unless asked to
stream the job table to a file (``jobs=path``: ``depinsim run`` does, into its run folder; the run's
settled allocations are then filed in a scratch directory beside it, removed when the run ends).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import tables
from .chain.hook import ChainError, ChainHook, ChainUnavailable
from .conservation import check_job_rows, check_ledgers, check_run
from .engine.world import Progress, World, small_pages
from .errors import ctrl_c_stays_ctrl_c
from .incidence import measure_incidence
from .jobfigures import JobFigures
from .jobsink import JobSink, JobsTo
from .latency import deployment_latency
from .results import RunResult
from .schema import Scenario, without_rewards
from .summary import build_summary
from .tables import job_table_chunks
from .units import BELOW_SHARE


class PartialRun(ChainError):
    """A chain failed mid-run; ``result`` holds the off-chain results up to the last epoch closed."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, result.summary["partial"]["failed_epoch"])
        self.result = result


def run(scenario: Scenario, progress: Progress | None = None, chain: ChainHook | None = None,
        below: float = BELOW_SHARE, jobs: JobsTo = "memory") -> RunResult:
    """Simulate the horizon, check conservation (and, with a chain, reconcile it with the ledger), and
    return the tables. A chain that fails mid-run raises PartialRun, which carries the results up to the
    last epoch settled off-chain. ``below``: the share of each alternative's price whose months the
    summary's ``months_below`` counts (a reading of the results: it changes no table). ``jobs``: where the
    job table goes (``sim.jobsink.JobsTo``): kept in memory, streamed to a Parquet file (a run of tens of
    millions of jobs then holds one chunk of its table at a time) or not kept; the summary and checks are
    the same either way."""
    with ctrl_c_stays_ctrl_c(), small_pages():
        return _run(scenario, progress, chain, below, jobs)


def _run(scenario: Scenario, progress: Progress | None, chain: ChainHook | None, below: float,
         jobs: JobsTo) -> RunResult:
    paired = scenario.counterfactual
    with _allocations_beside(jobs) as spill:
        world = World(scenario, chain, spill)
        if chain is not None:
            chain.start(world.economy)  # a chain that cannot start fails the run before it begins
        try:
            world.simulate(_part(progress, 0.0, 0.5) if paired else progress)
        except ChainError as exc:
            if isinstance(exc, ChainUnavailable):
                raise
            raise PartialRun(str(exc), _partial(world, str(exc), exc.epoch, jobs)) from None
        result = finish(world, below, jobs)
    if paired:
        with _allocations_beside(jobs) as spill:
            bare = World(without_rewards(scenario), spill=spill)
            bare.simulate(_part(progress, 0.5, 0.5))
            result.summary["incidence"] = measure_incidence(result.epochs, finish(bare, jobs="none").epochs)
    return result


@contextmanager
def _allocations_beside(jobs: JobsTo) -> Iterator[Path | None]:
    """For a job table streamed to a file, a scratch directory beside it for the run's settled allocations
    (``SettledLog``), removed with what the run filed in it when the run ends, however it ends; else None
    (kept in memory, with the table)."""
    if not isinstance(jobs, Path):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix=f".{jobs.name}.allocations-", dir=jobs.parent) as scratch:
        yield Path(scratch)


def _part(progress: Progress | None, start: float, share: float) -> Progress | None:
    """Progress of one of two runs, as a share of both."""
    if progress is None:
        return None
    return lambda done: progress(start + share * done)


def finish(world: World, below: float = BELOW_SHARE, jobs: JobsTo = "memory") -> RunResult:
    """The results of a simulated world: its tables, checked (ConservationError if a law is broken), and
    its summary; with a chain, the chain's balances reconciled with the ledger. ``jobs``: as ``run``'s."""
    horizon = float(world.grid[-1])
    figures = JobFigures(world.cloud.alternatives)
    patience, delay = world.jobs.patience_hours, world.scenario.market.order_delay_hours
    with JobSink(jobs) as sink:
        for piece, parts in _job_chunks(world, horizon, jobs == "memory"):
            for lo, chunk in parts:
                check_job_rows(chunk, patience[lo:lo + len(chunk)], delay)
                figures.add(chunk)
            sink.add(piece)
        conservation = check_conservation(world, figures, world.state.settled.peak)
    epochs = world.recorder.table()
    summary = build_summary(world.scenario, figures, epochs, world.economy, conservation, below)
    if world.chain is not None:
        summary["chain"] = world.chain.reconcile(world.economy)  # raises if a single base unit differs
    return RunResult(scenario=world.scenario, jobs=sink.table(), epochs=epochs, providers=_providers(world),
                     summary=summary, jobs_file=jobs if isinstance(jobs, Path) else None)


def check_conservation(world: World, jobs: JobFigures, peak_gpus: np.ndarray) -> dict[str, Any]:
    """Every conservation law of a finished run, against its job table's figures (``peak_gpus``: the most
    GPUs each node ran at once, ``SettledLog.peak``); returns the checked totals."""
    offered = world.fleet.gpus * (world.dynamics.active & ~world.state.down)  # a failed node offers nothing
    return check_run(world.state, jobs, float(world.grid[-1]), world.fleet, offered, world.book.free, world.economy,
                     world.scenario.market.order_delay_hours, peak_gpus)


Parts = Iterator[tuple[int, pd.DataFrame]]
"""Parts of a piece of the job table, each with its first job's id."""


def _job_chunks(world: World, until: float, whole: bool) -> Iterator[tuple[pd.DataFrame, Parts]]:
    """The job table (with its deployments' measured latency) in pieces of ``tables.CHUNK_ROWS`` jobs, or
    in one piece if ``whole`` (a table kept in memory: joining pieces would copy it); with each piece, its
    parts of ``CHUNK_ROWS`` jobs (views) and their first job ids, which the figures and checks add up, so
    that a table in one piece and one streamed give the same sums."""
    rows = tables.CHUNK_ROWS
    lo = 0
    for piece in job_table_chunks(world.state, world.fleet, world.cloud, until, max(world.state.n_jobs, 1) if whole
                                  else rows):
        for name, column in deployment_latency(world.jobs, world.fleet.region, piece, lo).items():
            piece[name] = column  # added in place: a concat would copy the whole piece
        yield piece, ((lo + a, piece.iloc[a:a + rows]) for a in range(0, max(len(piece), 1), rows))
        lo += len(piece)


def _partial(world: World, reason: str, failed_epoch: int | None, jobs: JobsTo) -> RunResult:
    """The results of the epochs closed off-chain before a chain failure: jobs submitted by then, with
    what they paid by then; the summary says where and why the run stopped (conservation was checked
    off-chain every epoch and the ledgers are checked again; the job and GPU-hour checks need the whole
    horizon and are not run)."""
    state = world.state
    until = float(world.grid[state.closed_epochs])
    state.settled.append(state.running)  # still running: shown as running, paid up to the last settlement
    figures = JobFigures(world.cloud.alternatives)
    with JobSink(jobs) as sink:
        for piece, parts in _job_chunks(world, until, jobs == "memory"):
            for _, chunk in parts:
                figures.add(chunk[chunk["submit_hours"] <= until])
            sink.add(piece[piece["submit_hours"] <= until].reset_index(drop=True))
    epochs = world.recorder.table()
    summary = build_summary(world.scenario, figures, epochs, world.economy, check_ledgers(world.economy))
    summary["partial"] = {"reason": reason, "failed_epoch": failed_epoch, "epochs_completed": state.closed_epochs,
                          "until_hours": until}
    return RunResult(scenario=world.scenario, jobs=sink.table(), epochs=epochs, providers=_providers(world),
                     summary=summary, jobs_file=jobs if isinstance(jobs, Path) else None)


def _providers(world: World) -> pd.DataFrame:
    """The providers table: each node's drawn attributes and costs, then its entry, exit and margins."""
    return pd.concat([world.fleet.table(), world.dynamics.table()], axis=1)
