"""How a run uses the C heap (glibc): which arrays it maps, and when its free pages go back to the kernel.

A run fixes glibc's mmap threshold at 16 MB and its trim threshold at 1 GB so that it reuses freed
job-sized arrays without page faults (``fix_mmap_threshold``). A ten-million-job build frees arrays of
just under 16 MB by the dozen (a two-million-job stream's columns), and the heap kept them: 0.36 GB after
drawing the streams, 0.41 GB after the build, held through the run (measured 2026-12-07); the build gives
them back as it goes (``trim_heap``).
"""

from __future__ import annotations

import ctypes
import functools
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


@functools.cache
def fix_mmap_threshold() -> None:
    """Keep freed job-sized arrays in the heap for the next ones (once per process; no-op elsewhere).

    A million-job run allocates and frees dozens of 8 MB columns (one per job field, per stream and per
    table column). Left to glibc, its mmap threshold slides with every mapped block freed, and the heap
    fragments (about 100 MB more peak). Mapping every array over 1 MB instead (the earlier fix) costs a
    fresh page fault per 4 KB page each time: 280,000 faults and 1.5 s of system time a run, measured.
    A fixed threshold of 16 MB (above one column, below a table) with the heap trimmed only past 1 GB
    reuses freed columns without faulting: 120,000 faults, 0.9 s of system time, 10-15% less wall time,
    at 970 MB peak against 888 (benchmarks/bench_engine.py, 2026-12-04).
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 16 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)


def trim_heap() -> None:
    """Give the heap's free pages back to the kernel (glibc's ``malloc_trim``; a no-op elsewhere): ~35 ms
    after a 10M-job build, far less when little is free."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    return ctypes.CDLL(None) if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc" else None
