"""A run, end to end: build the model, simulate it, then derive its tables, check its conservation laws
and summarise it. This is the library's entry point (``sim.run``); it does no file I/O.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from .chain.hook import ChainError, ChainHook, ChainUnavailable
from .conservation import check_ledgers, check_run, peak_gpus_in_use
from .engine.world import Progress, World, small_pages
from .errors import ctrl_c_stays_ctrl_c
from .incidence import measure_incidence
from .latency import deployment_latency
from .results import RunResult
from .schema import Scenario, without_rewards
from .summary import build_summary
from .tables import build_jobs_table
from .units import BELOW_SHARE


class PartialRun(ChainError):
    """A chain failed mid-run; ``result`` holds the off-chain results up to the last epoch closed."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message, result.summary["partial"]["failed_epoch"])
        self.result = result


def run(scenario: Scenario, progress: Progress | None = None, chain: ChainHook | None = None,
        below: float = BELOW_SHARE) -> RunResult:
    """Simulate the horizon, check conservation (and, with a chain, reconcile it with the ledger), and
    return the tables. A chain that fails mid-run raises PartialRun, which carries the results up to the
    last epoch settled off-chain. ``below``: the share of each alternative's price whose months the
    summary's ``months_below`` counts (a reading of the results: it changes no table)."""
    with ctrl_c_stays_ctrl_c(), small_pages():
        return _run(scenario, progress, chain, below)


def _run(scenario: Scenario, progress: Progress | None, chain: ChainHook | None, below: float) -> RunResult:
    paired = scenario.counterfactual
    world = World(scenario, chain)
    if chain is not None:
        chain.start(world.economy)  # a chain that cannot start fails the run before it begins
    try:
        world.simulate(_part(progress, 0.0, 0.5) if paired else progress)
    except ChainError as exc:
        if isinstance(exc, ChainUnavailable):
            raise
        raise PartialRun(str(exc), _partial(world, str(exc), exc.epoch)) from None
    result = finish(world, below)
    if paired:
        bare = World(without_rewards(scenario))
        bare.simulate(_part(progress, 0.5, 0.5))
        result.summary["incidence"] = measure_incidence(result.epochs, finish(bare).epochs)
    return result


def _part(progress: Progress | None, start: float, share: float) -> Progress | None:
    """Progress of one of two runs, as a share of both."""
    if progress is None:
        return None
    return lambda done: progress(start + share * done)


def finish(world: World, below: float = BELOW_SHARE) -> RunResult:
    """The results of a simulated world: its tables, checked (ConservationError if a law is broken), and
    its summary; with a chain, the chain's balances reconciled with the ledger."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="depinsim-finish") as helper:
        # the peak-concurrency check reads the allocation log only: it runs beside the job table (both compiled)
        peak = helper.submit(peak_gpus_in_use, world.state.network_starts(), world.fleet.size)
        jobs = _jobs_table(world, float(world.grid[-1]))
        conservation = check_conservation(world, jobs, peak.result())
    epochs = world.recorder.table()
    summary = build_summary(world.scenario, jobs, epochs, world.economy, conservation, below)
    if world.chain is not None:
        summary["chain"] = world.chain.reconcile(world.economy)  # raises if a single base unit differs
    return RunResult(scenario=world.scenario, jobs=jobs, epochs=epochs, providers=_providers(world),
                     summary=summary)


def check_conservation(world: World, jobs: pd.DataFrame, peak_gpus: np.ndarray) -> dict[str, Any]:
    """Every conservation law of a finished run, against its job table (``peak_gpus``: ``peak_gpus_in_use``
    of its allocations); returns the checked totals."""
    offered = world.fleet.gpus * (world.dynamics.active & ~world.state.down)  # a failed node offers nothing
    return check_run(world.state, jobs, float(world.grid[-1]), world.fleet, offered, world.book.free, world.economy,
                     world.scenario.market.order_delay_hours, peak_gpus)


def _jobs_table(world: World, until: float) -> pd.DataFrame:
    jobs = build_jobs_table(world.state, world.fleet, world.cloud, until)
    for name, column in deployment_latency(world.jobs, world.fleet.region, jobs).items():
        jobs[name] = column  # added in place: a concat would copy the whole table
    return jobs


def _partial(world: World, reason: str, failed_epoch: int | None) -> RunResult:
    """The results of the epochs closed off-chain before a chain failure: jobs submitted by then, with
    what they paid by then; the summary says where and why the run stopped (conservation was checked
    off-chain every epoch and the ledgers are checked again; the job and GPU-hour checks need the whole
    horizon and are not run)."""
    state = world.state
    until = float(world.grid[state.closed_epochs])
    state.settled.append(state.running)  # still running: shown as running, paid up to the last settlement
    jobs = _jobs_table(world, until)
    jobs = jobs[jobs["submit_hours"] <= until].reset_index(drop=True)
    epochs = world.recorder.table()
    summary = build_summary(world.scenario, jobs, epochs, world.economy, check_ledgers(world.economy))
    summary["partial"] = {"reason": reason, "failed_epoch": failed_epoch, "epochs_completed": state.closed_epochs,
                          "until_hours": until}
    return RunResult(scenario=world.scenario, jobs=jobs, epochs=epochs, providers=_providers(world), summary=summary)


def _providers(world: World) -> pd.DataFrame:
    """The providers table: each node's drawn attributes and costs, then its entry, exit and margins."""
    return pd.concat([world.fleet.table(), world.dynamics.table()], axis=1)
