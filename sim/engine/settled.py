"""The settled allocation log: every allocation of network GPUs that ended, counted as it settles and
kept for the job table, in memory or, for a run that streams its table, in files filed by job.

The job table needs each job's allocations, and the conservation checks need per-provider sums, the
peak GPUs each node ran and a mark of each job placed. Kept as one log read at the end, a ten-million-
job run held 0.65 GB of allocations to the end, and the checks read all of it when memory peaked. Here
each epoch's settled allocations are folded into the checks' sums as they settle. A run that keeps its
table in memory keeps them as one log too (its table is built in one piece, in one pass over it). A run
that streams its table files them by job in buckets of ``BUCKET_JOBS`` job ids, in log order within a
bucket, appended to files in a scratch directory beside the table: a job's rows are all in its own
bucket, so a chunk of the table reads its jobs' buckets only, every per-job sum adds the same rows in the
same order as over the whole log, and the run's memory does not grow with its allocations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
from numba import njit

from .allocations import AllocationLog, NetworkStarts

BUCKET_JOBS = 1 << 18
"""Job ids per bucket file (one holds ~300,000 allocations of a 10M-job run, ~17 MB)."""

_RECORD = np.dtype([(f.name, dtype) for f, dtype in zip(fields(NetworkStarts), AllocationLog.DTYPES, strict=True)])


class SettledLog:
    """Settled allocations, filed by job, with the sums the conservation checks need: per job, whether it
    ever held a network allocation (``placed``); per provider, the GPU-hours delivered up to the horizon
    (``delivered``), the GPUs still running there (``in_use``) and the most it ran at once (``peak``); the
    allocations that ended within the horizon (``completed``) and all of them (``rows``)."""

    def __init__(self, n_jobs: int, n_providers: int, horizon: float, spill: Path | None = None) -> None:
        """``spill``: a directory (the caller's, empty) to file the buckets in; None: one log in memory."""
        self.n_jobs, self.horizon, self.spill = n_jobs, horizon, spill
        self.placed = np.zeros(n_jobs, dtype=bool)
        self.delivered, self.in_use = np.zeros(n_providers), np.zeros(n_providers)
        self.peak = np.zeros(n_providers, dtype=np.int64)
        self.rows = self.completed = 0
        # in memory: room for two allocations a job (untouched room costs no memory, and saves the copies
        # of growing); spilled: one settlement's ended rows, before they are filed
        self._log = AllocationLog(2 * n_jobs) if spill is None else AllocationLog()
        self._loaded: tuple[int, NetworkStarts] | None = None  # the bucket file read last

    def settle(self, running: AllocationLog, done: np.ndarray, final: bool) -> None:
        """Keep the allocations of ``running`` (every allocation live in the epoch closing) that ended
        (``done``; at the horizon, all of them), leaving the others, in order, at the front of ``running``
        (``AllocationLog.settle``). Before, the peak of GPUs each provider runs is updated from ``running``:
        every allocation live at an instant of the epoch is in it, so its levels at those instants are
        exact, and elsewhere never above the truth (an allocation live then may be missing)."""
        live = running.view()
        peak_levels(live.provider, live.start, live.end, live.gpus, self.peak)
        if self.spill is not None:
            self._log.clear()
        first = self._log.size
        self._log.settle(running, done, final)
        self._add(self._log.view(first))

    def append(self, starts: NetworkStarts) -> None:
        """Keep ``starts`` (in log order) after the rows held, and add them to the sums (not to ``peak``)."""
        if self.spill is not None:
            self._log.clear()
        first = self._log.size
        self._log.append(starts)
        self._add(self._log.view(first))

    def _add(self, starts: NetworkStarts) -> None:
        """Add rows just kept to the sums; spilled, file them by bucket."""
        self.rows += starts.job.size
        self.completed += _fold(starts.job, starts.provider, starts.start, starts.end, starts.gpus, self.horizon,
                                self.placed, self.delivered, self.in_use)
        if self.spill is None:
            return
        for b, part in _by_bucket(starts):
            record = np.empty(part.job.size, dtype=_RECORD)
            for f in fields(NetworkStarts):
                record[f.name] = getattr(part, f.name)
            with open(self._path(b), "ab") as file:
                record.tofile(file)
            if self._loaded is not None and self._loaded[0] == b:
                self._loaded = None  # read again with its new rows

    def parts(self, lo: int, hi: int) -> Iterator[NetworkStarts]:
        """Parts of the log holding every allocation of jobs ``lo`` to ``hi`` - 1 (and others'), each in log
        order: in memory the whole log (views: changing them changes the record), else their buckets."""
        if self.spill is None:
            yield self._log.view()
            return
        for b in range(lo // BUCKET_JOBS, (max(hi, lo + 1) - 1) // BUCKET_JOBS + 1):
            yield self.bucket(b)

    def bucket(self, b: int) -> NetworkStarts:
        """Bucket b's allocations, as filed (a log spilled to files only)."""
        if self.spill is None:
            raise ValueError("a settled log kept in memory is one log, not buckets")
        if self._loaded is None or self._loaded[0] != b:
            path = self._path(b)
            record = np.fromfile(path, dtype=_RECORD) if path.exists() else np.empty(0, dtype=_RECORD)
            self._loaded = (b, NetworkStarts(*(np.ascontiguousarray(record[f.name]) for f in fields(NetworkStarts))))
        return self._loaded[1]

    def _path(self, b: int) -> Path:
        assert self.spill is not None
        return self.spill / f"bucket-{b:06d}.alloc"


def _by_bucket(starts: NetworkStarts) -> Iterator[tuple[int, NetworkStarts]]:
    """``starts`` split by bucket, each part in log order (most settlements fall in one bucket: as is)."""
    if starts.job.size == 0:
        return
    bucket = starts.job // BUCKET_JOBS
    first, last = int(bucket.min()), int(bucket.max())
    if first == last:
        yield first, starts
        return
    order = np.argsort(bucket, kind="stable")
    sorted_buckets = bucket[order]
    for b in np.unique(sorted_buckets).tolist():
        lo, hi = np.searchsorted(sorted_buckets, [b, b + 1])
        yield b, starts[order[lo:hi]]


@njit(cache=True, nogil=True)
def peak_levels(provider: np.ndarray, start: np.ndarray, end: np.ndarray, gpus: np.ndarray,
                peak: np.ndarray) -> None:
    """Raise ``peak`` (per provider) to the highest sum of GPUs over the given allocations running at one
    time (an allocation ending when another starts does not overlap it). Compiled: the allocations are
    grouped by provider with a counting sort (stable), then each provider's events are sorted by time on
    their own (ends first on ties), by insertion when few (an epoch's allocations of one node, thousands
    of times an epoch), else by merge sort. A provider whose allocations hold no more GPUs together than
    its peak so far cannot raise it, and is skipped."""
    m, n_providers = provider.size, peak.size
    first, total = np.zeros(n_providers + 1, dtype=np.int64), np.zeros(n_providers, dtype=np.int64)
    for i in range(m):
        first[provider[i] + 1] += 1
        total[provider[i]] += gpus[i]
    most = 0
    for p in range(n_providers):
        most = max(most, first[p + 1])
        first[p + 1] += first[p]
    order, filled = np.empty(m, dtype=np.int64), first[:-1].copy()
    for i in range(m):
        order[filled[provider[i]]] = i
        filled[provider[i]] += 1
    times, change = np.empty(2 * most), np.empty(2 * most, dtype=np.int64)
    for p in range(n_providers):
        i, n = first[p], first[p + 1] - first[p]
        if n == 0 or total[p] <= peak[p]:
            continue
        for x in range(n):
            r = order[i + x]
            times[x], change[x] = end[r], -gpus[r]  # ends listed first: a stable sort keeps them first on ties
            times[n + x], change[n + x] = start[r], gpus[r]
        level = best = 0
        if n <= 16:
            for x in range(1, 2 * n):  # stable insertion sort by time
                t, c = times[x], change[x]
                y = x - 1
                while y >= 0 and times[y] > t:
                    times[y + 1], change[y + 1] = times[y], change[y]
                    y -= 1
                times[y + 1], change[y + 1] = t, c
            for x in range(2 * n):
                level += change[x]
                best = max(best, level)
        else:
            for e in np.argsort(times[:2 * n], kind="mergesort"):
                level += change[e]
                best = max(best, level)
        peak[p] = max(peak[p], best)


@njit(cache=True, nogil=True)
def _fold(job: np.ndarray, provider: np.ndarray, start: np.ndarray, end: np.ndarray, gpus: np.ndarray,
          horizon: float, placed: np.ndarray, delivered: np.ndarray, in_use: np.ndarray) -> int:
    """Add allocations to the sums, in log order (as ``np.bincount`` adds them); returns how many ended
    within the horizon."""
    completed = 0
    for i in range(job.size):
        placed[job[i]] = True
        delivered[provider[i]] += gpus[i] * (min(end[i], horizon) - start[i])
        if end[i] > horizon:
            in_use[provider[i]] += gpus[i]
        else:
            completed += 1
    return completed
