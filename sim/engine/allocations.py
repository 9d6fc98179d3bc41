"""Allocations of network GPUs to jobs, as columns: a set of them (``NetworkStarts``) and a log of them
that grows in place (``AllocationLog``), which compiled code appends to."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numba import njit

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
    """NetworkStarts appended into columns that double when full: the settled log kept in memory
    (``SettledLog``), one piece when the tables read it, and the allocations still running, kept in place
    from epoch to epoch. Unused capacity is never touched, so costs no memory: ``capacity`` can be generous
    (a run's jobs times two: a job has one allocation per node and attempt), which saves the copies of
    growing (80 ms of a 1M-job run from 4,096 rows up). Compiled code appends through ``arrays`` (the row
    count lives in an array there); growing replaces the columns, so it must take ``arrays`` again."""

    DTYPES = (np.int64, np.int64, np.float64, np.float64, np.int64, np.float64, np.int64)
    """The columns' types, in ``NetworkStarts``' order."""

    def __init__(self, capacity: int = 0) -> None:
        self._columns = [np.empty(capacity, dtype=dtype) for dtype in self.DTYPES]
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

    def view(self, first: int = 0) -> NetworkStarts:
        """Rows ``first`` on (views)."""
        return NetworkStarts(*(column[first:self.size] for column in self._columns))


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
