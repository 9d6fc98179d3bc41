"""The settled allocation log: filed by job in buckets, in memory or in files, with the checks' sums kept as
allocations settle epoch by epoch equal to those of the whole log at the end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim.engine.settled
from sim.conservation import peak_gpus_in_use
from sim.engine.allocations import AllocationLog, NetworkStarts
from sim.engine.settled import SettledLog


def _allocations(seed: int, m: int, jobs: int, providers: int) -> NetworkStarts:
    """Random allocations on integer times (many ties between one's end and another's start)."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 140, m).astype(float)
    hours = rng.integers(0, 40, m).astype(float)
    return NetworkStarts(job=rng.integers(0, jobs, m), provider=rng.integers(0, providers, m), start=start,
                         end=start + hours, gpus=rng.integers(1, 9, m), hours=hours,
                         ask_micro_usd=rng.integers(0, 10**6, m))


def _settle_by_epoch(log: SettledLog, allocations: NetworkStarts, epoch: float, horizon: float) -> NetworkStarts:
    """Settle the allocations as a run does: each epoch's starts join those still running, and at the close
    those that ended leave (all at the horizon). Some starts are recorded an epoch before they begin (a
    restart after its overhead). Returns the allocations in the order they settled (the whole log)."""
    running, order = AllocationLog(), []
    recorded = np.floor(np.maximum(allocations.start - 3.0, 0.0) / epoch)  # the epoch that records each start
    closes = np.minimum(np.arange(epoch, horizon + epoch, epoch), horizon)
    for k, t in enumerate(closes):
        new = allocations[recorded == k]
        running.append(new)
        live = running.view()
        final = k == len(closes) - 1
        done = live.end <= t
        order.append(live[done | final])
        log.settle(running, done, final)
    return NetworkStarts.concat(order)


@pytest.mark.parametrize("spill", [False, True])
def test_settling_by_epoch_gives_the_whole_logs_figures(spill: bool, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.engine.settled, "BUCKET_JOBS", 37)
    jobs, providers, horizon = 500, 30, 150.0  # some allocations run past the horizon
    allocations = _allocations(3, 4_000, jobs, providers)
    log = SettledLog(jobs, providers, horizon, tmp_path if spill else None)
    whole = _settle_by_epoch(log, allocations, epoch=24.0, horizon=horizon)
    assert log.rows == whole.job.size == allocations.job.size
    # spilled, each bucket holds its jobs' allocations in the order they settled; in memory, one log
    kept = [whole[whole.job // 37 == b] for b in range(-(-jobs // 37))] if spill else [whole]
    assert len(list(log.parts(0, jobs))) == len(kept)
    for got, mine in zip(log.parts(0, jobs), kept, strict=True):
        for name in ("job", "provider", "start", "end", "gpus", "hours", "ask_micro_usd"):
            assert np.array_equal(getattr(got, name), getattr(mine, name))
    if spill:  # a chunk of the table reads its own buckets only
        assert [p.job.size for p in log.parts(40, 80)] == [kept[1].job.size, kept[2].job.size]
    # the sums: in log order, as over the whole log
    delivered = np.bincount(whole.provider, weights=whole.gpus * (np.minimum(whole.end, horizon) - whole.start),
                            minlength=providers)
    assert np.array_equal(log.delivered, delivered)
    running = whole.end > horizon
    assert np.array_equal(log.in_use, np.bincount(whole.provider[running], weights=whole.gpus[running],
                                                   minlength=providers))
    assert log.completed == int((~running).sum())
    assert np.array_equal(log.placed, np.isin(np.arange(jobs), whole.job))
    # the peak, updated epoch by epoch from the live allocations, is the whole log's
    assert np.array_equal(log.peak, peak_gpus_in_use(whole, providers))
    assert log.peak.max() > 8  # the random allocations overlap: the check has something to find


def test_a_bucket_file_holds_only_what_the_log_filed(tmp_path: Path) -> None:
    log = SettledLog(10, 2, 100.0, tmp_path)
    assert log.bucket(0).job.size == 0  # nothing filed yet: no file, no rows
    log.append(_allocations(1, 5, 10, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["bucket-000000.alloc"]
    assert log.bucket(0).job.size == 5
