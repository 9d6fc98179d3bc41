"""Where a sweep's runs execute: in this process, on a local process pool, or on Dask (a LocalCluster of
local workers, or an existing cluster's scheduler). Each backend runs the same function on the same
tasks and yields results as they finish, so a sweep gives equal results on any of them.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from .errors import InputError

Backend = Literal["serial", "processes", "dask"]
BACKENDS: tuple[Backend, ...] = ("serial", "processes", "dask")
T = TypeVar("T")
R = TypeVar("R")


def execute(tasks: Iterator[T], work: Callable[[T], R], backend: Backend, address: str | None = None,
            workers: int | None = None) -> Iterator[R]:
    """``work(task)`` for every task on the backend, yielding each result as it finishes (in no fixed
    order: the caller restores it). ``work`` must be a module-level function (workers import it). Workers
    start only if some task is left to run (a fully cached sweep starts no pool and no cluster)."""
    first = next(tasks, None)
    if first is None:
        return
    tasks = itertools.chain([first], tasks)
    if backend == "serial":
        for task in tasks:
            yield work(task)
    elif backend == "processes":
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=pool_context()) as pool:
            pending = {pool.submit(work, t) for t in tasks}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            finally:
                for future in pending:
                    future.cancel()
    else:
        yield from _dask(tasks, work, address, workers)


def pool_context() -> Any:
    """Worker processes forked from a forkserver that has imported the model once (importing scipy and
    pandas costs a spawned worker over a second, a fork from the server milliseconds); the server lives
    for the session, so later sweeps start at once. Not plain fork: the parent may hold threads (a
    progress bar, a notebook kernel). Spawn where there is no forkserver (Windows).

    The server is started with Ctrl-C ignored, which its children (process-pool and Dask workers) inherit:
    a terminal's Ctrl-C reaches every process of the foreground group, and workers interrupted mid-task
    print pages of tracebacks; the parent gets the KeyboardInterrupt and cancels them instead."""
    import multiprocessing as mp
    import signal
    import threading

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    preload = ["sim.runner", "sim.sweep"]
    if importlib.util.find_spec("distributed") is not None:
        preload.insert(0, "distributed")  # Dask's workers fork from the same server
    context.set_forkserver_preload(preload)
    from multiprocessing import forkserver

    # Python keeps SIGINT ignored in a process that starts with it ignored; only the main thread may set it
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        forkserver.ensure_running()  # now, with this preload (Dask would otherwise start it with its own)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return context


def _dask(tasks: Iterator[T], work: Callable[[T], R], address: str | None, workers: int | None) -> Iterator[R]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - depends on the install
        raise InputError("The dask backend needs dask.distributed: pip install 'depinsim[dask]'.") from None
    import logging
    from contextlib import ExitStack

    cluster, stack = None, ExitStack()
    try:
        with _interrupt_held():  # a cluster cut off while it starts cannot be closed cleanly
            if address is None:
                import dask

                # workers fork from the model-preloaded server; Dask's statistical profiler (a sample of every
                # worker thread each 10 ms) slowed these pure-Python runs by about a quarter, so it is off
                method = "forkserver" if pool_context().get_start_method() == "forkserver" else "spawn"
                stack.enter_context(dask.config.set({"distributed.worker.multiprocessing-method": method,
                                                     "distributed.worker.profile.enabled": False}))
                # workers' own logs stay quiet: a run's failure reaches the sweep through its future, and on
                # Ctrl-C a worker whose heartbeat finds the scheduler already closed would log an ERROR
                # traceback beneath the one line the command prints (seen 1 in ~7 interrupted sweeps)
                cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=None, silence_logs=logging.CRITICAL)
                client = Client(cluster)
            else:
                try:
                    client = Client(address, timeout="10s")
                except OSError as exc:
                    raise InputError(f"No Dask scheduler answers at {address} ({exc}). Start one "
                                     "(dask scheduler; dask worker ADDRESS) or leave --scheduler out.") from None
        with client, _interrupt_kept() as interrupted:
            futures = [client.submit(work, task, pure=False) for task in tasks]
            try:
                for future in as_completed(futures):
                    interrupted()
                    yield future.result()
                interrupted()
            finally:
                client.cancel(futures)
    finally:
        if cluster is not None:
            cluster.close()
        stack.close()


@contextmanager
def _interrupt_kept() -> Iterator[Callable[[], None]]:
    """Ctrl-C raises KeyboardInterrupt as always, and is remembered: the block's check (the callable it gets)
    raises it again. Python drops an exception raised inside a garbage-collector callback (and reports it:
    "Exception ignored in ..."), and distributed's client runs one (``GCDiagnosis``) in the main thread, so
    a Ctrl-C landing there was lost and the sweep ran on to its end (seen once, in the interrupt test); that
    report is not printed either, the command's one line says it all. Main thread only: elsewhere no signal
    arrives."""
    import signal
    import sys
    import threading

    received: list[int] = []

    def check() -> None:
        if received:
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield check
        return

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    report = sys.unraisablehook

    def dropped(unraisable: Any) -> None:  # a KeyboardInterrupt the check will raise is not reported as lost
        if not (received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            report(unraisable)

    previous = signal.signal(signal.SIGINT, interrupt)
    sys.unraisablehook = dropped
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = report


@contextmanager
def _interrupt_held() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside until the block has finished, then raise it (main thread only:
    elsewhere no signal arrives)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
